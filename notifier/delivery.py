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
from zoneinfo import ZoneInfo
from typing import Any

from sqlalchemy import Row

from notifier.channels import DeliveryChannel
from notifier.throttle import Bucket, Unlimited
from notifier.config import RetryPolicy
from notifier.errors import DeliveryError, PermanentDeliveryError, RenderError, TransientDeliveryError
from notifier.models import Channel, OutboxState, RenderedMessage
from notifier.redact import mask_email, mask_phone
from notifier.render import CHANNEL_PARTS, NoticeCache, NoticeParts, Renderer
from notifier.store import Store, utcnow
from notifier.store import queries as q

__all__ = ["BatchResult", "QuietHours", "RetryPolicy", "deliver_batch", "message_for"]

log = logging.getLogger(__name__)
RECORD_EVERY = 50  # answers written per transaction: bounds what a crash can leave "uncertain"
DEFAULT_RETRY = RetryPolicy()
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

    def add(self, other: "BatchResult") -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


def message_for(channel: Channel, row: Row[Any] | Any, parts: NoticeParts) -> RenderedMessage:
    """The channel-specific message for one outbox row from its completely rendered notice."""
    if channel is Channel.EMAIL:
        return RenderedMessage(channel=channel, to=row.email, subject=parts.subject, body_text=parts.text,
                               body_html=parts.html, locale=parts.locale,
                               headers={"display_name": row.name})  # fmt: skip
    return RenderedMessage(channel=channel, to=row.phone, body_text=parts.sms, locale=parts.locale)


def _outcome(row: Any, exc: BaseException | None, receipt_id: str | None, retry: RetryPolicy,
             now: datetime) -> dict[str, Any]:  # fmt: skip
    """The provider's answer as the row's next state: accepted, deferred (retry later), suppressed, failed."""
    if exc is None:
        return {"id": row.id, "state": OutboxState.ACCEPTED.value, "provider_message_id": receipt_id}
    if isinstance(exc, TransientDeliveryError) and row.attempts < retry.max_attempts:
        wait = retry.delay(row.attempts, exc.retry_after)
        return {"id": row.id, "state": OutboxState.DEFERRED.value, "error": f"attempt {row.attempts}: {exc}",
                "next_attempt_at": now + timedelta(seconds=wait)}  # fmt: skip
    if isinstance(exc, PermanentDeliveryError) and exc.opted_out:
        return {"id": row.id, "state": OutboxState.SUPPRESSED.value, "error": f"opted out: {exc}"}
    prefix = f"gave up after {row.attempts} attempts: " if isinstance(exc, TransientDeliveryError) else ""
    return {"id": row.id, "state": OutboxState.FAILED.value, "error": f"{prefix}{exc}"}


async def deliver_batch(store: Store, *, campaign_id: int, channel_kind: Channel, channel: DeliveryChannel,
                        renderer: Renderer, facts: Mapping[str, Any], batch_size: int = 500,
                        lease_seconds: int = 300, concurrency: int = 8, retry: RetryPolicy = DEFAULT_RETRY,
                        bucket: Bucket | None = None, quiet_hours: QuietHours | None = None,
                        clock: Callable[[], datetime] = utcnow) -> BatchResult:  # fmt: skip
    """Claim up to ``batch_size`` due rows of one channel and send them. Returns what happened.

    ``quiet_hours`` (SMS) defers rows whose recipient's local time is outside the window, without
    counting an attempt. An email that fails for good releases the customer's SMS fallback row."""
    lease = str(uuid.uuid4())
    now = utcnow()
    with store.begin() as conn:
        rows = q.claim_batch(conn, campaign_id=campaign_id, channel=channel_kind, limit=batch_size,
                             lease_token=lease, now=now, lease_until=now + timedelta(seconds=lease_seconds))  # fmt: skip
    result = BatchResult(claimed=len(rows))
    if not rows:
        return result
    pending: list[dict[str, Any]] = []
    notices = NoticeCache(renderer, facts)
    gate = asyncio.Semaphore(concurrency)
    pace: Bucket = bucket or Unlimited()

    def write(outcomes: list[dict[str, Any]]) -> None:
        now = utcnow()
        with store.begin() as conn:
            q.record_outcomes(conn, outcomes, lease_token=lease, now=now)
            failed = [o["id"] for o in outcomes if o["state"] == OutboxState.FAILED.value]
            if failed and channel_kind is Channel.EMAIL:
                q.release_fallback(conn, failed, now)
            opted_out = [o["id"] for o in outcomes if o["state"] == OutboxState.SUPPRESSED.value]
            if opted_out:
                q.suppress_customers_sms(conn, opted_out)
        for outcome in outcomes:
            key = {"accepted": "accepted", "deferred": "deferred", "suppressed": "suppressed"}.get(
                outcome["state"], "failed")
            setattr(result, key, getattr(result, key) + 1)

    async def flush() -> None:
        if pending:
            outcomes = pending[:]
            pending.clear()
            await asyncio.to_thread(write, outcomes)  # sends go on while the store writes

    async def one(row: Any) -> dict[str, Any]:
        try:
            parts = notices.render(name=row.name, locale=row.locale, time_zone=row.time_zone,
                                   jurisdiction=row.jurisdiction, parts=CHANNEL_PARTS[channel_kind.value])
        except RenderError as exc:
            log.error("outbox %s: notice not rendered, not sent: %s", row.id, exc)
            return {"id": row.id, "state": OutboxState.FAILED.value, "error": f"render error: {exc}"}
        # After rendering, which has proven the row's time zone exists.
        if quiet_hours is not None:
            opens = quiet_hours.next_allowed(clock(), row.time_zone)
            if opens is not None:
                return {"id": row.id, "state": OutboxState.DEFERRED.value, "next_attempt_at": opens, "undo_attempt": 1,
                        "error": f"quiet hours in {row.time_zone}: waits until {opens:%Y-%m-%d %H:%M} UTC"}  # fmt: skip
        message = message_for(channel_kind, row, parts)
        async with gate:
            await pace.acquire()
            try:
                receipt = await channel.send(message, token=row.message_token)
            except DeliveryError as exc:
                who = mask_email(message.to) if channel_kind is Channel.EMAIL else mask_phone(message.to)
                log.warning("outbox %s (%s): %s", row.id, who, exc)
                if isinstance(exc, TransientDeliveryError) and (exc.code in SLOW_DOWN or exc.retry_after):
                    pace.penalize(exc.retry_after)  # the provider asks us to slow down
                return _outcome(row, exc, None, retry, utcnow())
        return _outcome(row, None, receipt.provider_message_id, retry, utcnow())

    tasks = [asyncio.ensure_future(one(row)) for row in rows]
    try:
        for finished in asyncio.as_completed(tasks):
            pending.append(await finished)
            if len(pending) >= RECORD_EVERY:
                await flush()
    finally:
        # Whatever finished is recorded even if something unexpected (a configuration error) stops us;
        # rows still in flight stay "sending" and their lease decides their fate.
        for task in tasks:
            if not task.done():
                task.cancel()
        await flush()
    return result
