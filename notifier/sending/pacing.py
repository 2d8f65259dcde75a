"""Pacing sends per provider account, globally across sender processes and machines.

``SharedBucket`` keeps each provider account's schedule of send slots in the store's ``rate_limits``
table (the generic cell rate algorithm, GCRA): each sender reserves a few consecutive slots in one
short transaction and sends at those times, so the configured rate holds for the *sum* of all senders
(Prefect's ``rate_limit`` was measured to undershoot by 30-45 % and to stall on SQLite, see
shared/reference/prefect-notes.md; it is not used per message). On top, each sender slows itself
down when a provider pushes back (SMTP 421, HTTP 429, Retry-After) and recovers gradually after.
Clock and sleep are injectable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from notifier.store import Store
from notifier.store import queries as q

__all__ = ["Pacer", "SharedBucket", "Unlimited"]

Sleep = Callable[[float], Awaitable[Any]]


class Pacer(Protocol):
    """Waits for a sender's next send slot; slows down when the provider pushes back."""

    async def acquire(self) -> None: ...

    def penalize(self, retry_after: float | None = None) -> None: ...


class _Backoff:
    """Provider push-back: halve our pace on each complaint (and honour Retry-After); recover by 10 %
    for every ``recover_after`` seconds without one."""

    def __init__(self, clock: Callable[[], float], recover_after: float = 5.0) -> None:
        self.clock = clock
        self.factor = 1.0
        self.pause_until = 0.0
        self.last_penalty = 0.0
        self.recover_after = recover_after

    def penalize(self, retry_after: float | None) -> None:
        now = self.clock()
        self.factor = max(0.05, self.factor * 0.5)
        self.last_penalty = now
        if retry_after:
            self.pause_until = max(self.pause_until, now + retry_after)

    def current(self) -> float:
        """The share of the configured rate to use now (recovering step by step)."""
        now = self.clock()
        if self.factor < 1.0 and now - self.last_penalty > self.recover_after:
            self.factor = min(1.0, self.factor * 1.1)
            self.last_penalty = now
        return self.factor

    def pause(self) -> float:
        return max(0.0, self.pause_until - self.clock())


class Unlimited:
    """No pacing (local stand-ins)."""

    async def acquire(self) -> None:
        return None

    def penalize(self, retry_after: float | None = None) -> None:
        return None


class SharedBucket:
    """The send slots of one provider account, shared by every sender process and machine (GCRA).

    The store keeps the account's next free slot; a sender reserves ``chunk`` consecutive slots
    (``1/rate`` apart) in one short transaction and sends each message at its slot time. Senders thus
    interleave on one global schedule: the rate holds for their sum, however many there are, and the
    requests reach the provider evenly spaced instead of in clumps. ``burst`` bounds the catch-up after an
    idle moment (default 2 % of the rate); a slot a sender comes to later than that (a slow start, a
    stalled event loop) is skipped rather than used late, so no one-second window exceeds the rate by
    more than the burst. Slots a sender reserved but had no message for go unused."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        rate: float,
        burst: int | None = None,
        chunk: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.store = store
        self.name = name
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, round(rate * 0.02)))
        # About 50 ms of slots per round trip to the store: few transactions, little left unused at the end.
        self.chunk = chunk if chunk is not None else max(1, min(round(rate * 0.05), 50))
        self.clock = clock
        self.sleep = sleep
        self.slots: list[float] = []
        self.not_before = 0.0  # push-back: our own sends spaced out further, whatever the slots say
        self.backoff = _Backoff(clock)
        self._lock = asyncio.Lock()

    def _reserve(self) -> float:
        with self.store.begin() as conn:
            return q.reserve_slots(
                conn,
                name=self.name,
                interval=1 / self.rate,
                count=self.chunk,
                tolerance=self.burst / self.rate,
                now=self.clock(),
            )

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                slot = self._after_push_back(await self._next_slot())
                wait = slot - self.clock()
                if wait > 0:
                    await self.sleep(wait)
                # Woken later than the burst allows (the event loop or the machine was busy): this slot's time
                # has passed; sending now would catch up by bursting, so take the next slot instead.
                if self.clock() - slot <= self.burst / self.rate:
                    return

    async def _next_slot(self) -> float:
        while True:
            if not self.slots:
                # The event loop keeps sending meanwhile.
                first = await asyncio.to_thread(self.store.retrying, self._reserve)
                self.slots = [first + i / self.rate for i in range(self.chunk)][::-1]
            slot = self.slots.pop()
            # A slot we are already too late for passes unused: sending on it now would put more than
            # rate + burst into the next second (late requests bunch up at the provider).
            if slot >= self.clock() - self.burst / self.rate:
                return slot

    def _after_push_back(self, slot: float) -> float:
        factor = self.backoff.current()
        if factor < 1.0 or self.backoff.pause() > 0:
            # Slowed down after the provider pushed back: wait past our slot (its time passes unused).
            slot = max(slot, self.not_before, self.clock() + self.backoff.pause())
            self.not_before = slot + 1 / (self.rate * factor)
        return slot

    def penalize(self, retry_after: float | None = None) -> None:
        self.backoff.penalize(retry_after)
