"""The ``reconcile`` flow (scheduled in prefect.yaml): settle, for every launched campaign with something
left open, what the tracking loop could not (``notifier.tracking.reconcile``): uncertain rows by policy,
silent SMS asked of Twilio, released fallbacks sent, and SMS with no report as ``no_receipt`` once the
campaign's tracking window has closed; then seal what was written since into the hash chains. One table
artifact per run says what each campaign got."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.tasks import cancelled_by_prefect
from notifier import stopping
from notifier.config import Settings
from notifier.reports.integrity import seal_all
from notifier.store import Store
from notifier.tracking.reconcile import campaigns_to_reconcile, reconcile


@flow(name="reconcile")
def reconcile_campaigns(
    silent_after_minutes: float = 30.0, actor: str = "prefect-reconcile"
) -> dict[str, Any]:
    settings = Settings.from_env()
    rows: list[dict[str, Any]] = []
    with (
        Store(settings.database_url) as store,
        stopping.on_signals(settings.stop_seconds, say=print, pass_on=cancelled_by_prefect),
    ):
        for name in campaigns_to_reconcile(store):
            if stopping.requested():
                break  # a graceful stop: the campaigns reconciled so far are; the rest wait for the next run
            done = reconcile(
                store, settings, name, actor=actor, silent_after=timedelta(minutes=silent_after_minutes)
            )
            rows.append(
                {
                    "campaign": name,
                    "uncertain settled": sum(done.uncertain_settled.values()),
                    "silent SMS asked": done.silent_asked,
                    "silent SMS settled": done.silent_settled,
                    "sent": done.sent.accepted,
                    "not sent because": done.send_refused or "",
                    "no_receipt": done.no_receipt,
                }
            )
        # What the senders and the tracking service wrote since the last run joins the hash chains.
        sealed = seal_all(store)
    create_table_artifact(rows or [{"campaign": "(none with anything to settle)"}], key="reconcile")
    return {"campaigns": rows, "sealed": sealed}


if __name__ == "__main__":
    reconcile_campaigns.serve(name="reconcile")
