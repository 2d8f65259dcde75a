"""The Prefect task both sending flows run: one window of sending (up to 30 s, every channel at once).

One task per window rather than per message or per small batch: Prefect's per-task overhead then costs
nothing measurable, and a window keeps its provider connections and its pacing schedule throughout."""

from __future__ import annotations

from dataclasses import asdict

from prefect import task

from notifier import engine
from notifier.config import Settings
from notifier.delivery import BatchResult
from notifier.models import Channel


@task(name="send-window")
def send_window_task(campaign: str, channels: list[str]) -> dict[str, int]:
    return asdict(engine.send_window(Settings.from_env(), campaign, [Channel(c) for c in channels]))


def send_through_task(campaign: str) -> engine.Sender:
    """``drain``'s sender: each window is one task run, its result counted in the flow."""
    return lambda channels: BatchResult(**send_window_task(campaign, sorted(c.value for c in channels)))
