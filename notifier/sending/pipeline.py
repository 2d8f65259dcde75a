"""The delivery engine: claim a batch from the outbox → render → send → record, idempotently.

A row is set ``sending`` under our lease before its provider call, and the answer is written after,
guarded by the lease: a re-run finds nothing pending and sends nothing twice; a crash leaves rows in
``sending`` whose lease expires and which then become ``uncertain`` (never blindly re-sent).
Transient failures are retried with exponential backoff and jitter up to ``max_attempts``; permanent
ones fail the row (or suppress it, when the customer opted out)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row

from notifier.channels import DeliveryChannel
from notifier.clock import utcnow
from notifier.config import RetryPolicy
from notifier.errors import (
    ConfigurationError,
    DeliveryError,
    PermanentDeliveryError,
    RenderError,
    TransientDeliveryError,
)
from notifier.models import Channel, OutboxState, RenderedMessage
from notifier.notices.render import CHANNEL_PARTS, NoticeCache, NoticeParts, Renderer
from notifier.redact import mask_email, mask_phone
from notifier.sending.pacing import Bucket, Unlimited
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["BatchResult", "QuietHours", "RetryPolicy", "deliver", "deliver_batch", "message_for"]

log = logging.getLogger(__name__)
RECORD_EVERY = 50  # answers written per transaction: bounds what a crash can leave "uncertain"
DEFAULT_RETRY = RetryPolicy()
_COUNTED_AS = {"accepted": "accepted", "deferred": "deferred", "suppressed": "suppressed"}
SLOW_DOWN = {421, 429, 20429}  # SMTP "service not available, slow down"; HTTP / Twilio "too many requests"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """SMS only between ``start`` and ``end`` (hours, recipient's local time); an urgent campaign may
    override it, which is stated when it is planned and audited."""

    start: int = 9
    end: int = 20

    def next_allowed(self, now: datetime, time_zone: str) -> datetime | None:
        """None if ``now`` is inside the window there; else when the window next opens (UTC)."""
        local = now.astimezone(ZoneInfo(time_zone))
        if self.start <= local.hour < self.end:
            return None
        opens = local.replace(hour=self.start, minute=0, second=0, microsecond=0)
        if local.hour >= self.end:
            opens += timedelta(days=1)
        return opens.astimezone(UTC)


@dataclass
class BatchResult:
    claimed: int = 0
    accepted: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0

    def add(self, other: BatchResult) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


def message_for(channel: Channel, row: Row[Any] | Any, parts: NoticeParts) -> RenderedMessage:
    """The channel-specific message for one outbox row from its completely rendered notice."""
    if channel is Channel.EMAIL:
        return RenderedMessage(
            channel=channel,
            to=row.email,
            subject=parts.subject,
            body_text=parts.text,
            body_html=parts.html,
            locale=parts.locale,
            headers={"display_name": row.name},
        )
    return RenderedMessage(channel=channel, to=row.phone, body_text=parts.sms, locale=parts.locale)


def _outcome(
    row: Any, exc: BaseException | None, receipt_id: str | None, retry: RetryPolicy, now: datetime
) -> dict[str, Any]:
    """The provider's answer as the row's next state: accepted, deferred (retry later), suppressed, failed."""
    if exc is None:
        return {"id": row.id, "state": OutboxState.ACCEPTED.value, "provider_message_id": receipt_id}
    if isinstance(exc, TransientDeliveryError) and row.attempts < retry.max_attempts:
        wait = retry.delay(row.attempts, exc.retry_after)
        return {
            "id": row.id,
            "state": OutboxState.DEFERRED.value,
            "error": f"attempt {row.attempts}: {exc}",
            "next_attempt_at": now + timedelta(seconds=wait),
        }
    if isinstance(exc, PermanentDeliveryError) and exc.opted_out:
        return {"id": row.id, "state": OutboxState.SUPPRESSED.value, "error": f"opted out: {exc}"}
    prefix = f"gave up after {row.attempts} attempts: " if isinstance(exc, TransientDeliveryError) else ""
    return {"id": row.id, "state": OutboxState.FAILED.value, "error": f"{prefix}{exc}"}


async def deliver(
    store: Store,
    *,
    campaign_id: int,
    channel_kind: Channel,
    channel: DeliveryChannel,
    renderer: Renderer,
    facts: Mapping[str, Any],
    batch_size: int = 500,
    lease_seconds: int = 300,
    concurrency: int = 8,
    retry: RetryPolicy = DEFAULT_RETRY,
    bucket: Bucket | None = None,
    quiet_hours: QuietHours | None = None,
    clock: Callable[[], datetime] = utcnow,
    keep_going: Callable[[], bool] | None = None,
    max_claims: int | None = None,
    on_record: Callable[[BatchResult], None] | None = None,
    token_for: Callable[[str], str] = str,
) -> BatchResult:
    """Send due rows of one channel until none is due, ``keep_going()`` (asked before every claim: campaign
    state, approvals, time budget) says stop, or ``max_claims`` claims were made. Returns what happened.

    A pipeline: rows are claimed in batches (each under its own lease) and queued; ``concurrency`` workers
    render, pace and send them; answers are written every ``RECORD_EVERY`` rows or 0.2 s. The next batch is
    claimed while the current one is still sending (when at most half a batch is left unanswered), so the
    provider never waits for the store, yet no more than ``batch_size`` rows are ever claimed and
    unanswered: a crash leaves at most one batch ``uncertain``.

    ``token_for`` turns a row's token into what the provider sees (email: signed, ``notifier.sending.tokens``).
    ``quiet_hours`` (SMS) defers rows whose recipient's local time is outside the window, without
    counting an attempt. An email that fails for good releases the customer's SMS fallback row. When
    the provider refuses our own setup (``ConfigurationError``: login, TLS trust, credentials), no more
    rows are claimed or started, the sends under way finish, and the error is raised. Whatever stops the
    run, claimed rows never handed to the provider go back for a later run (attempt not counted); only
    rows really in flight are left to their lease."""
    result = BatchResult()
    notices = NoticeCache(renderer, facts)
    pace: Bucket = bucket or Unlimited()
    queue: asyncio.Queue[tuple[Any, str] | None] = asyncio.Queue()
    unanswered: dict[int, str] = {}  # claimed row id → its lease, until its answer is written
    started: set[int] = set()  # rows handed to the provider
    answers: list[dict[str, Any]] = []
    answered = asyncio.Event()  # an answer was written: the producer may claim again
    flush_every = max(1, min(RECORD_EVERY, batch_size // 2))
    write_lock = asyncio.Lock()
    stop: list[ConfigurationError] = []  # set by the first send that finds our own setup wrong

    def claim(limit: int) -> tuple[list[Row[Any]], str]:
        lease, now = str(uuid.uuid4()), utcnow()
        with store.begin() as conn:
            return q.claim_batch(
                conn,
                campaign_id=campaign_id,
                channel=channel_kind,
                limit=limit,
                lease_token=lease,
                now=now,
                lease_until=now + timedelta(seconds=lease_seconds),
            ), lease

    def write(outcomes: list[dict[str, Any]]) -> BatchResult:
        now = utcnow()
        with store.begin() as conn:
            for lease in {o["lease"] for o in outcomes}:
                q.record_outcomes(
                    conn, [o for o in outcomes if o["lease"] == lease], lease_token=lease, now=now
                )
            failed = [o["id"] for o in outcomes if o["state"] == OutboxState.FAILED.value]
            if failed and channel_kind is Channel.EMAIL:
                q.release_fallback(conn, failed, now)
            opted_out = [o["id"] for o in outcomes if o["state"] == OutboxState.SUPPRESSED.value]
            if opted_out:
                q.suppress_customers_sms(conn, opted_out)
        counts = BatchResult()
        for outcome in outcomes:
            key = _COUNTED_AS.get(outcome["state"], "failed")
            setattr(counts, key, getattr(counts, key) + 1)
        return counts

    async def flush() -> None:
        async with write_lock:
            if not answers:
                return
            outcomes = answers[:]
            answers.clear()
            writing = asyncio.ensure_future(asyncio.to_thread(write, outcomes))  # sends go on meanwhile
            try:
                await asyncio.shield(writing)
            finally:
                # Even if we are cancelled meanwhile, the write goes on in its thread and commits: wait for
                # it, so that what we count is what the store holds.
                counts = await writing
                for outcome in outcomes:
                    unanswered.pop(outcome["id"], None)
                result.add(counts)
                answered.set()
                if on_record is not None:
                    on_record(counts)

    async def one(row: Any) -> dict[str, Any]:
        try:
            parts = notices.render(
                name=row.name,
                locale=row.locale,
                time_zone=row.time_zone,
                jurisdiction=row.jurisdiction,
                parts=CHANNEL_PARTS[channel_kind.value],
            )
        except RenderError as exc:
            log.error("outbox %s: notice not rendered, not sent: %s", row.id, exc)
            return {"id": row.id, "state": OutboxState.FAILED.value, "error": f"render error: {exc}"}
        # After rendering, which has proven the row's time zone exists.
        if quiet_hours is not None:
            opens = quiet_hours.next_allowed(clock(), row.time_zone)
            if opens is not None:
                return {
                    "id": row.id,
                    "state": OutboxState.DEFERRED.value,
                    "next_attempt_at": opens,
                    "undo_attempt": 1,
                    "error": f"quiet hours in {row.time_zone}: waits until {opens:%Y-%m-%d %H:%M} UTC",
                }
        message = message_for(channel_kind, row, parts)
        await pace.acquire()
        started.add(row.id)
        try:
            receipt = await channel.send(message, token=token_for(row.message_token))
        except ConfigurationError as exc:
            # Our own setup is wrong (login, TLS trust): refused before anything was handed over, so the row
            # goes back unsent; the run stops once the sends already under way have finished.
            started.discard(row.id)
            stop.append(exc)
            answered.set()  # wakes the producer, which then stops claiming
            return {
                "id": row.id,
                "state": OutboxState.DEFERRED.value,
                "next_attempt_at": utcnow(),
                "undo_attempt": 1,
                "error": f"not sent: {exc}",
            }
        except DeliveryError as exc:
            who = mask_email(message.to) if channel_kind is Channel.EMAIL else mask_phone(message.to)
            log.warning("outbox %s (%s): %s", row.id, who, exc)
            if isinstance(exc, TransientDeliveryError) and (exc.code in SLOW_DOWN or exc.retry_after):
                pace.penalize(exc.retry_after)  # the provider asks us to slow down
            return _outcome(row, exc, None, retry, utcnow())
        return _outcome(row, None, receipt.provider_message_id, retry, utcnow())

    async def produce() -> None:
        claims = 0
        try:
            while max_claims is None or claims < max_claims:
                while len(unanswered) > batch_size // 2 and not stop:
                    answered.clear()
                    await answered.wait()
                if stop or (keep_going is not None and not await asyncio.to_thread(keep_going)):
                    return
                rows, lease = await asyncio.to_thread(claim, batch_size - len(unanswered))
                claims += 1
                if not rows:
                    return
                result.claimed += len(rows)
                for row in rows:
                    unanswered[row.id] = lease
                    queue.put_nowait((row, lease))
        finally:
            for _ in range(concurrency):
                queue.put_nowait(None)  # each worker stops when it reaches one of these

    async def work() -> None:
        while (item := await queue.get()) is not None:
            row, lease = item
            if stop:
                continue  # left unanswered and never started: released below
            answers.append({**await one(row), "lease": lease})
            if len(answers) >= flush_every:
                await flush()

    finished = asyncio.Event()

    async def record_regularly() -> None:
        while not finished.is_set():  # a slow (paced) channel still gets its answers written within a moment
            try:
                await asyncio.wait_for(finished.wait(), timeout=0.2)
            except TimeoutError:
                await flush()

    workers = [asyncio.ensure_future(work()) for _ in range(concurrency)]
    producer = asyncio.ensure_future(produce())
    recorder = asyncio.ensure_future(record_regularly())
    try:
        await asyncio.gather(producer, *workers)
    finally:
        finished.set()  # the recorder ends after the write it may be doing, never in the middle of one
        for task in (producer, *workers):
            task.cancel()
        await asyncio.gather(producer, recorder, *workers, return_exceptions=True)
        # Whatever was answered is written even when something unexpected stops us; rows claimed but never
        # handed to the provider go back to be sent later; rows really in flight stay "sending" for their lease.
        now, answered_ids = utcnow(), {a["id"] for a in answers}
        answers.extend(
            {
                "id": row_id,
                "lease": lease,
                "state": OutboxState.DEFERRED.value,
                "next_attempt_at": now,
                "undo_attempt": 1,
                "error": "not sent: the sender stopped before its turn",
            }
            for row_id, lease in unanswered.items()
            if row_id not in started and row_id not in answered_ids
        )
        await flush()
    if stop:
        raise stop[0]
    return result


async def deliver_batch(store: Store, **kwargs: Any) -> BatchResult:
    """Claim one batch (``batch_size`` due rows) of one channel and send it; see ``deliver``."""
    return await deliver(store, max_claims=1, **kwargs)
