"""Rows whose fate a crash left unknown: found when their lease runs out, settled by evidence or policy,
never blindly sent again; and released by a person after review.

A row is ``uncertain`` only if it was handed to the provider (``sending``) by a sender whose lease then
ran out. SMS: Twilio is asked whether it has *our* message (our sending identity, the exact text we would
have sent, created after the hand-over); if it does, the row is ``accepted`` with its id; if it has
none, sending is safe (``pending``); if the look-up fails, the row stays uncertain. Email: the
campaign's policy decides: ``resend`` (same Message-ID) or ``hold`` (stay uncertain, listed for review,
until a person releases it: resend, or mark sent)."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from notifier.channels import channel_from_settings
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import CampaignStateError, DeliveryError, InputError
from notifier.models import Channel, OutboxState, UncertainEmail
from notifier.notices.incidents import parse_incident
from notifier.notices.render import CHANNEL_PARTS, NoticeCache, renderer_for
from notifier.sending.campaigns import CampaignRef
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import UncertainRow

__all__ = ["Release", "Settlement", "release_uncertain", "resolve_uncertain", "settle_expired_leases"]

log = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(minutes=2)  # Twilio's clock against ours, when asking "created after our hand-over?"


@dataclass(frozen=True, slots=True)
class Settlement:
    row_id: int
    state: OutboxState
    provider_message_id: str | None
    why: str


class Release(enum.StrEnum):
    """What a person decides for held rows after review."""

    RESEND = "resend"  # not received: send again (email: with the same Message-ID)
    MARK_SENT = "mark-sent"  # received (the provider's or the customer's word): count it accepted


def settle_expired_leases(
    store: Store, settings: Settings, campaign: CampaignRef, *, actor: str, earlier_too: bool = False
) -> int:
    """Turn rows left ``sending`` past their lease into ``uncertain`` and settle them by policy; returns how
    many rows the settlement made due again (0: nothing changed that a sender could act on). With
    ``earlier_too`` (every launch), the rows an earlier run left uncertain are asked about again as well:
    a look-up that failed then may succeed now."""
    with store.begin() as conn:
        expired = q.mark_expired_leases_uncertain(conn, campaign.id, utcnow())
        # SMS can be asked about again; held email waits for a person (campaign release).
        earlier = q.count_uncertain(conn, campaign.id, Channel.SMS) if earlier_too else 0
    if not expired and not earlier:
        return 0
    if expired:
        log.warning(
            "campaign %s: %d rows were in flight when their sender stopped; settling them",
            campaign.name,
            expired,
        )
    if earlier:
        log.info("campaign %s: %d SMS are uncertain; asking Twilio about them", campaign.name, earlier)
    settled = resolve_uncertain(store, settings, campaign, actor=actor)
    return settled.get(OutboxState.PENDING, 0)


def resolve_uncertain(
    store: Store, settings: Settings, campaign: CampaignRef, *, actor: str
) -> dict[OutboxState, int]:
    """Settle the campaign's ``uncertain`` rows as far as the evidence or the policy allows (audited)."""
    with store.connect() as conn:
        rows = q.uncertain_rows(conn, campaign.id)
    if not rows:
        return {}
    decisions: list[Settlement] = []
    sms_rows = [r for r in rows if r.channel == Channel.SMS]
    if sms_rows and settings.sms is not None:
        decisions += asyncio.run(_ask_provider(settings, campaign, sms_rows))
    if campaign.policy.uncertain_email is UncertainEmail.RESEND:
        why = "uncertain email: resent with the same Message-ID (policy)"
        decisions += [
            Settlement(r.id, OutboxState.PENDING, None, why) for r in rows if r.channel == Channel.EMAIL
        ]
    summary = _settle(
        store,
        campaign,
        decisions,
        actor=actor,
        action="campaign.resolve_uncertain",
        detail={"uncertain": len(rows)},
    )
    return summary


def release_uncertain(
    store: Store,
    campaign: CampaignRef,
    decision: Release,
    *,
    actor: str,
    reason: str,
    row_ids: Collection[int] | None = None,
) -> dict[OutboxState, int]:
    """A person's decision on held rows after review (all of the campaign's, or ``row_ids``): resend them,
    or mark them sent. Audited with who and why; only ``uncertain`` rows are touched."""
    if not reason.strip():
        raise InputError("say why (--reason): a release is part of the evidence")
    with store.connect() as conn:
        rows = [r for r in q.uncertain_rows(conn, campaign.id) if row_ids is None or r.id in row_ids]
    if row_ids is not None and len(rows) != len(set(row_ids)):
        missing = sorted(set(row_ids) - {r.id for r in rows})
        raise CampaignStateError(f"rows {missing} of campaign {campaign.name!r} are not uncertain")
    state = OutboxState.PENDING if decision is Release.RESEND else OutboxState.ACCEPTED
    why = f"released by {actor} after review ({decision.value}): {reason}"
    decisions = [Settlement(r.id, state, None, why) for r in rows]
    return _settle(
        store,
        campaign,
        decisions,
        actor=actor,
        action="campaign.release_uncertain",
        detail={"decision": decision.value, "reason": reason, "rows": [r.id for r in rows]},
    )


def _settle(
    store: Store,
    campaign: CampaignRef,
    decisions: list[Settlement],
    *,
    actor: str,
    action: str,
    detail: dict[str, object],
) -> dict[OutboxState, int]:
    summary: dict[OutboxState, int] = {}
    now = utcnow()
    with store.begin() as conn:
        for d in decisions:
            if q.settle_uncertain(
                conn,
                d.row_id,
                state=d.state,
                provider_message_id=d.provider_message_id,
                detail=d.why,
                now=now,
            ):
                summary[d.state] = summary.get(d.state, 0) + 1
        settled = {k.value: v for k, v in summary.items()}
        q.audit(
            conn,
            actor=actor,
            action=action,
            subject=f"campaign:{campaign.name}",
            detail={**detail, "settled": settled},
            now=now,
        )
    return summary


async def _ask_provider(
    settings: Settings, campaign: CampaignRef, rows: list[UncertainRow]
) -> list[Settlement]:
    """Ask Twilio about each row, with the exact text we would have sent it."""
    renderer = renderer_for(settings.templates_dir, settings.locales_dir, campaign.notice)
    notices = NoticeCache(renderer, parse_incident(campaign.facts, settings.templates_dir))
    channel = channel_from_settings(settings.channel(Channel.SMS))
    lookup = getattr(channel, "lookup", None)
    decisions = []
    try:
        for row in rows:
            if lookup is None or row.phone is None or row.handed_over_at is None:
                continue
            body = notices.render(
                name=row.name,
                locale=row.locale,
                time_zone=row.time_zone,
                jurisdiction=row.jurisdiction,
                parts=CHANNEL_PARTS[Channel.SMS],
            ).sms
            try:
                found = await lookup(row.phone, body, row.handed_over_at - CLOCK_SKEW)
            except DeliveryError as exc:
                log.warning("outbox %s: could not ask the provider (%s); it stays uncertain", row.id, exc)
                continue
            if found:
                decisions.append(
                    Settlement(row.id, OutboxState.ACCEPTED, found, "uncertain SMS: the provider has it")
                )
            else:
                why = "uncertain SMS: the provider has none of ours; safe to send"
                decisions.append(Settlement(row.id, OutboxState.PENDING, None, why))
    finally:
        await channel.aclose()
    return decisions
