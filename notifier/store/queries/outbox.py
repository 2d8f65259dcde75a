"""The outbox: fill it from the manifest, claim rows ahead, hand them over, record the answers, settle
what a crash left open; the rows of the delivery report.

Every state change also appends a ``delivery_events`` row, except a claim and its release: a claim is
a sender's reservation, not something that happened to the message (the row's lease says who holds it).
The states and what they allow are ``notifier.models.OutboxState``'s; nothing here lists them again."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from notifier.clock import as_utc
from notifier.models import CampaignState, Channel, ChannelPlan, OutboxState, UnreachableReason
from notifier.store.rows import (
    BounceTarget,
    ClaimedRow,
    ManifestReader,
    Outcome,
    SilentSms,
    UncertainRow,
)
from notifier.store.schema import campaigns, delivery_events, manifest, outbox

__all__ = [
    "advance_by_token",
    "advance_many_by_token",
    "campaign_pieces",
    "campaigns_to_reconcile",
    "claim_batch",
    "count_uncertain",
    "email_row_by_token",
    "fill_outbox",
    "hand_over",
    "manifest_readers",
    "mark_expired_leases_uncertain",
    "mark_no_receipt",
    "next_deferred_at",
    "next_lease_expiry",
    "outbox_counts",
    "record_outcomes",
    "release_claims",
    "release_fallback",
    "sample_manifest",
    "settle_uncertain",
    "silent_sms",
    "skip_unsent",
    "uncertain_rows",
]

_INSERT_COLUMNS = [
    "campaign_id",
    "manifest_id",
    "channel",
    "state",
    "attempts",
    "message_token",
    "updated_at",
]


def _values(states: Iterable[OutboxState]) -> list[str]:
    return sorted(s.value for s in states)


def _events(
    conn: Connection,
    ids: Iterable[int],
    *,
    now: datetime,
    before: OutboxState | None,
    after: OutboxState,
    detail: str,
) -> None:
    rows = [
        {
            "outbox_id": i,
            "at": now,
            "from_state": before.value if before else None,
            "to_state": after.value,
            "detail": detail,
        }
        for i in ids
    ]
    if rows:
        conn.execute(insert(delivery_events), rows)


def fill_outbox(conn: Connection, campaign_id: int, now: datetime) -> dict[str, int]:
    """Create one outbox row per (manifest row, planned channel), in one INSERT … SELECT each; under
    email-first, customers who could also take SMS get a ``waiting`` SMS row, released if their email
    fails for good (and the other way round under sms-first).

    The message token is derived from the row's identity, so the Message-ID of a resend is the same."""

    def token(channel: Channel) -> Any:
        return literal(f"c{campaign_id}m") + cast(manifest.c.id, String) + literal(channel.value[0])

    plans = {
        **{
            (channel, OutboxState.PENDING): manifest.c.channel_plan.in_(ChannelPlan.including(channel))
            for channel in Channel
        },
        (Channel.SMS, OutboxState.WAITING): and_(
            manifest.c.sms_reason == UnreachableReason.POLICY.value, manifest.c.phone.is_not(None)
        ),
        (Channel.EMAIL, OutboxState.WAITING): and_(
            manifest.c.email_reason == UnreachableReason.POLICY.value, manifest.c.email.is_not(None)
        ),
    }
    created: dict[str, int] = {}
    for (channel, state), planned in plans.items():
        source = select(
            manifest.c.campaign_id,
            manifest.c.id,
            literal(channel.value),
            literal(state.value),
            literal(0),
            token(channel),
            literal(now, type_=outbox.c.updated_at.type),
        ).where(manifest.c.campaign_id == campaign_id, planned)
        result = conn.execute(insert(outbox).from_select(_INSERT_COLUMNS, source))
        key = channel.value if state is OutboxState.PENDING else f"{channel.value}_fallback"
        created[key] = int(result.rowcount or 0)
    return created


