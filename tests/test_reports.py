"""The delivery report, summary first: every number agrees with the store, the charts show the campaign's
real timeline, the HTML is one self-contained file with customer data as text, the CSV streams every
message with contacts masked, and a reveal shows them only with a reason, in the audit log."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, sign_in
from sqlalchemy import func, select
from test_tracking import _wait_for, serving_at
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.config import Settings
from notifier.models import Channel, ChannelPolicy
from notifier.reports.delivery import Reveal, build_report, write_delivery_report
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import audit_log, delivery_events, manifest, outbox
from notifier.testing.smtp import free_port
from notifier.testing.twilio import TwilioStandin
from notifier.tracking.app import tracking_app

runner = CliRunner()
CAMPAIGN = "test-campaign"
EVIL_NAME = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def finished(store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path) -> Settings:
    """A campaign with every kind of ending: SMS delivered, undelivered and failed by Twilio's callbacks,
    email accepted, customers with no usable channel, an affected id the store does not know."""
    twilio.callback_outcomes = {"delivered": 0.5, "undelivered": 0.3, "failed": 0.2}
    rows = [customer(n) for n in range(1, 31)]
    rows += [customer(31, email="", phone="", name=EVIL_NAME), customer(32, email="", phone="")]
    planned_campaign(store, settings, tmp_path, rows, policy=ChannelPolicy.ALL, extra_ids=("NOT-IN-STORE-1",))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = tracking_app(
        store, auth_token=twilio.auth_token, public_base_url=base, templates_dir=settings.templates_dir
    )
    with serving_at(app, port):
        sms = replace(settings, sms_url=f"{twilio.url}&status_callback={base}/twilio/status")
        launch(store, sms, CAMPAIGN, actor="tester")
        _wait_for(lambda: len(twilio.callbacks_posted) >= 30 * 2)
    return settings


def _store_truth(store: Store) -> dict[str, object]:
    """The same numbers, counted here straight from the tables (not through the report's queries)."""
    with store.connect() as conn:
        per_customer: dict[str, set[str]] = {}
        for external_id, state in conn.execute(
            select(manifest.c.external_id, outbox.c.state).select_from(
                manifest.outerjoin(outbox, outbox.c.manifest_id == manifest.c.id)
            )
        ):
            per_customer.setdefault(external_id, set()).add(state)
        by_channel_state = Counter((c, s) for c, s in conn.execute(select(outbox.c.channel, outbox.c.state)))
        accepted_events = conn.execute(
            select(func.count()).select_from(delivery_events).where(delivery_events.c.to_state == "accepted")
        ).scalar_one()
    reached = {c for c, states in per_customer.items() if states & {"accepted", "delivered"}}
    return {
        "customers": len(per_customer),
        "reached": len(reached),
        "not_reached": len(per_customer) - len(reached),
        "by_channel_state": by_channel_state,
        "accepted_events": accepted_events,
    }


def test_every_number_agrees_with_the_store(store: Store, finished: Settings) -> None:
    truth = _store_truth(store)
    report = build_report(store, CAMPAIGN)
    h = report.headline
    assert h["customers"] == truth["customers"] == 33
    assert h["reached"] == truth["reached"]
    assert h["not_reached"] + h["in_progress"] == truth["not_reached"]
    assert h["in_progress"] == 0  # everything was handed over and SMS settled by callbacks
    by_channel_state = truth["by_channel_state"]
    assert isinstance(by_channel_state, Counter)
    assert sum(r["count"] for r in report.breakdown if r["channel"] != "none") == sum(
        by_channel_state.values()
    )
    for (channel, state), n in by_channel_state.items():
        assert (
            sum(r["count"] for r in report.breakdown if (r["channel"], r["state"]) == (channel, state)) == n
        )
    assert (
        report.by_channel["sms"]["failed"]
        == by_channel_state[("sms", "undelivered")] + by_channel_state[("sms", "failed")]
    )
    assert sum(report.timeline["sent"].values()) == truth["accepted_events"]
    assert sum(report.timeline["delivered"].values()) == by_channel_state[("sms", "delivered")]
    assert sum(report.timeline["failed"].values()) == report.by_channel["sms"]["failed"]
    assert {line.external_id for line in report.not_reached} >= {
        "C00031",
        "C00032",
        "NOT-IN-STORE-1",
    }
    assert len(report.not_reached) == report.not_reached_total == h["not_reached"]
    sms_failures = sum(r["count"] for r in report.reasons if r["channel"] == "sms")
    assert sms_failures == report.by_channel["sms"]["failed"]
    assert all(re.fullmatch(r"\d{5}|-", r["reason"]) for r in report.reasons if r["channel"] == "sms")
    assert sum(sum(j.values()) for j in report.by_jurisdiction.values()) == h["customers"]


def test_the_html_is_one_self_contained_file_summary_first_with_charts(
    store: Store, finished: Settings, tmp_path: Path
) -> None:
    paths = write_delivery_report(store, CAMPAIGN, tmp_path, formats=("html", "csv", "json"), actor="support")
    html = paths["html"].read_text(encoding="utf-8")
    assert html.index('id="summary"') < html.index('id="charts"') < html.index('id="not-reached"')
    assert html.count("<svg") == 3 and 'role="img"' in html
    assert "<script" not in html.replace("&lt;script", "")  # no script at all, customer names included
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []  # nothing fetched from anywhere
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html  # the name is shown as text
    assert "@example" not in html or re.search(r"\w\*\*\*@example", html)  # masked addresses only
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["headline"] == build_report(store, CAMPAIGN).headline
    with store.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "report.written")).one()
    assert entry.actor == "support" and entry.detail["formats"] == ["csv", "html", "json"]


