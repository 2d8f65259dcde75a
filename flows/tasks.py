"""The Prefect task both sending flows run: one window of sending (up to 30 s, every channel at once).

One task per window rather than per message or per small batch: Prefect's per-task overhead then costs
nothing measurable, and a window keeps its provider connections and its pacing schedule throughout."""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from notifier.config import Settings
from notifier.models import Channel
from notifier.sending import runner
from notifier.sending.pipeline import BatchResult


@task(name="send-window")
def send_window_task(campaign: str, channels: list[str]) -> dict[str, int]:
    return asdict(runner.send_window(Settings.from_env(), campaign, [Channel(c) for c in channels]))


def send_through_task(campaign: str) -> runner.Sender:
    """``drain``'s sender: each window is one task run, its result counted in the flow."""
    return lambda channels: BatchResult(**send_window_task(campaign, sorted(c.value for c in channels)))


class ProgressArtifact:
    """``drain``'s progress as a Prefect progress artifact: the share of the campaign's rows no longer
    due, with the counts by state in its description, updated after every window. ``key=None`` (each
    shard's own artifact) keeps it out of the campaign's keyed history."""

    def __init__(self, campaign: str, key: str | None) -> None:
        self.campaign = campaign
        self.key = key
        self.artifact: UUID | None = None

    def __call__(self, totals: BatchResult, states: dict[str, int]) -> None:
        left = runner.remaining(states)
        total = sum(n for s, n in states.items() if s != "skipped")
        percent = 100.0 * (total - left) / total if total else 100.0
        description = f"{self.campaign}: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
        if self.artifact is None:
            created = create_progress_artifact(percent, key=self.key, description=description)
            assert isinstance(created, UUID)  # called from a synchronous flow: not a coroutine
            self.artifact = created
        else:
            update_progress_artifact(self.artifact, percent, description=description)


def cancelled_by_prefect() -> bool:
    """Whether the SIGTERM this flow run drained for was Prefect cancelling it (the UI, the API): then it
    is passed on to Prefect's own handler, and the run ends Cancelled rather than Completed or Crashed."""
    try:
        from prefect._internal import control_listener
    except ImportError:  # another Prefect: the drained run ends as it ends
        return False
    return bool(control_listener.get_intent() == "cancel")
