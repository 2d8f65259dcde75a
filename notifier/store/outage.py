"""A store outage is a pause, not a crash (DESIGN.md).

While sending (``riding_out_outages``: a launch, a Prefect send window), a store that stops answering
(PostgreSQL restarted, a fail-over, the network to it cut) is waited for: taking a connection waits until
it answers again, and a unit of work cut off in the middle (``Store.retrying``) runs again once it does.
The senders meanwhile make no provider call (``StoreHealth.reachable``): what they would learn could not be
written. An outage longer than the grace ends the run with one line (``StoreUnavailableError``).

Elsewhere (the console, the webhooks, the CLI's reads) nothing waits: a request gets its answer at once,
503 from the webhooks (Twilio tries again), a clear line from the CLI."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.exc import DBAPIError

from notifier.errors import StoreError

__all__ = [
    "StoreHealth",
    "StoreUnavailableError",
    "grace_seconds",
    "is_outage",
    "is_transient",
    "riding_out_outages",
]

log = logging.getLogger("notifier.store")
_GRACE: ContextVar[float] = ContextVar("notifier_store_outage_grace", default=0.0)
# PostgreSQL's SQLSTATEs for "the server went away or is not there yet": connection exceptions (class 08),
# shut down by an administrator or a crash, starting up (57P01-57P03). Without one, psycopg could not
# connect at all.
_GONE = frozenset({"08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03"})
# Worth running a unit of work again for, besides an outage: a lock not had in time (a backend left behind
# by a cut-off sender holds it until the server ends it), a serialization failure, a deadlock.
_AGAIN = frozenset({"55P03", "40001", "40P01"})
_MAX_PAUSE = 2.0


class StoreUnavailableError(StoreError):
    """The store did not answer within the outage grace."""


def grace_seconds() -> float:
    return _GRACE.get()


@contextmanager
def riding_out_outages(seconds: float) -> Iterator[None]:
    """Within the block (and the worker threads it starts with ``asyncio.to_thread``, which carry the
    context along), store work waits out an outage of up to ``seconds``."""
    token = _GRACE.set(seconds)
    try:
        yield
    finally:
        _GRACE.reset(token)


def is_outage(exc: BaseException) -> bool:
    """True when the error means the store is unreachable, not that a statement was wrong."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    module = type(orig).__module__ if orig is not None else ""
    if not module.startswith("psycopg"):
        return False  # SQLite has no server to lose; its errors are errors
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate is None or sqlstate in _GONE


def is_transient(exc: BaseException) -> bool:
    """True for an outage, and for the failures the same work can simply be run again after."""
    return is_outage(exc) or (isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _AGAIN)


class StoreHealth:
    """What one Store has seen of its database: reachable, or down since when (shared by its threads)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.reachable = threading.Event()
        self.reachable.set()
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._gave_up = False  # past the grace: later work fails at once instead of waiting again

    def went_down(self, exc: BaseException) -> float:
        """Note the outage (logged once); returns how long it has lasted."""
        with self._lock:
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
                self.reachable.clear()
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                log.warning(
                    "the store at %s does not answer (%s); sending waits for it",
                    self.where,
                    reason[0] if reason else type(exc).__name__,
                )
            return now - self._down_since

    def came_back(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.warning(
                    "the store at %s answers again after %.1f s; sending goes on",
                    self.where,
                    time.monotonic() - self._down_since,
                )
                self._down_since = None
            self._gave_up = False
            self.reachable.set()

    def pause(self, lasted: float, grace: float) -> None:
        """Wait a little before trying again, or give up with one line past the grace."""
        if lasted > grace or self._gave_up:
            self._gave_up = True
            raise StoreUnavailableError(
                f"the store at {self.where} has not answered for {lasted:.0f} s (more than {grace:g} s: "
                "NOTIFIER_STORE_OUTAGE_SECONDS, at most half of NOTIFIER_LEASE_SECONDS): stopped; rows whose "
                "answers could not be written are settled when it is back, at the next launch "
                "(notifier campaign launch NAME)"
            )
        time.sleep(min(_MAX_PAUSE, 0.25 + lasted / 4))