def _claimable(campaign_id: int, channel: Channel, now: datetime) -> ColumnElement[bool]:
    """Due rows, and rows a sender claimed but whose lease ran out before it handed them over (it died
    or stopped: they were never sent, so anyone may take them)."""
    return and_(
        outbox.c.campaign_id == campaign_id,
        outbox.c.channel == channel.value,
        or_(
            outbox.c.state == OutboxState.PENDING.value,
            and_(outbox.c.state == OutboxState.DEFERRED.value, outbox.c.next_attempt_at <= now),
            and_(outbox.c.state == OutboxState.CLAIMED.value, outbox.c.lease_expires_at < now),
        ),
    )


def claim_batch(
    conn: Connection,
    *,
    campaign_id: int,
    channel: Channel,
    limit: int,
    lease_token: str,
    now: datetime,
    lease_until: datetime,
) -> list[ClaimedRow]:
    """Claim up to ``limit`` due rows for our lease (state ``claimed``); nothing is sent yet.

    On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, so concurrent senders
    take disjoint batches without waiting on each other; SQLite has one writer at a time anyway.
    Returns the claimed rows joined with their manifest data, in id order."""
    candidates = (
        select(outbox.c.id).where(_claimable(campaign_id, channel, now)).order_by(outbox.c.id).limit(limit)
    )
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    # Two statements, deliberately: PostgreSQL may re-run a "WHERE id IN (SELECT … LIMIT n FOR UPDATE
    # SKIP LOCKED)" subquery while updating, skip the rows it has just locked itself, and so claim more
    # than n rows (seen in our tests). Selecting first locks exactly n; the update re-checks the state,
    # so on SQLite a row another sender claimed in between is simply not ours (RETURNING tells).
    candidate_ids = list(conn.scalars(candidates))
    if not candidate_ids:
        return []
    claimed_ids = list(
        conn.scalars(
            update(outbox)
            .where(outbox.c.id.in_(candidate_ids), _claimable(campaign_id, channel, now))
            .values(
                state=OutboxState.CLAIMED.value,
                lease_token=lease_token,
                lease_expires_at=lease_until,
                updated_at=now,
            )
            .returning(outbox.c.id)
        )
    )
    if not claimed_ids:
        return []
    query = (
        select(
            outbox.c.id,
            outbox.c.attempts,
            outbox.c.first_attempt_at,
            outbox.c.message_token,
            manifest.c.name,
            manifest.c.email,
            manifest.c.phone,
            manifest.c.locale,
            manifest.c.time_zone,
            manifest.c.jurisdiction,
            manifest.c.postal_address,
        )
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .where(outbox.c.id.in_(claimed_ids))
        .order_by(outbox.c.id)
    )
    return [ClaimedRow.from_row(row) for row in conn.execute(query)]


def hand_over(
    conn: Connection,
    row_ids: Sequence[int],
    *,
    lease_token: str,
    now: datetime,
    content_hash: str | None = None,
) -> list[int]:
    """Mark claimed rows ``sending`` just before they go to the provider, counting an attempt, with the
    approved content hash their message was rendered from; returns the ids that are still ours (a cancel
    or another sender may have taken some meanwhile: those are not sent).

    From here on a crash leaves the row ``uncertain``: only rows really about to go out are marked. This
    runs every few messages, so on PostgreSQL the mark and its events are one statement (a data-modifying
    CTE): one round trip to the server instead of three."""
    mark = (
        update(outbox)
        .where(
            outbox.c.id.in_(list(row_ids)),
            outbox.c.lease_token == lease_token,
            outbox.c.state == OutboxState.CLAIMED.value,
        )
        .values(
            state=OutboxState.SENDING.value,
            attempts=outbox.c.attempts + 1,
            updated_at=now,
            content_hash=content_hash,
        )
        .returning(outbox.c.id)
    )
    detail = f"handed to the provider (lease {lease_token})"
    if conn.dialect.name == "postgresql":
        moved = mark.cte("moved")
        events = select(
            moved.c.id,
            literal(now, type_=delivery_events.c.at.type),
            literal(OutboxState.CLAIMED.value),
            literal(OutboxState.SENDING.value),
            literal(detail),
        )
        stmt = (
            insert(delivery_events)
            .from_select(["outbox_id", "at", "from_state", "to_state", "detail"], events)
            .returning(delivery_events.c.outbox_id)
        )
        return list(conn.scalars(stmt))
    handed = list(conn.scalars(mark))
    _events(conn, handed, now=now, before=OutboxState.CLAIMED, after=OutboxState.SENDING, detail=detail)
    return handed


