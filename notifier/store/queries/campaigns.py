"""Incidents, campaigns and their frozen manifests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from notifier.models import CampaignState, Channel, ChannelPlan, LegalGap, OutboxState, UnreachableReason
from notifier.store.queries._dialect import dialect_insert
from notifier.store.queries._ids import storable_id
from notifier.store.queries._joins import OUTBOX_OF_MANIFEST
from notifier.store.rows import (
    CampaignOverview,
    CampaignRow,
    IncidentRevisionRow,
    IncidentRow,
    IncidentSummary,
)
from notifier.store.schema import campaigns, delivery_events, incident_revisions, incidents, manifest, outbox


def insert_incident(
    conn: Connection, *, key: str, title: str, facts: dict[str, Any], actor: str, now: datetime
) -> int:
    """Record a new incident and its facts as revision 1."""
    stmt = insert(incidents).values(
        key=key, title=title, facts=facts, revision=1, created_by=actor, created_at=now
    )
    incident_id = int(conn.execute(stmt.returning(incidents.c.id)).scalar_one())
    conn.execute(
        insert(incident_revisions).values(
            incident_id=incident_id,
            revision=1,
            facts=facts,
            created_at=now,
            created_by=actor,
            comment="recorded",
        )
    )
    return incident_id


def revise_incident(
    conn: Connection,
    incident_id: int,
    *,
    expected_revision: int,
    title: str,
    facts: dict[str, Any],
    actor: str,
    comment: str,
    now: datetime,
) -> int | None:
    """Make ``facts`` the incident's current revision, keeping every earlier one; None when another edit
    landed since ``expected_revision`` was read (nothing is written then)."""
    revision = expected_revision + 1
    moved = conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id, incidents.c.revision == expected_revision)
        .values(title=title, facts=facts, revision=revision)
    ).rowcount
    if moved != 1:
        return None
    conn.execute(
        insert(incident_revisions).values(
            incident_id=incident_id,
            revision=revision,
            facts=facts,
            created_at=now,
            created_by=actor,
            comment=comment,
        )
    )
    return revision


def incidents_list(conn: Connection) -> list[IncidentSummary]:
    query = select(
        incidents.c.key,
        incidents.c.title,
        incidents.c.revision,
        incidents.c.created_at,
        incidents.c.created_by,
    ).order_by(incidents.c.created_at, incidents.c.id)
    return [IncidentSummary.from_row(row) for row in conn.execute(query)]


def incident_history(conn: Connection, incident_id: int) -> list[IncidentRevisionRow]:
    query = (
        select(incident_revisions)
        .where(incident_revisions.c.incident_id == incident_id)
        .order_by(incident_revisions.c.revision)
    )
    return [IncidentRevisionRow.from_row(row) for row in conn.execute(query)]


def incident_revision_facts(conn: Connection, incident_id: int, revision: int) -> dict[str, Any] | None:
    """The facts of one revision of an incident (None if it has no such revision)."""
    if not storable_id(revision):
        return None
    facts = conn.execute(
        select(incident_revisions.c.facts).where(
            incident_revisions.c.incident_id == incident_id, incident_revisions.c.revision == revision
        )
    ).scalar_one_or_none()
    return dict(facts) if facts is not None else None


def incident_by_key(conn: Connection, key: str) -> IncidentRow | None:
    row = conn.execute(select(incidents).where(incidents.c.key == key)).first()
    return IncidentRow.from_row(row) if row is not None else None


def insert_campaign(conn: Connection, **values: Any) -> int:
    return int(conn.execute(insert(campaigns).values(**values).returning(campaigns.c.id)).scalar_one())


def campaign_by_name(conn: Connection, name: str) -> CampaignRow | None:
    row = conn.execute(select(campaigns).where(campaigns.c.name == name)).first()
    return CampaignRow.from_row(row) if row is not None else None


def campaign_state(conn: Connection, campaign_id: int) -> CampaignState:
    return CampaignState(
        conn.execute(select(campaigns.c.state).where(campaigns.c.id == campaign_id)).scalar_one()
    )


def incident_by_id(conn: Connection, incident_id: int) -> IncidentRow:
    return IncidentRow.from_row(conn.execute(select(incidents).where(incidents.c.id == incident_id)).one())


def campaign_incident_id(conn: Connection, campaign_id: int) -> int:
    return int(
        conn.execute(select(campaigns.c.incident_id).where(campaigns.c.id == campaign_id)).scalar_one()
    )


def set_campaign_state(
    conn: Connection,
    campaign_id: int,
    state: CampaignState,
    *,
    expected: Iterable[CampaignState] | None = None,
    **stamps: datetime,
) -> bool:
    """Move a campaign to ``state``; with ``expected``, only from one of those states. True if it moved."""
    stmt = update(campaigns).where(campaigns.c.id == campaign_id).values(state=state.value, **stamps)
    if expected is not None:
        stmt = stmt.where(campaigns.c.state.in_([s.value for s in expected]))
    return conn.execute(stmt).rowcount == 1


def insert_manifest_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert manifest rows; a customer selected twice (file and query) keeps its first row."""
    if rows:
        stmt = dialect_insert(conn, manifest).on_conflict_do_nothing(
            index_elements=[manifest.c.campaign_id, manifest.c.external_id]
        )
        conn.execute(stmt, list(rows))


