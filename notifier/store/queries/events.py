"""What providers and customers said (the ``events`` table) and what it changes: consent by phone number,
and the SMS rows of unfinished campaigns that an opt-out or opt-in reaches before they are sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, literal, select, update

from notifier.models import CampaignState, Channel, EventKind, OutboxState, ReplyStatus
from notifier.store.queries._dialect import dialect_insert
from notifier.store.queries.outbox import _events, _values
from notifier.store.rows import LastNotice
from notifier.store.schema import (
    campaigns,
    customers,
    delivery_events,
    events,
    inbound_messages,
    incidents,
    mailbox_checkpoints,
    manifest,
    outbox,
    replies,
)

__all__ = [
    "MAX_PAYLOAD_CHARS",
    "customer_ids_by_phone",
    "event_for_token",
    "event_recorded",
    "events_for_tokens",
    "handed_over",
    "inbound_seen",
    "insert_event",
    "last_notice_to",
    "latest_incident_facts",
    "link_inbound",
    "mailbox_checkpoint",
    "notice_by_token",
    "opt_in_sms",
    "opt_out_numbers_of_rows",
    "opt_out_sms",
    "save_mailbox_checkpoint",
    "what_came_back",
]

MAX_PAYLOAD_CHARS = 16_384  # what a provider sent is kept, up to this much (a callback is under 2 KB)
UNFINISHED = (CampaignState.PLANNED, CampaignState.RUNNING, CampaignState.PAUSED)
NOT_YET_SENT = (OutboxState.PENDING, OutboxState.DEFERRED, OutboxState.WAITING)  # and held by no sender


def insert_event(
    conn: Connection,
    *,
    kind: EventKind,
    channel: Channel,
    provider: str,
    payload: str,
    now: datetime,
    provider_at: datetime | None = None,
    reason: str | None = None,
    customer_id: int | None = None,
    campaign_id: int | None = None,
    outbox_id: int | None = None,
    provider_message_id: str | None = None,
    contact: str | None = None,
) -> int:
    """Record one event; returns its id. The payload is cut to ``MAX_PAYLOAD_CHARS``, marked where cut."""
    row = conn.execute(
        insert(events)
        .values(
            kind=kind.value,
            channel=channel.value,
            provider=provider,
            received_at=now,
            provider_at=provider_at,
            reason=(reason or None) and reason[:64],
            customer_id=customer_id,
            campaign_id=campaign_id,
            outbox_id=outbox_id,
            provider_message_id=(provider_message_id or None) and provider_message_id[:255],
            contact=(contact or None) and contact[:320],
            payload=_capped(payload),
        )
        .returning(events.c.id)
    ).one()
    return int(row.id)


def inbound_seen(conn: Connection, *, provider: str, message_id: str, now: datetime) -> int | None:
    """Take note of one inbound message by the provider's id; None if it was taken note of before (a replay
    or a retry of a webhook already applied). First in its transaction, so that a replay changes nothing;
    on PostgreSQL a concurrent copy waits here for the first to commit, then finds it."""
    inserted = conn.execute(
        dialect_insert(conn, inbound_messages)
        .values(provider=provider, provider_message_id=message_id[:64], received_at=now)
        .on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
        .returning(inbound_messages.c.id)
    ).first()
    return int(inserted.id) if inserted is not None else None


def link_inbound(conn: Connection, inbound_id: int, event_id: int) -> None:
    conn.execute(
        update(inbound_messages).where(inbound_messages.c.id == inbound_id).values(event_id=event_id)
    )


def _capped(payload: str) -> str:
    if len(payload) <= MAX_PAYLOAD_CHARS:
        return payload
    mark = f"\n[cut at {MAX_PAYLOAD_CHARS} characters]"
    return payload[: MAX_PAYLOAD_CHARS - len(mark)] + mark


def event_for_token(
    conn: Connection,
    *,
    token: str,
    kind: EventKind,
    channel: Channel,
    provider: str,
    payload: str,
    now: datetime,
    reason: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    """Record an event about the outbox row with ``token``, linked to its campaign and customer."""
    row = {"token": token, "kind": kind.value, "reason": reason, "provider_message_id": provider_message_id}
    events_for_tokens(conn, [{**row, "payload": payload}], channel=channel, provider=provider, now=now)


def customer_ids_by_phone(conn: Connection, phone: str) -> list[int]:
    return [int(i) for i in conn.execute(select(customers.c.id).where(customers.c.phone == phone)).scalars()]


def _notices() -> Any:
    return select(
        outbox.c.id.label("outbox_id"),
        outbox.c.campaign_id,
        campaigns.c.name.label("campaign"),
        campaigns.c.notice,
        manifest.c.customer_id,
        manifest.c.locale,
        manifest.c.notice_locale,
        manifest.c.jurisdiction,
        incidents.c.facts.label("incident_facts"),
        campaigns.c.settings.label("campaign_settings"),
    ).select_from(
        outbox.join(manifest, manifest.c.id == outbox.c.manifest_id)
        .join(campaigns, campaigns.c.id == outbox.c.campaign_id)
        .join(incidents, incidents.c.id == campaigns.c.incident_id)
    )


def last_notice_to(conn: Connection, channel: Channel, contact: str) -> LastNotice | None:
    """The latest ``channel`` notice handed to a provider for ``contact`` (an E.164 phone, or an email
    address in any case), in any campaign, else the latest planned for it."""
    where = manifest.c.phone == contact if channel is Channel.SMS else manifest.c.email_key == contact.lower()
    row = conn.execute(
        _notices()
        .where(where, outbox.c.channel == channel.value)
        .order_by(outbox.c.first_attempt_at.is_(None), outbox.c.first_attempt_at.desc(), outbox.c.id.desc())
        .limit(1)
    ).first()
    return LastNotice.from_row(row) if row is not None else None


def notice_by_token(conn: Connection, token: str) -> LastNotice | None:
    """The notice whose message token is ``token`` (quoted by a reply's In-Reply-To or References)."""
    row = conn.execute(_notices().where(outbox.c.message_token == token)).first()
    return LastNotice.from_row(row) if row is not None else None


def event_recorded(conn: Connection, provider: str, provider_message_id: str) -> bool:
    """Whether an event from ``provider`` with this message id is on record (a mailbox read again)."""
    found = conn.execute(
        select(events.c.id)
        .where(events.c.provider == provider, events.c.provider_message_id == provider_message_id[:255])
        .limit(1)
    ).first()
    return found is not None


def mailbox_checkpoint(conn: Connection, mailbox: str, *, for_update: bool = False) -> tuple[int, int] | None:
    """(UIDVALIDITY, last UID read) of a mailbox, or None if it was never read; ``for_update`` locks the
    row until the transaction ends (PostgreSQL), so two readers never take the same message."""
    query = select(mailbox_checkpoints.c.uid_validity, mailbox_checkpoints.c.last_uid).where(
        mailbox_checkpoints.c.mailbox == mailbox
    )
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return (int(row.uid_validity), int(row.last_uid)) if row is not None else None


def save_mailbox_checkpoint(
    conn: Connection, mailbox: str, *, uid_validity: int, last_uid: int, now: datetime
) -> None:
    stmt = dialect_insert(conn, mailbox_checkpoints).values(
        mailbox=mailbox, uid_validity=uid_validity, last_uid=last_uid, updated_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[mailbox_checkpoints.c.mailbox],
            set_={"uid_validity": uid_validity, "last_uid": last_uid, "updated_at": now},
        )
    )


