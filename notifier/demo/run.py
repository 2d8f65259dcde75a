"""``notifier demo``: the whole job end to end on the embedded default.

A fresh SQLite store, a few thousand seeded customers (with bad records), an example incident, a local
SMTP server saving ``.eml`` files under ``var/outbox/``, a Twilio stand-in and the tracking service, then
the ``notify-customers`` Prefect flow (email first, SMS where email cannot be used or fails), twice (the
second run must send nothing). Then what comes back: Twilio's status callbacks (some delivered, some
undelivered, a few never arriving), real DSNs to the bounce receiver, «СТОП» and a question by SMS, an
email reply and an out-of-office answer; reconciliation settles the rest. A summary of everything is in
``var/demo-summary.json``."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import shutil
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
from rich.console import Console
from sqlalchemy import Connection

from notifier.accounts.users import add_user
from notifier.audience.importer import ImportReport, import_customers
from notifier.audience.saved import save_selection
from notifier.cli.output import data_table, import_report_table, manifest_tables, outbox_table, progress_bar
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.demo.seed import write_demo_csv
from notifier.models import SelectionSource
from notifier.notices import approval
from notifier.notices.incidents import load_incident_file
from notifier.notices.lint import Linter
from notifier.notices.proof import write_proofs
from notifier.notices.records import create_incident, incident_by_key
from notifier.orchestration import run_flow
from notifier.redact import mask_contact
from notifier.reports.delivery import write_delivery_report
from notifier.reports.evidence import write_evidence_pack
from notifier.reports.integrity import verify_all
from notifier.sending import campaigns
from notifier.store import Store
from notifier.store import queries as q
from notifier.testing import mail
from notifier.testing.serving import served
from notifier.testing.smtp import SmtpStandin, free_port
from notifier.testing.twilio import TwilioStandin
from notifier.tracking.app import tracking_app
from notifier.tracking.bounces.intake import BounceReceiver
from notifier.tracking.letters import apply_vendor_file
from notifier.tracking.mailbox import apply_saved_message
from notifier.tracking.reconcile import reconcile

__all__ = ["run_demo"]

CAMPAIGN = "demo-2026-11-credential-leak"
INCIDENT_FILE = Path(__file__).with_name("incident.json")
MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)")
DAY = re.compile(r"\d{4}-\d\d-\d\d")
UNKNOWN_IDS = ("CUST-9999991", "CUST-9999992", "CUST-9999993")
VAR_FILES = (
    "notifier.db",
    "notifier.db-wal",
    "notifier.db-shm",
    "demo-summary.json",
    "demo-import-report.txt",
)
VAR_DIRS = ("outbox", "reports", "proof", "inbox", "evidence", "letters")
RETURNED = 2  # letters the demo's print vendor reports returned by the post
BOUNCE_DOMAIN = "bounces.example.com"  # the SMTP stand-in's channel URL says so
BOUNCES = 5
# How the Twilio stand-in's messages end, and how many of their callbacks never reach us.
SMS_OUTCOMES = {"delivered": 0.8, "undelivered": 0.15, "failed": 0.05}
CALLBACKS_LOST = 0.1


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
    settings = Settings.from_env(
        var_dir=var_dir,
        database_url=f"sqlite:///{var_dir / 'notifier.db'}",
        letter_url=f"printfile://{var_dir / 'letters'}?batch=500",
    )
    with Store(settings.database_url) as store:
        store.upgrade(settings.migrations_dir)
        demo = _Demo(var_dir, settings, store, console or Console())
        _people(demo)
        report, affected_ids, facts = _customers_and_incident(demo, customers)
        _legal_review(demo, facts["key"])
        runs = _notify(demo, facts["key"], affected_ids)
        summary = _summary(demo, customers, report, runs, time.monotonic() - started)
    return summary


# The people of the demo, one per role, for the console (`notifier demo` prints these; demo only).
PEOPLE = {"ada": "admin", "casey": "comms", "lee": "legal", "sam": "support", "val": "viewer"}
COMMS, LEGAL = "casey", "lee"


def demo_password(username: str) -> str:
    """The demo's password of one of its people (printed by `notifier demo`; a demo has nothing to hide)."""
    return f"{PEOPLE[username]} demo passphrase"


