"""A graceful stop: SIGTERM (every deploy, scale-down and host drain) and Ctrl-C drain a process instead of
crashing it.

The first signal asks the process to stop (``requested()``): senders stop claiming, finish the requests
already in the provider's hands and record their answers, give back what they claimed but did not send
(``pending`` again, no attempt counted), and the process says in one line what it did and exits 0. If
that takes longer than the grace (``NOTIFIER_STOP_SECONDS``, 25 s: inside Kubernetes' 30 s and Prefect's
grace before their SIGKILL), it exits 1 saying so. A second signal stops it at once, as a kill would.

One request per process: the flows' tasks run in threads of the process that got the signal, and all of
them must see it. ``on_signals`` resets it when it starts watching."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["on_request", "on_signals", "request", "requested", "reset", "why"]

log = logging.getLogger("notifier.stopping")
_event = threading.Event()
_done = threading.Event()  # the graceful stop has finished: its deadline no longer applies
_lock = threading.Lock()
_callbacks: dict[int, Callable[[], None]] = {}
_why = {"reason": ""}
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def requested() -> bool:
    return _event.is_set()


def why() -> str:
    return _why["reason"]


def request(reason: str) -> None:
    """Ask everything in this process to stop gracefully (idempotent)."""
    with _lock:
        if _event.is_set():
            return
        _why["reason"] = reason
        _event.set()
        waiting = list(_callbacks.values())
    for callback in waiting:
        callback()


def reset() -> None:
    with _lock:
        _event.clear()
        _done.clear()
        _why["reason"] = ""


@contextmanager
def on_request(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` (from whichever thread asks) when a stop is requested while the block runs: an
    event loop uses ``loop.call_soon_threadsafe`` in it to wake what waits."""
    key = id(callback)
    with _lock:
        _callbacks[key] = callback
        already = _event.is_set()
    if already:
        callback()
    try:
        yield
    finally:
        with _lock:
            _callbacks.pop(key, None)


@contextmanager
def on_signals(
    grace_seconds: float,
    *,
    say: Callable[[str], None] | None = None,
    pass_on: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """While the block runs (in the main thread), the first SIGTERM or SIGINT asks for a graceful stop and
    the second stops at once. Past ``grace_seconds`` after the first, the process exits 1. Handlers that
    were there before (Prefect's, in a flow run) are put back after the block; a SIGTERM received is passed
    on to the one before when ``pass_on()`` says so once drained (a flow run Prefect was asked to cancel
    then ends Cancelled, not Crashed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reset()
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))  # noqa: T201 - the operator's line
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if received:
            say(f"{name} again: stopping at once")
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        say(
            f"{name}: stopping: no new claims; what is in the provider's hands is finished and recorded, the "
            f"rest given back (at most {grace_seconds:g} s; {name} again stops at once)"
        )
        threading.Thread(target=_deadline, args=(grace_seconds, say), daemon=True).start()
        request(name)

    for sig in SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        _done.set()
        for sig, before in previous.items():
            signal.signal(sig, before if before is not None else signal.SIG_DFL)
        before = previous[signal.SIGTERM]
        if signal.SIGTERM in received and callable(before) and pass_on is not None and pass_on():
            chained: Any = before
            chained(signal.SIGTERM, None)  # Prefect's bridge: the flow run ends Cancelled


def _deadline(seconds: float, say: Callable[[str], None]) -> None:
    if _done.wait(seconds):
        return
    say(
        f"stopped after {seconds:g} s without finishing (NOTIFIER_STOP_SECONDS): what was still in the "
        "provider's hands is settled at the next launch"
    )
    os._exit(1)
