"""The support queue: customers' replies, each with the notice it answers where known."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from notifier.models import Channel, ReplyStatus
from notifier.store.queries._ids import storable_id
from notifier.store.rows import ReplyRow
from notifier.store.schema import campaigns, customers, outbox, replies

__all__ = ["insert_reply", "replies_page", "reply_by_id", "update_reply"]


def insert_reply(
    conn: Connection,
    *,
    event_id: int,
    channel: Channel,
    contact: str,
    body: str,
    now: datetime,
    subject: str | None = None,
    customer_id: int | None = None,
    campaign_id: int | None = None,
    outbox_id: int | None = None,
    locale: str | None = None,
) -> int:
    row = conn.execute(
        insert(replies)
        .values(
            event_id=event_id,
            channel=channel.value,
            contact=contact[:320],
            customer_id=customer_id,
            campaign_id=campaign_id,
            outbox_id=outbox_id,
            locale=locale,
            received_at=now,
            subject=subject,
            body=body,
            status=ReplyStatus.OPEN.value,
            updated_at=now,
        )
        .returning(replies.c.id)
    ).one()
    return int(row.id)


def _reply_rows() -> tuple[object, ...]:
    return (
        replies.c.id,
        replies.c.channel,
        replies.c.contact,
        customers.c.external_id.label("customer_external_id"),
        customers.c.name.label("customer_name"),
        campaigns.c.name.label("campaign"),
        campaigns.c.notice,
        outbox.c.state.label("outbox_state"),
        outbox.c.content_hash,
        replies.c.locale,
        replies.c.received_at,
        replies.c.subject,
        replies.c.body,
        replies.c.status,
        replies.c.assignee,
        replies.c.note,
        replies.c.updated_at,
        replies.c.updated_by,
    )


def _joined() -> object:
    return (
        replies.outerjoin(customers, customers.c.id == replies.c.customer_id)
        .outerjoin(campaigns, campaigns.c.id == replies.c.campaign_id)
        .outerjoin(outbox, outbox.c.id == replies.c.outbox_id)
    )


def replies_page(
    conn: Connection,
    *,
    status: ReplyStatus | None,
    campaign: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[ReplyRow]:
    """Newest first, ``limit`` at a time (``before_id`` pages on)."""
    query = select(*_reply_rows()).select_from(_joined())  # type: ignore[call-overload]
    if status is not None:
        query = query.where(replies.c.status == status.value)
    if campaign is not None:
        query = query.where(campaigns.c.name == campaign)
    if before_id is not None:
        query = query.where(replies.c.id < before_id)
    rows = conn.execute(query.order_by(replies.c.id.desc()).limit(limit))
    return [ReplyRow.from_row(r) for r in rows]


def reply_by_id(conn: Connection, reply_id: int) -> ReplyRow | None:
    if not storable_id(reply_id):
        return None
    query = select(*_reply_rows()).select_from(_joined())  # type: ignore[call-overload]
    row = conn.execute(query.where(replies.c.id == reply_id)).first()
    return ReplyRow.from_row(row) if row is not None else None


def update_reply(
    conn: Connection,
    reply_id: int,
    *,
    actor: str,
    now: datetime,
    status: ReplyStatus | None = None,
    assignee: str | None = None,
    note: str | None = None,
) -> bool:
    if not storable_id(reply_id):
        return False
    values: dict[str, object] = {"updated_at": now, "updated_by": actor}
    if status is not None:
        values["status"] = status.value
    if assignee is not None:
        values["assignee"] = assignee
    if note is not None:
        values["note"] = note
    return conn.execute(update(replies).where(replies.c.id == reply_id).values(**values)).rowcount > 0
