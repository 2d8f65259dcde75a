"""What the delivery report and the evidence pack read: aggregates computed by the database (constant
memory at a million recipients), the not-reached list in pages, and per-message rows streamed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Integer, case, func, literal, select

from notifier.clock import as_utc
from notifier.models import ChannelPlan, EventKind, OutboxState, UnreachableReason
from notifier.store.queries._joins import OUTBOX_OF_MANIFEST
from notifier.store.queries.campaigns import _not_reached
from notifier.store.rows import (
    BreakdownRow,
    LedgerRow,
    MessageRow,
    ReasonRow,
    TimelineRow,
)
from notifier.store.schema import campaigns, delivery_events, events, manifest, outbox

__all__ = [
    "FAILED_STATES",
    "campaign_headline",
    "failure_reasons",
    "headline_by_jurisdiction",
    "ledger_rows",
    "message_rows",
    "not_reached_rows",
    "status_breakdown",
    "timeline_rows",
    "timeline_span",
]

FAILED_STATES = (OutboxState.BOUNCED, OutboxState.UNDELIVERED, OutboxState.FAILED)
REPORTED_FAILURES = (EventKind.BOUNCED, EventKind.UNDELIVERED, EventKind.FAILED)
NOT_DONE = (
    OutboxState.BOUNCED,
    OutboxState.UNDELIVERED,
    OutboxState.FAILED,
    OutboxState.SUPPRESSED,
    OutboxState.NO_RECEIPT,
    OutboxState.UNCERTAIN,
    OutboxState.SKIPPED,
)


def _values(states: Any) -> list[str]:
    return [s.value for s in states]


def _has(states: Any) -> Any:
    return select(literal(1)).where(OUTBOX_OF_MANIFEST, outbox.c.state.in_(_values(states))).exists()


def _headline_columns() -> list[Any]:
    reached = _has(OutboxState.reached())
    # A waiting fallback is not progress: it is sent only if the channel before it fails for good.
    unsent = ~select(literal(1)).where(OUTBOX_OF_MANIFEST).exists()
    open_ = _has(OutboxState.remaining() | {OutboxState.UNCERTAIN}) | (
        (manifest.c.channel_plan != ChannelPlan.NONE.value) & unsent  # planned, not launched yet
    )
    # COALESCE: NOT (NULL = 'x') is NULL, not true, and would hide everyone with an email.
    earlier = func.coalesce(manifest.c.email_reason, "") == UnreachableReason.ALREADY_NOTIFIED.value

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return [
        func.count().label("customers"),
        count_if(reached).label("reached"),
        count_if(~reached & open_ & ~earlier).label("in_progress"),
        count_if(earlier).label("already_notified"),
    ]


def _headline(row: Any) -> dict[str, int]:
    result = {
        key: int(row._mapping[key]) for key in ("customers", "reached", "in_progress", "already_notified")
    }
    result["not_reached"] = (
        result["customers"] - result["reached"] - result["in_progress"] - result["already_notified"]
    )
    return result


def campaign_headline(conn: Connection, campaign_id: int) -> dict[str, int]:
    """Customers of the campaign: reached (on some channel), still in progress (not reached yet, something
    still to send or awaiting an answer), not reached (for good), and reached by an earlier campaign."""
    row = conn.execute(select(*_headline_columns()).where(manifest.c.campaign_id == campaign_id)).one()
    return _headline(row)


def headline_by_jurisdiction(conn: Connection, campaign_id: int) -> dict[str, dict[str, int]]:
    """``campaign_headline`` per manifest jurisdiction (``unknown`` where none was known)."""
    query = (
        select(manifest.c.jurisdiction, *_headline_columns())
        .where(manifest.c.campaign_id == campaign_id)
        .group_by(manifest.c.jurisdiction)
    )
    return {str(row.jurisdiction or "unknown"): _headline(row) for row in conn.execute(query)}


def status_breakdown(conn: Connection, campaign_id: int) -> list[BreakdownRow]:
    """Messages by channel × state × notice language × jurisdiction; customers with no channel at all as
    channel None (state None)."""
    messages = (
        select(
            outbox.c.channel,
            outbox.c.state,
            manifest.c.notice_locale,
            manifest.c.jurisdiction,
            func.count().label("count"),
        )
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .where(outbox.c.campaign_id == campaign_id)
        .group_by(outbox.c.channel, outbox.c.state, manifest.c.notice_locale, manifest.c.jurisdiction)
    )
    no_channel = (
        select(
            literal(None).label("channel"),
            literal(None).label("state"),
            manifest.c.notice_locale,
            manifest.c.jurisdiction,
            func.count().label("count"),
        )
        .where(
            manifest.c.campaign_id == campaign_id,
            ~select(literal(1)).where(OUTBOX_OF_MANIFEST).exists(),
        )
        .group_by(manifest.c.notice_locale, manifest.c.jurisdiction)
    )
    rows = [BreakdownRow.from_row(r) for r in conn.execute(messages)]
    rows += [BreakdownRow.from_row(r) for r in conn.execute(no_channel)]
    return rows


def failure_reasons(conn: Connection, campaign_id: int, limit: int = 20) -> list[ReasonRow]:
    """Why messages did not arrive, most frequent first: our own words where we have them (``last_error``),
    else the code of the report that settled the row (an SMTP status, a Twilio error code)."""
    reported = (
        select(events.c.reason)
        .where(events.c.outbox_id == outbox.c.id, events.c.kind.in_(_values(REPORTED_FAILURES)))
        .order_by(events.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    why = (
        select(
            outbox.c.channel,
            outbox.c.state,
            func.coalesce(outbox.c.last_error, reported, "").label("reason"),
        )
        .where(outbox.c.campaign_id == campaign_id, outbox.c.state.in_(_values(NOT_DONE)))
        .subquery()
    )
    query = (
        select(why.c.channel, why.c.state, why.c.reason, func.count().label("count"))
        .group_by(why.c.channel, why.c.state, why.c.reason)
        .order_by(func.count().desc(), why.c.channel, why.c.state, why.c.reason)
        .limit(limit)
    )
    return [ReasonRow.from_row(r) for r in conn.execute(query)]


def not_reached_rows(
    conn: Connection, campaign_id: int, *, after: str | None = None, limit: int | None = None, offset: int = 0
) -> Iterator[MessageRow]:
    """The customers the campaign did not reach (for good or not yet), each with what was tried: one row
    per (customer, channel tried), or one with channel None for a customer with no usable channel."""
    ids = _not_reached(campaign_id, frozenset())
    if after is not None:
        ids = ids.where(manifest.c.external_id > after)
    ids = ids.order_by(manifest.c.external_id)
    if limit is not None:
        ids = ids.limit(limit)
    if offset:
        ids = ids.offset(offset)
    chosen = ids.subquery()
    query = (
        select(*_message_columns(), *_CONTACT)
        .select_from(manifest.outerjoin(outbox, OUTBOX_OF_MANIFEST))
        .where(
            manifest.c.campaign_id == campaign_id, manifest.c.external_id.in_(select(chosen.c.external_id))
        )
        .order_by(manifest.c.external_id, outbox.c.channel)
        .execution_options(yield_per=2000)
    )
    for row in conn.execute(query):
        yield MessageRow.from_row(row)


def _epoch(conn: Connection, column: Any) -> Any:
    """Seconds since 1970 (UTC) of a timestamp column, as an integer, in either database."""
    if conn.dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column))
    return func.cast(func.strftime("%s", column), Integer)


TIMELINE_STATES = (OutboxState.ACCEPTED, OutboxState.DELIVERED, *FAILED_STATES)


def _timeline_events(campaign_id: int) -> Any:
    return (
        select(delivery_events.c.at, delivery_events.c.to_state)
        .join(outbox, outbox.c.id == delivery_events.c.outbox_id)
        .where(outbox.c.campaign_id == campaign_id, delivery_events.c.to_state.in_(_values(TIMELINE_STATES)))
    )


def timeline_span(conn: Connection, campaign_id: int) -> tuple[datetime, datetime] | None:
    """The first and last time the campaign's timeline has anything (UTC), or None."""
    found = _timeline_events(campaign_id).subquery()
    first, last = conn.execute(select(func.min(found.c.at), func.max(found.c.at))).one()
    if first is None:
        return None
    return _utc(first), _utc(last)


