"""Provider health: a provider outage pauses its channel; it is never a recipient's failure.

A failure to reach the provider at all (``TransientDeliveryError.unreachable``: connection refused or
dropped, timeouts, the provider's own 5xx) counts no attempt against the row, which is deferred for a
moment. ``DOWN_AFTER`` such failures in a row, across every sender of the account (the count is kept
in the store), mark the account down: its channel then hands over one message at a time, a probe (at
once by a sender that finds it down, then at growing intervals: 2 s doubling to a minute), while every
other row waits, due, unattempted. The first answer from the provider marks it up again and sending
resumes at full pace. Each change is logged once
at WARNING/ERROR with the error, and ``notifier campaign status`` shows an account that is down."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from notifier.clock import utcnow
from notifier.errors import DeliveryError
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import HealthRow

__all__ = ["DOWN_AFTER", "ProviderHealth"]

log = logging.getLogger(__name__)
DOWN_AFTER = 5  # failures to reach the provider in a row, whatever the recipients, before its channel pauses
PROBE_FIRST = 2.0
PROBE_MAX = 60.0
REFRESH_SECONDS = 1.0  # how stale another sender's news about the account may be


class ProviderHealth:
    """One provider account's health as one sender sees it, kept in step with the store."""

    def __init__(self, store: Store, account: str) -> None:
        self.store = store
        self.account = account
        self._known: HealthRow | None = None
        self._read_at = 0.0

    @property
    def down(self) -> bool:
        return self._known is not None and self._known.down_since is not None

    @property
    def troubled(self) -> bool:
        """Failures to reach it were counted and not yet cleared by an answer."""
        return self._known is not None and (self._known.consecutive_failures > 0 or self.down)

    async def refresh(self) -> None:
        if time.monotonic() - self._read_at >= REFRESH_SECONDS:
            self._known = await asyncio.to_thread(self.store.retrying, self._read)
            self._read_at = time.monotonic()

    def _read(self) -> HealthRow | None:
        with self.store.connect() as conn:
            return q.provider_health_of(conn, self.account)

    async def failed(self, exc: DeliveryError) -> None:
        """Count a failure to reach the provider; the first that takes it down is logged, with the error."""
        was_down = self.down
        self._known = await asyncio.to_thread(self.store.retrying, self._count_failure, str(exc))
        self._read_at = time.monotonic()
        if self.down and not was_down:
            log.error("%s: the provider cannot be reached (%s); this channel pauses, its messages wait "
                      "unattempted, and it is probed until it answers", self.account, exc)  # fmt: skip

    def _count_failure(self, error: str) -> HealthRow:
        failures = self._known.consecutive_failures + 1 if self._known else 1
        probe = min(PROBE_MAX, PROBE_FIRST * 2 ** max(0, failures - DOWN_AFTER))
        with self.store.begin() as conn:
            return q.provider_failed(conn, self.account, error=error, now=utcnow(), down_after=DOWN_AFTER,
                                     probe_every=timedelta(seconds=probe))  # fmt: skip

    async def answered(self) -> None:
        """The provider took a message: clear the count (cheap when there was nothing to clear)."""
        if not self.troubled:
            return
        if await asyncio.to_thread(self.store.retrying, self._clear):
            log.warning("%s: the provider answers again; sending resumes", self.account)
        self._known = None
        self._read_at = time.monotonic()

    def _clear(self) -> bool:
        with self.store.begin() as conn:
            return q.provider_recovered(conn, self.account, now=utcnow())

    def seconds_to_probe(self) -> float:
        """How long until the next probe is due (0: now)."""
        probe_at = self._known.next_probe_at if self._known else None
        return max(0.0, (probe_at - utcnow()).total_seconds()) if probe_at else 0.0