def _drop_duplicate_contact(
    conn: Connection, campaign_id: int, column: str, reason: UnreachableReason, channel: Channel
) -> None:
    """Remove ``column``'s channel from every row whose contact an earlier row of the campaign already has.

    The row keeps its other channels; a row with no other becomes ``none``. Done in SQL (correlated
    EXISTS on the (campaign_id, contact) index) so that deduplicating a million contacts needs no
    million-entry set in memory."""
    earlier = manifest.alias("earlier")
    contact = manifest.c[column]
    reason_col = _REASON_COLUMN[channel]
    duplicate = (
        select(literal(1))
        .where(
            earlier.c.campaign_id == campaign_id,
            earlier.c[column] == contact,
            earlier.c[reason_col].is_(None),
            earlier.c.id < manifest.c.id,
        )
        .exists()
    )
    conn.execute(
        update(manifest)
        .where(
            manifest.c.campaign_id == campaign_id,
            contact.is_not(None),
            manifest.c[reason_col].is_(None),
            duplicate,
        )
        .values({reason_col: reason.value, "channel_plan": _plan_changed(lambda p: p.without(channel))})
    )


_REASON_COLUMN = {Channel.EMAIL: "email_reason", Channel.SMS: "sms_reason", Channel.LETTER: "letter_reason"}


def _plan_changed(change: Callable[[ChannelPlan], ChannelPlan]) -> Any:
    """SQL for the manifest's channel plan changed by ``change`` (a CASE over every plan)."""
    return case(
        *((manifest.c.channel_plan == p.value, change(p).value) for p in ChannelPlan if change(p) is not p),
        else_=manifest.c.channel_plan,
    )


def _accepts(channel: Channel) -> Any:
    """Whether the law accepts ``channel`` as the row's notice (its ``legal_options``)."""
    options = literal(",") + func.coalesce(manifest.c.legal_options, "") + literal(",")
    return options.like(f"%,{channel.value},%")


def _planned(channel: Channel) -> Any:
    return manifest.c.channel_plan.in_([p.value for p in ChannelPlan.including(channel)])


def mark_duplicate_contacts(conn: Connection, campaign_id: int) -> None:
    """One notice per email address and per phone number within a campaign (first customer wins)."""
    # Addresses that differ only in case are one mailbox (email_key is the address lower-cased).
    _drop_duplicate_contact(conn, campaign_id, "email_key", UnreachableReason.DUPLICATE_EMAIL, Channel.EMAIL)
    _drop_duplicate_contact(conn, campaign_id, "phone", UnreachableReason.DUPLICATE_PHONE, Channel.SMS)


def plan_letters(conn: Connection, campaign_id: int) -> None:
    """Once duplicates and earlier notices are settled: a channel the policy set aside that is the
    person's notice in law is sent after all; then a letter for each person who can get one
    (``letter_reason`` NULL) when no email or SMS planned for them is their notice in law (the letter is,
    or nothing else the law accepts reaches them); every other possible letter is left out by policy
    (it costs paper and postage, and is no more notice than what they get)."""
    m = manifest.c
    direct = (Channel.EMAIL, Channel.SMS)

    def notified() -> Any:
        return or_(*(and_(_planned(c), _accepts(c)) for c in direct))

    # First, a channel the policy set aside (sms-first, email-first) comes back when it is the one the
    # law accepts and nothing planned is: a US reader with e-sign consent gets the email, not a letter.
    for channel in direct:
        reason = m[_REASON_COLUMN[channel]]
        conn.execute(
            update(manifest)
            .where(
                m.campaign_id == campaign_id,
                reason == UnreachableReason.POLICY.value,
                _accepts(channel),
                ~notified(),
            )
            .values(
                {
                    _REASON_COLUMN[channel]: None,
                    "channel_plan": _plan_changed(partial(ChannelPlan.adding, channel=channel)),
                }
            )
        )
    possible = and_(m.campaign_id == campaign_id, m.letter_reason.is_(None))
    conn.execute(
        update(manifest)
        .where(possible, ~notified())
        .values(channel_plan=_plan_changed(lambda p: p.adding(Channel.LETTER)))
    )
    conn.execute(
        update(manifest)
        .where(possible, ~_planned(Channel.LETTER))
        .values(letter_reason=UnreachableReason.POLICY.value)
    )


