"""Reconciliation: settle what the tracking loop left open, without anyone relaunching a campaign.

For one campaign (``notifier campaign reconcile NAME``, and the scheduled ``reconcile`` flow for every
campaign with something left to settle):

1. rows a dead sender left in flight become ``uncertain`` and, like every ``uncertain`` row, are settled
   as far as the evidence or the campaign's policy allows (SMS: Twilio is asked; email: held or resent);
2. SMS the provider accepted more than ``silent_after`` ago with no final status are asked of Twilio by
   their SID (its status callback may never have come) and the answer is applied like a callback;
3. messages that failed for good have released the customer's fallback on the other channel (email-first
   or sms-first); in a completed campaign those, and anything else due, are sent now, through the same
   approval gate as a launch (a running campaign's senders take them; a paused one sends nothing);
4. once the campaign's tracking window has closed (``tracking_window`` after it completed), SMS still only
   accepted are final as ``no_receipt``: not counted as reached, so they are on the not-reached list
   (and ``--only no_receipt`` follow-ups).

Every step is idempotent: running it twice, or from two workers, changes nothing more."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from notifier.channels import channel_from_settings
from notifier.channels.sms import TwilioChannel
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import DeliveryError, NotifierError
from notifier.models import CampaignState, Channel, OutboxState
from notifier.sending import runner
from notifier.sending.campaigns import get_campaign
from notifier.sending.pipeline import BatchResult
from notifier.sending.uncertain import resolve_uncertain
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import SilentSms
from notifier.tracking.twilio_status import apply_status

__all__ = ["Reconciliation", "campaigns_to_reconcile", "reconcile"]

log = logging.getLogger(__name__)
ASK_AT_ONCE = 8  # status fetches in flight at once
MAX_ASKED = 5000  # per run; the next run asks the rest


@dataclass
class Reconciliation:
    campaign: str
    uncertain_settled: dict[str, int] = field(default_factory=dict)
    silent_asked: int = 0
    silent_settled: int = 0  # of those asked, now with a final status
    ask_failed: int = 0
    sent: BatchResult = field(default_factory=BatchResult)
    send_refused: str | None = None  # why due rows were not sent (approval, campaign state)
    no_receipt: int = 0
    window_closes: datetime | None = None


def campaigns_to_reconcile(store: Store) -> list[str]:
    with store.connect() as conn:
        return q.campaigns_to_reconcile(conn)


def reconcile(
    store: Store,
    settings: Settings,
    name: str,
    *,
    actor: str,
    silent_after: timedelta = timedelta(minutes=30),
    now: datetime | None = None,
    max_wait_seconds: float = 300.0,
) -> Reconciliation:
    """Settle one campaign as far as it can be now (see the module docstring)."""
    campaign = get_campaign(store, name)
    result = Reconciliation(name)
    if campaign.state not in (CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.COMPLETED):
        return result  # never launched, or cancelled: nothing was sent, nothing to settle
    with store.begin() as conn:  # a dead sender's rows in flight: uncertain, settled with the others below
        expired = q.mark_expired_leases_uncertain(conn, campaign.id, utcnow())
    if expired:
        log.warning("campaign %s: %d rows were in flight when their sender stopped", name, expired)
    result.uncertain_settled = {
        s.value: n for s, n in resolve_uncertain(store, settings, campaign, actor=actor).items()
    }
    if settings.sms is not None:
        _ask_silent(store, settings, campaign.id, (now or utcnow()) - silent_after, result)
    due = sum(
        n
        for state, n in runner.rows_by_state(store, campaign.id).items()
        if OutboxState(state) in OutboxState.due()
    )
    if due and campaign.state is CampaignState.COMPLETED:
        try:  # the campaign is reopened for what was released after it completed, through the launch gate
            result.sent = runner.launch(store, settings, name, actor=actor, max_wait_seconds=max_wait_seconds)
        except NotifierError as exc:  # e.g. a piece edited since approval: the gate refuses, nothing is sent
            result.send_refused = str(exc)
            log.warning("campaign %s: %d rows due, not sent: %s", name, due, exc)
    elif due and campaign.state is CampaignState.PAUSED:
        result.send_refused = "the campaign is paused"
    # A running campaign's own senders take what is due.
    campaign = get_campaign(store, name)
    if campaign.completed_at is not None:
        result.window_closes = campaign.completed_at + campaign.policy.tracking_window
        if (now or utcnow()) >= result.window_closes:
            with store.begin() as conn:
                result.no_receipt = q.mark_no_receipt(conn, campaign.id, now or utcnow())
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="campaign.reconcile",
            subject=f"campaign:{name}",
            detail={
                "uncertain_settled": result.uncertain_settled,
                "silent_asked": result.silent_asked,
                "silent_settled": result.silent_settled,
                "sent": result.sent.accepted,
                "send_refused": result.send_refused,
                "no_receipt": result.no_receipt,
            },
            now=utcnow(),
        )
    return result


def _ask_silent(
    store: Store, settings: Settings, campaign_id: int, accepted_before: datetime, result: Reconciliation
) -> None:
    with store.connect() as conn:
        silent = q.silent_sms(conn, campaign_id, accepted_before=accepted_before, limit=MAX_ASKED)
    if not silent:
        return
    provider = channel_from_settings(settings.channel(Channel.SMS))
    if not isinstance(provider, TwilioChannel):
        return  # memory://sms and the like keep no statuses to ask for

    async def ask_all() -> list[tuple[SilentSms, tuple[str, str | None] | None]]:
        gate = asyncio.Semaphore(ASK_AT_ONCE)

        async def ask(row: SilentSms) -> tuple[SilentSms, tuple[str, str | None] | None]:
            async with gate:
                try:
                    return row, await provider.status(row.provider_message_id)
                except DeliveryError as exc:
                    log.warning("could not ask Twilio about outbox %s: %s", row.id, exc)
                    return row, None

        try:
            return await asyncio.gather(*(ask(r) for r in silent))
        finally:
            await provider.aclose()

    for row, answer in asyncio.run(ask_all()):
        result.silent_asked += 1
        if answer is None:
            result.ask_failed += 1
            continue
        status, error_code = answer
        outcome = apply_status(
            store,
            token=row.message_token,
            status=status,
            error_code=error_code,
            message_sid=row.provider_message_id,
            fields={"fetched": "reconciliation", "MessageStatus": status, "ErrorCode": error_code or ""},
        )
        if outcome.startswith("applied"):
            result.silent_settled += 1
