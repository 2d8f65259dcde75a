"""Who edited a notice piece at which content hash, and legal's decisions on it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    insert,
    select,
)

from notifier.store.rows import DecisionRow
from notifier.store.schema import approvals, template_submissions


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
