"""Masking of customer contact data and secrets before anything reaches a log, repr or report."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["mask_contact", "mask_email", "mask_envelope", "mask_phone", "mask_text", "mask_url"]

# An address or a phone number inside free text (a provider's error, a bounce's diagnostic).
_EMAIL_IN_TEXT = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*")
# A phone: "+" and 8 to 15 digits (spaces, dashes, brackets between), or 10 to 15 digits in a row; not a
# date or a time ("2026-11-29 12:00") and not an SMTP status code.
_PHONE_IN_TEXT = re.compile(
    r"\+\d[\d ()-]{6,18}\d"  # international, with +
    r"|(?<![\w.])00\d[\d ()-]{6,18}\d"  # international, with 00
    r"|(?<![\w.])\(?\d{2,4}\)?[ -]\d{3,4}[ -]\d{3,4}(?![\w.])"  # national: (415) 555 0100, 415-555-0100
    r"|(?<![\w.])\d{10,15}(?![\w.])"
)


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


def mask_envelope(lines: str | None) -> str:
    """A letter's envelope (its lines after the name) without the door: every word of the street lines
    keeps its first character (``1600 Amphitheatre Pkwy`` → ``1*** A*** P***``); the last two lines (the
    town or postal line, and the country's) stay, as an email's domain does."""
    rows = [row for row in (lines or "").splitlines() if row.strip()]
    street, place = rows[:-2], rows[-2:]
    hidden = [" ".join(word[0] + "***" for word in row.split()) for row in street]
    return " / ".join([*hidden, *place])


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


def mask_text(text: str | None) -> str:
    """Free text with every email address and phone number in it masked (``mask_email``, ``mask_phone``)."""
    if not text:
        return ""
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone("+" + re.sub(r"\D", "", m.group(0))), text)
