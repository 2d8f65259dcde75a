"""Prefect flow ``notify-customers``: plan a campaign (frozen manifest + outbox), then send it,
one task per window of up to 30 s of sending (every channel at once), and publish a summary artifact.

Thin wiring only: everything real is in ``notifier``. Channel URLs and the database URL come from
the environment (``NOTIFIER_*``), never from flow parameters, so no secret is stored in Prefect."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.tasks import ProgressArtifact, send_through_task
from notifier.audience.selection import Selection
from notifier.config import Settings
from notifier.models import Channel, ChannelPolicy, DeliveryPolicy
from notifier.reports.delivery import summary_markdown, summary_rows
from notifier.sending import campaigns, runner
from notifier.store import Store


@task(name="plan-campaign")
def plan_campaign_task(
    campaign: str,
    incident: str,
    affected_ids: str | None,
    query: str | None,
    channels: list[str],
    policy: str,
    notice: str,
    delivery: dict[str, Any],
    actor: str,
) -> int:
    settings = Settings.from_env()
    store = Store(settings.database_url)
    try:
        result = campaigns.plan_campaign(
            store,
            name=campaign,
            incident_key=incident,
            selection=Selection(ids_file=Path(affected_ids) if affected_ids else None, query=query),
            channels=frozenset(Channel(c) for c in channels),
            policy=ChannelPolicy(policy),
            locales=runner.renderer_for(settings.templates_dir, settings.locales_dir, notice).locales,
            actor=actor,
            notice=notice,
            delivery=DeliveryPolicy.from_json(delivery),
        )
    finally:
        store.dispose()
    logger = get_run_logger()
    for problem in result.problems[:50]:
        logger.warning(problem)
    store = Store(settings.database_url)
    try:
        manifest = campaigns.campaign_status(store, campaign).manifest
    finally:
        store.dispose()
    # The counts to check before anything is sent (also shown by `notifier campaign plan`).
    logger.info("manifest of %s: %d customers", campaign, manifest["total"])
    for key in ("by_channel_plan", "by_locale", "by_jurisdiction", "unreachable"):
        logger.info(
            "  %s: %s", key.replace("_", " "), ", ".join(f"{k} {v}" for k, v in manifest[key].items())
        )
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
    actor: str = "prefect",
) -> dict[str, Any]:
    """Plan ``campaign`` if it is new (needs ``incident`` and ``affected_ids`` and/or ``query``; ``notice`` is
    breach_notice or breach_update), then send everything due, refusing while any notice piece it needs is
    not approved at its current content hash. Running it again sends nothing that was already sent."""
    settings = Settings.from_env()
    store = Store(settings.database_url)
    try:
        if not campaigns.campaign_exists(store, campaign):
            if incident is None:
                raise ValueError(f"campaign {campaign!r} is new: pass incident= and affected_ids= or query=")
            start, _, end = quiet_hours.partition("-")
            delivery = DeliveryPolicy(
                quiet_start=int(start),
                quiet_end=int(end),
                urgent_reason=urgent,
                uncertain_email=uncertain_email,
            ).as_json()
            plan_campaign_task(
                campaign,
                incident,
                affected_ids,
                query,
                channels or ["email", "sms"],
                policy,
                notice,
                delivery,
                actor,
            )
        totals = runner.launch(
            store,
            settings,
            campaign,
            send_through_task(campaign),
            actor=actor,
            progress=ProgressArtifact(campaign, key=f"{_artifact_key(campaign)}-progress"),
        )
        status = campaigns.campaign_status(store, campaign)
    finally:
        store.dispose()
    create_markdown_artifact(
        summary_markdown(status, totals),
        key=_artifact_key(campaign),
        description=f"Delivery summary of {campaign}",
    )
    create_table_artifact(summary_rows(status), key=f"{_artifact_key(campaign)}-outbox")
    return {"status": status.as_dict(), "this_run": asdict(totals)}


def _artifact_key(campaign: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "campaign-" + "".join(c if c.isalnum() else "-" for c in campaign.lower())[:60]


if __name__ == "__main__":
    notify_customers.serve(name="notify-customers")