def timeline_rows(conn: Connection, campaign_id: int, bucket_seconds: int) -> list[TimelineRow]:
    """State changes to accepted (sent), delivered, and failed for good (bounced, undelivered, failed) per
    bucket of ``bucket_seconds`` (UTC, aligned to the epoch): the campaign's real timeline, from its
    delivery events, counted by the database."""
    found = _timeline_events(campaign_id).subquery()
    bucket = (func.floor(_epoch(conn, found.c.at) / bucket_seconds) * bucket_seconds).label("bucket")
    query = (
        select(bucket, found.c.to_state, func.count().label("count"))
        .group_by(bucket, found.c.to_state)
        .order_by(bucket)
    )
    return [
        TimelineRow(datetime.fromtimestamp(int(b), UTC), str(state), int(n))
        for b, state, n in conn.execute(query)
    ]


def _utc(value: Any) -> datetime:
    moment = as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
    assert moment is not None
    return moment


def _first(state: OutboxState) -> Any:
    """When the message first reached ``state`` (``sending``: handed to the provider), from its events."""
    return (
        select(func.min(delivery_events.c.at))
        .where(delivery_events.c.outbox_id == outbox.c.id, delivery_events.c.to_state == state.value)
        .scalar_subquery()
    )


def _fell_back() -> Any:
    """The row was a fallback: it waited, and was released because the channel before it failed."""
    return (
        select(literal(1))
        .where(
            delivery_events.c.outbox_id == outbox.c.id,
            delivery_events.c.from_state == OutboxState.WAITING.value,
            delivery_events.c.to_state == OutboxState.PENDING.value,
        )
        .exists()
    )


