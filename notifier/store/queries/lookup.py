"""One customer's story, for support's "was I notified?": who they are, every campaign that planned them,
each message with its state changes and what came back, replies and consent changes. Every statement is
an index lookup (customers by external_id, email or phone; manifest by customer_id; outbox by campaign
and manifest row; events, delivery events and replies by outbox row or customer), so it answers in
milliseconds on a store of millions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, or_, select, tuple_

from notifier.store.queries._joins import OUTBOX_OF_MANIFEST
from notifier.store.schema import (
    approvals,
    campaigns,
    customers,
    delivery_events,
    events,
    incidents,
    manifest,
    outbox,
    replies,
)

__all__ = [
    "approvals_of_hashes",
    "bounced_example",
    "customer_events",
    "customers_matching",
    "delivery_events_of",
    "messages_of",
    "notices_of_customer",
    "replies_of_customer",
]

MAX_MATCHES = 20


def customers_matching(
    conn: Connection, *, external_id: str | None = None, email: str | None = None, phone: str | None = None
) -> list[Any]:
    """Customers with this external id, email address (as normalized at import) or E.164 phone number."""
    query = select(customers).order_by(customers.c.id).limit(MAX_MATCHES)
    if external_id is not None:
        query = query.where(customers.c.external_id == external_id)
    elif email is not None:
        query = query.where(customers.c.email == email)
    elif phone is not None:
        query = query.where(customers.c.phone == phone)
    else:
        raise ValueError("name an external id, an email or a phone")
    return list(conn.execute(query))


def notices_of_customer(conn: Connection, customer_id: int) -> list[Any]:
    """Every campaign manifest row of the customer, with its campaign and incident, oldest first."""
    query = (
        select(
            manifest,
            campaigns.c.name.label("campaign"),
            campaigns.c.notice,
            campaigns.c.state.label("campaign_state"),
            campaigns.c.planned_at,
            campaigns.c.completed_at,
            incidents.c.key.label("incident"),
        )
        .join(campaigns, campaigns.c.id == manifest.c.campaign_id)
        .join(incidents, incidents.c.id == campaigns.c.incident_id)
        .where(manifest.c.customer_id == customer_id)
        .order_by(manifest.c.id)
    )
    return list(conn.execute(query))


def messages_of(conn: Connection, manifest_rows: Sequence[tuple[int, int]]) -> list[Any]:
    """The outbox rows of these (campaign id, manifest id) pairs."""
    if not manifest_rows:
        return []
    query = (
        select(outbox)
        .where(tuple_(outbox.c.campaign_id, outbox.c.manifest_id).in_(list(manifest_rows)))
        .order_by(outbox.c.manifest_id, outbox.c.channel)
    )
    return list(conn.execute(query))


def delivery_events_of(conn: Connection, outbox_ids: Sequence[int]) -> list[Any]:
    if not outbox_ids:
        return []
    query = (
        select(delivery_events)
        .where(delivery_events.c.outbox_id.in_(list(outbox_ids)))
        .order_by(delivery_events.c.at, delivery_events.c.id)
    )
    return list(conn.execute(query))


def customer_events(conn: Connection, customer_id: int, outbox_ids: Sequence[int]) -> list[Any]:
    """What came back about the customer or their messages: callbacks, bounces, replies, opt-outs."""
    condition = events.c.customer_id == customer_id
    if outbox_ids:
        condition = or_(condition, events.c.outbox_id.in_(list(outbox_ids)))
    query = select(events).where(condition).order_by(events.c.received_at, events.c.id)
    return list(conn.execute(query))


def replies_of_customer(conn: Connection, customer_id: int) -> list[Any]:
    query = select(replies).where(replies.c.customer_id == customer_id).order_by(replies.c.received_at)
    return list(conn.execute(query))


def approvals_of_hashes(conn: Connection, content_hashes: Sequence[str]) -> list[Any]:
    """Legal's decisions on these content hashes (the approval a message was rendered from)."""
    if not content_hashes:
        return []
    query = (
        select(approvals)
        .where(approvals.c.content_hash.in_(list(content_hashes)))
        .order_by(approvals.c.at, approvals.c.id)
    )
    return list(conn.execute(query))


def bounced_example(conn: Connection) -> str | None:
    """The external id of a customer whose email bounced (the demo points support at one)."""
    query = (
        select(manifest.c.external_id)
        .join(outbox, OUTBOX_OF_MANIFEST)
        .where(outbox.c.channel == "email", outbox.c.state == "bounced")
        .order_by(manifest.c.external_id)
        .limit(1)
    )
    found = conn.scalar(query)
    return str(found) if found is not None else None
