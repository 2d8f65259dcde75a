"""Prefect flows for sending one campaign from several processes or machines at once.

``start-campaign`` (the plan deployment's second half): approval gate, running state, crash recovery,
then it fans out ``shards`` runs of the ``send-shard`` deployment. ``send-shard``: claims batches of
the campaign's outbox (one task per window of up to 30 s) until nothing is due. Shards never send a
row twice (the outbox claim, FOR UPDATE SKIP LOCKED on PostgreSQL) and share each provider account's
rate (the send slots in the store). Run them on a process work pool; see docs/operations.md."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from flows.tasks import ProgressArtifact, cancelled_by_prefect, send_through_task
from notifier import stopping
from notifier.config import Settings
from notifier.sending import runner
from notifier.sending.campaigns import get_campaign
from notifier.store import Store


@flow(name="send-shard")
def send_shard(campaign: str, actor: str = "prefect-shard") -> dict[str, int]:
    """Send batches of a running campaign until nothing is due; safe to run many at once."""
    settings = Settings.from_env()
    with Store(settings.database_url) as store:
        ref = get_campaign(store, campaign)
        progress = ProgressArtifact(campaign, key=None)
        with stopping.on_signals(settings.stop_seconds, say=print, pass_on=cancelled_by_prefect):
            totals = runner.drain(
                store, settings, ref, send_through_task(campaign), actor=actor, progress=progress
            )
            if stopping.requested():  # said before Prefect's own handler ends the run Cancelled
                get_run_logger().info(totals.stopped_line())
    # What this shard did, in its run's log: shards of one campaign split the work between them.
    get_run_logger().info(
        "shard totals: accepted=%d failed=%d deferred=%d suppressed=%d claimed=%d",
        totals.accepted,
        totals.failed,
        totals.deferred,
        totals.suppressed,
        totals.claimed,
    )
    return asdict(totals)


@flow(name="start-campaign")
def start_campaign(campaign: str, shards: int = 2, actor: str = "prefect") -> dict[str, Any]:
    """Gate and start a planned campaign, then launch ``shards`` send-shard runs (deployment required)."""
    settings = Settings.from_env()
    with Store(settings.database_url) as store:
        runner.start(store, settings, campaign, actor=actor)
    runs = [
        run_deployment("send-shard/send-shard", parameters={"campaign": campaign}, timeout=0)
        for _ in range(shards)
    ]
    return {"campaign": campaign, "shard_runs": [str(r.id) for r in runs if isinstance(r, FlowRun)]}