def test_the_csv_has_every_message_once_with_contacts_masked(
    store: Store, finished: Settings, tmp_path: Path
) -> None:
    paths = write_delivery_report(store, CAMPAIGN, tmp_path, formats=("csv",))
    with paths["csv"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with store.connect() as conn:
        messages = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    assert len([r for r in rows if r["channel"]]) == messages
    assert {r["external_id"] for r in rows if not r["channel"]} == {
        "C00031",
        "C00032",
        "NOT-IN-STORE-1",
    }
    contacts = [r["contact"] for r in rows if r["channel"]]
    assert contacts and all("***" in c for c in contacts)
    delivered = [r for r in rows if r["state"] == "delivered"]
    assert delivered and all(r["sent_at"] and r["delivered_at"] and r["content_hash"] for r in delivered)
    assert {r["reached"] for r in rows if r["state"] in ("undelivered", "failed")} == {"no"}


def test_a_reveal_needs_a_reason_and_is_audited(
    store: Store, finished: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = finished.database_url
    tmp_path = tmp_path / "reports"
    sign_in(store, monkeypatch, "viewer")
    viewer = runner.invoke(
        cli,
        [
            "campaign",
            "report",
            CAMPAIGN,
            "--reveal",
            "--reason",
            "x",
            "--out",
            str(tmp_path),
            "--database-url",
            url,
        ],
    )
    assert viewer.exit_code == 1 and "may not contacts.reveal" in viewer.output
    sign_in(store, monkeypatch, "support", username="sam")
    refused = runner.invoke(
        cli, ["campaign", "report", CAMPAIGN, "--reveal", "--out", str(tmp_path), "--database-url", url]
    )
    assert refused.exit_code == 1 and "--reason" in refused.output and "Traceback" not in refused.output
    assert not list(tmp_path.glob("*.csv"))
    shown = runner.invoke(
        cli,
        [
            "campaign",
            "report",
            CAMPAIGN,
            "--reveal",
            "--reason",
            "ticket 4711: customer asks which address",
            "--out",
            str(tmp_path),
            "--database-url",
            url,
        ],
    )
    assert shown.exit_code == 0, shown.output
    text = (tmp_path / f"{CAMPAIGN}-delivery.csv").read_text(encoding="utf-8")
    assert "c1@example.com" in text or re.search(r"[a-z0-9.]+@example\.\w+", text)
    assert "Contacts are shown in full" in (tmp_path / f"{CAMPAIGN}-delivery.html").read_text(
        encoding="utf-8"
    )
    with store.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "contacts.revealed")).one()
    assert entry.actor == "sam" and entry.detail["reason"] == "ticket 4711: customer asks which address"
    bad = runner.invoke(cli, ["campaign", "report", CAMPAIGN, "--format", "pdf", "--database-url", url])
    assert bad.exit_code == 1 and "'pdf'" in bad.output


def test_a_report_of_a_campaign_with_nothing_sent_yet_still_reads(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(1), customer(2)], channels=frozenset({Channel.EMAIL})
    )
    report = build_report(store, CAMPAIGN)
    assert report.headline["in_progress"] == 2 and report.timeline == {
        "sent": {},
        "delivered": {},
        "failed": {},
    }
    paths = write_delivery_report(store, CAMPAIGN, tmp_path / "r", formats=("html",), reveal=Reveal("x", "y"))
    assert "<svg" in paths["html"].read_text(encoding="utf-8")


def test_the_report_and_campaign_status_show_the_deadlines_countdown(
    store: Store, finished: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(store, monkeypatch, "viewer")
    from notifier.clock import utcnow
    from notifier.notices.deadlines import incident_deadlines

    paths = write_delivery_report(store, CAMPAIGN, tmp_path, formats=("html", "json"), settings=finished)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    expected = [
        o for o in incident_deadlines(store, finished, "2026-11-credential-leak", utcnow()) if o.applies
    ]
    assert expected and [d["recipient"] for d in data["deadlines"]] == [o.recipient for o in expected]
    html = paths["html"].read_text(encoding="utf-8")
    assert 'id="deadlines"' in html and all(o.recipient in html for o in expected)
    status = runner.invoke(cli, ["campaign", "status", CAMPAIGN, "--database-url", finished.database_url])
    assert status.exit_code == 0, status.output
    assert "deadline: " in status.output and ("left" in status.output or "overdue" in status.output)
