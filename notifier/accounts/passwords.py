"""Passwords: argon2id through argon2-cffi (its defaults follow RFC 9106's recommendation), and the rule a
new password must meet."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from notifier.errors import InputError

__all__ = [
    "MIN_LENGTH",
    "check_new_password",
    "dummy_hash",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

MIN_LENGTH = 12


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def check_new_password(password: str, username: str) -> None:
    """InputError unless the password is long enough and not the user name (NIST 800-63B: length, no
    composition rules)."""
    if len(password) < MIN_LENGTH:
        raise InputError(f"the password needs at least {MIN_LENGTH} characters")
    if username.lower() in password.lower():
        raise InputError("the password must not contain the user name")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


@cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so a wrong user name takes as long as a
    wrong password (no user enumeration by timing)."""
    return hash_password("no such user, no such password")
