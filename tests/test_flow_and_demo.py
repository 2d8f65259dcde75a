"""The Prefect flow and the demo, under one session-wide Prefect test harness."""

from __future__ import annotations

import email
import hashlib
import json
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from helpers import approve_all, customer, import_rows, incident_facts
from sqlalchemy import func, select

from notifier.clock import utcnow
from notifier.config import Settings
from notifier.models import Channel
from notifier.notices.records import create_incident
from notifier.store import Store
from notifier.store.schema import events, incidents, manifest, outbox, replies
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

pytestmark = pytest.mark.prefect


def test_flow_plans_sends_and_publishes_summary_and_progress_artifacts(
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    smtp: SmtpStandin,
    twilio: TwilioStandin,
) -> None:
    url = f"sqlite:///{tmp_path / 'flow.db'}"
    store = Store(url)
    store.upgrade(Settings().migrations_dir)
    import_rows(store, tmp_path, [customer(n) for n in range(1, 13)] + [customer(13, email="", phone="")])
    create_incident(store, Settings(database_url=url), incident_facts(), actor="t")
    approve_all(store, Settings(database_url=url))
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(f"C{n:05d}" for n in range(1, 14)), encoding="utf-8")
    # The flow reads its configuration from the environment, like a deployment would.
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", url)
    monkeypatch.setenv("NOTIFIER_EMAIL_URL", smtp.url)
    monkeypatch.setenv("NOTIFIER_SMS_URL", twilio.url)
    from flows.notify_customers import notify_customers

    first = notify_customers(
        campaign="flow-test", incident="2026-11-credential-leak", affected_ids=str(ids), quiet_hours="0-24"
    )
    assert first["this_run"]["accepted"] == 24
    assert first["status"]["manifest"]["unreachable"] == {"no_email / no_phone": 1}
    second = notify_customers(campaign="flow-test")
    assert second["this_run"]["accepted"] == 0 and second["this_run"]["claimed"] == 0
    assert len(smtp.received) == 12 and len(twilio.messages) == 12

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["campaign-flow-test"]))
        )
        progress = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["campaign-flow-test-progress"]))
        )
        timeline = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["campaign-flow-test-timeline"]))
        )
    assert artifacts and "flow-test" in str(artifacts[0].data) and "accepted" in str(artifacts[0].data)
    assert "12 of 13 customers reached" in str(artifacts[0].data)  # the report's headline, first
    assert (
        timeline
        and timeline[0].type == "image"
        and str(timeline[0].data).startswith("data:image/svg+xml;base64,")
    )
    assert (
        progress and progress[0].type == "progress" and float(progress[0].data) == 100.0
    )  # nothing left due
    assert "accepted 24" in (progress[0].description or "")
    store.dispose()