def _people(demo: _Demo) -> None:
    for username, role in PEOPLE.items():
        add_user(
            demo.store,
            username,
            display_name=f"{username.title()} ({role}, demo)",
            roles=[role],
            password=demo_password(username),
            actor="demo",
        )


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
    facts = discovered_hours_ago(load_incident_file(INCIDENT_FILE), hours=20)
    create_incident(demo.store, demo.settings, facts, actor=COMMS)
    ids_file = demo.var_dir / "demo-affected-ids.txt"
    affected = [i for n, i in enumerate(population.external_ids) if n % 20 != 19] + list(UNKNOWN_IDS)
    ids_file.write_text("external_id\n" + "\n".join(affected) + "\n", encoding="utf-8")
    # A query kept under a name, as a data team would save one: the console's planning page offers it.
    save_selection(
        demo.store,
        name="vietnam-residents",
        query="SELECT external_id FROM customers WHERE country = 'VN'",
        description="every customer whose address is in Vietnam (for a Vietnam-only follow-up)",
        source=SelectionSource.STORE,
        actor=COMMS,
    )
    demo.console.print(
        f"incident {facts['key']!r}; {len(affected)} affected ids from forensics ({ids_file.name}), "
        f"{len(UNKNOWN_IDS)} of them unknown to the store",
        markup=False,
    )
    return report, ids_file, facts


def discovered_hours_ago(facts: dict[str, Any], *, hours: int) -> dict[str, Any]:
    """The demo incident moved in time as a whole, so that it was discovered ``hours`` before this run:
    its deadlines then count down as on a real first day, whenever the demo runs (every date and
    date-time of the facts moves by the same span; a date by whole days)."""
    discovered = datetime.fromisoformat(facts["discovered_at"])
    shift = timedelta(minutes=round((utcnow() - timedelta(hours=hours) - discovered).total_seconds() / 60))

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        if isinstance(value, str) and MOMENT.fullmatch(value):
            return (datetime.fromisoformat(value) + shift).isoformat()
        if isinstance(value, str) and DAY.fullmatch(value):
            return (date.fromisoformat(value) + timedelta(days=round(shift / timedelta(days=1)))).isoformat()
        return value

    return {k: (v if k == "key" else moved(v)) for k, v in facts.items()}


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
    # Recording the incident made casey (comms) the editor of every piece; lee (legal) approves those
    # of the first notice (an update notice needs the incident's update facts first: an edit).
    selected = approval.pieces(settings, incident, notice="breach_notice")
    recorded, refused = approval.approve(
        store,
        settings,
        incident,
        selected,
        approver=LEGAL,
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
    demo.console.rule("[bold]4. Notify (Prefect flow notify-customers, email first)")
    twilio = TwilioStandin(callback_outcomes=SMS_OUTCOMES, callbacks_lost=CALLBACKS_LOST)
    with SmtpStandin(save_dir=demo.var_dir / "outbox") as smtp, twilio:
        port = free_port()
        app = tracking_app(
            demo.store,
            auth_token=twilio.auth_token,
            public_base_url=f"http://127.0.0.1:{port}",  # what the stand-in calls and signs
            templates_dir=demo.settings.templates_dir,
        )
        with served(app, port) as base:
            sms_url = f"{twilio.url}&status_callback={base}/twilio/status"
            settings = replace(demo.settings, email_url=smtp.url, sms_url=sms_url)
            first = run_flow(
                "notify-customers",
                settings,
                campaign=CAMPAIGN,
                incident=incident,
                affected_ids=str(affected_ids),
                channels=["email", "sms", "letter"],
                policy="email-first",
                urgent="demo: local stand-ins, runs at any hour",
                actor=COMMS,
            )
            demo.console.rule("[bold]5. The same campaign again: nothing may be sent twice")
            second = run_flow("notify-customers", settings, campaign=CAMPAIGN, actor=COMMS)
            twilio.settle()
            _what_comes_back(demo, settings, smtp, twilio, base)
            twilio.settle()
            _letters_come_back(demo)
        return {
            "first": first,
            "second": second,
            "smtp_received": len(smtp.received),
            "sms_received": len(twilio.messages),
        }


def _what_comes_back(
    demo: _Demo, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, base: str
) -> None:
    console = demo.console
    console.rule("[bold]6. What comes back: callbacks, bounces, STOP, replies; then reconciliation")
    lost = sum(1 for m in twilio.messages) - len({c["to"] for c in twilio.callbacks_posted})
    console.print(
        f"Twilio posted {len(twilio.callbacks_posted)} signed status callbacks to {base}/twilio/status; "
        f"the callbacks of {lost} messages never arrived",
        markup=False,
    )
    # Emails that bounce: customers who also have a mobile, so that their SMS, waiting as the fallback,
    # goes out; two of them then answer by SMS, in Russian and in Vietnamese.
    by_address = {m.recipients[0]: m for m in smtp.received}
    with demo.store.connect() as conn:
        readers = sorted(
            q.sample_manifest(conn, campaigns.get_campaign(demo.store, CAMPAIGN).id, 10**7),
            key=lambda r: r.external_id,
        )
    with_fallback = [r for r in readers if r.sms_reason == "policy" and r.email in by_address]
    chosen = [next(r for r in with_fallback if r.notice_locale.startswith(lang)) for lang in ("ru", "vi")]
    chosen += [r for r in with_fallback if r not in chosen][: BOUNCES - len(chosen)]
    with BounceReceiver(demo.store, BOUNCE_DOMAIN, port=free_port()) as receiver:
        for reader in chosen:
            one = by_address[reader.email or ""]
            report = mail.dsn(one, status="5.1.1", diagnostic="550 5.1.1 The email account does not exist")
            asyncio.run(_deliver(receiver.port, report, one.envelope_from))
    console.print(f"{len(chosen)} delivery status notifications (5.1.1) to the bounce receiver", markup=False)
    done = reconcile(demo.store, settings, CAMPAIGN, actor=COMMS, silent_after=timedelta(0))
    closes = f"{done.window_closes:%Y-%m-%d %H:%M} UTC" if done.window_closes else "when it completes"
    console.print(
        f"reconciliation: {done.silent_settled} of {done.silent_asked} silent SMS settled by asking Twilio, "
        f"{done.sent.accepted} fallback messages sent; the tracking window closes {closes}",
        markup=False,
    )
    twilio.settle()
    for reader, text in ((chosen[0], "СТОП"), (chosen[1], "Tôi có cần đổi mật khẩu không?")):
        answer = twilio.text_in(f"{base}/twilio/inbound", sender=reader.phone or "", body=text)
        console.print(
            f"SMS from {mask_contact(reader.phone)}: {text!r} → HTTP {answer.status_code}", markup=False
        )
    inbox = demo.var_dir / "inbox"
    inbox.mkdir(exist_ok=True)
    others = [by_address[a] for a in sorted(by_address) if a not in {r.email for r in chosen}]
    saved = {
        "reply.eml": mail.reply(others[0], "Do I also need to change the password I use in your mobile app?"),
        "vacation.eml": mail.vacation_reply(others[1]),
    }
    for name, raw in saved.items():
        (inbox / name).write_bytes(raw)
        taken = apply_saved_message(demo.store, raw, bounce_domain=BOUNCE_DOMAIN)
        console.print(f"{inbox / name} (as `notifier track mail-files` reads it): {taken}", markup=False)
    later = reconcile(demo.store, settings, CAMPAIGN, actor=COMMS, silent_after=timedelta(0))
    console.print(
        f"reconciliation again, as its schedule would run it: {later.silent_settled} of {later.silent_asked} "
        "silent SMS settled (the fallbacks' callbacks that never came)",
        markup=False,
    )


def _letters_come_back(demo: _Demo) -> None:
    """The print vendor's file: every letter of the sealed batches mailed, and a few returned."""
    letters = demo.var_dir / "letters"
    references = []
    for manifest in sorted((letters / "batches").glob("*/manifest.csv")):
        with manifest.open(encoding="utf-8", newline="") as handle:
            references += [row["reference"] for row in csv.DictReader(handle)]
    if not references:
        return
    vendor = letters / "vendor-mailed-returned.csv"
    with vendor.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["reference", "status", "date", "reason"])
        today = utcnow().date().isoformat()
        out.writerows([ref, "mailed", today, ""] for ref in references)
        out.writerows([ref, "returned", today, "addressee unknown"] for ref in references[:RETURNED])
    done = apply_vendor_file(demo.store, vendor, actor=COMMS)
    demo.console.print(
        f"{len(references)} letters in {letters / 'batches'} (merged PDFs, manifest, SHA256SUMS); "
        f"the print vendor's file {vendor}: {done.summary()}",
        markup=False,
    )


