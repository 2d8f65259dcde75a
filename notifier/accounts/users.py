"""People and their ways in: adding users, roles, disabling, password resets, API tokens, and signing in
with a password (rate-limited: five failures in a row lock the user for 15 minutes). Every change is in
the audit log under the person who made it.

A token has a label, a last-used time and an expiry (90 days unless the setting says otherwise), and is
revoked one by one. Everything a person holds ends together when trust in them changes: a password reset,
disabling, or losing a role ends every session and revokes every token (a new one is issued on purpose)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from notifier.accounts.passwords import (
    check_new_password,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from notifier.accounts.permissions import Identity
from notifier.clock import utcnow
from notifier.errors import AccessDeniedError, InputError, LoginRefusedError
from notifier.models import Role
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import TokenRow, UserRow

__all__ = [
    "LOCK_AFTER",
    "LOCK_FOR",
    "add_user",
    "bootstrap_allowed",
    "first_token_allowed",
    "identity_for_token",
    "identity_of",
    "issue_token",
    "list_tokens",
    "list_users",
    "reset_password",
    "revoke_token",
    "set_disabled",
    "set_roles",
    "sign_in",
    "token_digest",
]

LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
TOKEN_PREFIX = "ntf_"
TOKEN_LIFETIME = timedelta(days=90)


def identity_of(user: UserRow) -> Identity:
    return Identity(user.id, user.username, user.display_name, user.roles)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _roles(values: Iterable[str]) -> frozenset[Role]:
    roles = set()
    for value in values:
        try:
            roles.add(Role(value))
        except ValueError:
            raise InputError(f"unknown role {value!r}: use {', '.join(r.value for r in Role)}") from None
    if not roles:
        raise InputError(f"give at least one role ({', '.join(r.value for r in Role)})")
    return frozenset(roles)


def bootstrap_allowed(store: Store) -> bool:
    """True while the store has no user: the first admin is added without signing in."""
    with store.connect() as conn:
        return q.count_users(conn) == 0


def first_token_allowed(store: Store, username: str) -> bool:
    """True for the first admin's first token: the store's only user, an admin, and no token issued yet
    (whoever can reach the store then is setting it up)."""
    with store.connect() as conn:
        everyone = q.users_list(conn)
        issued = q.count_tokens(conn)
    only = everyone[0] if len(everyone) == 1 else None
    return (
        issued == 0
        and only is not None
        and only.username == username.strip().lower()
        and Role.ADMIN in only.roles
    )


def add_user(
    store: Store,
    username: str,
    *,
    display_name: str,
    roles: Iterable[str],
    password: str | None,
    actor: str,
) -> Identity:
    """Add a user (``password`` None: token only). User names are lower-case: letters, digits, ``._@-``."""
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise InputError(
            f"user name {username!r}: 2 to 64 of a-z 0-9 . _ @ -, starting with a letter or digit"
        )
    chosen = _roles(roles)
    if password is not None:
        check_new_password(password, name)
    now = utcnow()
    with store.begin() as conn:
        if q.user_by_name(conn, name) is not None:
            raise InputError(f"user {name!r} exists already")
        user_id = q.add_user(
            conn,
            username=name,
            display_name=display_name.strip() or name,
            password_hash=hash_password(password) if password is not None else None,
            roles=chosen,
            actor=actor,
            now=now,
        )
        q.audit(
            conn,
            actor=actor,
            action="user.added",
            subject=f"user:{name}",
            detail={"roles": sorted(chosen)},
            now=now,
        )
    return Identity(user_id, name, display_name.strip() or name, chosen)


def _user(conn: Connection, username: str) -> UserRow:
    user = q.user_by_name(conn, username.strip().lower())
    if user is None:
        raise InputError(f"no user {username!r}")
    return user


def _keep_an_admin(conn: Connection, user: UserRow) -> None:
    """Refuse to leave the store without an active admin: nobody could then manage people at all."""
    admins = [u for u in q.users_list(conn) if Role.ADMIN in u.roles and not u.disabled]
    if [u.username for u in admins] == [user.username]:
        raise InputError(f"{user.username} is the only active admin: make someone else admin first")


def set_roles(store: Store, username: str, roles: Iterable[str], *, actor: str) -> None:
    chosen = _roles(roles)
    with store.begin() as conn:
        user = _user(conn, username)
        if Role.ADMIN not in chosen:
            _keep_an_admin(conn, user)
        q.set_user_roles(conn, user.id, chosen)
        now = utcnow()
        detail: dict[str, object] = {"from": sorted(user.roles), "to": sorted(chosen)}
        if user.roles - chosen:  # a role taken away: what was signed in with it ends now
            detail.update(_end_everything(conn, user, now, by=actor, reason="roles_changed"))
        q.audit(
            conn, actor=actor, action="user.roles", subject=f"user:{user.username}", detail=detail, now=now
        )


def set_disabled(store: Store, username: str, disabled: bool, *, actor: str) -> None:
    """Disable (every session ends and every token is revoked at once) or enable a user."""
    now = utcnow()
    with store.begin() as conn:
        user = _user(conn, username)
        if disabled and user.username == actor:
            raise InputError("you cannot disable yourself (another admin can)")
        if disabled:
            _keep_an_admin(conn, user)
        q.update_user(conn, user.id, disabled=disabled)
        detail: dict[str, object] = {}
        if disabled:
            detail.update(_end_everything(conn, user, now, by=actor, reason="disabled"))
        q.audit(
            conn,
            actor=actor,
            action="user.disabled" if disabled else "user.enabled",
            subject=f"user:{user.username}",
            detail=detail,
            now=now,
        )


def reset_password(store: Store, username: str, password: str, *, actor: str) -> None:
    """Set a new password; every session and token of the user ends and the lock is lifted."""
    now = utcnow()
    with store.begin() as conn:
        user = _user(conn, username)
        check_new_password(password, user.username)
        q.update_user(
            conn,
            user.id,
            password_hash=hash_password(password),
            password_changed_at=now,
            failed_logins=0,
            locked_until=None,
        )
        q.audit(
            conn,
            actor=actor,
            action="user.password_reset",
            subject=f"user:{user.username}",
            detail=_end_everything(conn, user, now, by=actor, reason="password_reset"),
            now=now,
        )


def list_users(store: Store) -> list[UserRow]:
    with store.connect() as conn:
        return q.users_list(conn)


def _end_everything(
    conn: Connection, user: UserRow, now: datetime, *, by: str, reason: str
) -> dict[str, int]:
    return {
        "sessions_ended": q.end_sessions_of(conn, user.id, now),
        "tokens_revoked": q.revoke_tokens_of(conn, user.id, now, by=by, reason=reason),
    }


def issue_token(
    store: Store, username: str, *, label: str, actor: str, valid_for: timedelta = TOKEN_LIFETIME
) -> str:
    """A new API token for the user, valid for ``valid_for``; only its SHA-256 is kept, so this is the one
    time it is shown."""
    label = " ".join(label.split())[:128] or "cli"
    if valid_for <= timedelta(0):
        raise InputError("a token must be valid for at least a day")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    with store.begin() as conn:
        user = _user(conn, username)
        if user.disabled:
            raise InputError(f"user {user.username!r} is disabled")
        token_id = q.add_token(
            conn,
            user_id=user.id,
            label=label,
            token_hash=token_digest(token),
            now=now,
            expires_at=now + valid_for,
        )
        q.audit(
            conn,
            actor=actor,
            action="user.token_issued",
            subject=f"user:{user.username}",
            detail={"label": label, "token": token_id, "expires_at": (now + valid_for).isoformat()},
            now=now,
        )
    return token


def list_tokens(store: Store, username: str) -> list[TokenRow]:
    with store.connect() as conn:
        return q.tokens_of(conn, _user(conn, username).id)


def revoke_token(store: Store, username: str, token_id: int, *, actor: str) -> None:
    """Revoke one of the user's tokens (the others go on working)."""
    now = utcnow()
    with store.begin() as conn:
        user = _user(conn, username)
        if not q.revoke_token(conn, user_id=user.id, token_id=token_id, now=now, by=actor):
            raise InputError(
                f"{user.username} has no live token {token_id}: `notifier users tokens {user.username}` "
                "lists them"
            )
        q.audit(
            conn,
            actor=actor,
            action="user.token_revoked",
            subject=f"user:{user.username}",
            detail={"token": token_id},
            now=now,
        )


