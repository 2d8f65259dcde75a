"""Rows whose fate a crash left unknown: found when their lease runs out, settled by policy, never blindly
sent again.

A row is ``uncertain`` only if it was handed to the provider (``sending``) by a sender whose lease then
ran out. SMS: the provider is asked whether it has the message; if it does, the row is ``accepted``
with its id; if it has none, sending is safe (``pending``). Email: the campaign's policy decides:
``resend`` (same Message-ID) or ``hold`` (stay uncertain, listed for review)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from notifier.channels import channel_from_url
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.models import Channel, OutboxState, UncertainEmail
from notifier.sending.campaigns import CampaignRef
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import UncertainRow

__all__ = ["Settlement", "resolve_uncertain", "settle_expired_leases"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settlement:
    row_id: int
    state: OutboxState
    provider_message_id: str | None
    why: str


def settle_expired_leases(store: Store, settings: Settings, campaign: CampaignRef, *, actor: str) -> int:
    """Turn rows left ``sending`` past their lease into ``uncertain`` and settle them by policy; returns how
    many rows the settlement made due again (0: nothing changed that a sender could act on)."""
    with store.begin() as conn:
        expired = q.mark_expired_leases_uncertain(conn, campaign.id, utcnow())
    if not expired:
        return 0
    log.warning(
        "campaign %s: %d rows were in flight when their sender stopped; settling them", campaign.name, expired
    )
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
    since = campaign.planned_at or utcnow()
    decisions: list[Settlement] = []
    sms_rows = [r for r in rows if r.channel == Channel.SMS]
    if sms_rows and settings.sms is not None:
        decisions += asyncio.run(_ask_provider(settings, sms_rows, since))
    if campaign.policy.uncertain_email is UncertainEmail.RESEND:
        why = "uncertain email: resent with the same Message-ID (policy)"
        decisions += [
            Settlement(r.id, OutboxState.PENDING, None, why) for r in rows if r.channel == Channel.EMAIL
        ]
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
        q.audit(
            conn,
            actor=actor,
            action="campaign.resolve_uncertain",
            subject=f"campaign:{campaign.name}",
            detail={"uncertain": len(rows), "settled": {k.value: v for k, v in summary.items()}},
            now=now,
        )
    return summary


async def _ask_provider(settings: Settings, rows: list[UncertainRow], since: datetime) -> list[Settlement]:
    channel = channel_from_url(settings.channel(Channel.SMS).url, Channel.SMS)
    lookup = getattr(channel, "lookup", None)
    decisions = []
    try:
        for row in rows:
            if lookup is None or row.phone is None:
                break
            found = await lookup(row.phone, since)
            if found:
                decisions.append(
                    Settlement(row.id, OutboxState.ACCEPTED, found, "uncertain SMS: the provider has it")
                )
            else:
                decisions.append(
                    Settlement(
                        row.id,
                        OutboxState.PENDING,
                        None,
                        "uncertain SMS: the provider has none; safe to send",
                    )
                )
    finally:
        await channel.aclose()
    return decisions
