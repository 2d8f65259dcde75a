"""Running a campaign: launch (approval gate, crash recovery), windows of sending until nothing is due,
pause and cancel at the next claim, and leases that run out while it runs.

``send_window`` is the unit a Prefect task runs: up to 30 s of sending, every channel at once, each
through its own ``Pipeline``. ``launch`` gates and starts a campaign and calls a sender (``send_window``
in this process by default, or a Prefect task running it) until nothing is due. Several senders
(threads, processes, machines) may run the same campaign at once: the outbox claim keeps them apart and
the shared send slots keep each provider account's rate global."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from notifier import stopping
from notifier.channels import channel_from_settings
from notifier.clock import as_utc, utcnow
from notifier.config import ChannelSettings, Settings
from notifier.models import CampaignState, Channel, OutboxState
from notifier.notices.approval import ApprovedContent, require_approved
from notifier.notices.render import NoticeCache, NoticeParts, renderer_for
from notifier.sending import tokens
from notifier.sending.campaigns import CampaignRef, get_campaign, mark_running
from notifier.sending.health import PROBE_FIRST, ProviderHealth
from notifier.sending.pacing import Pacer, SharedBucket, Unlimited
from notifier.sending.pipeline import BatchResult, ChannelJob, Pipeline
from notifier.sending.uncertain import settle_expired_leases
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.outage import riding_out_outages

__all__ = [
    "Progress",
    "Sender",
    "drain",
    "launch",
    "rows_by_state",
    "send_window",
    "start",
]

log = logging.getLogger(__name__)
Progress = Callable[[BatchResult, dict[str, int]], None]  # (this run's totals, the campaign's rows by state)
Sender = Callable[
    [frozenset[Channel]], BatchResult
]  # one window of sending (send_window, or a task running it)
POLL_SECONDS = 1.0  # how often to look again while another sender still holds rows


def send_window(
    settings: Settings,
    campaign_name: str,
    channels: Channel | Iterable[Channel],
    *,
    seconds: float | None = None,
    on_record: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Send the campaign's due rows of ``channels`` for up to ``seconds`` (what one Prefect task runs).

    Before every claim the campaign must still be running (pause and cancel stop the next claim), every
    notice piece it needs must still be approved at its current hash (a template edited mid-campaign
    stops the sending at once), and the window must not be over."""
    wanted = sorted({channels} if isinstance(channels, Channel) else set(channels))
    configured = [settings.channel(channel) for channel in wanted]  # a missing channel URL fails here
    store = Store(settings.database_url, sending=True)
    try:
        with riding_out_outages(settings.outage_grace):
            return _send_window(store, settings, campaign_name, configured, seconds, on_record)
    finally:
        store.dispose()


