"""Pacing sends per provider account, globally across sender processes and machines.

``SharedBucket`` keeps a token bucket (rate, burst) in the store's ``rate_limits`` table: each sender
takes tokens in small chunks in one short transaction, so the configured rate holds for the *sum* of
all senders (Prefect's ``rate_limit`` was measured to undershoot by 30-45 % and to stall on SQLite,
see shared/reference/prefect-notes.md; it is not used per message). On top, each sender slows itself
down when a provider pushes back (SMTP 421, HTTP 429, Retry-After) and recovers gradually after.
``LocalBucket`` is the in-process version (tests, single sender). Clock and sleep are injectable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from notifier.store import Store
from notifier.store import queries as q

__all__ = ["Bucket", "LocalBucket", "SharedBucket", "Unlimited"]

Sleep = Callable[[float], Awaitable[Any]]
LOCAL_CATCH_UP = 1.02
CATCH_UP_SECONDS = 0.05  # how much timer lateness is made up at once (bounds clumps to ~10 at 200/s)


class Bucket(Protocol):
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

    def extra_wait(self, interval: float) -> float:
        return self.pause() + interval * (1 / self.current() - 1)


class Unlimited:
    """No pacing (local stand-ins)."""

    async def acquire(self) -> None:
        return None

    def penalize(self, retry_after: float | None = None) -> None:
        return None


class LocalBucket:
    """``rate`` per second with bursts up to ``burst``, for one process."""

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:  # fmt: skip
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.backoff = _Backoff(clock)
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            pause = self.backoff.pause()
            if pause > 0:
                await self.sleep(pause)
                self.updated = self.clock()  # no tokens accrue while the provider asked us to wait
            while True:
                now = self.clock()
                rate = self.rate * self.backoff.current()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * rate)
                self.updated = now
                if self.tokens >= 1 - 1e-9:  # float dust must not keep us waiting for ever
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                await self.sleep(max((1 - self.tokens) / rate, 1e-6))

    def penalize(self, retry_after: float | None = None) -> None:
        self.backoff.penalize(retry_after)


class SharedBucket:
    """A token bucket in the store, shared by every sender of one provider account.

    ``burst`` bounds how far any one-second window can exceed ``rate`` (default 5 % of it); ``chunk``
    tokens are taken per round trip to the store."""

    def __init__(self, store: Store, name: str, *, rate: float, burst: int | None = None, chunk: int | None = None,
                 clock: Callable[[], float] = time.time, sleep: Sleep = asyncio.sleep) -> None:  # fmt: skip
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.store = store
        self.name = name
        self.rate = rate
        # Burst 5 % of the rate: the tokens a short pause (a batch boundary, a store write) leaves unused
        # are caught up instead of lost, and no one-second window can exceed rate + burst = 105 %.
        self.burst = float(burst if burst is not None else max(1, round(rate * 0.05)))
        self.chunk = chunk if chunk is not None else max(1, min(int(self.burst), 10))
        self.clock = clock
        self.sleep = sleep
        self.local = 0
        self.next_grant = 0.0
        self.backoff = _Backoff(clock)
        self._lock = asyncio.Lock()

    def _take(self) -> tuple[int, float]:
        with self.store.begin() as conn:
            return q.take_tokens(conn, name=self.name, rate=self.rate, burst=self.burst, want=self.chunk,
                                 now=self.clock())  # fmt: skip

    async def acquire(self) -> None:
        async with self._lock:
            while self.local == 0:
                taken, left = await asyncio.to_thread(self._take)  # the event loop keeps sending meanwhile
                self.local = taken
                if not taken:
                    await self.sleep(max((1 - left) / self.rate, 0.001))
            self.local -= 1
            # Tokens come in chunks; hand them out evenly (at most 2 % faster than the rate, to catch up
            # after a pause) so that requests reach the provider smoothly rather than in clumps.
            now = self.clock()
            interval = 1 / (self.rate * LOCAL_CATCH_UP * self.backoff.current())
            # A timer that wakes us late must not slow the schedule down: lateness is caught up, unless we
            # fell more than CATCH_UP_SECONDS behind (then the schedule restarts from now).
            if now - self.next_grant > CATCH_UP_SECONDS:
                self.next_grant = now
            wait = max(self.next_grant - now, self.backoff.pause())
            self.next_grant += interval
            if wait > 0:
                await self.sleep(wait)

    def penalize(self, retry_after: float | None = None) -> None:
        self.backoff.penalize(retry_after)
