"""Signed message tokens for email: the VERP bounce address and the Message-ID carry ``TOKEN-SIGNATURE``.

The outbox token alone (``c12m345e``) is guessable, and a bounce or complaint changes what happens to a
customer (an email marked bounced, an address retired, an opt-out). So every email carries its token
signed with a random key of its campaign (HMAC-SHA256, 50 bits shown: enough against guessing, short
enough for a local part), and a bounce is believed only with a valid signature. The key is made when
the campaign is planned and kept with it, so every sender and the bounce receiver share it through the
store and nothing has to be configured; the Message-ID stays the same on any resend."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["new_key", "sign", "split", "verify"]

SEPARATOR = "-"


def new_key() -> str:
    return secrets.token_hex(16)


def _signature(token: str, key: str) -> str:
    digest = hmac.new(key.encode(), token.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:10].lower()


def sign(token: str, key: str) -> str:
    """``token`` → ``token-signature`` (safe in an address's local part and in a Message-ID)."""
    return f"{token}{SEPARATOR}{_signature(token, key)}"


def split(signed: str) -> tuple[str, str | None]:
    """``token-signature`` → (token, signature); an unsigned token → (token, None)."""
    token, separator, signature = signed.rpartition(SEPARATOR)
    return (token, signature) if separator else (signed, None)


def verify(token: str, signature: str | None, key: str) -> bool:
    return signature is not None and hmac.compare_digest(signature.lower(), _signature(token, key))