def _send_window(
    store: Store,
    settings: Settings,
    campaign_name: str,
    configured: list[ChannelSettings],
    seconds: float | None,
    on_record: Callable[[BatchResult], None] | None,
) -> BatchResult:
    campaign = store.retrying(get_campaign, store, campaign_name)
    if campaign.state is not CampaignState.RUNNING:
        return BatchResult()  # only a launched campaign is sent
    gate = _Gate(store, settings, campaign, deadline=time.monotonic() + (seconds or settings.window_seconds))
    if not store.retrying(gate):  # refuse at once, before anything is claimed
        return BatchResult()  # the window is over, or another sender finished or paused the campaign

    async def every_channel() -> BatchResult:
        runs = [_send_channel(store, settings, campaign, c, gate, on_record) for c in configured]
        total = BatchResult()
        # Every channel finishes (and gives back what it holds) before a failure of one is raised.
        results = await asyncio.gather(*runs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
            total.add(result)
        return total

    return asyncio.run(every_channel())


class _Gate:
    """Asked before every claim: is the window still open, the campaign running, every piece approved?

    It also keeps the notices rendered from what is approved: when the approved hashes change (an edited
    incident or template approved again mid-campaign), the cached renderings are forgotten and the
    incident's current facts are used from the next claim on."""

    def __init__(self, store: Store, settings: Settings, campaign: CampaignRef, *, deadline: float) -> None:
        self.store, self.settings, self.campaign, self.deadline = store, settings, campaign, deadline
        self.approved: ApprovedContent | None = None
        self._notices: NoticeCache | None = None

    @property
    def notices(self) -> NoticeCache:
        assert self._notices is not None, "the gate is asked once before anything is sent"
        return self._notices

    def content_hash(self, channel: Channel) -> Callable[[NoticeParts], str | None]:
        def of(parts: NoticeParts) -> str | None:
            return (
                self.approved.hash_of(parts.locale, channel.value, parts.profile) if self.approved else None
            )

        return of

    def __call__(self) -> bool:
        if (
            time.monotonic() >= self.deadline
            or _state(self.store, self.campaign.id) is not CampaignState.RUNNING
        ):
            return False
        approved = require_approved(
            self.store,
            self.settings,
            campaign_id=self.campaign.id,
            campaign_name=self.campaign.name,
            notice=self.campaign.notice,
            actor="sender",
        )
        if self._notices is None:
            renderer = renderer_for(
                self.settings.templates_dir, self.settings.locales_dir, self.campaign.notice
            )
            self._notices = NoticeCache(renderer, approved.incident)
        elif self.approved is None or approved.hashes != self.approved.hashes:
            self._notices.reset(approved.incident)
        self.approved = approved
        return True


async def _send_channel(
    store: Store,
    settings: Settings,
    campaign: CampaignRef,
    channel: ChannelSettings,
    gate: _Gate,
    on_record: Callable[[BatchResult], None] | None,
) -> BatchResult:
    pacer: Pacer = Unlimited()
    lease_seconds = settings.lease_seconds
    if channel.rate_per_s:
        pacer = SharedBucket(store, channel.account, rate=channel.rate_per_s, burst=channel.burst)
        # The lease must outlive a whole claim waiting for its turn at the paced rate.
        lease_seconds = max(lease_seconds, int(3 * settings.batch_size / channel.rate_per_s))
    job = ChannelJob(
        retry_for=campaign.policy.retry_for,
        campaign_id=campaign.id,
        channel=channel.kind,
        batch_size=settings.batch_size,
        lease_seconds=lease_seconds,
        concurrency=channel.concurrency,
        retry=settings.retry,
        quiet_hours=campaign.policy.sms_window() if channel.kind is Channel.SMS else None,
        token_for=_token_signer(campaign, channel.kind),
    )
    provider = channel_from_settings(channel)
    try:
        health = ProviderHealth(store, channel.account)
        pipeline = Pipeline(
            store,
            job,
            provider,
            gate.notices,
            pacer=pacer,
            health=health,
            keep_going=gate,
            on_record=on_record,
            content_hash=gate.content_hash(channel.kind),
        )
        return await pipeline.run()
    finally:
        await provider.aclose()


def _token_signer(campaign: CampaignRef, channel: Channel) -> Callable[[str], str]:
    """Email tokens go out signed (VERP address and Message-ID), so a bounce naming one can be trusted."""
    key = campaign.bounce_key
    if channel is not Channel.EMAIL or key is None:
        return str
    return lambda token: tokens.sign(token, key)


def drain(
    store: Store,
    settings: Settings,
    campaign: CampaignRef,
    send: Sender,
    *,
    actor: str,
    max_wait_seconds: float = 900.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> BatchResult:
    """Call ``send(channels)`` (one window of sending) until no row of the campaign is due or held by a
    sender, waiting for deferred retries, for a provider that cannot be reached, and for other senders, up
    to ``max_wait_seconds`` in all; leases that run out meanwhile (a sender died) are settled by the
    campaign's policy. Pause and cancel take effect at the next claim. The campaign is marked completed
    when nothing is left to send."""
    total = BatchResult()
    deadline = time.monotonic() + max_wait_seconds
    channels = frozenset(campaign.channels)
    retrying = store.retrying  # each a whole unit of work, run again if the store went away in the middle
    with riding_out_outages(settings.outage_grace):
        while retrying(_state, store, campaign.id) not in (CampaignState.PAUSED, CampaignState.CANCELLED):
            if stopping.requested():
                break  # a graceful stop: the windows gave back what they had not sent
            result = send(channels)
            total.add(result)
            if stopping.requested():
                break
            if progress is not None:
                progress(total, retrying(rows_by_state, store, campaign.id))
            # Rows the provider may have taken (a 5xx, no answer in time) are asked about at once.
            settled = retrying(
                settle_expired_leases,
                store,
                settings,
                campaign,
                actor=actor,
                earlier_too=result.uncertain > 0,
            )
            if (result.claimed > 0 and result.progressed) or settled:
                continue
            down = retrying(_providers_down, store, settings, channels)
            wake = (
                utcnow() + timedelta(seconds=PROBE_FIRST)
                if down
                else retrying(_next_wake, store, campaign.id)
            )
            if wake is None:
                retrying(_complete, store, campaign)
                break
            wait = (wake - utcnow()).total_seconds()
            if time.monotonic() + wait > deadline:
                why = f"provider down: {', '.join(down)}" if down else f"rows wait until {wake:%H:%M:%S} UTC"
                log.warning("campaign %s: %s; launch again later (nothing is lost)", campaign.name, why)
                break
            sleep(max(wait, 0.05))
    return total


def _providers_down(store: Store, settings: Settings, channels: frozenset[Channel]) -> list[str]:
    """The provider accounts of ``channels`` that cannot be reached now (with their last error)."""
    accounts = {settings.channel(c).account for c in channels if settings.configured(c)}
    with store.connect() as conn:
        return [f"{h.account} ({h.last_error})" for h in q.providers_down(conn) if h.account in accounts]


def _next_wake(store: Store, campaign_id: int) -> datetime | None:
    """When there may be something to do: a deferred row due, or (rows held by another sender) a poll,
    at the latest when their lease runs out. None: nothing left at all."""
    with store.connect() as conn:
        deferred = as_utc(q.next_deferred_at(conn, campaign_id))
        lease_ends = as_utc(q.next_lease_expiry(conn, campaign_id))
    if lease_ends is not None:
        poll = min(lease_ends + timedelta(seconds=0.1), utcnow() + timedelta(seconds=POLL_SECONDS))
        return min(poll, deferred) if deferred else poll
    return deferred


def _complete(store: Store, campaign: CampaignRef) -> None:
    with store.begin() as conn:
        q.set_campaign_state(
            conn,
            campaign.id,
            CampaignState.COMPLETED,
            expected=[CampaignState.RUNNING],
            completed_at=utcnow(),
        )


def _state(store: Store, campaign_id: int) -> CampaignState:
    with store.connect() as conn:
        return q.campaign_state(conn, campaign_id)


def rows_by_state(store: Store, campaign_id: int) -> dict[str, int]:
    """The campaign's outbox rows by state, all channels together (progress displays)."""
    with store.connect() as conn:
        counts = q.outbox_counts(conn, campaign_id)
    totals: dict[str, int] = {}
    for states in counts.values():
        for state, n in states.items():
            totals[state] = totals.get(state, 0) + n
    return totals


def remaining(states: dict[str, int]) -> int:
    """Rows the campaign still has to send (``OutboxState.remaining``)."""
    return sum(states.get(s.value, 0) for s in OutboxState.remaining())


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
    settle_expired_leases(store, settings, campaign, actor=actor, earlier_too=True)
    return get_campaign(store, campaign_name)


def launch(
    store: Store,
    settings: Settings,
    campaign_name: str,
    *,
    actor: str,
    send: Sender | None = None,
    max_wait_seconds: float = 900.0,
    progress: Progress | None = None,
    on_record: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Check every needed notice piece is approved at its current content hash, mark the campaign
    running, settle rows a dead sender left behind, then send until nothing is due: in this process
    (``send_window``; ``on_record`` sees every batch of answers as it is written) unless ``send`` says
    otherwise (the flows pass a Prefect task). Launching again sends nothing that was already sent."""
    campaign = start(store, settings, campaign_name, actor=actor)
    if send is None:

        def send(channels: frozenset[Channel]) -> BatchResult:
            return send_window(
                settings, campaign_name, channels, seconds=settings.window_seconds, on_record=on_record
            )

    return drain(
        store, settings, campaign, send, actor=actor, max_wait_seconds=max_wait_seconds, progress=progress
    )
