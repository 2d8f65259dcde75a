"""What the deadline tracker counts (notifier.notices.deadlines): an incident's affected customers per
manifest jurisdiction, and per jurisdiction whether and when its individuals were all notified.

Both look across every campaign of the incident, and count a customer once (by ``external_id``) however
many campaigns list them. ``JurisdictionNotified`` is defined here rather than in ``store.rows`` only
because that module was being changed beside this one; it is built the same way."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, distinct, func, select

from notifier.clock import as_utc
from notifier.models import OutboxState
from notifier.store.queries._joins import OUTBOX_OF_MANIFEST
from notifier.store.schema import campaigns, delivery_events, manifest, outbox

__all__ = ["JurisdictionNotified", "affected_by_jurisdiction", "notified_by_jurisdiction"]


@dataclass(frozen=True, slots=True)
class JurisdictionNotified:
    """How far the notice got to one jurisdiction's affected customers."""

    jurisdiction: str | None
    reached: int  # customers a notice reached (OutboxState.reached on some channel)
    waiting: int  # customers not reached yet with a message still queued, in flight or of unknown fate
    last_reached_at: datetime | None  # the hand-over of the message that reached the last of them

    @property
    def notified_at(self) -> datetime | None:
        """When its individuals were all notified: the last reachable one's hand-over, once none is still
        waiting (customers with no usable channel, or whose every message failed, do not hold it up)."""
        return self.last_reached_at if self.reached and not self.waiting else None

    @classmethod
    def from_row(cls, row: Any) -> JurisdictionNotified:
        at = row.last_reached_at
        if isinstance(at, str):  # SQLite hands aggregates of dates back as text
            at = datetime.fromisoformat(at)
        return cls(row.jurisdiction, int(row.reached or 0), int(row.waiting or 0), as_utc(at))


def affected_by_jurisdiction(conn: Connection, incident_id: int) -> dict[str | None, int]:
    """Distinct affected customers per manifest jurisdiction (None: recorded without one), across all the
    incident's campaigns: the counts thresholds are compared with."""
    query = (
        select(manifest.c.jurisdiction, func.count(distinct(manifest.c.external_id)))
        .join(campaigns, campaigns.c.id == manifest.c.campaign_id)
        .where(campaigns.c.incident_id == incident_id)
        .group_by(manifest.c.jurisdiction)
    )
    return {jurisdiction: int(n) for jurisdiction, n in conn.execute(query)}


def notified_by_jurisdiction(
    conn: Connection, incident_id: int, notices: Collection[str]
) -> list[JurisdictionNotified]:
    """Per manifest jurisdiction, how many of the incident's customers the campaigns of ``notices`` (the
    first notice: an update notifies nobody anew) reached, how many still wait, and when the last reached
    one's message was handed over.

    A message's hand-over time is its last move to ``sending`` (a retry hands it over again; the one that
    got through is the last), else its first attempt. A customer counts as reached at their earliest
    reaching message, in any campaign."""
    reached_states = [s.value for s in OutboxState.reached()]
    waiting_states = [s.value for s in OutboxState.remaining() | {OutboxState.UNCERTAIN, OutboxState.WAITING}]
    # Looked up per reached message of this incident (the outbox_id index), never by grouping every
    # delivery event of every campaign the store holds.
    handed_at = (
        select(func.max(delivery_events.c.at))
        .where(
            delivery_events.c.outbox_id == outbox.c.id,
            delivery_events.c.to_state == OutboxState.SENDING.value,
        )
        .scalar_subquery()
    )
    reached_at = case(
        (outbox.c.state.in_(reached_states), func.coalesce(handed_at, outbox.c.first_attempt_at)),
        else_=None,
    )
    customers = (
        select(
            manifest.c.jurisdiction,
            manifest.c.external_id,
            func.min(reached_at).label("reached_at"),
            func.max(case((outbox.c.state.in_(waiting_states), 1), else_=0)).label("waiting"),
        )
        .select_from(
            manifest.join(campaigns, campaigns.c.id == manifest.c.campaign_id).join(
                outbox, OUTBOX_OF_MANIFEST
            )
        )
        .where(campaigns.c.incident_id == incident_id, campaigns.c.notice.in_(list(notices)))
        .group_by(manifest.c.jurisdiction, manifest.c.external_id)
        .subquery("customers")
    )
    c = customers.c
    query = select(
        c.jurisdiction,
        func.count(c.reached_at).label("reached"),
        func.sum(case((and_(c.reached_at.is_(None), c.waiting == 1), 1), else_=0)).label("waiting"),
        func.max(c.reached_at).label("last_reached_at"),
    ).group_by(c.jurisdiction)
    return [JurisdictionNotified.from_row(row) for row in conn.execute(query)]