# Who the customer is and what went wrong in the provider's words: the report's, never the ledger's.
_CONTACT = (
    manifest.c.name,
    manifest.c.email,
    manifest.c.phone,
    manifest.c.postal_address,
    outbox.c.last_error,
)


def _message_columns() -> list[Any]:
    """What the report's CSV and the evidence ledger say of each message (the ledger names no contact)."""
    return [
        manifest.c.external_id,
        manifest.c.jurisdiction,
        manifest.c.notice_locale,
        manifest.c.channel_plan,
        manifest.c.email_reason,
        manifest.c.sms_reason,
        manifest.c.letter_reason,
        manifest.c.legal_channel,
        manifest.c.legal_gap,
        outbox.c.channel,
        outbox.c.state,
        outbox.c.attempts,
        outbox.c.provider_message_id,
        outbox.c.content_hash,
        _first(OutboxState.SENDING).label("sent_at"),
        _first(OutboxState.DELIVERED).label("delivered_at"),
        case((_fell_back(), True), else_=False).label("fallback"),
        outbox.c.updated_at,
    ]


def message_rows(conn: Connection, campaign_id: int) -> Iterator[MessageRow]:
    """Every (customer, channel) line of a campaign, streamed in manifest order (the report's CSV); the
    customers with no channel once, channel None."""
    query = (
        select(*_message_columns(), *_CONTACT)
        .select_from(manifest.outerjoin(outbox, OUTBOX_OF_MANIFEST))
        .where(manifest.c.campaign_id == campaign_id)
        .order_by(manifest.c.id, outbox.c.channel)
        .execution_options(yield_per=2000)
    )
    for row in conn.execute(query):
        yield MessageRow.from_row(row)


def ledger_rows(conn: Connection, campaign_ids: list[int]) -> Iterator[LedgerRow]:
    """The evidence ledger: every message of the incident's campaigns with what a regulator asks for."""
    query = (
        select(campaigns.c.name.label("campaign"), *_message_columns())
        .select_from(
            manifest.join(campaigns, campaigns.c.id == manifest.c.campaign_id).outerjoin(
                outbox, OUTBOX_OF_MANIFEST
            )
        )
        .where(manifest.c.campaign_id.in_(campaign_ids))
        .order_by(manifest.c.campaign_id, manifest.c.id, outbox.c.channel)
        .execution_options(yield_per=2000)
    )
    for row in conn.execute(query):
        yield LedgerRow.from_row(row)
