"""``notifier demo``: the whole job end to end on the embedded default.

A fresh SQLite store, a few thousand seeded customers (with bad records), an example incident, a local
SMTP server saving ``.eml`` files under ``var/outbox/`` and a Twilio stand-in, then the
``notify-customers`` Prefect flow, twice (the second run must send nothing), and a summary in
``var/demo-summary.json``."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from notifier.audience.importer import import_customers
from notifier.cli.output import import_report_table, manifest_tables, outbox_table, progress_bar
from notifier.config import Settings
from notifier.demo.seed import write_demo_csv
from notifier.notices import approval
from notifier.notices.lint import Linter
from notifier.notices.proof import write_proofs
from notifier.sending import campaigns
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

__all__ = ["run_demo"]

CAMPAIGN = "demo-2026-11-credential-leak"
INCIDENT_FILE = Path(__file__).with_name("incident.json")
UNKNOWN_IDS = ("CUST-9999991", "CUST-9999992", "CUST-9999993")


def _fresh_var(var_dir: Path) -> None:
    for name in (
        "notifier.db",
        "notifier.db-wal",
        "notifier.db-shm",
        "demo-summary.json",
        "demo-import-report.txt",
    ):
        (var_dir / name).unlink(missing_ok=True)
    shutil.rmtree(var_dir / "outbox", ignore_errors=True)
    shutil.rmtree(var_dir / "reports", ignore_errors=True)
    shutil.rmtree(var_dir / "proof", ignore_errors=True)


def run_demo(var_dir: Path, *, customers: int = 3000, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    started = time.monotonic()
    var_dir.mkdir(parents=True, exist_ok=True)
    _fresh_var(var_dir)
    settings = Settings.from_env(var_dir=var_dir, database_url=f"sqlite:///{var_dir / 'notifier.db'}")
    store = Store(settings.database_url)
    store.upgrade(settings.migrations_dir)
    console.rule("[bold]1. Customers")
    population = write_demo_csv(var_dir / "demo-customers.csv", customers)
    with progress_bar(console, "importing customers", total=population.path.stat().st_size) as advance:
        report = import_customers(store, population.path, progress=advance)
    (var_dir / "demo-import-report.txt").write_text(
        "\n".join(map(str, report.issues)) + "\n", encoding="utf-8"
    )
    console.print(import_report_table(report, limit=12))
    console.print(f"full list of row problems: {var_dir / 'demo-import-report.txt'}")

    console.rule("[bold]2. Incident and affected customers")
    facts = campaigns.load_incident_file(INCIDENT_FILE)
    campaigns.create_incident(store, settings, facts, actor="demo")
    ids_file = var_dir / "demo-affected-ids.txt"
    affected = [i for n, i in enumerate(population.external_ids) if n % 20 != 19] + list(UNKNOWN_IDS)
    ids_file.write_text("external_id\n" + "\n".join(affected) + "\n", encoding="utf-8")
    console.print(
        f"incident {facts['key']!r}; {len(affected)} affected ids from forensics ({ids_file.name}), "
        f"{len(UNKNOWN_IDS)} of them unknown to the store"
    )

    console.rule("[bold]3. Legal review: lint, submit, approve (four eyes, by content hash)")
    findings = Linter(settings.templates_dir, settings.locales_dir).run()
    console.print(
        f"templates lint: {sum(f.severity == 'error' for f in findings)} errors, "
        f"{sum(f.severity == 'warning' for f in findings)} warnings"
    )
    selected = approval.pieces(settings)
    approval.submit(store, settings, selected, author="comms@example.com (demo)")
    recorded, refused = approval.approve(
        store, settings, selected, approver="legal@example.com (demo)", role="legal", comment="demo approval"
    )
    console.print(f"{len(recorded)} notice pieces approved, {len(refused)} refused")
    pages = write_proofs(
        Linter(settings.templates_dir, settings.locales_dir),
        var_dir / "proof",
        approval.statuses(store, settings, with_lint=False),
    )
    console.print(f"proof sheets for legal: {', '.join(str(p) for p in pages)}")

    console.rule("[bold]4. Notify (Prefect flow notify-customers)")
    with SmtpStandin(save_dir=var_dir / "outbox") as smtp, TwilioStandin() as twilio:
        os.environ.update(
            NOTIFIER_DATABASE_URL=settings.database_url,
            NOTIFIER_EMAIL_URL=smtp.url,
            NOTIFIER_SMS_URL=twilio.url,
            NOTIFIER_VAR_DIR=str(var_dir),
        )
        from flows.notify_customers import notify_customers  # imports Prefect: after the env is set

        first = notify_customers(
            campaign=CAMPAIGN,
            incident=facts["key"],
            affected_ids=str(ids_file),
            urgent="demo: local stand-ins, runs at any hour",
            actor="demo",
        )
        console.rule("[bold]5. The same campaign again: nothing may be sent twice")
        second = notify_customers(campaign=CAMPAIGN, actor="demo")
        emails_received, sms_received = len(smtp.received), len(twilio.messages)

    status = campaigns.campaign_status(store, CAMPAIGN)
    eml_files = len(list((var_dir / "outbox").glob("*.eml")))
    with store.connect() as conn:
        from notifier.reports.delivery import write_delivery_report
        from notifier.store import queries as q

        csv_path, html_path = write_delivery_report(
            q.delivery_report_rows(conn, campaigns.get_campaign(store, CAMPAIGN).id),
            var_dir / "reports",
            CAMPAIGN,
        )
    summary = {
        "campaign": CAMPAIGN,
        "customers_in_file": customers,
        "import": {
            "rows": report.rows,
            "imported": report.imported,
            "rejected": report.rejected,
            "rows_with_warnings": len({i.line for i in report.issues if not i.rejected}),
        },
        "manifest": status.manifest,
        "outbox": status.outbox,
        "emails_accepted": status.outbox.get("email", {}).get("accepted", 0),
        "sms_accepted": status.outbox.get("sms", {}).get("accepted", 0),
        "eml_files": eml_files,
        "smtp_messages_received": emails_received,
        "twilio_messages_received": sms_received,
        "first_run": first["this_run"],
        "second_run": second["this_run"],
        "reports": {"csv": str(csv_path), "html": str(html_path)},
        "seconds": round(time.monotonic() - started, 1),
    }
    (var_dir / "demo-summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    console.rule("[bold]Summary")
    for table in manifest_tables(status.manifest):
        console.print(table)
    console.print(outbox_table(status))
    console.print(
        f"email: {summary['emails_accepted']} accepted, {eml_files} .eml files in {var_dir / 'outbox'}; "
        f"SMS: {summary['sms_accepted']} accepted, {sms_received} received by the Twilio stand-in"
    )
    console.print(f"second run sent {second['this_run']['accepted']} messages (must be 0)")
    console.print(
        f"delivery report: {html_path} and {csv_path.name}; summary: {var_dir / 'demo-summary.json'}"
    )
    console.print(f"done in {summary['seconds']} s")
    store.dispose()
    return summary
