"""The sending pipeline of one channel: claim ahead → prepare → hand over → pace → send → record.

``Pipeline.run`` sends a campaign's due rows of one channel until none is due, ``keep_going()`` says
stop, or ``max_claims`` claims were made:

- **claim ahead**: rows are claimed in batches of ``batch_size`` under a lease (state ``claimed``); the
  next batch is claimed while the current one is still being sent, so the provider never waits for
  the store;
- **prepare**: each row's notice is rendered (once per reader group, ``NoticeCache``); a render error
  fails the row, quiet hours defer it, without anything being sent;
- **pace, hand over and send**: ``concurrency`` senders each take a prepared row, wait for its send slot,
  and only then mark it ``sending`` (an attempt counted; the marks of senders whose slots come due
  together share one transaction) and call the provider. After a crash only these are ``uncertain``: at
  most ``concurrency`` rows in the provider's hands plus answers not yet written (``IN_FLIGHT_BOUND``),
  never the claim, and never a row that was still waiting for its slot;
- **record**: answers are written every ``RECORD_EVERY`` rows or 0.2 s, guarded by the lease, with the
  fallback (the other channel, waiting) released when a message fails for good and an SMS opt-out made
  permanent.

A provider answer that leaves it unknown whether the message was created (``UncertainDeliveryError``: a
5xx or no answer after the request went out) makes the row ``uncertain``: it is settled by asking the
provider, never resent blindly. Every exception while sending one message becomes that row's outcome,
never the end of the run, except
a ``ConfigurationError`` (our own setup is wrong: login, TLS trust): then no more rows are handed over,
the sends under way finish, and it is raised. Whatever stops the run, claimed rows never handed over
go back unsent, and a failure to write answers is logged and raised, never swallowed."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from notifier import stopping
from notifier.channels import DeliveryChannel
from notifier.clock import utcnow
from notifier.config import RetryPolicy
from notifier.errors import (
    ConfigurationError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from notifier.models import Channel, OutboxState, QuietHours, RenderedMessage
from notifier.notices.letters import letter_pdf, personalized
from notifier.notices.render import CHANNEL_PARTS, NoticeCache, NoticeParts
from notifier.redact import mask_contact
from notifier.sending.health import ProviderHealth
from notifier.sending.pacing import Pacer, Unlimited
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.outage import StoreUnavailableError
from notifier.store.rows import ClaimedRow, Outcome

__all__ = ["RECORD_EVERY", "BatchResult", "ChannelJob", "Pipeline", "Reader", "compose", "in_flight_bound"]

log = logging.getLogger(__name__)
sends_log = logging.getLogger("notifier.sending.sends")
RECORD_EVERY = 50  # answers written per transaction (at most; every 0.2 s as well)
SLOW_DOWN = {421, 429, 20429}  # SMTP "service not available, slow down"; HTTP / Twilio "too many requests"


def in_flight_bound(concurrency: int, batch_size: int) -> int:
    """At most this many rows of one sender are ``sending`` at any moment, so at most this many become
    ``uncertain`` if it dies: the rows in the provider's hands (one per sender slot) and the answers that
    wait to be written, a write's worth being committed and the next gathering meanwhile (each up to the
    write size plus what the slots answer before they wait for it). A row waiting for its send slot is
    never among them: it is marked ``sending`` only when its request is about to go out."""
    return 2 * (concurrency + max(1, min(RECORD_EVERY, batch_size // 2)))


@dataclass
class BatchResult:
    """What a run did, counted as the answers were written. ``unreachable``: rows the provider could not
    be reached for (no attempt counted; they wait for it)."""

    claimed: int = 0
    accepted: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    unreachable: int = 0
    uncertain: int = 0  # the provider may have taken them: settled by asking it (sending.uncertain)
    put_back: int = 0  # claimed, never sent, given back (pending again) when the run stopped

    def add(self, other: BatchResult) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def count(self, outcome: Outcome) -> None:
        if outcome.handed_over and not outcome.attempted and outcome.state is OutboxState.DEFERRED:
            key = "unreachable"
        else:
            key = {
                OutboxState.ACCEPTED: "accepted",
                OutboxState.SUPPRESSED: "suppressed",
                OutboxState.UNCERTAIN: "uncertain",
            }.get(outcome.state) or ("failed" if outcome.state.terminal else "deferred")
        setattr(self, key, getattr(self, key) + 1)

    @property
    def progressed(self) -> bool:
        """Some recipient's message got an answer (not only waits for a provider that does not answer)."""
        return self.accepted + self.failed + self.suppressed + self.deferred + self.uncertain > 0

    def stopped_line(self) -> str:
        """What a run stopped by a signal or a cancellation says, in the CLI and in the flow run's log."""
        return f"stopped: {self.accepted} sent and recorded, {self.put_back} put back"


