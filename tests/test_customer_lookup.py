"""Support's "was I notified?": one customer found by external id, email or phone, with every notice, each
message's whole timeline, the approval it was rendered from, replies and consent changes; masked, and
every look-up in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, sign_in
from sqlalchemy import func, select
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.config import Settings
from notifier.errors import InputError
from notifier.reports.customer import look_up, query_kind
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import audit_log, delivery_events, manifest, outbox
from notifier.tracking.inbound import take_inbound_sms
from notifier.tracking.keywords import KeywordTable

runner = CliRunner()


def _sent(store: Store, settings: Settings, tmp_path: Path) -> None:
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(1, 7)])
    launch(store, settings, "test-campaign", actor="tester")


def test_the_query_is_read_as_what_it_is() -> None:
    assert query_kind("c1@EXAMPLE.com") == {"email": "c1@example.com"}  # as imports normalize it
    assert query_kind("+7 916 000-00-01") == {"phone": "+79160000001"}
    assert query_kind("0079160000001") == {"phone": "+79160000001"}
    assert query_kind(" C00001 ") == {"external_id": "C00001"}
    for bad in ("", "ivan.petrov@", "+1 555"):
        with pytest.raises(InputError) as refused:
            query_kind(bad)
        assert "ivan.petrov" not in str(refused.value)  # the error never repeats a contact in full


def test_a_customer_is_found_by_id_email_or_phone_with_every_message_and_its_timeline(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    _sent(store, settings, tmp_path)
    by_id = look_up(store, "C00001", actor="support")
    by_email = look_up(store, "c1@Example.COM", actor="support")
    by_phone = look_up(store, "+84 91 000 00 01", actor="support")
    assert [s.external_id for s in by_id] == [s.external_id for s in by_email] == ["C00001"]
    assert [s.external_id for s in by_phone] == ["C00001"]
    story = by_id[0]
    assert story.email == "c***@example.com" and story.phone.endswith("0001") and "*" in story.phone
    (notice,) = story.notices
    assert notice.campaign == "test-campaign" and notice.reached
    with store.connect() as conn:
        rows = conn.execute(
            select(outbox.c.id, outbox.c.channel, outbox.c.state, outbox.c.content_hash)
            .join(manifest, manifest.c.id == outbox.c.manifest_id)
            .where(manifest.c.external_id == "C00001")
        ).all()
        changes = {
            r.id: conn.execute(
                select(func.count()).select_from(delivery_events).where(delivery_events.c.outbox_id == r.id)
            ).scalar_one()
            for r in rows
        }
    assert sorted((m.channel, m.state, m.content_hash) for m in notice.messages) == sorted(
        (r.channel, r.state, r.content_hash) for r in rows
    )
    for message in notice.messages:
        row_id = next(r.id for r in rows if r.channel == message.channel)
        ours = [t for t in message.timeline if t.source == "notifier"]
        assert len(ours) == changes[row_id] and ours[-1].what.endswith(message.state)
        assert [t.at for t in message.timeline] == sorted(t.at for t in message.timeline)
        assert message.approved_by.startswith("legal@example.com")
    with store.connect() as conn:
        looked = conn.execute(select(audit_log).where(audit_log.c.action == "customer.looked_up")).all()
    assert [e.subject for e in looked] == [
        "customer:C00001",
        "customer:c***@example.com",
        "customer:+8******0001",
    ]
    assert all(e.actor == "support" and e.detail["found"] == ["C00001"] for e in looked)


def test_replies_and_consent_changes_are_in_the_story(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    _sent(store, settings, tmp_path)
    keywords = KeywordTable.load(settings.templates_dir)
    take_inbound_sms(
        store,
        keywords,
        settings.templates_dir,
        {"From": "+79160000003", "Body": "Что мне делать?", "MessageSid": "SM" + "1" * 32},
    )
    take_inbound_sms(
        store,
        keywords,
        settings.templates_dir,
        {"From": "+79160000003", "Body": "СТОП", "MessageSid": "SM" + "2" * 32},
    )
    (story,) = look_up(store, "C00003", actor="support")
    assert story.sms_opt_out
    assert [r.excerpt for r in story.replies] == ["Что мне делать?"] and story.replies[0].status == "open"
    assert [(c.what, c.detail) for c in story.consent] == [("opted_out", "СТОП")]
    (other,) = look_up(store, "C00001", actor="support")
    assert other.replies == [] and other.consent == [] and not other.sms_opt_out


def test_the_command_masks_reveals_only_with_a_reason_and_says_when_nobody_matches(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sent(store, settings, tmp_path)
    url = ["--database-url", settings.database_url]
    sign_in(store, monkeypatch, "viewer")
    viewer = runner.invoke(cli, ["customer", "show", "C00002", *url])
    assert viewer.exit_code == 1 and "may not customer.look_up" in viewer.output
    sign_in(store, monkeypatch, "support", username="sam")
    shown = runner.invoke(cli, ["customer", "show", "c2@example.com", *url])
    assert shown.exit_code == 0, shown.output
    assert "C00002" in shown.output and "REACHED" in shown.output and "c2@example.com" not in shown.output
    # A US reader without e-sign consent or postal address: what reached them is a courtesy only.
    assert "notice in law: none: no_legal_contact (us_other)" in " ".join(shown.output.split())
    refused = runner.invoke(cli, ["customer", "show", "C00002", "--reveal", *url])
    assert refused.exit_code == 1 and "--reason" in refused.output
    revealed = runner.invoke(
        cli,
        ["customer", "show", "C00002", "--reveal", "--reason", "ticket 12", "--json", *url],
    )
    assert revealed.exit_code == 0, revealed.output
    data = json.loads(revealed.output)
    assert data[0]["email"] == "c2@example.com" and data[0]["notices"][0]["messages"]
    assert data[0]["notices"][0]["legal_notice"] == "none: no_legal_contact (us_other)"
    missing = runner.invoke(cli, ["customer", "show", "NOBODY-1", *url])
    assert (
        missing.exit_code == 1
        and "no customer matches" in missing.output
        and "Traceback" not in missing.output
    )
    with store.connect() as conn:
        reveal = conn.execute(select(audit_log).where(audit_log.c.action == "contacts.revealed")).one()
    assert reveal.actor == "sam" and reveal.detail["reason"] == "ticket 12"