async def _deliver(port: int, raw: bytes, to: str) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        await client.sendmail("", [to], raw)  # the null sender <>, as every bounce has


def _tracking(conn: Connection, campaign_id: int, outbox: dict[str, dict[str, int]]) -> dict[str, int]:
    """What came back for the campaign, from the store: final states, fallbacks, opt-outs, replies."""
    came_back = q.what_came_back(conn, campaign_id)
    final: dict[str, int] = {}
    for states in outbox.values():
        for state, n in states.items():
            final[state] = final.get(state, 0) + n
    return {
        "delivered": final.get("delivered", 0),
        "accepted_no_report_yet": final.get("accepted", 0),
        "bounced": final.get("bounced", 0),
        "undelivered": final.get("undelivered", 0) + final.get("failed", 0),
        "fell_back": came_back.get("fallbacks_released", 0),
        "opted_out": came_back.get("opted_out", 0),
        "sms_suppressed": final.get("suppressed", 0),
        "replies_awaiting_support": came_back.get("replies_open", 0),
        "auto_replies": came_back.get("auto_replied", 0),
        "callback_events": sum(came_back.get(k, 0) for k in ("sent", "delivered", "undelivered", "failed")),
        "not_reached": q.not_reached_count(conn, campaign_id),
    }


def _bounced_example(demo: _Demo) -> str:
    """A customer worth looking up: their email bounced and SMS took over."""
    with demo.store.connect() as conn:
        return q.bounced_example(conn) or "CUST-0000001"