def identity_for_token(store: Store, token: str) -> Identity:
    """The person an API token signs in, or AccessDeniedError (unknown, revoked, expired, or the user
    disabled)."""
    with store.begin() as conn:
        user = q.token_user(conn, token_digest(token.strip()), utcnow())
    if user is None or user.disabled:
        raise AccessDeniedError(
            "NOTIFIER_TOKEN is not a valid token (unknown, revoked, expired, or its user is disabled): ask "
            "an admin for a new one (notifier users token NAME)"
        )
    return identity_of(user)


def sign_in(store: Store, username: str, password: str, *, source: str) -> Identity:
    """Check a password. Failures say only "wrong user name or password" (the audit log says which), and
    five in a row lock the user for 15 minutes; a locked or disabled user is refused even with the right
    password. ``source`` (the client's address) goes to the audit log.

    Each attempt is counted (and committed) before its password is checked, so guesses sent in parallel
    cannot all be checked before the fifth locks the user: at most five are, whatever the concurrency."""
    now = utcnow()
    name = username.strip().lower()
    attempt: int | None = None
    with store.begin() as conn:
        user = q.user_by_name(conn, name)
        if user is not None and user.password_hash is not None and not user.disabled:
            attempt = q.reserve_login_attempt(
                conn, user.id, now=now, lock_after=LOCK_AFTER, locked_until=now + LOCK_FOR
            )
    # Every answer costs one argon2 verification, refusals included: how long it takes says nothing about
    # whether the user exists, is disabled or is locked. (Outside the transaction: it takes a while.)
    stored = user.password_hash if user is not None and attempt is not None else None
    correct = verify_password(stored or dummy_hash(), password)
    with store.begin() as conn:
        if user is None or user.password_hash is None:
            reason = "unknown user" if user is None else "no password (token only)"
        elif user.disabled:
            reason = "disabled"
        elif attempt is None:
            locked = q.user_by_id(conn, user.id)
            until = locked.locked_until if locked and locked.locked_until else now + LOCK_FOR
            reason = f"locked until {until:%H:%M} UTC"
        elif not correct:
            reason = "wrong password" + (", now locked" if attempt >= LOCK_AFTER else "")
        else:
            q.record_login_success(conn, user.id)
            if needs_rehash(user.password_hash):
                q.update_user(conn, user.id, password_hash=hash_password(password))
            q.audit(
                conn,
                actor=user.username,
                action="user.signed_in",
                subject=f"user:{user.username}",
                detail={"from": source},
                now=now,
            )
            return identity_of(user)
        # The audit log is append-only: a name that is no user (a password typed in the wrong field?) is
        # recorded as a hash, never as typed.
        shown = user.username if user else "unknown"
        detail = {"reason": reason, "from": source}
        if user is None:
            detail["name_sha256"] = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        q.audit(
            conn,
            actor=shown,
            action="user.sign_in_refused",
            subject=f"user:{shown}",
            detail=detail,
            now=now,
        )
    raise LoginRefusedError("wrong user name or password, or the account is locked or disabled")