@dataclass(frozen=True, slots=True)
class ChannelJob:
    """What one pipeline needs to know about the campaign and channel it sends."""

    campaign_id: int
    channel: Channel
    batch_size: int = 500
    lease_seconds: int = 300
    concurrency: int = 8
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    retry_for: timedelta = timedelta(
        hours=12
    )  # transient failures are retried this long after the first attempt
    quiet_hours: QuietHours | None = None  # SMS: defer rows outside the recipient's local window
    token_for: Callable[[str], str] = str  # the row's token as the provider sees it (email: signed)
    max_claims: int | None = None


class Reader(Protocol):
    """Whom a message is for: an outbox row as claimed, or a manifest row being proofed."""

    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def locale(self) -> str: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def jurisdiction(self) -> str | None: ...
    @property
    def postal_address(self) -> str | None: ...


def compose(
    notices: NoticeCache, reader: Reader, channel: Channel, *, token: str = ""
) -> tuple[NoticeParts, RenderedMessage]:
    """The notice parts and the message ``channel`` sends to ``reader``: the one way a message is made,
    for sending, proofs of a customer's notice, and test sends. A letter is laid out as its PDF here,
    with the reader's address and ``token`` as its reference. Raises RenderError."""
    parts = notices.render(
        name=reader.name,
        locale=reader.locale,
        time_zone=reader.time_zone,
        jurisdiction=reader.jurisdiction,
        parts=CHANNEL_PARTS[channel],
    )
    if channel is Channel.LETTER:
        html = personalized(
            parts.letter, address_lines=(reader.postal_address or "").splitlines(), reference=token
        )
        message = parts.message(channel, to=token, name=reader.name)
        country = (reader.jurisdiction or "").split("-", maxsplit=1)[0]
        return parts, replace(
            message, body_html=html, document=letter_pdf(html), headers={"country": country}
        )
    contact = reader.email if channel is Channel.EMAIL else reader.phone
    return parts, parts.message(channel, to=contact or "", name=reader.name)


class _GivenBack:
    """A row a graceful stop gave back before its turn (its claim is released)."""


_GIVEN_BACK = _GivenBack()


@dataclass(slots=True)
class _Ready:
    """A prepared row: claimed under ``lease``, its message rendered, waiting to be handed over."""

    row: ClaimedRow
    lease: str
    message: RenderedMessage
    content_hash: str | None  # of the approved piece the message was rendered from


