"""Console sessions, kept in the store: the browser holds a random secret (in a signed cookie), the store
its SHA-256. A session ends at sign-out, after 30 minutes without a request, after 12 hours in any case,
at once when its user is disabled, loses a role or has their password reset, and when the person signs
in again: one person, one session (a session an attacker fixed or stole before the sign-in dies with it)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from notifier.accounts.permissions import Identity
from notifier.accounts.users import identity_of
from notifier.clock import utcnow
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["IDLE", "LIFETIME", "end_session", "session_identity", "start_session"]

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start_session(store: Store, identity: Identity) -> str:
    """A new session for a signed-in person, ending every earlier one of theirs; returns the secret for
    their cookie (shown nowhere else)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    with store.begin() as conn:
        q.start_session(
            conn, session_id=_digest(secret), user_id=identity.user_id, now=now, expires_at=now + LIFETIME
        )
        ended = q.end_sessions_of(conn, identity.user_id, now, but=_digest(secret))
        if ended:
            q.audit(
                conn,
                actor=identity.username,
                action="user.sessions_ended",
                subject=f"user:{identity.username}",
                detail={"sessions_ended": ended, "why": "signed in again"},
                now=now,
            )
    return secret


def session_identity(store: Store, secret: str, active: bool = True) -> Identity | None:
    """The person of a live session (None: ended, idle too long, expired, or the user disabled); an
    ``active`` request (not a page refreshing itself) counts as use and keeps it from going idle."""
    now = utcnow()
    digest = _digest(secret)
    with store.begin() as conn:
        user = q.session_user(conn, digest, now, now - IDLE)
        if user is None or user.disabled:
            return None
        if active:
            q.touch_session(conn, digest, now)
    return identity_of(user)


def end_session(store: Store, secret: str) -> None:
    with store.begin() as conn:
        q.end_session(conn, _digest(secret), utcnow())
