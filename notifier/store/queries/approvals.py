"""Who edited a notice piece at which content hash, and legal's decisions on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    insert,
    select,
)

from notifier.store.queries._dialect import dialect_insert
from notifier.store.rows import DecisionRow
from notifier.store.schema import approval_snapshots, approvals, template_submissions


def insert_submission(conn: Connection, **values: Any) -> None:
    conn.execute(insert(template_submissions).values(**values))


def insert_approval(conn: Connection, **values: Any) -> None:
    conn.execute(insert(approvals).values(**values))


def last_author(conn: Connection, content_hash: str) -> str | None:
    """Who last submitted (edited) a piece at exactly this content hash (the hash covers the piece's key)."""
    query = (
        select(template_submissions.c.author)
        .where(template_submissions.c.content_hash == content_hash)
        .order_by(template_submissions.c.id.desc())
        .limit(1)
    )
    return conn.scalar(query)


def latest_decisions(
    conn: Connection, incident_key: str
) -> dict[tuple[str, str, str, str, str], DecisionRow]:
    """The latest approval decision per piece of one incident, whatever its hash."""
    latest: dict[tuple[str, str, str, str, str], DecisionRow] = {}
    query = select(approvals).where(approvals.c.incident_key == incident_key).order_by(approvals.c.id)
    for row in conn.execute(query):
        latest[(row.incident_key, row.notice, row.locale, row.channel, row.profile)] = DecisionRow.from_row(
            row
        )
    return latest


def save_snapshot(conn: Connection, content_hash: str, snapshot: dict[str, Any], now: datetime) -> None:
    """Keep what the piece at ``content_hash`` says (once: the same hash says the same)."""
    statement = dialect_insert(conn, approval_snapshots).values(
        content_hash=content_hash, snapshot=snapshot, created_at=now
    )
    conn.execute(statement.on_conflict_do_nothing(index_elements=["content_hash"]))


def snapshot_of(conn: Connection, content_hash: str) -> dict[str, Any] | None:
    found = conn.scalar(
        select(approval_snapshots.c.snapshot).where(approval_snapshots.c.content_hash == content_hash)
    )
    return dict(found) if found is not None else None


def last_approved(conn: Connection, key: tuple[str, str, str, str, str]) -> DecisionRow | None:
    """The latest *approved* decision of one piece (incident, notice, locale, channel, profile)."""
    incident, notice, locale, channel, profile = key
    query = (
        select(approvals)
        .where(
            approvals.c.incident_key == incident,
            approvals.c.notice == notice,
            approvals.c.locale == locale,
            approvals.c.channel == channel,
            approvals.c.profile == profile,
            approvals.c.decision == "approved",
        )
        .order_by(approvals.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return DecisionRow.from_row(row) if row is not None else None