def settle_legal_channels(conn: Connection, campaign_id: int, order: Sequence[Channel]) -> None:
    """Each planned person's notice in law, once duplicates and earlier notices are settled: the first
    channel of ``order`` the row is planned on and its ``legal_options`` accept; for whoever has none,
    why (``legal_gap``). Rows planned without a decision on the law (``profile`` NULL) stay NULL."""
    m = manifest.c
    options = literal(",") + func.coalesce(m.legal_options, "") + literal(",")

    def accepts(channel: str) -> Any:
        return options.like(f"%,{channel},%")

    def left_out(channel: Channel) -> Any:
        # The person has a usable contact there; the campaign's channels or policy leave it out.
        reason = m.email_reason if channel is Channel.EMAIL else m.sms_reason
        return reason.in_([UnreachableReason.CHANNEL_DISABLED.value, UnreachableReason.POLICY.value])

    legal_channel = case(
        *(
            (
                and_(m.channel_plan.in_([p.value for p in ChannelPlan if c in p.channels]), accepts(c.value)),
                c.value,
            )
            for c in order
        ),
        else_=None,
    )
    decided = and_(m.campaign_id == campaign_id, or_(m.profile.is_not(None), m.customer_id.is_(None)))
    conn.execute(update(manifest).where(decided).values(legal_channel=legal_channel))
    conn.execute(
        update(manifest)
        .where(decided, m.legal_channel.is_(None))
        .values(
            legal_gap=case(
                (m.customer_id.is_(None), LegalGap.UNKNOWN_CUSTOMER.value),
                (
                    or_(*(and_(_accepts(c), left_out(c)) for c in order if c is not Channel.LETTER)),
                    LegalGap.CHANNEL_NOT_USED.value,
                ),
                (_accepts(Channel.LETTER), LegalGap.NEEDS_LETTER.value),
                else_=LegalGap.NO_LEGAL_CONTACT.value,
            )
        )
    )


def mark_already_notified(conn: Connection, campaign_id: int) -> int:
    """Customers whom another campaign of the same incident already reached with the same notice get no
    second one: plan ``none``, reason ``already_notified`` on both channels. Returns how many."""
    this = campaigns.alias("this")
    other = campaigns.alias("other")
    earlier = manifest.alias("earlier")
    reached = (
        select(earlier.c.customer_id)
        .join(other, other.c.id == earlier.c.campaign_id)
        .join(this, and_(this.c.incident_id == other.c.incident_id, this.c.notice == other.c.notice))
        .join(outbox, and_(outbox.c.campaign_id == other.c.id, outbox.c.manifest_id == earlier.c.id))
        .where(
            this.c.id == campaign_id,
            other.c.id != campaign_id,
            earlier.c.customer_id.is_not(None),
            outbox.c.state.in_([s.value for s in OutboxState.reached()]),
        )
    )
    reason = UnreachableReason.ALREADY_NOTIFIED.value
    result = conn.execute(
        update(manifest)
        .where(manifest.c.campaign_id == campaign_id, manifest.c.customer_id.in_(reached))
        .values(
            channel_plan=ChannelPlan.NONE.value, email_reason=reason, sms_reason=reason, letter_reason=reason
        )
    )
    return int(result.rowcount or 0)


def _not_reached(campaign_id: int, kinds: frozenset[str]) -> Any:
    reached = (
        select(literal(1))
        .where(
            OUTBOX_OF_MANIFEST,
            outbox.c.state.in_([s.value for s in OutboxState.reached()]),
        )
        .exists()
    )

    def has(states: Iterable[OutboxState]) -> Any:
        return (
            select(literal(1))
            .where(OUTBOX_OF_MANIFEST, outbox.c.state.in_([s.value for s in states]))
            .exists()
        )

    conditions = {
        "bounced": has([OutboxState.BOUNCED]),
        "undelivered": has([OutboxState.UNDELIVERED, OutboxState.FAILED]),
        "no_receipt": has([OutboxState.NO_RECEIPT]),
        "no_channel": manifest.c.channel_plan == ChannelPlan.NONE.value,
    }
    query = select(manifest.c.external_id).where(
        manifest.c.campaign_id == campaign_id,
        ~reached,
        func.coalesce(manifest.c.email_reason, "") != UnreachableReason.ALREADY_NOTIFIED.value,
    )
    if kinds:
        query = query.where(or_(*(conditions[k] for k in sorted(kinds))))
    return query


def not_reached_page(
    conn: Connection, campaign_id: int, kinds: frozenset[str], after: str | None, limit: int
) -> list[str]:
    """External ids of a campaign's customers it did not reach on any channel, in keyset pages, limited to
    ``kinds`` when given: ``bounced`` (an email bounced), ``undelivered`` (a message failed or was
    reported undelivered), ``no_receipt`` (an SMS never confirmed before the tracking window closed),
    ``no_channel`` (no usable channel at all). Those an earlier campaign had already reached are not
    among them."""
    query = _not_reached(campaign_id, kinds)
    if after is not None:
        query = query.where(manifest.c.external_id > after)
    return list(conn.scalars(query.order_by(manifest.c.external_id).limit(limit)))