def latest_incident_facts(conn: Connection) -> dict[str, Any] | None:
    """The newest incident's facts: whose contact an unknown number's help reply gives."""
    facts = conn.execute(select(incidents.c.facts).order_by(incidents.c.id.desc()).limit(1)).scalar()
    return dict(facts) if facts is not None else None


def _unfinished_sms_rows(phone: str, states: Sequence[OutboxState]) -> Any:
    return (
        select(outbox.c.id)
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .join(campaigns, campaigns.c.id == outbox.c.campaign_id)
        .where(
            manifest.c.phone == phone,
            outbox.c.channel == Channel.SMS.value,
            outbox.c.state.in_(_values(states)),
            campaigns.c.state.in_([s.value for s in UNFINISHED]),
        )
    )


def opt_out_sms(conn: Connection, phone: str, *, detail: str, now: datetime) -> int:
    """The number's owner said STOP: no SMS to it from any later campaign, and its rows of unfinished
    campaigns that no sender holds yet are suppressed. Returns how many rows were suppressed.

    Rows a sender has already claimed (at most a batch, seconds from being sent) still go out."""
    conn.execute(update(customers).where(customers.c.phone == phone).values(sms_opt_out=True, updated_at=now))
    suppressed = 0
    for (
        state
    ) in NOT_YET_SENT:  # one state at a time, so each event says what the row was (opt-in restores it)
        ids = [int(i) for i in conn.execute(_unfinished_sms_rows(phone, (state,))).scalars()]
        if ids:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.state == state.value)
                .values(state=OutboxState.SUPPRESSED.value, last_error=detail, updated_at=now)
            )
            _events(conn, ids, now=now, before=state, after=OutboxState.SUPPRESSED, detail=detail)
            suppressed += len(ids)
    return suppressed


def opt_out_numbers_of_rows(
    conn: Connection, outbox_ids: Sequence[int], *, detail: str, now: datetime
) -> int:
    """Twilio refused these SMS rows with 21610 (the number told Twilio STOP, which blocks it for our
    sender): each of their numbers is opted out as if it had told us (``opt_out_sms``). Returns how many
    other rows that suppressed."""
    phones = conn.execute(
        select(manifest.c.phone)
        .join(outbox, outbox.c.manifest_id == manifest.c.id)
        .where(outbox.c.id.in_(list(outbox_ids)), manifest.c.phone.is_not(None))
        .distinct()
    ).scalars()
    return sum(opt_out_sms(conn, phone, detail=detail, now=now) for phone in list(phones))


