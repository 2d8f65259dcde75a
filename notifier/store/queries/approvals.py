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


def last_author(conn: Connection, notice: str, locale: str, channel: str, content_hash: str) -> str | None:
    """Who last submitted (edited) this piece at exactly this content hash."""
    query = (
        select(template_submissions.c.author)
        .where(
            template_submissions.c.notice == notice,
            template_submissions.c.locale == locale,
            template_submissions.c.channel == channel,
            template_submissions.c.content_hash == content_hash,
        )
        .order_by(template_submissions.c.id.desc())
        .limit(1)
    )
    return conn.scalar(query)


def latest_decisions(conn: Connection) -> dict[tuple[str, str, str], DecisionRow]:
    """The latest approval decision per (notice, locale, channel), whatever its hash."""
    latest: dict[tuple[str, str, str], DecisionRow] = {}
    for row in conn.execute(select(approvals).order_by(approvals.c.id)):
        latest[(row.notice, row.locale, row.channel)] = DecisionRow.from_row(row)
    return latest