class Pipeline:
    """Sends one channel of one campaign; see the module docstring. One ``run`` per instance."""

    def __init__(
        self,
        store: Store,
        job: ChannelJob,
        provider: DeliveryChannel,
        notices: NoticeCache,
        *,
        pacer: Pacer | None = None,
        health: ProviderHealth | None = None,
        keep_going: Callable[[], bool] | None = None,
        on_record: Callable[[BatchResult], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        content_hash: Callable[[NoticeParts], str | None] | None = None,
    ) -> None:
        self.store = store
        self.job = job
        self.provider = provider
        self.notices = notices
        self.pacer: Pacer = pacer or Unlimited()
        self.health = health
        self._probed = False  # a sender that finds its provider down probes once at once, then on schedule
        self.keep_going = keep_going
        self.on_record = on_record
        self.clock = clock
        self.content_hash = content_hash
        self.result = BatchResult()
        self._unanswered: dict[int, str] = {}  # claimed row → its lease, until its answer is written
        self._handed_over: set[int] = set()  # marked "sending"
        self._in_call: set[int] = set()  # inside the provider call right now
        self._prepared: deque[_Ready] = deque()
        self._ready: asyncio.Queue[_Ready | None] = asyncio.Queue()
        self._answers: list[Outcome] = []
        self._answered = asyncio.Event()  # an answer was written: room to claim again
        self._taken = asyncio.Event()  # a sender took a ready row: room to queue more
        self._marks: list[tuple[_Ready, asyncio.Future[bool]]] = []  # senders whose slot came: mark sending
        self._mark_wanted = asyncio.Event()
        self._halted = asyncio.Event()  # a graceful stop was asked for (notifier.stopping)
        self._write_lock = asyncio.Lock()
        self._stop: ConfigurationError | None = None
        self._flush_every = max(1, min(RECORD_EVERY, job.batch_size // 2))

    async def run(self) -> BatchResult:
        """Send until nothing is due (or told to stop); returns the counts. Raises a ConfigurationError our
        own setup caused, and any failure to claim or to write answers, after settling what it can."""
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self._halt)

        with stopping.on_request(wake):
            return await self._run()

    def _halt(self) -> None:
        """A graceful stop: no new claim, no row not yet marked ``sending`` goes out; waiters wake."""
        self._halted.set()
        self._answered.set()
        self._taken.set()

    async def _run(self) -> BatchResult:
        senders = [asyncio.ensure_future(self._send_loop()) for _ in range(self.job.concurrency)]
        feeder = asyncio.ensure_future(self._feed())
        marker = asyncio.ensure_future(self._mark_when_due())
        finished = asyncio.Event()
        recorder = asyncio.ensure_future(self._record_regularly(finished))
        try:
            await asyncio.gather(feeder, *senders)
        finally:
            finished.set()  # the recorder ends after the write it may be doing, never in the middle of one
            for task in (feeder, marker, *senders):
                task.cancel()
            outcomes = await asyncio.gather(feeder, recorder, marker, *senders, return_exceptions=True)
            failures = {
                str(f): f
                for f in outcomes
                if isinstance(f, BaseException) and not isinstance(f, asyncio.CancelledError)
            }
            for failure in failures.values():  # once each, however many tasks it stopped
                log.error("sending %s stopped by an error: %r", self.job.channel, failure)
            await self._settle_leftovers()
        if self._stop is not None:
            raise self._stop
        return self.result

    # --- claim ahead, prepare, hand over ----------------------------------------------------------

    async def _feed(self) -> None:
        """Claim batches ahead, prepare their rows, and hand them over as sender slots free up."""
        claims, exhausted = 0, False
        try:
            while self._stop is None and not self._halted.is_set():
                if self.job.max_claims is not None and claims >= self.job.max_claims:
                    exhausted = True
                if not exhausted and self._may_claim():
                    if not await self._keep_going():
                        exhausted = True
                    else:
                        claims += 1
                        exhausted = not await self._claim_and_prepare()
                if self._prepared:
                    if not await self._hand_over_next():
                        return  # the provider is down and we are told to stop: the rest goes back unsent
                elif exhausted:
                    return
                else:
                    self._answered.clear()
                    await self._answered.wait()
        finally:
            for _ in range(self.job.concurrency):
                self._ready.put_nowait(None)  # each sender stops when it reaches one of these

    def _may_claim(self) -> bool:
        # At most one batch unanswered per sender: the next claim waits until half of the last is answered.
        return len(self._unanswered) <= self.job.batch_size // 2

    async def _keep_going(self) -> bool:
        if self._halted.is_set():
            return False
        return self.keep_going is None or await asyncio.to_thread(self.store.retrying, self.keep_going)

    async def _claim_and_prepare(self) -> bool:
        """Claim the next batch and prepare its rows; False when nothing was due."""
        limit = self.job.batch_size - len(self._unanswered)
        rows, lease = await asyncio.to_thread(self.store.retrying, self._claim, limit)
        self.result.claimed += len(rows)
        for row in rows:
            self._unanswered[row.id] = lease
            prepared = self._prepare(row, lease)
            if isinstance(prepared, Outcome):
                self._answers.append(prepared)
            else:
                self._prepared.append(prepared)
        return bool(rows)

    def _claim(self, limit: int) -> tuple[list[ClaimedRow], str]:
        lease, now = str(uuid.uuid4()), utcnow()
        until = now + timedelta(seconds=self.job.lease_seconds)
        with self.store.begin() as conn:
            rows = q.claim_batch(
                conn,
                campaign_id=self.job.campaign_id,
                channel=self.job.channel,
                limit=limit,
                lease_token=lease,
                now=now,
                lease_until=until,
            )
        return rows, lease

    def _prepare(self, row: ClaimedRow, lease: str) -> _Ready | Outcome:
        """The row's message, or the outcome that stops it here: a render error, or quiet hours."""
        try:
            parts, message = compose(self.notices, row, self.job.channel, token=row.message_token)
        except Exception as exc:  # noqa: BLE001 - any failure to render fails this row only
            log.error("outbox %s: notice not rendered, not sent: %s", row.id, exc)
            return Outcome(row.id, lease, OutboxState.FAILED, handed_over=False, error=f"render error: {exc}")
        # After rendering, which has proven the row's time zone exists.
        if self.job.quiet_hours is not None:
            opens = self.job.quiet_hours.next_allowed(self.clock(), row.time_zone)
            if opens is not None:
                why = f"quiet hours in {row.time_zone}: waits until {opens:%Y-%m-%d %H:%M} UTC"
                return Outcome(
                    row.id, lease, OutboxState.DEFERRED, handed_over=False, error=why, next_attempt_at=opens
                )
        return _Ready(row, lease, message, self.content_hash(parts) if self.content_hash else None)

    async def _hand_over_next(self) -> bool:
        """Keep between one and two times ``concurrency`` prepared rows waiting for a sender (they are not
        ``sending`` yet: a sender marks its row when its send slot comes); while the provider is down, one
        probe at a time. False when the provider is down and ``keep_going`` says stop."""
        while self._ready.qsize() > self.job.concurrency and self._stop is None:
            self._taken.clear()
            await self._taken.wait()
        size = self.job.concurrency
        if self.health is not None:
            await self.health.refresh()
            if self.health.down:
                if not await self._probe_time():
                    return False
                size = 1
        if self._stop is not None:
            return True
        for _ in range(min(len(self._prepared), size)):
            self._ready.put_nowait(self._prepared.popleft())
        return True

    async def _mark_sending_now(self, ready: _Ready) -> bool:
        """Mark this row ``sending`` (its send slot has come); False if it is not ours to send any more
        (cancelled, or its lease lost meanwhile). Senders whose slots come together share a transaction."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._marks.append((ready, answer))
        self._mark_wanted.set()
        return await answer

    async def _mark_when_due(self) -> None:
        while True:
            await self._mark_wanted.wait()
            self._mark_wanted.clear()
            await asyncio.sleep(0)  # senders whose slot came in the same moment join this transaction
            batch, self._marks = self._marks, []
            by_lease: dict[tuple[str, str | None], list[int]] = {}
            for ready, _answer in batch:
                by_lease.setdefault((ready.lease, ready.content_hash), []).append(ready.row.id)
            marking = asyncio.ensure_future(
                asyncio.to_thread(self.store.retrying, self._mark_sending, by_lease)
            )
            try:
                moved = await asyncio.shield(marking)
            except asyncio.CancelledError:
                moved = await marking  # committed in its thread all the same: what is sending is known
                self._handed_over.update(moved)
                raise
            except BaseException as exc:  # noqa: BLE001 - every waiting sender gets the failure
                for _ready, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            self._handed_over.update(moved)
            for ready, answer in batch:
                if not answer.done():
                    answer.set_result(ready.row.id in moved)

    async def _probe_time(self) -> bool:
        """While the provider is down: wait until nothing is in flight and the next probe is due (a new
        sender probes at once). False when the window is over, or the campaign stopped, first."""
        assert self.health is not None
        while self._in_call or not self._ready.empty():
            self._answered.clear()
            await self._answered.wait()
        if not self._probed:
            self._probed = True
            return await self._keep_going()
        while (wait := self.health.seconds_to_probe()) > 0:
            if not await self._keep_going():
                return False
            await asyncio.sleep(min(wait, 1.0))
            await self.health.refresh()
        return await self._keep_going()

    def _mark_sending(self, by_lease: dict[tuple[str, str | None], list[int]]) -> set[int]:
        now, moved = utcnow(), set()
        with self.store.begin() as conn:
            for (lease, content_hash), ids in by_lease.items():
                moved.update(q.hand_over(conn, ids, lease_token=lease, now=now, content_hash=content_hash))
        return moved

    # --- pace and send -------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while (ready := await self._ready.get()) is not None:
            self._taken.set()
            if self._stop is not None or self._halted.is_set():
                continue  # never handed over: its claim is released with the leftovers
            outcome = await self._send(ready)
            if isinstance(outcome, _GivenBack):
                continue  # stopping: never handed over, its claim is released with the leftovers
            if outcome is None:
                self._unanswered.pop(ready.row.id, None)  # not ours to send any more
                continue
            # Appended only now: a flush during the send swaps the list; the answer goes to the new one.
            self._answers.append(outcome)
            if len(self._answers) >= self._flush_every:
                await self._flush()

    async def _send(self, ready: _Ready) -> Outcome | _GivenBack | None:
        """Pace, mark the row ``sending``, then hand the message to the provider; every exception becomes
        this row's outcome. None: the row is no longer ours to send (cancelled, lease lost); ``_GIVEN_BACK``:
        a graceful stop came before its turn."""
        row = ready.row
        while not self.store.health.reachable.is_set() and not self._halted.is_set():
            # What the provider would answer could not be written: wait for the store before calling it
            # (a second at a time: a run that gives up cancels this).
            await asyncio.to_thread(self.store.health.reachable.wait, 1.0)
        if not await self._unless_halted(self.pacer.acquire()):
            return _GIVEN_BACK
        if self._stop is not None:
            return _GIVEN_BACK
        if not await self._mark_sending_now(ready):
            return None
        if sends_log.isEnabledFor(logging.DEBUG):  # the sender's own send times (benchmarks of pacing)
            sends_log.debug("%.6f", time.time())
        self._in_call.add(row.id)
        try:
            receipt = await self.provider.send(ready.message, token=self.job.token_for(row.message_token))
        except ConfigurationError as exc:
            # Our own setup is wrong (login, TLS trust): the provider refused before taking anything, so the
            # row goes back unsent and the run stops once the sends already under way have finished.
            self._stop = self._stop or exc
            self._answered.set()
            self._taken.set()
            return Outcome(
                row.id,
                ready.lease,
                OutboxState.PENDING,
                handed_over=True,
                attempted=False,
                error=f"not sent: {exc}",
            )
        except UncertainDeliveryError as exc:
            log.warning("outbox %s (%s): %s; asked of the provider before anything is resent", row.id,
                        mask_contact(ready.message.to), exc)  # fmt: skip
            if self.health is not None:
                await self.health.failed(exc)
            return Outcome(row.id, ready.lease, OutboxState.UNCERTAIN, handed_over=True, error=str(exc)[:500])
        except DeliveryError as exc:
            log.warning("outbox %s (%s): %s", row.id, mask_contact(ready.message.to), exc)
            if isinstance(exc, TransientDeliveryError) and (exc.code in SLOW_DOWN or exc.retry_after):
                self.pacer.penalize(exc.retry_after)  # the provider asks us to slow down
            if isinstance(exc, TransientDeliveryError) and exc.unreachable and self.health is not None:
                await self.health.failed(exc)
            return self._after_failure(ready, exc)
        except Exception as exc:
            log.exception(
                "outbox %s: unexpected error while sending; this row fails, the run goes on", row.id
            )
            error = PermanentDeliveryError(f"unexpected error while sending: {type(exc).__name__}: {exc}")
            return self._after_failure(ready, error)
        finally:
            self._in_call.discard(row.id)
        if self.health is not None:
            await self.health.answered()
        return Outcome(
            row.id,
            ready.lease,
            OutboxState.ACCEPTED,
            handed_over=True,
            provider_message_id=receipt.provider_message_id,
        )

    def _after_failure(self, ready: _Ready, exc: DeliveryError) -> Outcome:
        """A refusal as the row's next state: deferred (retry later), suppressed (opted out), or failed.
        Transient failures are retried until ``retry_for`` after the row's first attempt; a provider that
        could not be reached at all counts no attempt and starts no clock (``sending.health``)."""
        row, now = ready.row, utcnow()
        if isinstance(exc, TransientDeliveryError) and exc.unreachable:
            retry_at = now + timedelta(seconds=self.job.retry.delay(1, exc.retry_after))
            return Outcome(
                row.id,
                ready.lease,
                OutboxState.DEFERRED,
                handed_over=True,
                attempted=False,
                error=f"provider unreachable: {exc}",
                next_attempt_at=retry_at,
            )
        attempt, first = (
            row.attempts + 1,
            row.first_attempt_at or now,
        )  # this attempt counted at the hand-over
        if isinstance(exc, TransientDeliveryError) and now - first < self.job.retry_for:
            retry_at = now + timedelta(seconds=self.job.retry.delay(attempt, exc.retry_after))
            return Outcome(
                row.id,
                ready.lease,
                OutboxState.DEFERRED,
                handed_over=True,
                error=f"attempt {attempt}: {exc}",
                next_attempt_at=retry_at,
            )
        if isinstance(exc, PermanentDeliveryError) and exc.opted_out:
            return Outcome(
                row.id, ready.lease, OutboxState.SUPPRESSED, handed_over=True, error=f"opted out: {exc}"
            )
        if isinstance(exc, TransientDeliveryError):
            minutes = max(1, round((now - first).total_seconds() / 60))
            exc_text = f"gave up after {attempt} attempts in {minutes} min: {exc}"
        else:
            exc_text = str(exc)
        return Outcome(row.id, ready.lease, OutboxState.FAILED, handed_over=True, error=exc_text)

    async def _unless_halted(self, waiting: Coroutine[Any, Any, None]) -> bool:
        """Wait for ``waiting`` (a send slot) unless a graceful stop comes first; False if it did."""
        if self._halted.is_set():
            waiting.close()
            return False
        task = asyncio.ensure_future(waiting)
        halt = asyncio.ensure_future(self._halted.wait())
        try:
            await asyncio.wait({task, halt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.cancel()
            if not task.done():
                task.cancel()
            # Its outcome is taken here whatever stops us (a failure of it is raised below, or dropped
            # with the cancellation of this sender), never left "never retrieved".
            await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            return False
        failure = task.exception()
        if failure is not None:
            raise failure
        return not self._halted.is_set()

    # --- record --------------------------------------------------------------------------------------

    async def _record_regularly(self, finished: asyncio.Event) -> None:
        """A slow (paced) channel still gets its answers written within a moment."""
        while not finished.is_set():
            try:
                await asyncio.wait_for(finished.wait(), timeout=0.2)
            except TimeoutError:
                await self._flush()

    async def _flush(self) -> None:
        async with self._write_lock:
            if not self._answers:
                return
            outcomes, self._answers = self._answers, []
            # Sends go on meanwhile; while the store is away the answers wait here, in memory, for it.
            writing = asyncio.ensure_future(asyncio.to_thread(self.store.retrying, self._write, outcomes))
            try:
                await asyncio.shield(writing)
            except StoreUnavailableError:
                log.error(
                    "%d answers of %s could not be written (the store is away): outbox rows %s stay in "
                    "flight and are settled at the next launch",
                    len(outcomes),
                    self.job.channel,
                    ", ".join(str(o.row_id) for o in outcomes[:50]) + (" …" if len(outcomes) > 50 else ""),
                )
                raise
            finally:
                # Even if we are cancelled meanwhile, the write goes on in its thread and commits: wait for
                # it, so that what we count is what the store holds.
                counts = await writing
                for outcome in outcomes:
                    self._unanswered.pop(outcome.row_id, None)
                self.result.add(counts)
                self._answered.set()
                if self.on_record is not None:
                    self.on_record(counts)

    def _write(self, outcomes: list[Outcome]) -> BatchResult:
        now = utcnow()
        failed = [o.row_id for o in outcomes if o.state is OutboxState.FAILED]
        opted_out = [o.row_id for o in outcomes if o.state is OutboxState.SUPPRESSED]
        with self.store.begin() as conn:
            q.record_outcomes(conn, outcomes, now=now)
            if failed:
                q.release_fallback(conn, failed, now)
            if opted_out and self.job.channel is Channel.SMS:
                q.opt_out_numbers_of_rows(conn, opted_out, detail="Twilio error 21610 at sending", now=now)
        counts = BatchResult()
        for outcome in outcomes:
            counts.count(outcome)
        return counts

    async def _settle_leftovers(self) -> None:
        """After the run: write what was answered; rows handed over but never sent go back (pending); claimed
        rows never handed over are released; rows inside a provider call stay ``sending`` for their lease."""
        answered = {o.row_id for o in self._answers}
        for row_id, lease in self._unanswered.items():
            if row_id in self._handed_over and row_id not in self._in_call and row_id not in answered:
                self._answers.append(
                    Outcome(
                        row_id,
                        lease,
                        OutboxState.PENDING,
                        handed_over=True,
                        attempted=False,
                        error="not sent: the sender stopped before its turn",
                    )
                )
        given_back = sum(1 for o in self._answers if o.state is OutboxState.PENDING and not o.attempted)
        await self._flush()
        unsent: dict[str, list[int]] = {}
        for row_id, lease in self._unanswered.items():
            if row_id not in self._handed_over:
                unsent.setdefault(lease, []).append(row_id)
        if unsent:
            await asyncio.to_thread(self.store.retrying, self._release, unsent)
        self.result.put_back += given_back + sum(len(ids) for ids in unsent.values())

    def _release(self, by_lease: dict[str, list[int]]) -> None:
        now = utcnow()
        with self.store.begin() as conn:
            for lease, ids in by_lease.items():
                q.release_claims(conn, ids, lease_token=lease, now=now)