def record_outcomes(conn: Connection, outcomes: Sequence[Outcome], *, now: datetime) -> int:
    """Write the answers for claimed rows, each guarded by its claim's lease and its state (``sending`` if it
    was handed over, else ``claimed``): if the lease expired and the row was meanwhile marked ``uncertain``,
    skipped or taken by another sender, a late answer does not overwrite it. Returns the rows written."""
    if not outcomes:
        return 0
    params = [
        {
            "b_id": o.row_id,
            "b_lease": o.lease,
            "b_state": o.state.value,
            "b_provider_id": o.provider_message_id,
            "b_error": o.error,
            "b_next": o.next_attempt_at,
            "b_from": _from_state(o).value,
            # Handed over, then given back unsent or the provider never reached: no attempt happened.
            "b_unsent": int(o.handed_over and not o.attempted),
            "b_tried": int(o.handed_over and o.attempted),
        }
        for o in outcomes
    ]
    stmt = (
        update(outbox)
        .where(
            outbox.c.id == bindparam("b_id"),
            outbox.c.lease_token == bindparam("b_lease"),
            outbox.c.state == bindparam("b_from"),
        )
        .values(
            state=bindparam("b_state"),
            attempts=outbox.c.attempts - bindparam("b_unsent", type_=Integer),
            # The clock of transient retries starts with the first attempt that reached the provider.
            first_attempt_at=case(
                (bindparam("b_tried", type_=Integer) == 1, func.coalesce(outbox.c.first_attempt_at, now)),
                else_=outbox.c.first_attempt_at,
            ),
            provider_message_id=func.coalesce(
                bindparam("b_provider_id", type_=String), outbox.c.provider_message_id
            ),
            last_error=bindparam("b_error", type_=String),
            next_attempt_at=bindparam("b_next", type_=outbox.c.next_attempt_at.type),
            lease_token=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    written = int(conn.execute(stmt, params).rowcount or 0)
    # A status callback may have overtaken our own record (the row is already "delivered"): keep the
    # provider's id anyway, it is what support and crash recovery look messages up by.
    late = [{"b_id": p["b_id"], "b_pid": p["b_provider_id"]} for p in params if p["b_provider_id"]]
    if late and written < len(params):
        conn.execute(
            update(outbox)
            .where(outbox.c.id == bindparam("b_id"), outbox.c.provider_message_id.is_(None))
            .values(provider_message_id=bindparam("b_pid")),
            late,
        )
    _outcome_events(conn, outcomes, now)
    return written


def _from_state(outcome: Outcome) -> OutboxState:
    return OutboxState.SENDING if outcome.handed_over else OutboxState.CLAIMED


def _outcome_events(conn: Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
    events = [
        {
            "outbox_id": o.row_id,
            "at": now,
            "from_state": _from_state(o).value,
            "to_state": o.state.value,
            "detail": o.error or o.provider_message_id,
        }
        for o in outcomes
    ]
    conn.execute(insert(delivery_events), events)


def release_claims(conn: Connection, row_ids: Sequence[int], *, lease_token: str, now: datetime) -> int:
    """Give back claimed rows never handed over (the sender stops): due again at once, for anyone."""
    if not row_ids:
        return 0
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.id.in_(list(row_ids)),
            outbox.c.lease_token == lease_token,
            outbox.c.state == OutboxState.CLAIMED.value,
        )
        .values(state=OutboxState.PENDING.value, lease_token=None, lease_expires_at=None, updated_at=now)
    )
    return int(result.rowcount or 0)


def release_fallback(conn: Connection, failed_ids: Sequence[int], now: datetime) -> int:
    """A message that failed for good releases the same customer's ``waiting`` fallback row."""
    manifest_ids = select(outbox.c.manifest_id).where(outbox.c.id.in_(list(failed_ids))).scalar_subquery()
    released = list(
        conn.scalars(
            update(outbox)
            .where(outbox.c.manifest_id.in_(manifest_ids), outbox.c.state == OutboxState.WAITING.value)
            .values(
                state=OutboxState.PENDING.value,
                last_error="fallback: the first channel failed",
                updated_at=now,
            )
            .returning(outbox.c.id)
        )
    )
    _events(
        conn,
        released,
        now=now,
        before=OutboxState.WAITING,
        after=OutboxState.PENDING,
        detail="fallback: the first channel failed",
    )
    return len(released)


def mark_expired_leases_uncertain(conn: Connection, campaign_id: int, now: datetime) -> int:
    """Rows left ``sending`` past their lease were handed to a provider by a sender that then died or hung:
    their fate is unknown. They become ``uncertain`` (never silently re-sent); settling them is a policy
    decision. (Claimed rows whose lease expired were never handed over: they are simply claimable again.)"""
    expired = list(
        conn.scalars(
            update(outbox)
            .where(
                outbox.c.campaign_id == campaign_id,
                outbox.c.state == OutboxState.SENDING.value,
                outbox.c.lease_expires_at < now,
            )
            .values(state=OutboxState.UNCERTAIN.value, lease_token=None, updated_at=now)
            .returning(outbox.c.id)
        )
    )
    _events(
        conn,
        expired,
        now=now,
        before=OutboxState.SENDING,
        after=OutboxState.UNCERTAIN,
        detail="lease expired while sending",
    )
    return len(expired)


def next_deferred_at(conn: Connection, campaign_id: int) -> datetime | None:
    """When the earliest deferred row of the campaign is due again (None: nothing deferred)."""
    query = select(func.min(outbox.c.next_attempt_at)).where(
        outbox.c.campaign_id == campaign_id, outbox.c.state == OutboxState.DEFERRED.value
    )
    return _moment(conn.scalar(query))


def next_lease_expiry(conn: Connection, campaign_id: int) -> datetime | None:
    """When the earliest lease of a row some sender holds (claimed or sending) runs out (None: no leases)."""
    query = select(func.min(outbox.c.lease_expires_at)).where(
        outbox.c.campaign_id == campaign_id, outbox.c.state.in_(_values(OutboxState.leased()))
    )
    return _moment(conn.scalar(query))


def _moment(value: object) -> datetime | None:
    """A datetime from an aggregate, in UTC (SQLite hands back naive datetimes, or text for MIN())."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return as_utc(moment)


def advance_by_token(
    conn: Connection,
    *,
    token: str,
    to_state: OutboxState,
    detail: str,
    now: datetime,
    from_states: Collection[OutboxState] | None = None,
) -> int | None:
    """Move the row with ``token`` to ``to_state`` if that is forward (``OutboxState.before``, or only from
    ``from_states``); returns its id if it moved."""
    allowed = OutboxState.before(to_state) if from_states is None else from_states
    row = conn.execute(
        update(outbox)
        .where(outbox.c.message_token == token, outbox.c.state.in_(_values(allowed)))
        .values(state=to_state.value, updated_at=now)
        .returning(outbox.c.id)
    ).first()
    if row is None:
        return None
    _events(conn, [row.id], now=now, before=None, after=to_state, detail=detail)
    return int(row.id)


def advance_many_by_token(
    conn: Connection, details: Mapping[str, str], *, to_state: OutboxState, now: datetime
) -> dict[str, int]:
    """``advance_by_token`` for many rows at once (``details``: token → the delivery event's detail);
    returns token → id of the rows that moved."""
    if not details:
        return {}
    moved = {
        str(r.message_token): int(r.id)
        for r in conn.execute(
            update(outbox)
            .where(
                outbox.c.message_token.in_(list(details)),
                outbox.c.state.in_(_values(OutboxState.before(to_state))),
            )
            .values(state=to_state.value, updated_at=now)
            .returning(outbox.c.id, outbox.c.message_token)
        )
    }
    if moved:
        conn.execute(
            insert(delivery_events),
            [
                {
                    "outbox_id": i,
                    "at": now,
                    "from_state": None,
                    "to_state": to_state.value,
                    "detail": details[t],
                }
                for t, i in moved.items()
            ],
        )
    return moved


def count_uncertain(conn: Connection, campaign_id: int, channel: Channel) -> int:
    return int(
        conn.scalar(
            select(func.count())
            .select_from(outbox)
            .where(
                outbox.c.campaign_id == campaign_id,
                outbox.c.channel == channel.value,
                outbox.c.state == OutboxState.UNCERTAIN.value,
            )
        )
        or 0
    )


def uncertain_rows(conn: Connection, campaign_id: int) -> list[UncertainRow]:
    handed_over = (
        select(func.max(delivery_events.c.at))
        .where(
            delivery_events.c.outbox_id == outbox.c.id,
            delivery_events.c.to_state == OutboxState.SENDING.value,
        )
        .scalar_subquery()
    )
    query = (
        select(
            outbox.c.id,
            outbox.c.channel,
            outbox.c.message_token,
            manifest.c.name,
            manifest.c.phone,
            manifest.c.email,
            manifest.c.locale,
            manifest.c.time_zone,
            manifest.c.jurisdiction,
            outbox.c.attempts,
            handed_over.label("handed_over_at"),
        )
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .where(outbox.c.campaign_id == campaign_id, outbox.c.state == OutboxState.UNCERTAIN.value)
        .order_by(outbox.c.id)
    )
    return [UncertainRow.from_row(row) for row in conn.execute(query)]


def settle_uncertain(
    conn: Connection,
    row_id: int,
    *,
    state: OutboxState,
    provider_message_id: str | None,
    detail: str,
    now: datetime,
) -> bool:
    """Move an ``uncertain`` row on, once its fate is known or decided; False if it was not uncertain."""
    changed = conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.state == OutboxState.UNCERTAIN.value)
        .values(
            state=state.value,
            last_error=detail,
            updated_at=now,
            provider_message_id=func.coalesce(provider_message_id, outbox.c.provider_message_id),
        )
    ).rowcount
    if changed:
        _events(conn, [row_id], now=now, before=OutboxState.UNCERTAIN, after=state, detail=detail)
    return bool(changed)


def skip_unsent(conn: Connection, campaign_id: int, now: datetime) -> int:
    """A cancelled campaign: every row not yet handed to a provider becomes ``skipped`` (a claimed one too:
    its sender's hand-over then finds it gone and does not send it)."""
    ids = list(
        conn.scalars(
            update(outbox)
            .where(outbox.c.campaign_id == campaign_id, outbox.c.state.in_(_values(OutboxState.unsent())))
            .values(
                state=OutboxState.SKIPPED.value,
                last_error="campaign cancelled",
                lease_token=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(outbox.c.id)
        )
    )
    _events(conn, ids, now=now, before=None, after=OutboxState.SKIPPED, detail="campaign cancelled")
    return len(ids)


def outbox_counts(conn: Connection, campaign_id: int) -> dict[str, dict[str, int]]:
    """{channel: {state: count}} for one campaign."""
    query = (
        select(outbox.c.channel, outbox.c.state, func.count())
        .where(outbox.c.campaign_id == campaign_id)
        .group_by(outbox.c.channel, outbox.c.state)
    )
    counts: dict[str, dict[str, int]] = {}
    for channel, state, n in conn.execute(query):
        counts.setdefault(channel, {})[state] = int(n)
    return counts


def campaign_pieces(
    conn: Connection, campaign_id: int, *, unsent_only: bool = True
) -> list[tuple[str, str, str | None]]:
    """The (notice locale, channel, jurisdiction) groups a campaign still has to send (its unsent rows), or
    that it has at all."""
    query = (
        select(manifest.c.notice_locale, outbox.c.channel, manifest.c.jurisdiction)
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .where(outbox.c.campaign_id == campaign_id)
        .distinct()
    )
    if unsent_only:
        query = query.where(outbox.c.state.in_(_values(OutboxState.unsent())))
    return sorted(
        ((str(locale), str(channel), jurisdiction) for locale, channel, jurisdiction in conn.execute(query)),
        key=lambda g: (g[0], g[1], g[2] or ""),
    )


def letter_tokens(conn: Connection, references: Sequence[str]) -> set[str]:
    """Which of ``references`` are our letters (outbox rows of the letter channel, by token)."""
    found: set[str] = set()
    for start in range(0, len(references), 1000):
        chunk = list(references[start : start + 1000])
        query = select(outbox.c.message_token).where(
            outbox.c.channel == Channel.LETTER.value, outbox.c.message_token.in_(chunk)
        )
        found.update(str(t) for t in conn.execute(query).scalars())
    return found


def _reader_columns() -> list[Any]:
    return [getattr(manifest.c, name) for name in ManifestReader.__dataclass_fields__]


def manifest_readers(conn: Connection, campaign_id: int, external_ids: Sequence[str]) -> list[ManifestReader]:
    """The manifest rows of these customers, in the order asked (ids not in the manifest are left out)."""
    query = select(*_reader_columns()).where(
        manifest.c.campaign_id == campaign_id, manifest.c.external_id.in_(list(external_ids))
    )
    found = {row.external_id: ManifestReader.from_row(row) for row in conn.execute(query)}
    return [found[i] for i in dict.fromkeys(external_ids) if i in found]


def sample_manifest(conn: Connection, campaign_id: int, count: int) -> list[ManifestReader]:
    """``count`` customers of the manifest picked at random (uniformly, by the database)."""
    query = (
        select(*_reader_columns())
        .where(manifest.c.campaign_id == campaign_id)
        .order_by(func.random())
        .limit(count)
    )
    return [ManifestReader.from_row(row) for row in conn.execute(query)]


def email_row_by_token(conn: Connection, token: str) -> BounceTarget | None:
    """The email outbox row a bounce names (by the token in its VERP address or Message-ID), with its
    campaign's settings (the key its tokens were signed with)."""
    row = conn.execute(
        select(
            outbox.c.id,
            outbox.c.state,
            outbox.c.message_token,
            manifest.c.email,
            manifest.c.customer_id,
            campaigns.c.settings,
        )
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .join(campaigns, campaigns.c.id == outbox.c.campaign_id)
        .where(outbox.c.message_token == token, outbox.c.channel == Channel.EMAIL.value)
    ).first()
    return BounceTarget.from_row(row) if row is not None else None


def silent_sms(
    conn: Connection, campaign_id: int, *, accepted_before: datetime, limit: int
) -> list[SilentSms]:
    """SMS rows the provider accepted before ``accepted_before`` and has reported nothing final about."""
    rows = conn.execute(
        select(outbox.c.id, outbox.c.message_token, outbox.c.provider_message_id)
        .where(
            outbox.c.campaign_id == campaign_id,
            outbox.c.channel == Channel.SMS.value,
            outbox.c.state == OutboxState.ACCEPTED.value,
            outbox.c.provider_message_id.is_not(None),
            outbox.c.updated_at <= accepted_before,
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [SilentSms.from_row(r) for r in rows]


def mark_no_receipt(conn: Connection, campaign_id: int, now: datetime) -> int:
    """The tracking window has closed: SMS rows still only ``accepted`` become ``no_receipt`` (email has no
    delivery receipts: an accepted email with no bounce stays accepted)."""
    ids = list(
        conn.scalars(
            update(outbox)
            .where(
                outbox.c.campaign_id == campaign_id,
                outbox.c.channel == Channel.SMS.value,
                outbox.c.state == OutboxState.ACCEPTED.value,
            )
            .values(state=OutboxState.NO_RECEIPT.value, updated_at=now)
            .returning(outbox.c.id)
        )
    )
    _events(
        conn,
        ids,
        now=now,
        before=OutboxState.ACCEPTED,
        after=OutboxState.NO_RECEIPT,
        detail="no final report before the tracking window closed",
    )
    return len(ids)


def campaigns_to_reconcile(conn: Connection) -> list[str]:
    """Launched campaigns with something left to settle: rows in flight, due (a released fallback), of
    unknown fate, or SMS still waiting for their final report."""
    open_states = _values(OutboxState.remaining() | {OutboxState.UNCERTAIN})
    waiting = or_(
        outbox.c.state.in_(open_states),
        and_(outbox.c.channel == Channel.SMS.value, outbox.c.state == OutboxState.ACCEPTED.value),
    )
    has_work = select(literal(1)).where(outbox.c.campaign_id == campaigns.c.id, waiting).exists()
    launched = [CampaignState.RUNNING.value, CampaignState.PAUSED.value, CampaignState.COMPLETED.value]
    return list(
        conn.scalars(
            select(campaigns.c.name).where(campaigns.c.state.in_(launched), has_work).order_by(campaigns.c.id)
        )
    )
