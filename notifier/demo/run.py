"""``notifier demo``: the whole job end to end on the embedded default.

A fresh SQLite store, a few thousand seeded customers (with bad records), an example incident, a local
SMTP server saving ``.eml`` files under ``var/outbox/`` and a Twilio stand-in, then the
``notify-customers`` Prefect flow, twice (the second run must send nothing), and a summary in
``var/demo-summary.json``."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from notifier.audience.importer import ImportReport, import_customers
from notifier.cli.output import import_report_table, manifest_tables, outbox_table, progress_bar
from notifier.config import Settings
from notifier.demo.seed import write_demo_csv
from notifier.notices import approval
from notifier.notices.incidents import load_incident_file
from notifier.notices.lint import Linter
from notifier.notices.proof import write_proofs
from notifier.notices.records import create_incident, incident_by_key
from notifier.orchestration import run_flow
from notifier.reports.delivery import write_delivery_report
from notifier.sending import campaigns
from notifier.store import Store
from notifier.store import queries as q
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

__all__ = ["run_demo"]

CAMPAIGN = "demo-2026-11-credential-leak"
INCIDENT_FILE = Path(__file__).with_name("incident.json")
UNKNOWN_IDS = ("CUST-9999991", "CUST-9999992", "CUST-9999993")
VAR_FILES = (
    "notifier.db",
    "notifier.db-wal",
    "notifier.db-shm",
    "demo-summary.json",
    "demo-import-report.txt",
)
VAR_DIRS = ("outbox", "reports", "proof")


@dataclass
class _Demo:
    var_dir: Path
    settings: Settings
    store: Store
    console: Console


def run_demo(var_dir: Path, *, customers: int = 3000, console: Console | None = None) -> dict[str, Any]:
    """Run the demo in ``var_dir`` (cleared of an earlier demo's files first); returns the summary."""
    started = time.monotonic()
    var_dir.mkdir(parents=True, exist_ok=True)
    for name in VAR_FILES:
        (var_dir / name).unlink(missing_ok=True)
    for name in VAR_DIRS:
        shutil.rmtree(var_dir / name, ignore_errors=True)
    settings = Settings.from_env(var_dir=var_dir, database_url=f"sqlite:///{var_dir / 'notifier.db'}")
    with Store(settings.database_url) as store:
        store.upgrade(settings.migrations_dir)
        demo = _Demo(var_dir, settings, store, console or Console())
        report, affected_ids, facts = _customers_and_incident(demo, customers)
        _legal_review(demo, facts["key"])
        runs = _notify(demo, facts["key"], affected_ids)
        summary = _summary(demo, customers, report, runs, time.monotonic() - started)
    return summary


def _customers_and_incident(demo: _Demo, customers: int) -> tuple[ImportReport, Path, dict[str, Any]]:
    demo.console.rule("[bold]1. Customers")
    population = write_demo_csv(demo.var_dir / "demo-customers.csv", customers)
    with progress_bar(demo.console, "importing customers", total=population.path.stat().st_size) as advance:
        report = import_customers(demo.store, population.path, progress=advance)
    problems = demo.var_dir / "demo-import-report.txt"
    problems.write_text("\n".join(map(str, report.issues)) + "\n", encoding="utf-8")
    demo.console.print(import_report_table(report, limit=12))
    demo.console.print(f"full list of row problems: {problems}", markup=False)

    demo.console.rule("[bold]2. Incident and affected customers")
    facts = load_incident_file(INCIDENT_FILE)
    create_incident(demo.store, demo.settings, facts, actor="demo")
    ids_file = demo.var_dir / "demo-affected-ids.txt"
    affected = [i for n, i in enumerate(population.external_ids) if n % 20 != 19] + list(UNKNOWN_IDS)
    ids_file.write_text("external_id\n" + "\n".join(affected) + "\n", encoding="utf-8")
    demo.console.print(
        f"incident {facts['key']!r}; {len(affected)} affected ids from forensics ({ids_file.name}), "
        f"{len(UNKNOWN_IDS)} of them unknown to the store",
        markup=False,
    )
    return report, ids_file, facts


def _legal_review(demo: _Demo, key: str) -> None:
    demo.console.rule("[bold]3. Legal review: lint, approve what customers read (four eyes, by content hash)")
    settings, store = demo.settings, demo.store
    incident = incident_by_key(store, settings, key)
    linter = Linter(settings.templates_dir, settings.locales_dir)
    findings = linter.run(incident=incident, notice="breach_notice")
    errors = sum(f.severity == "error" for f in findings)
    demo.console.print(
        f"templates lint of the first notice with incident {key}: {errors} errors, "
        f"{len(findings) - errors} warnings"
    )
    # Recording the incident made "demo" the editor of every piece; legal, someone else, approves those
    # of the first notice (an update notice needs the incident's update facts first: an edit).
    selected = approval.pieces(settings, incident, notice="breach_notice")
    recorded, refused = approval.approve(
        store,
        settings,
        incident,
        selected,
        approver="legal@example.com (demo)",
        role="legal",
        comment="demo approval",
    )
    demo.console.print(
        f"{len(recorded)} pieces of the first notice (language × channel × jurisdiction profile) approved, "
        f"{len(refused)} refused"
    )
    status = approval.statuses(store, settings, incident, with_lint=False)
    pages = write_proofs(linter, demo.var_dir / "proof", status, incident=incident)
    demo.console.print(f"proof sheets for legal: {', '.join(str(p) for p in pages)}", markup=False)


def _notify(demo: _Demo, incident: str, affected_ids: Path) -> dict[str, Any]:
    demo.console.rule("[bold]4. Notify (Prefect flow notify-customers)")
    with SmtpStandin(save_dir=demo.var_dir / "outbox") as smtp, TwilioStandin() as twilio:
        settings = replace(demo.settings, email_url=smtp.url, sms_url=twilio.url)
        first = run_flow(
            "notify-customers",
            settings,
            campaign=CAMPAIGN,
            incident=incident,
            affected_ids=str(affected_ids),
            urgent="demo: local stand-ins, runs at any hour",
            actor="demo",
        )
        demo.console.rule("[bold]5. The same campaign again: nothing may be sent twice")
        second = run_flow("notify-customers", settings, campaign=CAMPAIGN, actor="demo")
        return {
            "first": first,
            "second": second,
            "smtp_received": len(smtp.received),
            "sms_received": len(twilio.messages),
        }


def _summary(
    demo: _Demo, customers: int, report: ImportReport, runs: dict[str, Any], seconds: float
) -> dict[str, Any]:
    status = campaigns.campaign_status(demo.store, CAMPAIGN)
    eml_files = len(list((demo.var_dir / "outbox").glob("*.eml")))
    with demo.store.connect() as conn:
        rows = q.delivery_report_rows(conn, campaigns.get_campaign(demo.store, CAMPAIGN).id)
        csv_path, html_path = write_delivery_report(rows, demo.var_dir / "reports", CAMPAIGN)
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
        "smtp_messages_received": runs["smtp_received"],
        "twilio_messages_received": runs["sms_received"],
        "first_run": runs["first"]["this_run"],
        "second_run": runs["second"]["this_run"],
        "reports": {"csv": str(csv_path), "html": str(html_path)},
        "seconds": round(seconds, 1),
    }
    path = demo.var_dir / "demo-summary.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    console = demo.console
    console.rule("[bold]Summary")
    for table in manifest_tables(status.manifest):
        console.print(table)
    console.print(outbox_table(status))
    console.print(
        f"email: {summary['emails_accepted']} accepted, {eml_files} .eml files in {demo.var_dir / 'outbox'}; "
        f"SMS: {summary['sms_accepted']} accepted, {runs['sms_received']} received by the Twilio stand-in",
        markup=False,
    )
    console.print(f"second run sent {summary['second_run']['accepted']} messages (must be 0)")
    console.print(f"delivery report: {html_path} and {csv_path.name}; summary: {path}", markup=False)
    console.print(f"done in {summary['seconds']} s")
    return summary
