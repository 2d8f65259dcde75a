"""The ``track-mailbox`` flow: read the mailbox of replies and bounces once (scheduled in prefect.yaml,
every minute), and publish what it found as a table artifact. All the work is
``notifier.tracking.mailbox.read_mailbox``; the mailbox URL comes from the worker's environment
(NOTIFIER_MAILBOX_URL), never from a flow parameter."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.tasks import cancelled_by_prefect
from notifier import stopping
from notifier.config import Settings
from notifier.store import Store
from notifier.tracking.mailbox import read_mailbox


@flow(name="track-mailbox")
def track_mailbox(limit: int = 1000) -> dict[str, Any]:
    """Read up to ``limit`` new messages: bounces applied, replies queued for support, auto-replies kept."""
    settings = Settings.from_env()
    if settings.mailbox is None:  # scheduled everywhere prefect.yaml is deployed; only some have a mailbox
        get_run_logger().warning("no mailbox to read: NOTIFIER_MAILBOX_URL is not set on this worker")
        return {"skipped": "NOTIFIER_MAILBOX_URL is not set"}
    with (
        Store(settings.database_url) as store,
        stopping.on_signals(settings.stop_seconds, say=print, pass_on=cancelled_by_prefect),
    ):
        run = read_mailbox(store, settings.mailbox, bounce_domain=settings.bounce_domain, limit=limit)
    rows = [
        {"what": "messages read", "count": run.read},
        {"what": "bounces and complaints", "count": run.bounces},
        {"what": "replies queued for support", "count": run.replies},
        {"what": "auto-replies (recorded, not queued)", "count": run.auto_replies},
        {"what": "other", "count": run.other},
        {"what": "already recorded", "count": run.already_recorded},
    ]
    create_table_artifact(rows, key="mailbox", description=f"read up to UID {run.last_uid}")
    return asdict(run)


if __name__ == "__main__":
    track_mailbox.serve(name="track-mailbox")
