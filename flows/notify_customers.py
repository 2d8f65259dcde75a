"""Prefect flow ``notify-customers``: plan a campaign (frozen manifest + outbox), then send it, one task per
window of up to 30 s of sending (every channel at once), and publish summary artifacts.

Thin wiring only: everything real is in ``notifier``. Channel URLs and the database URL come from the
worker's environment (``NOTIFIER_*``, read by ``Settings.from_env``), never from flow parameters, so no
secret is stored in Prefect."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

from flows.tasks import ProgressArtifact, cancelled_by_prefect, send_through_task
from notifier import stopping
from notifier.audience.selection import Selection
from notifier.config import Settings
from notifier.models import Channel, ChannelPolicy, DeliveryPolicy
from notifier.notices.render import renderer_for
from notifier.reports.delivery import build_report, chart_svgs
from notifier.reports.integrity import seal_all
from notifier.reports.summary import (
    chart_data_url,
    manifest_lines,
    report_markdown,
    summary_markdown,
    summary_rows,
)
from notifier.sending import campaigns, runner
from notifier.store import Store


@task(name="plan-campaign")
def plan_campaign_task(
    campaign: str,
    incident: str,
    selection: Selection,
    channels: list[str],
    policy: str,
    notice: str,
    delivery: DeliveryPolicy,
    actor: str,
) -> int:
    settings = Settings.from_env()
    with Store(settings.database_url) as store:
        result = campaigns.plan_campaign(
            store,
            name=campaign,
            incident_key=incident,
            selection=selection,
            channels=frozenset(Channel(c) for c in channels),
            policy=ChannelPolicy(policy),
            locales=renderer_for(settings.templates_dir, settings.locales_dir, notice).locales,
            actor=actor,
            notice=notice,
            delivery=delivery,
            templates_dir=settings.templates_dir,
        )
        manifest = campaigns.campaign_status(store, campaign).manifest
    logger = get_run_logger()
    for problem in result.problems[:50]:
        logger.warning(problem)
    for line in manifest_lines(campaign, manifest):
        logger.info(line)
    for line in campaigns.legal_notice_gaps(manifest, settings.templates_dir):
        logger.warning(line)
    return result.selected


@flow(name="notify-customers", log_prints=True)
def notify_customers(
    campaign: str,
    incident: str | None = None,
    affected_ids: str | None = None,
    query: str | None = None,
    channels: list[str] | None = None,
    policy: str = "all",
    notice: str = "breach_notice",
    quiet_hours: str = "09-20",
    urgent: str | None = None,
    uncertain_email: str = "hold",
    retry_for: str = "12h",
    tracking_window: str = "72h",
    actor: str = "prefect",
) -> dict[str, Any]:
    """Plan ``campaign`` if it is new (needs ``incident`` and ``affected_ids`` and/or ``query``; ``notice`` is
    breach_notice or breach_update), then send everything due, refusing while any notice piece it needs is
    not approved at its current content hash. Running it again sends nothing that was already sent."""
    settings = Settings.from_env()
    with Store(settings.database_url) as store:
        if not campaigns.campaign_exists(store, campaign):
            if incident is None:
                raise ValueError(f"campaign {campaign!r} is new: pass incident= and affected_ids= or query=")
            delivery = DeliveryPolicy.from_options(
                quiet_hours=quiet_hours,
                urgent=urgent,
                uncertain_email=uncertain_email,
                retry_for=retry_for,
                tracking_window=tracking_window,
            )
            selection = Selection(
                ids_file=Path(affected_ids) if affected_ids else None, query=query, access=settings.selection
            )
            plan_campaign_task(
                campaign, incident, selection, channels or ["email", "sms"], policy, notice, delivery, actor
            )
        progress = ProgressArtifact(campaign, key=f"{_artifact_key(campaign)}-progress")
        # SIGTERM (a deploy, a cancellation from Prefect's UI) drains instead of crashing (notifier.stopping).
        with stopping.on_signals(settings.stop_seconds, say=print, pass_on=cancelled_by_prefect):
            totals = runner.launch(
                store, settings, campaign, send=send_through_task(campaign), actor=actor, progress=progress
            )
            if stopping.requested():  # said before Prefect's own handler ends the run Cancelled
                get_run_logger().info(totals.stopped_line())
        status = campaigns.campaign_status(store, campaign)
        seal_all(store)  # what this run wrote joins the hash chains now, not at the next reconciliation
        report = build_report(store, campaign, settings=settings)
    key = _artifact_key(campaign)
    create_markdown_artifact(
        report_markdown(report) + "\n" + summary_markdown(status, totals),
        key=key,
        description=f"Delivery summary of {campaign}",
    )
    create_table_artifact(summary_rows(status), key=f"{key}-outbox")
    create_image_artifact(
        chart_data_url(chart_svgs(report)["timeline"]),
        key=f"{key}-timeline",
        description=f"{campaign}: sent, delivered and failed over time (UTC)",
    )
    return {"status": status.as_dict(), "this_run": asdict(totals), "headline": report.headline}


def _artifact_key(campaign: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "campaign-" + "".join(c if c.isalnum() else "-" for c in campaign.lower())[:60]


if __name__ == "__main__":
    notify_customers.serve(name="notify-customers")
