"""Running a campaign: launch (approval gate, crash recovery), windows of sending until nothing is due,
pause and cancel at the next claim, and the resolution of rows a crash left ``uncertain``.

``send_window`` is the unit a Prefect task runs (up to 30 s of sending, every channel at once, batches
claimed ahead so the provider never waits for the store); ``launch`` drives it in a loop. Several
senders (threads, processes, machines) may run the same campaign at once: the outbox claim keeps them
apart and the shared send slots keep the rate global."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from notifier.channels import DeliveryChannel, channel_from_url
from notifier.clock import as_utc, utcnow
from notifier.config import Settings
from notifier.errors import ConfigurationError
from notifier.models import CampaignState, Channel
from notifier.notices.approval import require_approved
from notifier.notices.render import Renderer
from notifier.sending import tokens
from notifier.sending.campaigns import CampaignRef, get_campaign, mark_running
from notifier.sending.pacing import Bucket, SharedBucket, Unlimited
from notifier.sending.pipeline import BatchResult, QuietHours, deliver
from notifier.store import Store
from notifier.store import queries as q

__all__ = [
    "DUE_STATES",
    "Progress",
    "Sender",
    "drain",
    "launch",
    "renderer_for",
    "resolve_uncertain",
    "rows_by_state",
    "send_window",
    "start",
]

log = logging.getLogger(__name__)
Progress = Callable[[BatchResult, dict[str, int]], None]  # (this run's totals, the campaign's rows by state)
DUE_STATES = ("pending", "deferred", "sending")
Sender = Callable[
    [frozenset[Channel]], BatchResult
]  # one window of sending (send_window, or a task running it)
WINDOW_SECONDS = 30.0  # one Prefect task's worth of sending: long enough that task overhead does not count


@lru_cache(maxsize=8)
def renderer_for(templates_dir: Path, locales_dir: Path, notice: str) -> Renderer:
    """One renderer per notice and process: compiled templates and catalogs are reused across batches."""
    return Renderer(templates_dir, locales_dir, notice)


def _channel_url(settings: Settings, channel: Channel) -> str:
    url = settings.email_url if channel is Channel.EMAIL else settings.sms_url
    if not url:
        raise ConfigurationError(f"no {channel} channel configured (NOTIFIER_{channel.upper()}_URL)")
    return url


def _pacing(store: Store, url: str, channel: Channel, settings: Settings) -> tuple[Bucket, int, float]:
    """The provider account's shared bucket (``?rate=`` msgs/s and ``&burst=`` in the channel URL) and the
    per-sender concurrency cap (``&concurrency=``)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    default_rate = settings.email_rate_per_s if channel is Channel.EMAIL else settings.sms_rate_per_s
    default_cap = settings.email_concurrency if channel is Channel.EMAIL else settings.sms_concurrency
    try:
        rate = float(query.get("rate", default_rate))
        burst = int(query["burst"]) if "burst" in query else None
        concurrency = int(query.get("concurrency", default_cap))
    except ValueError as exc:
        raise ConfigurationError(
            f"{channel} channel URL: rate, burst and concurrency must be numbers"
        ) from exc
    # One bucket per provider account: the user (SMTP) or account SID (Twilio) at its host.
    account = f"{channel.value}:{parts.username or ''}@{parts.hostname}:{parts.port or ''}"
    bucket: Bucket = SharedBucket(store, account, rate=rate, burst=burst) if rate > 0 else Unlimited()
    return bucket, concurrency, rate