def not_reached_count(conn: Connection, campaign_id: int) -> int:
    """How many of the campaign's customers it did not reach on any channel (``not_reached_page``)."""
    return int(
        conn.scalar(select(func.count()).select_from(_not_reached(campaign_id, frozenset()).subquery())) or 0
    )


def unfinished_rows(conn: Connection, campaign_id: int) -> int:
    """Rows of a campaign whose outcome is still open (to send, in flight, or of unknown fate)."""
    open_states = OutboxState.remaining() | {OutboxState.UNCERTAIN}
    return int(
        conn.scalar(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.campaign_id == campaign_id, outbox.c.state.in_([s.value for s in open_states]))
        )
        or 0
    )


def manifest_summary(conn: Connection, campaign_id: int) -> dict[str, Any]:
    """Counts by locale, channel plan, jurisdiction and unreachable reason, for the pre-launch check."""
    where = manifest.c.campaign_id == campaign_id

    def grouped(column: Any) -> dict[str, int]:
        query = select(column, func.count()).where(where).group_by(column).order_by(func.count().desc())
        return {str(key) if key is not None else "unknown": int(n) for key, n in conn.execute(query)}

    def grouped_where(condition: Any, column: Any) -> dict[str, int]:
        query = (
            select(column, func.count())
            .where(where, condition)
            .group_by(column)
            .order_by(func.count().desc())
        )
        return {str(key): int(n) for key, n in conn.execute(query)}

    return {
        "total": int(conn.scalar(select(func.count()).select_from(manifest).where(where)) or 0),
        "by_locale": grouped(manifest.c.notice_locale),
        "by_channel_plan": grouped(manifest.c.channel_plan),
        "by_jurisdiction": grouped(manifest.c.jurisdiction),
        "email_not_used": grouped_where(manifest.c.email_reason.is_not(None), manifest.c.email_reason),
        "sms_not_used": grouped_where(manifest.c.sms_reason.is_not(None), manifest.c.sms_reason),
        "letter_not_used": grouped_where(manifest.c.letter_reason.is_not(None), manifest.c.letter_reason),
        "by_legal_channel": grouped_where(manifest.c.legal_channel.is_not(None), manifest.c.legal_channel),
        "no_legal_notice": grouped_where(manifest.c.legal_gap.is_not(None), manifest.c.legal_gap),
        "legal_gaps": [
            {"profile": profile, "gap": gap, "customers": int(n)}
            for profile, gap, n in conn.execute(
                select(manifest.c.profile, manifest.c.legal_gap, func.count())
                .where(where, manifest.c.legal_gap.is_not(None))
                .group_by(manifest.c.profile, manifest.c.legal_gap)
                .order_by(func.count().desc(), manifest.c.profile)
            )
        ],
        "unreachable": grouped_where(
            manifest.c.channel_plan == ChannelPlan.NONE.value,
            case(
                (manifest.c.email_reason == manifest.c.sms_reason, manifest.c.email_reason),
                else_=func.coalesce(manifest.c.email_reason, "-")
                + " / "
                + func.coalesce(manifest.c.sms_reason, "-"),
            ),
        ),
    }


def delete_campaign(conn: Connection, campaign_id: int) -> None:
    """Remove a campaign whose planning failed, with its manifest and outbox: nothing half-made stays."""
    conn.execute(
        delete(delivery_events).where(
            delivery_events.c.outbox_id.in_(select(outbox.c.id).where(outbox.c.campaign_id == campaign_id))
        )
    )
    conn.execute(delete(outbox).where(outbox.c.campaign_id == campaign_id))
    conn.execute(delete(manifest).where(manifest.c.campaign_id == campaign_id))
    conn.execute(delete(campaigns).where(campaigns.c.id == campaign_id))


def campaigns_overview(conn: Connection) -> list[CampaignOverview]:
    """Every campaign, newest first, with its incident and the number of customers in its manifest."""
    customers_in = (
        select(func.count())
        .select_from(manifest)
        .where(manifest.c.campaign_id == campaigns.c.id)
        .scalar_subquery()
    )
    query = (
        select(
            campaigns.c.name,
            incidents.c.key.label("incident"),
            campaigns.c.notice,
            campaigns.c.state,
            campaigns.c.planned_at,
            campaigns.c.completed_at,
            customers_in.label("customers"),
        )
        .join(incidents, incidents.c.id == campaigns.c.incident_id)
        .order_by(campaigns.c.id.desc())
    )
    return [CampaignOverview.from_row(r) for r in conn.execute(query)]
