"""Masking of customer contact data and secrets before anything reaches a log, repr or report."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["mask_contact", "mask_email", "mask_phone", "mask_url"]


def mask_email(address: str | None) -> str:
    """``ivan.petrov@example.com`` → ``i***@example.com``; keeps the domain, which support needs."""
    if not address:
        return ""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(number: str | None) -> str:
    """``+79161234567`` → ``+7******4567``: country prefix and last four digits only."""
    if not number:
        return ""
    digits = number.lstrip("+")
    if len(digits) <= 6:
        return "***"
    prefix = "+" if number.startswith("+") else ""
    return f"{prefix}{digits[:1]}{'*' * (len(digits) - 5)}{digits[-4:]}"


def mask_contact(contact: str | None) -> str:
    """An email address or a phone number, whichever it is, masked."""
    return mask_email(contact) if contact and "@" in contact else mask_phone(contact)


def mask_url(url: str) -> str:
    """Replace the password (or token) in a URL's userinfo with ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