def send_window(
    settings: Settings,
    campaign_name: str,
    channels: Channel | Iterable[Channel],
    *,
    seconds: float = WINDOW_SECONDS,
    on_record: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Send the campaign's due rows of ``channels`` for up to ``seconds`` (one Prefect task runs exactly this).

    Each channel runs its own pipeline, all at the same time: claims of ``batch_size`` rows, the next one
    taken while the current one is still sending, and one provider connection pool kept for the whole
    window. Before every claim the campaign must still be running (pause and cancel stop the next claim),
    every notice piece it needs must still be approved at its current hash (a template edited mid-campaign
    stops the sending at once), and the window must not be over. Claimed rows are always finished."""
    wanted = sorted({channels} if isinstance(channels, Channel) else set(channels))
    urls = {channel: _channel_url(settings, channel) for channel in wanted}
    store = Store(settings.database_url)
    try:
        campaign = get_campaign(store, campaign_name)
        if CampaignState(campaign.state) is not CampaignState.RUNNING:
            return BatchResult()  # only a launched campaign is sent
        deadline = time.monotonic() + seconds

        def keep_going() -> bool:
            if time.monotonic() >= deadline or _state(store, campaign.id) is not CampaignState.RUNNING:
                return False
            require_approved(
                store,
                settings,
                campaign_id=campaign.id,
                campaign_name=campaign.name,
                notice=campaign.notice,
                actor="sender",
            )
            return True

        keep_going()  # refuse at once, before anything is claimed
        renderer = renderer_for(settings.templates_dir, settings.locales_dir, campaign.notice)
        policy = campaign.policy

        async def one_channel(channel: Channel) -> BatchResult:
            bucket, concurrency, rate = _pacing(store, urls[channel], channel, settings)
            # The lease must outlive a whole claim waiting for its turn at the paced rate.
            lease_seconds = settings.lease_seconds
            if rate:
                lease_seconds = max(lease_seconds, int(3 * settings.batch_size / rate))
            quiet = (
                QuietHours(policy.quiet_start, policy.quiet_end)
                if channel is Channel.SMS and not policy.urgent_reason
                else None
            )
            provider = channel_from_url(urls[channel], channel)
            try:
                return await deliver(
                    store,
                    campaign_id=campaign.id,
                    channel_kind=channel,
                    channel=provider,
                    renderer=renderer,
                    facts=campaign.facts,
                    batch_size=settings.batch_size,
                    lease_seconds=lease_seconds,
                    concurrency=concurrency,
                    retry=settings.retry,
                    bucket=bucket,
                    quiet_hours=quiet,
                    keep_going=keep_going,
                    on_record=on_record,
                    token_for=_token_signer(campaign, channel),
                )
            finally:
                await provider.aclose()

        async def run() -> BatchResult:
            total = BatchResult()
            for result in await asyncio.gather(*(one_channel(channel) for channel in wanted)):
                total.add(result)
            return total

        return asyncio.run(run())
    finally:
        store.dispose()


def _token_signer(campaign: CampaignRef, channel: Channel) -> Callable[[str], str]:
    """Email tokens go out signed (VERP address and Message-ID), so that a bounce naming one can be trusted."""
    key = campaign.bounce_key
    if channel is not Channel.EMAIL or key is None:
        return str
    return lambda token: tokens.sign(token, key)


def drain(
    store: Store,
    campaign: CampaignRef,
    send: Sender,
    *,
    max_wait_seconds: float = 900.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> BatchResult:
    """Call ``send(channels)`` (one window of sending) until no row of the campaign is due, waiting for
    deferred retries up to ``max_wait_seconds``. Pause and cancel take effect at the next claim. The
    campaign is marked completed when nothing is left to send."""
    total = BatchResult()
    deadline = time.monotonic() + max_wait_seconds
    channels = frozenset(campaign.channels)
    while True:
        if _state(store, campaign.id) in (CampaignState.PAUSED, CampaignState.CANCELLED):
            return total
        result = send(channels)
        total.add(result)
        if progress is not None:
            progress(total, rows_by_state(store, campaign.id))
        if result.claimed > 0:
            continue
        next_due = _next_due(store, campaign.id)
        if next_due is None:
            if _in_flight(store, campaign.id) == 0:
                break
            next_due = utcnow() + timedelta(seconds=1)  # another sender still has rows in flight
        wait = (next_due - utcnow()).total_seconds()
        if time.monotonic() + wait > deadline:
            log.info("campaign %s: deferred rows wait until %s; launch again then", campaign.name, next_due)
            return total  # deferred rows stay deferred; a later launch picks them up
        sleep(max(wait, 0.05))
    with store.begin() as conn:
        q.set_campaign_state(
            conn,
            campaign.id,
            CampaignState.COMPLETED.value,
            expected=[CampaignState.RUNNING.value],
            completed_at=utcnow(),
        )
    return total


def _state(store: Store, campaign_id: int) -> CampaignState:
    with store.connect() as conn:
        return CampaignState(q.campaign_state(conn, campaign_id))


def _next_due(store: Store, campaign_id: int) -> datetime | None:
    with store.connect() as conn:
        return as_utc(q.next_deferred_at(conn, campaign_id))


def _in_flight(store: Store, campaign_id: int) -> int:
    with store.connect() as conn:
        return sum(states.get("sending", 0) for states in q.outbox_counts(conn, campaign_id).values())


def rows_by_state(store: Store, campaign_id: int) -> dict[str, int]:
    """The campaign's outbox rows by state, all channels together (progress displays)."""
    with store.connect() as conn:
        counts = q.outbox_counts(conn, campaign_id)
    totals: dict[str, int] = {}
    for states in counts.values():
        for state, n in states.items():
            totals[state] = totals.get(state, 0) + n
    return totals


def start(store: Store, settings: Settings, campaign_name: str, *, actor: str) -> CampaignRef:
    """Everything a launch does before sending: the approval gate, running state, crash recovery."""
    campaign = get_campaign(store, campaign_name)
    require_approved(
        store,
        settings,
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        notice=campaign.notice,
        actor=actor,
    )
    mark_running(store, campaign, actor=actor)
    with store.begin() as conn:
        q.mark_expired_leases_uncertain(conn, campaign.id, utcnow())
    resolve_uncertain(store, settings, campaign, actor=actor)
    return get_campaign(store, campaign_name)


def launch(
    store: Store,
    settings: Settings,
    campaign_name: str,
    send: Sender,
    *,
    actor: str,
    max_wait_seconds: float = 900.0,
    progress: Progress | None = None,
) -> BatchResult:
    """Check every needed notice piece is approved at its current content hash, mark the campaign
    running, turn rows a dead sender left ``sending`` into ``uncertain`` and resolve them, then send
    until nothing is due. Launching again is allowed and sends nothing that was already sent."""
    campaign = start(store, settings, campaign_name, actor=actor)
    return drain(store, campaign, send, max_wait_seconds=max_wait_seconds, progress=progress)


def resolve_uncertain(
    store: Store, settings: Settings, campaign: CampaignRef, *, actor: str
) -> dict[str, int]:
    """Settle rows whose fate a crash left unknown, never by blindly sending again.

    SMS: ask the provider whether a message to that number exists since the campaign was planned; if it
    does, the row is ``accepted`` with its id; if the provider has none, sending is safe (``pending``).
    Email: by the campaign's policy: ``resend`` (same Message-ID) or ``hold`` (stay uncertain, listed
    for review)."""
    with store.connect() as conn:
        rows = q.uncertain_rows(conn, campaign.id)
    if not rows:
        return {}
    since = campaign.planned_at or utcnow()
    decisions: list[tuple[int, str, str | None, str]] = []  # (id, state, provider id, why)
    sms_rows = [r for r in rows if r.channel == Channel.SMS.value]
    if sms_rows and settings.sms_url:
        decisions += asyncio.run(
            _ask_provider(channel_from_url(settings.sms_url, Channel.SMS), sms_rows, since)
        )
    for row in rows:
        if row.channel == Channel.EMAIL.value and campaign.policy.uncertain_email == "resend":
            decisions.append(
                (row.id, "pending", None, "uncertain email: resent with the same Message-ID (policy)")
            )
    summary: dict[str, int] = {}
    now = utcnow()
    with store.begin() as conn:
        for row_id, state, provider_id, why in decisions:
            q.settle_uncertain(
                conn, row_id, state=state, provider_message_id=provider_id, detail=why, now=now
            )
            summary[state] = summary.get(state, 0) + 1
        q.audit(
            conn,
            actor=actor,
            action="campaign.resolve_uncertain",
            subject=f"campaign:{campaign.name}",
            detail={"uncertain": len(rows), "settled": summary},
            now=now,
        )
    return summary


async def _ask_provider(
    channel: DeliveryChannel, rows: list, since: datetime
) -> list[tuple[int, str, str | None, str]]:  # type: ignore[type-arg]
    lookup = getattr(channel, "lookup", None)
    decisions = []
    try:
        for row in rows:
            if lookup is None:
                break
            found = await lookup(row.phone, since)
            if found:
                decisions.append((row.id, "accepted", found, "uncertain SMS: the provider has it"))
            else:
                decisions.append(
                    (row.id, "pending", None, "uncertain SMS: the provider has none; safe to send")
                )
    finally:
        await channel.aclose()
    return decisions
