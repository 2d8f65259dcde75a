"""Reconciliation settles what tracking left open without a relaunch: silent SMS asked of Twilio, uncertain
rows by policy, released fallbacks sent (sms-first: email after an undelivered SMS), and SMS still without a
report as no_receipt once the tracking window has closed."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, sign_in
from sqlalchemy import select, update
from test_tracking import serving_at
from test_uncertain import _crashed_with_one_row_in_flight, _send_as_the_dead_sender
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.cli.common import console
from notifier.config import Settings
from notifier.models import Channel, ChannelPolicy
from notifier.sending.campaigns import campaign_status, get_campaign
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.schema import campaigns, events, manifest, outbox
from notifier.testing.smtp import SmtpStandin, free_port
from notifier.testing.twilio import TwilioStandin
from notifier.tracking.app import tracking_app
from notifier.tracking.reconcile import campaigns_to_reconcile, reconcile

NOW = timedelta(0)


def _silent(settings: Settings, twilio: TwilioStandin) -> Settings:
    """Twilio decides every message's final status, and none of its callbacks ever reaches us."""
    twilio.callbacks_lost = 1.0
    return replace(settings, sms_url=f"{twilio.url}&status_callback=http://127.0.0.1:9/twilio/status")


def _wait_for_final_statuses(twilio: TwilioStandin, count: int) -> None:
    deadline = time.monotonic() + 10
    while sum(m["status"] not in ("queued", "accepted") for m in twilio.messages) < count:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_silent_sms_are_asked_of_twilio_and_settled(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    twilio.callback_outcomes = {"delivered": 0.5, "undelivered": 0.5}
    settings = _silent(settings, twilio)
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 7)], channels=frozenset({Channel.SMS})
    )
    launch(store, settings, "test-campaign", actor="t")
    _wait_for_final_statuses(twilio, 6)
    assert campaign_status(store, "test-campaign").outbox == {"sms": {"accepted": 6}}
    too_soon = reconcile(store, settings, "test-campaign", actor="r")  # accepted under 30 minutes ago
    done = reconcile(store, settings, "test-campaign", actor="r", silent_after=NOW)
    again = reconcile(store, settings, "test-campaign", actor="r", silent_after=NOW)
    assert (too_soon.silent_asked, done.silent_asked, done.silent_settled, again.silent_asked) == (0, 6, 6, 0)
    twilio_says = sorted(m["status"] for m in twilio.messages)
    with store.connect() as conn:
        states = sorted(conn.execute(select(outbox.c.state)).scalars())
        fetched = conn.execute(
            select(events.c.kind, events.c.payload).where(events.c.payload.like("%reconciliation%"))
        ).all()
    assert states == twilio_says and set(states) == {"delivered", "undelivered"}
    assert sorted(k for k, _ in fetched) == twilio_says  # each answer is an event too
    assert len(twilio.messages) == 6  # asked, never sent again


def test_an_undelivered_sms_releases_the_email_fallback_which_reconciliation_sends(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    twilio.callback_outcomes = {"undelivered": 1.0}
    rows = [customer(n) for n in range(1, 5)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sms = replace(settings, sms_url=f"{twilio.url}&status_callback={base}/twilio/status")
    planned_campaign(store, sms, tmp_path, rows, policy=ChannelPolicy.SMS_FIRST)
    app = tracking_app(
        store, auth_token=twilio.auth_token, public_base_url=base, templates_dir=settings.templates_dir
    )
    with serving_at(app, port):
        launch(store, sms, "test-campaign", actor="t")
        assert smtp.received == []  # SMS first; email waits as the fallback
        deadline = time.monotonic() + 10
        while len(twilio.callbacks_posted) < 8:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    after_callbacks = campaign_status(store, "test-campaign")
    done = reconcile(store, sms, "test-campaign", actor="r")
    again = reconcile(store, sms, "test-campaign", actor="r")
    assert after_callbacks.state == "completed"
    assert after_callbacks.outbox == {"email": {"pending": 4}, "sms": {"undelivered": 4}}  # released
    assert done.sent.accepted == 4 and again.sent.accepted == 0
    assert sorted(r for m in smtp.received for r in m.recipients) == sorted(r["email"] for r in rows)
    final = campaign_status(store, "test-campaign")
    assert final.state == "completed" and final.outbox == {
        "email": {"accepted": 4},
        "sms": {"undelivered": 4},
    }


def test_a_crash_leftover_is_settled_without_a_relaunch(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    campaign, row = _crashed_with_one_row_in_flight(store, settings, tmp_path)
    _send_as_the_dead_sender(settings, campaign, row)  # it did reach Twilio before the sender died
    with store.begin() as conn:
        conn.execute(update(campaigns).values(state="running"))
    done = reconcile(store, settings, "test-campaign", actor="r")
    assert done.uncertain_settled == {"accepted": 1}
    assert campaign_status(store, "test-campaign").outbox == {"sms": {"accepted": 1}}
    assert len(twilio.messages) == 1  # found, not sent again


def test_after_the_tracking_window_sms_without_a_report_are_no_receipt_and_not_reached(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio.callback_outcomes = {"sent": 1.0}  # the carrier never confirms
    settings = _silent(settings, twilio)
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 4)], channels=frozenset({Channel.SMS})
    )
    launch(store, settings, "test-campaign", actor="t")
    _wait_for_final_statuses(twilio, 3)
    open_window = reconcile(store, settings, "test-campaign", actor="r", silent_after=NOW)
    assert open_window.no_receipt == 0 and open_window.window_closes is not None
    assert campaigns_to_reconcile(store) == ["test-campaign"]
    closed = reconcile(
        store,
        settings,
        "test-campaign",
        actor="r",
        silent_after=NOW,
        now=open_window.window_closes + timedelta(seconds=1),
    )
    assert closed.no_receipt == 3 and campaigns_to_reconcile(store) == []
    assert campaign_status(store, "test-campaign").outbox == {"sms": {"no_receipt": 3}}
    with store.connect() as conn:
        campaign_id = get_campaign(store, "test-campaign").id
        not_reached = q.not_reached_page(conn, campaign_id, frozenset({"no_receipt"}), None, 10)
        everyone = (
            conn.execute(select(manifest.c.external_id).order_by(manifest.c.external_id)).scalars().all()
        )
    assert not_reached == everyone  # on the not-reached list, for a follow-up by another channel

    monkeypatch.setattr(console, "width", 200)
    runner = CliRunner()
    env = {"NOTIFIER_DATABASE_URL": settings.database_url, "NOTIFIER_SMS_URL": settings.sms_url or ""}
    sign_in(store, monkeypatch, "comms")
    listed = runner.invoke(cli, ["campaign", "reconcile", "--all"], env=env)
    one = runner.invoke(cli, ["campaign", "reconcile", "test-campaign"], env=env)
    neither = runner.invoke(cli, ["campaign", "reconcile"], env=env)
    assert listed.exit_code == 0 and "nothing to reconcile" in listed.output
    assert one.exit_code == 0 and "test-campaign" in one.output and "UTC" in one.output
    assert neither.exit_code == 1 and "name one campaign, or give --all" in neither.stderr