def _summary(
    demo: _Demo, customers: int, report: ImportReport, runs: dict[str, Any], seconds: float
) -> dict[str, Any]:
    status = campaigns.campaign_status(demo.store, CAMPAIGN)
    eml_files = len(list((demo.var_dir / "outbox").glob("*.eml")))
    campaign_id = campaigns.get_campaign(demo.store, CAMPAIGN).id
    paths = write_delivery_report(
        demo.store,
        CAMPAIGN,
        demo.var_dir / "reports",
        formats=("html", "csv", "json"),
        actor=COMMS,
        settings=demo.settings,
    )
    csv_path, html_path = paths["csv"], paths["html"]
    incident_key = str(campaigns.get_campaign(demo.store, CAMPAIGN).facts["key"])
    pack = write_evidence_pack(
        demo.store, demo.settings, incident_key, demo.var_dir / "evidence", actor=LEGAL
    )
    chains = {c.chain: (c.verified, str(c.broken) if c.broken else "ok") for c in verify_all(demo.store)}
    with demo.store.connect() as conn:
        taken = q.handed_over(conn, campaign_id)
        tracking = _tracking(conn, campaign_id, status.outbox)
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
        # Taken by the provider (our SMTP server, the Twilio stand-in), whatever became of them after.
        "emails_accepted": taken.get("email", 0),
        "sms_accepted": taken.get("sms", 0),
        "letters_accepted": taken.get("letter", 0),
        "eml_files": eml_files,
        "smtp_messages_received": runs["smtp_received"],
        "twilio_messages_received": runs["sms_received"],
        "first_run": runs["first"]["this_run"],
        "second_run": runs["second"]["this_run"],
        "tracking": tracking,
        "reports": {"csv": str(csv_path), "html": str(html_path), "json": str(paths["json"])},
        "evidence": {"index": str(pack.directory / "index.html"), "files": len(pack.files) + 1},
        "chains": {chain: {"verified_links": n, "result": result} for chain, (n, result) in chains.items()},
        "seconds": round(seconds, 1),
        "people": PEOPLE,
    }
    path = demo.var_dir / "demo-summary.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    console = demo.console
    console.rule("[bold]Summary")
    for table in manifest_tables(status.manifest):
        console.print(table)
    console.print(outbox_table(status))
    labels = {
        "delivered": "delivered (confirmed by Twilio)",
        "accepted_no_report_yet": "accepted, no report yet (email has none)",
        "bounced": "bounced",
        "undelivered": "undelivered or failed",
        "fell_back": "fell back to the other channel",
        "opted_out": "opted out by SMS (STOP)",
        "sms_suppressed": "SMS rows suppressed",
        "replies_awaiting_support": "replies awaiting support",
        "auto_replies": "auto-replies (recorded, not queued)",
        "callback_events": "status events recorded",
        "not_reached": "customers not reached on any channel",
    }
    console.print(data_table("What came back", ("", "count"), ((labels[k], v) for k, v in tracking.items())))
    console.print(
        f"email: {summary['emails_accepted']} accepted, {eml_files} .eml files in {demo.var_dir / 'outbox'}; "
        f"SMS: {summary['sms_accepted']} accepted, {runs['sms_received']} received by the Twilio stand-in",
        markup=False,
    )
    console.print(f"second run sent {summary['second_run']['accepted']} messages (must be 0)")
    console.print(f"delivery report: {html_path} and {csv_path.name}; summary: {path}", markup=False)
    console.print(
        f"evidence pack: {pack.directory / 'index.html'} ({len(pack.files) + 1} files, "
        "MANIFEST.sha256); "
        "hash chains: " + ", ".join(f"{c} {n:,} links {r}" for c, (n, r) in chains.items()),
        markup=False,
    )
    console.print(
        f"next: notifier customer show {_bounced_example(demo)} · "
        f"notifier incident deadlines {incident_key} · "
        "notifier audit verify (with NOTIFIER_DATABASE_URL=sqlite:///"
        + str(demo.var_dir / "notifier.db")
        + ")",
        markup=False,
    )
    console.print(f"done in {summary['seconds']} s")
    return summary
