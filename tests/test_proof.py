"""Proof sheets (every locale × profile, sample or recorded incident), proofs of exactly what chosen
customers would get, and test sends to a seed list through the real channels."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
from helpers import INCIDENT_FILE, customer, planned_campaign, sign_in, write_csv
from sqlalchemy import func, select
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.config import Settings
from notifier.store import Store
from notifier.store.schema import audit_log, outbox
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

runner = CliRunner()
KEY = "2026-11-credential-leak"


def test_proof_pages_and_eml_files_for_the_sample_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'n.db'}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["templates", "proof", "--out", str(tmp_path / "proof")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "proof" / "breach_notice.html").read_text(encoding="utf-8")
    assert page.count('class="card"') == 3 * 9  # locales × profiles (the sample leaked health data too)
    for expected in ("Notice of Data Breach", "Что произошло", "Chuyện gì đã xảy ra", "UCS-2", "GSM-7"):
        assert expected in page
    segments = re.findall(r"(\d+) characters · (GSM-7|UCS-2) · (\d+) units · (\d) segment", page)
    assert len(segments) == 27 and all(int(s[3]) <= 2 for s in segments)
    emls = sorted((tmp_path / "proof" / "eml").glob("*.eml"))
    assert len(emls) == 2 * 3 * 9  # notices × locales × profiles
    msg = email.message_from_bytes(
        (tmp_path / "proof" / "eml" / "breach_notice-ru-us_ca.eml").read_bytes(), policy=policy.default
    )
    assert msg["Subject"].startswith("Notice of Data Breach")
    assert msg["Content-Language"] == "ru"
    body = msg.get_body(("plain",)).get_content()
    assert body.startswith("Notice of Data Breach") and "What Happened (Что произошло)" in body


def test_proof_of_a_recorded_incident_shows_its_approval_states(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'n.db'}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    store = Store(f"sqlite:///{tmp_path / 'n.db'}")
    sign_in(store, monkeypatch, "comms", username="alice")
    assert runner.invoke(app, ["incident", "create", str(INCIDENT_FILE)]).exit_code == 0
    approve = ["templates", "approve", "--incident", KEY, "--notice", "breach_notice", "--locale", "ru"]
    sign_in(store, monkeypatch, "legal", username="carol")
    assert runner.invoke(app, [*approve]).exit_code == 0
    result = runner.invoke(app, ["templates", "proof", "--incident", KEY, "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "p" / "breach_notice.html").read_text(encoding="utf-8")
    assert f"recorded incident {KEY}" in page
    assert page.count('class="card"') == 3 * 8  # no health data: no HIPAA profile
    assert page.count("<td>approved</td>") == 3 * 8  # Russian email, SMS and letter, every profile
    assert page.count("<td>never approved</td>") == 2 * 3 * 8


def test_a_customers_proof_is_exactly_what_the_sender_would_send(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [customer(n) for n in range(1, 10)]
    rows[2]["name"] = "Анна <b>Иванова</b>"  # C00003, a Russian customer
    planned_campaign(store, settings, tmp_path, rows)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NOTIFIER_EMAIL_URL", settings.email_url or "")
    out = tmp_path / "customers"
    args = ["templates", "proof", "--campaign", "test-campaign", "--customer", "C00003", "--sample", "3"]
    sign_in(store, monkeypatch, "comms", username="support")
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "customers.html").read_text(encoding="utf-8")
    assert page.count("<h2>") >= 2 and "<h2>C00003</h2>" in page
    assert "Анна &lt;b&gt;Иванова&lt;/b&gt;" in page and "<b>Иванова</b>" not in page  # data stays data
    assert "c3@example.com" not in page and "c***@example.com" in page  # contacts masked
    assert "RU → ru" in page and "approved" in page
    eml = email.message_from_bytes((out / "eml" / "C00003-email.eml").read_bytes(), policy=policy.default)
    # the name as the customer sees it; the address a placeholder: a proof never hands out a contact
    assert "Анна <b>Иванова</b>" in eml["To"] and eml["To"].addresses[0].addr_spec == "C00003@proof.example"
    assert eml["From"] and "Здравствуйте, Анна <b>Иванова</b>!" in eml.get_body(("plain",)).get_content()
    missing = runner.invoke(app, [*args[:4], "--customer", "C99999", "--out", str(out)])
    assert missing.exit_code == 1 and "not in campaign 'test-campaign': C99999" in missing.output
    with store.connect() as conn:
        audited = conn.scalar(select(func.count()).where(audit_log.c.action == "notice.proof_customers"))
        untouched = conn.scalar(select(func.count()).where(outbox.c.state != "pending"))
    assert audited == 1 and untouched == 0


def test_a_stored_customers_proof_needs_no_campaign(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", settings.database_url)
    sign_in(store, monkeypatch, "comms")
    csv_path = write_csv(tmp_path / "c.csv", [customer(2), customer(3, phone="")])
    assert runner.invoke(app, ["customers", "import", str(csv_path)]).exit_code == 0
    assert runner.invoke(app, ["incident", "create", str(INCIDENT_FILE)]).exit_code == 0
    out = tmp_path / "stored"
    args = ["templates", "proof", "--incident", KEY, "--customer", "C00002", "--customer", "C00003"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "customers.html").read_text(encoding="utf-8")
    assert "US → us_other" in page and "RU → ru" in page
    assert "not sent: no_phone" in page  # C00003 has no phone: shown, not rendered as if sent
    assert "never approved" in page


def test_test_send_reaches_the_seeds_on_every_version_and_counts_for_no_one(
    store: Store,
    settings: Settings,
    tmp_path: Path,
    smtp: SmtpStandin,
    twilio: TwilioStandin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(1, 7)])
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    seeds = ["--to", "legal-seed@example.com", "--to", "+15005550006"]
    sign_in(store, monkeypatch, "legal", username="legal")
    result = runner.invoke(app, ["campaign", "test-send", "test-campaign", *seeds])
    assert result.exit_code == 0, result.output
    # The manifest reads ru (RU), vi (VN) and en (US): three versions per channel.
    assert "6 test messages sent, 0 failed" in result.output
    subjects = sorted(str(m.message["Subject"]) for m in smtp.received)
    assert len(subjects) == 3 and all(s.startswith("[TEST] ") for s in subjects)
    assert {m.recipients for m in smtp.received} == {("legal-seed@example.com",)}
    assert len(twilio.messages) == 3 and {m["to"] for m in twilio.messages} == {"+15005550006"}
    with store.connect() as conn:
        audited = conn.scalar(select(func.count()).where(audit_log.c.action == "campaign.test_send"))
        untouched = conn.scalar(select(func.count()).where(outbox.c.state != "pending"))
    assert audited == 6 and untouched == 0  # nobody counts as notified
    bad = runner.invoke(app, ["campaign", "test-send", "test-campaign", "--to", "not-an-address"])
    assert bad.exit_code == 1 and "neither an email address nor an E.164 phone number" in bad.output
