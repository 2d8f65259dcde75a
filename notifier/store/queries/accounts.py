"""Users, their roles, API tokens and console sessions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, func, insert, select, update

from notifier.models import Role
from notifier.store.queries._ids import storable_id
from notifier.store.rows import TokenRow, UserRow
from notifier.store.schema import api_tokens, sessions, user_roles, users

__all__ = [
    "add_token",
    "add_user",
    "count_tokens",
    "count_users",
    "end_session",
    "end_sessions_of",
    "record_login_success",
    "reserve_login_attempt",
    "revoke_token",
    "revoke_tokens_of",
    "session_user",
    "set_user_roles",
    "start_session",
    "token_user",
    "tokens_of",
    "touch_session",
    "update_user",
    "user_by_id",
    "user_by_name",
    "users_list",
]


def _roles(conn: Connection, user_ids: Iterable[int]) -> dict[int, frozenset[Role]]:
    found: dict[int, set[Role]] = {}
    ids = list(user_ids)
    if not ids:
        return {}
    for user_id, role in conn.execute(
        select(user_roles.c.user_id, user_roles.c.role).where(user_roles.c.user_id.in_(ids))
    ):
        found.setdefault(int(user_id), set()).add(Role(role))
    return {i: frozenset(found.get(i, ())) for i in ids}


def _user_rows(conn: Connection, query: Select[Any]) -> list[UserRow]:
    rows = list(conn.execute(query))
    roles = _roles(conn, [int(r.id) for r in rows])
    return [UserRow.from_row({**r._mapping, "roles": roles[int(r.id)]}) for r in rows]


def user_by_name(conn: Connection, username: str) -> UserRow | None:
    found = _user_rows(conn, select(users).where(users.c.username == username))
    return found[0] if found else None


def user_by_id(conn: Connection, user_id: int) -> UserRow | None:
    found = _user_rows(conn, select(users).where(users.c.id == user_id))
    return found[0] if found else None


def users_list(conn: Connection) -> list[UserRow]:
    return _user_rows(conn, select(users).order_by(users.c.username))


def count_tokens(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(api_tokens)) or 0)


def count_users(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(users)) or 0)


def add_user(
    conn: Connection,
    *,
    username: str,
    display_name: str,
    password_hash: str | None,
    roles: Iterable[Role],
    actor: str,
    now: datetime,
) -> int:
    user_id = conn.execute(
        insert(users)
        .values(
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            disabled=False,
            failed_logins=0,
            password_changed_at=now if password_hash else None,
            created_at=now,
            created_by=actor,
        )
        .returning(users.c.id)
    ).scalar_one()
    set_user_roles(conn, int(user_id), roles)
    return int(user_id)


def set_user_roles(conn: Connection, user_id: int, roles: Iterable[Role]) -> None:
    conn.execute(delete(user_roles).where(user_roles.c.user_id == user_id))
    rows = [{"user_id": user_id, "role": role.value} for role in sorted(set(roles))]
    if rows:
        conn.execute(insert(user_roles), rows)


def update_user(conn: Connection, user_id: int, **values: object) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(**values))


def reserve_login_attempt(
    conn: Connection, user_id: int, *, now: datetime, lock_after: int, locked_until: datetime
) -> int | None:
    """Count a sign-in attempt before its password is checked: its number in a row of failures, or None
    while the user is locked. The ``lock_after``-th locks the user until ``locked_until`` in the same
    statement's transaction, so parallel guesses queue on the row and none gets past the lock."""
    attempt = conn.execute(
        update(users)
        .where(users.c.id == user_id, (users.c.locked_until.is_(None)) | (users.c.locked_until <= now))
        .values(failed_logins=users.c.failed_logins + 1)
        .returning(users.c.failed_logins)
    ).scalar_one_or_none()
    if attempt is not None and attempt >= lock_after:
        conn.execute(
            update(users).where(users.c.id == user_id).values(locked_until=locked_until, failed_logins=0)
        )
    return None if attempt is None else int(attempt)


def record_login_success(conn: Connection, user_id: int) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(failed_logins=0, locked_until=None))


def add_token(
    conn: Connection, *, user_id: int, label: str, token_hash: str, now: datetime, expires_at: datetime
) -> int:
    return int(
        conn.execute(
            insert(api_tokens)
            .values(
                user_id=user_id, label=label, token_hash=token_hash, created_at=now, expires_at=expires_at
            )
            .returning(api_tokens.c.id)
        ).scalar_one()
    )


def token_user(conn: Connection, token_hash: str, now: datetime) -> UserRow | None:
    """The user a live token belongs to (not revoked, not expired); its last use is now."""
    user_id = conn.scalar(
        update(api_tokens)
        .where(
            api_tokens.c.token_hash == token_hash,
            api_tokens.c.revoked_at.is_(None),
            api_tokens.c.expires_at > now,
        )
        .values(last_used_at=now)
        .returning(api_tokens.c.user_id)
    )
    return user_by_id(conn, int(user_id)) if user_id is not None else None


def tokens_of(conn: Connection, user_id: int) -> list[TokenRow]:
    rows = conn.execute(select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id))
    return [TokenRow.from_row(row) for row in rows]


def revoke_token(conn: Connection, *, user_id: int, token_id: int, now: datetime, by: str) -> bool:
    """Revoke one live token of the user; False if they have no such live token."""
    if not storable_id(token_id):
        return False
    result = conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id, api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None)
        )
        .values(revoked_at=now, revoked_by=by, revoke_reason="revoked")
    )
    return bool(result.rowcount)


def revoke_tokens_of(conn: Connection, user_id: int, now: datetime, *, by: str, reason: str) -> int:
    result = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by, revoke_reason=reason)
    )
    return int(result.rowcount or 0)


def start_session(
    conn: Connection, *, session_id: str, user_id: int, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(sessions).values(
            id=session_id, user_id=user_id, created_at=now, last_seen_at=now, expires_at=expires_at
        )
    )


def session_user(conn: Connection, session_id: str, now: datetime, idle_since: datetime) -> UserRow | None:
    """The user of a live session: not ended, not expired, seen since ``idle_since``."""
    row = conn.execute(
        select(sessions.c.user_id).where(
            sessions.c.id == session_id,
            sessions.c.ended_at.is_(None),
            sessions.c.expires_at > now,
            sessions.c.last_seen_at > idle_since,
        )
    ).first()
    return user_by_id(conn, int(row.user_id)) if row is not None else None


def touch_session(conn: Connection, session_id: str, now: datetime) -> None:
    conn.execute(update(sessions).where(sessions.c.id == session_id).values(last_seen_at=now))


def end_session(conn: Connection, session_id: str, now: datetime) -> None:
    conn.execute(update(sessions).where(sessions.c.id == session_id).values(ended_at=now))


def end_sessions_of(conn: Connection, user_id: int, now: datetime, *, but: str | None = None) -> int:
    """End every live session of the user (``but`` the one with that id); returns how many."""
    live = and_(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
    if but is not None:
        live = and_(live, sessions.c.id != but)
    result = conn.execute(update(sessions).where(live).values(ended_at=now))
    return int(result.rowcount or 0)
