"""Twilio status callbacks, applied forward-only and in batches.

``POST /twilio/status?t=<message token>`` (served by ``tracking.app``) is what the SMS channel puts in
StatusCallback. Callbacks arrive out of order and more than once: a status only ever moves a row forward
(a late "sent" never overwrites "delivered"). Every callback, in-flight ones too, is an event with the
fields that arrived; a row that moves also gets its delivery event.

A campaign of a million SMS brings two to three million callbacks, as fast as Twilio sends them. The
service therefore applies them in batches (``StatusWriter``): callbacks that arrive together are written
in one transaction of a handful of set-based statements, and each request is answered only once its batch
is committed (Twilio does not send a callback again after a 200, so answering earlier could lose it).
Under load the batches grow and requests wait a little longer: the service degrades by queueing, never by
dropping or answering 5xx."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from notifier.channels.sms import TwilioError
from notifier.clock import utcnow
from notifier.models import Channel, EventKind, OutboxState
from notifier.store import Store
from notifier.store import queries as q

__all__ = [
    "MESSAGE_TOKEN",
    "TWILIO_STATUS",
    "StatusCallback",
    "StatusWriter",
    "apply_status",
    "apply_statuses",
]

log = logging.getLogger(__name__)

# Twilio MessageStatus → our outbox state; None = still in flight, nothing to record beyond "accepted".
TWILIO_STATUS: dict[str, OutboxState | None] = {
    "accepted": None,
    "queued": None,
    "scheduled": None,
    "sending": None,
    "sent": None,
    "delivered": OutboxState.DELIVERED,
    "read": OutboxState.DELIVERED,
    "undelivered": OutboxState.UNDELIVERED,
    "failed": OutboxState.FAILED,
    "canceled": OutboxState.FAILED,
}
# Twilio MessageStatus → the event it is (every channel's events share notifier.models.EventKind).
TWILIO_EVENT: dict[str, EventKind] = {
    "accepted": EventKind.QUEUED,
    "queued": EventKind.QUEUED,
    "scheduled": EventKind.QUEUED,
    "sending": EventKind.SENT,
    "sent": EventKind.SENT,
    "delivered": EventKind.DELIVERED,
    "read": EventKind.DELIVERED,
    "undelivered": EventKind.UNDELIVERED,
    "failed": EventKind.FAILED,
    "canceled": EventKind.FAILED,
}
MESSAGE_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_BATCH = 500
WRITERS = 2


@dataclass(frozen=True, slots=True)
class StatusCallback:
    token: str
    status: str
    error_code: str | None = None
    message_sid: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def opted_out(self) -> bool:
        """Twilio says the number told it STOP (error 21610): Twilio blocks our messages to it."""
        return (self.error_code or "").strip() == str(int(TwilioError.OPTED_OUT))

    @property
    def target(self) -> OutboxState | None:
        if self.opted_out and TWILIO_STATUS.get(self.status.lower()) is not None:
            return OutboxState.SUPPRESSED
        return TWILIO_STATUS.get(self.status.lower())

    @property
    def kind(self) -> EventKind:
        if self.opted_out:
            return EventKind.OPTED_OUT
        return TWILIO_EVENT.get(self.status.lower(), EventKind.UNKNOWN)

    @property
    def detail(self) -> str:
        return (
            f"twilio {self.status.lower()}"
            + (f" (error {self.error_code})" if self.error_code else "")
            + (f" {self.message_sid}" if self.message_sid else "")
        )


def apply_status(
    store: Store,
    *,
    token: str,
    status: str,
    error_code: str | None,
    message_sid: str | None,
    fields: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """Apply one provider status to the row with ``token``; returns what happened (response and logs)."""
    callback = StatusCallback(token, status, error_code, message_sid, dict(fields or {}))
    return apply_statuses(store, [callback], now=now)[0]


def apply_statuses(
    store: Store, callbacks: Sequence[StatusCallback], *, now: datetime | None = None
) -> list[str]:
    """Apply callbacks in one transaction; returns what happened to each, in order.

    Several final statuses for one message in a batch: the first to arrive counts, as it would one by one
    (a later final never overwrites an earlier one)."""
    now = now or utcnow()
    with store.begin() as conn:
        q.events_for_tokens(
            conn,
            [
                {
                    "token": c.token,
                    "kind": c.kind.value,
                    "reason": c.error_code,
                    "provider_message_id": c.message_sid,
                    "payload": json.dumps(dict(c.fields), ensure_ascii=False, sort_keys=True),
                }
                for c in callbacks
            ],
            channel=Channel.SMS,
            provider="twilio",
            now=now,
        )
        finals: dict[str, tuple[StatusCallback, OutboxState]] = {}  # token → its first final status
        for c in callbacks:
            target = c.target
            if target is not None:
                finals.setdefault(c.token, (c, target))
        moved: dict[str, OutboxState] = {}
        for target in {t for _, t in finals.values()}:
            group = {token: c.detail for token, (c, t) in finals.items() if t is target}
            ids = q.advance_many_by_token(conn, group, to_state=target, now=now)
            for token in ids:
                moved[token] = target
            if target is OutboxState.SUPPRESSED and ids:
                q.opt_out_numbers_of_rows(
                    conn, list(ids.values()), detail="Twilio error 21610 in a status callback", now=now
                )
            if target in (OutboxState.UNDELIVERED, OutboxState.FAILED) and ids:
                q.release_fallback(conn, list(ids.values()), now)  # sms-first: the email waiting goes out
    return [_outcome(c, finals.get(c.token, (None, None))[0] is c and c.token in moved) for c in callbacks]


def _outcome(callback: StatusCallback, applied: bool) -> str:
    target = callback.target
    if target is None:
        known = callback.status.lower() in TWILIO_STATUS
        return "ignored: in-flight status" if known else f"ignored: unknown status {callback.status!r}"
    return f"{'applied' if applied else 'kept (not forward)'}: {target.value}"


class StatusWriter:
    """Applies callbacks in batches from ``WRITERS`` background tasks in the service's event loop (started
    with the first callback): a request waits for its batch's commit, at most ``MAX_BATCH`` callbacks a
    batch. The store work runs in worker threads; while one batch commits, the next gathers and is written
    beside it (two transactions never move one row twice: the update is forward-only)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: asyncio.Queue[tuple[StatusCallback, asyncio.Future[str]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def apply(self, callback: StatusCallback) -> str:
        if self._queue is None or any(task.done() for task in self._tasks):
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._run(self._queue)) for _ in range(WRITERS)]
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self._queue.put((callback, answer))
        return await answer

    async def _run(self, queue: asyncio.Queue[tuple[StatusCallback, asyncio.Future[str]]]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                outcomes = await asyncio.to_thread(apply_statuses, self.store, [c for c, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request gets its answer
                log.error("could not apply %d status callbacks: %s", len(batch), exc)
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for (_, answer), outcome in zip(batch, outcomes, strict=True):
                if not answer.done():
                    answer.set_result(outcome)