def opt_in_sms(conn: Connection, phone: str, *, detail: str, now: datetime) -> int:
    """The number's owner said START: SMS again for later campaigns, and the rows of unfinished campaigns
    an opt-out suppressed before they were sent (never handed to a provider) go back to the state they
    had (due, deferred, or waiting as a fallback). Returns how many."""
    conn.execute(
        update(customers).where(customers.c.phone == phone).values(sms_opt_out=False, updated_at=now)
    )
    candidates = _unfinished_sms_rows(phone, (OutboxState.SUPPRESSED,)).where(
        outbox.c.first_attempt_at.is_(None)
    )
    restored = 0
    for row_id in [int(i) for i in conn.execute(candidates).scalars()]:
        before = conn.execute(
            select(delivery_events.c.from_state)
            .where(
                delivery_events.c.outbox_id == row_id,
                delivery_events.c.to_state == OutboxState.SUPPRESSED.value,
            )
            .order_by(delivery_events.c.id.desc())
            .limit(1)
        ).scalar()
        if before not in {s.value for s in NOT_YET_SENT}:
            continue  # suppressed by something else than an opt-out of this kind
        state = OutboxState(before)
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.state == OutboxState.SUPPRESSED.value)
            .values(state=state.value, last_error=None, updated_at=now)
        )
        _events(conn, [row_id], now=now, before=OutboxState.SUPPRESSED, after=state, detail=detail)
        restored += 1
    return restored


def events_for_tokens(
    conn: Connection, rows: Sequence[dict[str, Any]], *, channel: Channel, provider: str, now: datetime
) -> None:
    """``event_for_token`` for many reports at once (one INSERT … SELECT, executed for every row in one
    round trip where the driver pipelines): each row gives token, kind, reason, provider_message_id and
    payload."""
    if not rows:
        return
    source = (
        select(
            bindparam("kind"),
            literal(channel.value),
            literal(provider),
            literal(now, type_=events.c.received_at.type),
            bindparam("reason"),
            manifest.c.customer_id,
            outbox.c.campaign_id,
            outbox.c.id,
            bindparam("provider_message_id"),
            bindparam("payload"),
        )
        .select_from(outbox.join(manifest, manifest.c.id == outbox.c.manifest_id))
        .where(outbox.c.message_token == bindparam("token"))
    )
    statement = insert(events).from_select(
        [
            "kind",
            "channel",
            "provider",
            "received_at",
            "reason",
            "customer_id",
            "campaign_id",
            "outbox_id",
            "provider_message_id",
            "payload",
        ],
        source,
    )
    conn.execute(
        statement,
        [
            {
                "token": r["token"],
                "kind": r["kind"],
                "reason": (r.get("reason") or None) and str(r["reason"])[:64],
                "provider_message_id": (r.get("provider_message_id") or None)
                and str(r["provider_message_id"])[:255],
                "payload": _capped(str(r["payload"])),
            }
            for r in rows
        ],
    )


def what_came_back(conn: Connection, campaign_id: int) -> dict[str, int]:
    """A campaign's tracking at a glance: events by kind, replies still open in the support queue, and
    fallbacks released (a first channel failed for good, the other one was sent)."""
    counts = {
        str(kind): int(n)
        for kind, n in conn.execute(
            select(events.c.kind, func.count())
            .where(events.c.campaign_id == campaign_id)
            .group_by(events.c.kind)
        )
    }
    counts["replies_open"] = int(
        conn.scalar(
            select(func.count())
            .select_from(replies)
            .where(replies.c.campaign_id == campaign_id, replies.c.status == ReplyStatus.OPEN.value)
        )
        or 0
    )
    counts["fallbacks_released"] = int(
        conn.scalar(
            select(func.count())
            .select_from(delivery_events.join(outbox, outbox.c.id == delivery_events.c.outbox_id))
            .where(
                outbox.c.campaign_id == campaign_id,
                delivery_events.c.from_state == OutboxState.WAITING.value,
                delivery_events.c.to_state == OutboxState.PENDING.value,
            )
        )
        or 0
    )
    return counts


def handed_over(conn: Connection, campaign_id: int) -> dict[str, int]:
    """Messages each channel's provider took (they carry its message id), whatever became of them after."""
    return {
        str(channel): int(n)
        for channel, n in conn.execute(
            select(outbox.c.channel, func.count())
            .where(outbox.c.campaign_id == campaign_id, outbox.c.provider_message_id.is_not(None))
            .group_by(outbox.c.channel)
        )
    }