def test_the_demo_end_to_end(prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from notifier.demo.run import run_demo

    for key in ("NOTIFIER_DATABASE_URL", "NOTIFIER_EMAIL_URL", "NOTIFIER_SMS_URL"):
        monkeypatch.delenv(key, raising=False)
    var = tmp_path / "var"
    with (tmp_path / "demo.log").open("w", encoding="utf-8") as log:
        summary = run_demo(var, customers=300, console=Console(file=log, width=120))
    on_disk = json.loads((var / "demo-summary.json").read_text(encoding="utf-8"))
    assert on_disk["eml_files"] == summary["eml_files"]
    eml = list((var / "outbox").glob("*.eml"))
    assert len(eml) == on_disk["emails_accepted"] == on_disk["smtp_messages_received"] > 200
    assert on_disk["sms_accepted"] == on_disk["twilio_messages_received"] > 0  # email first; SMS as fallback
    assert on_disk["second_run"]["accepted"] == 0
    # What came back, as the demo staged it, and as the store has it.
    came_back = on_disk["tracking"]
    assert (came_back["bounced"], came_back["fell_back"], came_back["opted_out"]) == (5, 5, 1)
    assert (came_back["replies_awaiting_support"], came_back["auto_replies"]) == (2, 1)
    store = Store(f"sqlite:///{var / 'notifier.db'}")
    with store.connect() as conn:
        by_state = dict(conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all())
        queued = sorted(conn.execute(select(replies.c.channel, replies.c.body)).all())
        stopped = conn.execute(select(func.count()).where(events.c.kind == "opted_out")).scalar()
        no_final_sms = conn.execute(
            select(func.count()).where(outbox.c.channel == "sms", outbox.c.state == "accepted")
        ).scalar()
    store.dispose()
    assert by_state.get("delivered", 0) == came_back["delivered"] > 0
    assert by_state.get("bounced", 0) == 5
    assert by_state.get("undelivered", 0) + by_state.get("failed", 0) == came_back["undelivered"]
    assert stopped == 1 and no_final_sms == 0  # callbacks that never came were asked of Twilio
    assert [c for c, _ in queued] == ["email", "sms"] and "Tôi có cần đổi mật khẩu không?" in [
        b for _, b in queued
    ]
    assert on_disk["import"]["rejected"] == 1  # the planted broken CSV row
    assert on_disk["manifest"]["unreachable"]["unknown_customer"] == 3
    store = Store(f"sqlite:///{var / 'notifier.db'}")
    with store.connect() as conn:
        # Only the rows whose email is used: a family mailbox shared by two customers is written to once.
        language = {
            r.email: r.notice_locale
            for r in conn.execute(
                select(manifest.c.email, manifest.c.notice_locale).where(manifest.c.email_reason.is_(None))
            )
        }
    store.dispose()
    for path in eml:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["Content-Language"] == language[msg["To"].addresses[0].addr_spec]
        for part in ("plain", "html"):
            body = msg.get_body((part,)).get_content()
            assert "{{" not in body and "{%" not in body and "%(" not in body
    report = (var / "reports" / "demo-2026-11-credential-leak-delivery.csv").read_text(encoding="utf-8")
    assert "not reached" in report and "unknown_customer" in report
    html = (var / "reports" / "demo-2026-11-credential-leak-delivery.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 3 and 'id="deadlines"' in html and 'id="not-reached"' in html
    # Whenever the demo runs, its incident was discovered 20 hours before: on its first day, none overdue.
    store = Store(f"sqlite:///{var / 'notifier.db'}")
    with store.connect() as conn:
        facts = conn.execute(select(incidents.c.facts)).scalar_one()
    store.dispose()
    since = utcnow() - datetime.fromisoformat(facts["discovered_at"])
    assert timedelta(hours=19) < since < timedelta(hours=21) and 'class="overdue"' not in html
    assert all(c["result"] == "ok" and c["verified_links"] > 0 for c in on_disk["chains"].values())
    pack = var / "evidence"
    for line in (pack / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((pack / name).read_bytes()).hexdigest() == digest
    assert on_disk["evidence"]["files"] == len([p for p in pack.rglob("*") if p.is_file()])
    from notifier.accounts.users import sign_in
    from notifier.demo.run import PEOPLE, demo_password

    store = Store(f"sqlite:///{var / 'notifier.db'}")
    for username, role in PEOPLE.items():  # the sign-ins `notifier demo` prints work, one per role
        assert sign_in(store, username, demo_password(username), source="test").roles == {role}
    store.dispose()


def test_two_send_shards_send_one_campaign_exactly_once(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smtp: SmtpStandin
) -> None:
    import threading

    from flows.send_shard import send_shard
    from notifier.sending.runner import start

    url = f"sqlite:///{tmp_path / 'shards.db'}"
    store = Store(url)
    store.upgrade(Settings().migrations_dir)
    settings = Settings(database_url=url)
    from helpers import planned_campaign

    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 41)], channels=frozenset({Channel.EMAIL})
    )
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", url)
    monkeypatch.setenv("NOTIFIER_EMAIL_URL", smtp.url)
    monkeypatch.setenv("NOTIFIER_BATCH_SIZE", "7")
    start(store, settings, "test-campaign", actor="t")
    results: list[dict[str, int]] = []
    shards = [threading.Thread(target=lambda: results.append(send_shard("test-campaign"))) for _ in range(2)]
    for shard in shards:
        shard.start()
    for shard in shards:
        shard.join()
    recipients = [r for mail in smtp.received for r in mail.recipients]
    assert len(recipients) == len(set(recipients)) == 40
    assert sum(r["accepted"] for r in results) == 40
    store.dispose()


def test_every_deployment_is_named_after_its_flow_and_the_orchestration_table_agrees() -> None:
    """The console starts ``FLOW/FLOW`` (orchestration.start_deployment), the CLI loads FLOWS by
    entrypoint: prefect.yaml must say the same, or a launch would start nothing."""
    import yaml
    from prefect.flows import load_flow_from_entrypoint

    from notifier.config import PROJECT_ROOT
    from notifier.orchestration import FLOWS

    deployments = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    for deployment in deployments:
        flow = load_flow_from_entrypoint(str(PROJECT_ROOT / deployment["entrypoint"]))
        assert flow.name == deployment["name"], deployment["entrypoint"]
    entrypoints = {d["name"]: d["entrypoint"] for d in deployments}
    assert {name: entrypoints[name] for name in FLOWS} == FLOWS
