"""Provider health: whether each provider account answers, shared by every sender through the store."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from notifier.store.queries._dialect import dialect_insert
from notifier.store.rows import HealthRow
from notifier.store.schema import provider_health

__all__ = ["provider_failed", "provider_health_of", "provider_recovered", "providers_down"]


def provider_health_of(conn: Connection, account: str) -> HealthRow | None:
    row = conn.execute(select(provider_health).where(provider_health.c.account == account)).first()
    return HealthRow.from_row(row) if row is not None else None


def provider_failed(conn: Connection, account: str, *, error: str, now: datetime, down_after: int,
                    probe_every: timedelta) -> HealthRow:  # fmt: skip
    """Count one more failure to reach the account; after ``down_after`` in a row it is down, and the next
    probe is due ``probe_every`` from now. Returns the account's health after this failure."""
    stmt = dialect_insert(conn, provider_health).values(
        account=account, consecutive_failures=0, updated_at=now
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=[provider_health.c.account]))
    current = provider_health_of(conn, account)
    assert current is not None
    failures = current.consecutive_failures + 1
    down = failures >= down_after
    conn.execute(
        update(provider_health)
        .where(provider_health.c.account == account)
        .values(
            consecutive_failures=failures,
            last_error=error[:500],
            updated_at=now,
            down_since=(current.down_since or now) if down else None,
            next_probe_at=now + probe_every if down else None,
        )
    )
    health = provider_health_of(conn, account)
    assert health is not None
    return health


def provider_recovered(conn: Connection, account: str, *, now: datetime) -> bool:
    """The account answered: clear its failures. True if it had been down."""
    was = provider_health_of(conn, account)
    if was is None or (was.consecutive_failures == 0 and was.down_since is None):
        return False
    conn.execute(
        update(provider_health)
        .where(provider_health.c.account == account)
        .values(consecutive_failures=0, down_since=None, next_probe_at=None, updated_at=now)
    )
    return was.down_since is not None


def providers_down(conn: Connection) -> list[HealthRow]:
    query = select(provider_health).where(provider_health.c.down_since.is_not(None))
    return [HealthRow.from_row(row) for row in conn.execute(query.order_by(provider_health.c.account))]
