"""Send slots shared by every sender of one provider account (GCRA)."""

from __future__ import annotations

from sqlalchemy import (
    Connection,
    func,
    literal,
    update,
)

from notifier.store.queries._dialect import dialect_insert
from notifier.store.schema import rate_limits


def reserve_slots(
    conn: Connection, *, name: str, interval: float, count: int, tolerance: float, now: float
) -> float:
    """Reserve the next ``count`` send slots, ``interval`` seconds apart, of the named account; returns
    the first slot's time (epoch seconds). GCRA: slots never start earlier than ``now - tolerance``, so
    an idle account catches up at most ``tolerance`` seconds' worth at once.

    One UPDATE with RETURNING: it holds the row lock (PostgreSQL) or the write lock (SQLite) while it
    reads and moves the account's next free slot, so two senders can never get the same slot."""
    floor = literal(now - tolerance)
    start = (func.max if conn.dialect.name == "sqlite" else func.greatest)(rate_limits.c.next_slot_at, floor)
    reserve = (
        update(rate_limits)
        .where(rate_limits.c.name == name)
        .values(next_slot_at=start + count * interval)
        .returning(rate_limits.c.next_slot_at)
    )
    end = conn.scalar(reserve)
    if end is None:
        conn.execute(
            dialect_insert(conn, rate_limits)
            .values(name=name, next_slot_at=now - tolerance)
            .on_conflict_do_nothing(index_elements=[rate_limits.c.name])
        )
        end = conn.scalar(reserve)
    return float(end) - count * interval
