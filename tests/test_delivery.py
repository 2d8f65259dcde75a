"""The delivery engine end to end on SQLite and PostgreSQL: real channels, real stand-ins."""

from __future__ import annotations

import email
import threading
from dataclasses import replace
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, tls_files
from sqlalchemy import select, update

from notifier.clock import utcnow
from notifier.config import RetryPolicy, Settings
from notifier.errors import CampaignStateError, ConfigurationError
from notifier.models import Channel, DeliveryPolicy, OutboxState, QuietHours
from notifier.sending.campaigns import campaign_status, get_campaign
from notifier.sending.pipeline import BatchResult
from notifier.sending.runner import launch, send_window
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.schema import audit_log, campaigns, delivery_events, manifest, outbox
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

FAST_RETRY = RetryPolicy(base_seconds=0.05, max_seconds=0.2)


def _launch(store: Store, settings: Settings, name: str = "test-campaign") -> BatchResult:
    return launch(
        store,
        settings,
        name,
        actor="tester",
        max_wait_seconds=30,
    )


def test_every_customer_is_notified_once_in_their_language(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    rows = [customer(n) for n in range(1, 31)] + [
        customer(31, email="bad@"),
        customer(32, phone="+74951234567"),
    ]
    planned_campaign(store, settings, tmp_path, rows)
    settings = replace(settings, batch_size=7)  # several batches
    first = _launch(store, settings)
    assert (first.accepted, first.failed, first.deferred) == (62, 0, 0)  # 31 emails + 31 SMS
    eml = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(eml) == len(smtp.received) == 31 and len(twilio.messages) == 31
    with store.connect() as conn:
        langs = {
            r.email: r.notice_locale
            for r in conn.execute(
                select(manifest.c.email, manifest.c.notice_locale).where(manifest.c.email_reason.is_(None))
            )
        }
    for path in eml:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        to = msg["To"].addresses[0].addr_spec
        assert msg["Content-Language"] == langs[to]
        body = msg.get_body(("plain",)).get_content()
        assert "{{" not in body and "%(" not in body
        if langs[to] == "ru":
            assert "Что произошло" in body
    assert {m["body"][:12] for m in twilio.messages} >= {"Example Shop"}
    second = _launch(store, settings)
    assert second.claimed == 0 and len(smtp.received) == 31 and len(twilio.messages) == 31
    status = campaign_status(store, "test-campaign")
    assert status.state == "completed"
    assert status.outbox == {"email": {"accepted": 31}, "sms": {"accepted": 31}}


def test_transient_smtp_failures_are_retried_and_550_is_failed_once(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 11)], channels=frozenset({Channel.EMAIL})
    )
    smtp.refuse("c3@example.com", 550)
    smtp.fail_next(451, count=4)
    smtp.fail_next(421, count=2)
    result = _launch(store, replace(settings, retry=FAST_RETRY))
    assert len(smtp.received) == 9
    assert campaign_status(store, "test-campaign").outbox == {"email": {"accepted": 9, "failed": 1}}
    with store.connect() as conn:
        failed = conn.execute(select(outbox).where(outbox.c.state == "failed")).one()
        states = (
            conn.execute(
                select(delivery_events.c.to_state)
                .where(delivery_events.c.outbox_id == failed.id)
                .order_by(delivery_events.c.id)
            )
            .scalars()
            .all()
        )
    assert "550" in failed.last_error and "c3@example.com" not in failed.last_error
    # The 550 ended it at once: no attempt after it (a queued 451 may have hit this row first).
    assert states == ["sending", "deferred"] * (failed.attempts - 1) + ["sending", "failed"]
    assert result.deferred == 6


def test_a_recipient_that_keeps_failing_for_a_while_ends_failed_when_its_retry_time_is_up(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    # A 451 for one recipient is that recipient's trouble: retried until the campaign's retry time is up.
    short = DeliveryPolicy(quiet_hours=QuietHours(0, 24), retry_for=timedelta(seconds=1))
    planned_campaign(
        store,
        settings,
        tmp_path,
        [customer(1), customer(2)],
        channels=frozenset({Channel.EMAIL}),
        delivery=short,
    )
    smtp.refuse("c1@example.com", 451)
    _launch(store, replace(settings, retry=FAST_RETRY))
    with store.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.manifest_id == 1)).one()
        states = (
            conn.execute(
                select(delivery_events.c.to_state)
                .where(delivery_events.c.outbox_id == row.id)
                .order_by(delivery_events.c.id)
            )
            .scalars()
            .all()
        )
    assert row.state == "failed" and row.attempts >= 2
    assert f"gave up after {row.attempts} attempts in " in row.last_error and "451" in row.last_error
    assert states == ["sending", "deferred"] * (row.attempts - 1) + ["sending", "failed"]
    assert [r for mail in smtp.received for r in mail.recipients] == ["c2@example.com"]


def test_wrong_smtp_credentials_stop_the_run_and_leave_every_row_to_send_later(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 41)], channels=frozenset({Channel.EMAIL})
    )
    ca, cert, key = tls_files(tmp_path)
    with SmtpStandin(tls=(cert, key), logins={"notifier": "right"}) as server:
        wrong = replace(
            settings,
            batch_size=10,
            email_url=f"smtp://notifier:wrong@localhost:{server.port}?starttls=1&cafile={ca}",
        )
        with pytest.raises(ConfigurationError, match="refused our login"):
            _launch(store, wrong)
        with store.connect() as conn:
            rows = conn.execute(select(outbox.c.state, outbox.c.attempts)).all()
        # Nothing failed, nothing is left "uncertain": the rows it had claimed go back, attempts not counted.
        assert {state for state, _ in rows} <= {"pending", "deferred"} and {a for _, a in rows} == {0}
        right = replace(wrong, email_url=wrong.email_url.replace(":wrong@", ":right@"))
        _launch(store, right)
        assert len(server.received) == 40 and {m.login for m in server.received} == {"notifier"}
    assert campaign_status(store, "test-campaign").outbox == {"email": {"accepted": 40}}


def test_opted_out_numbers_are_suppressed(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1), customer(2)], channels=frozenset({Channel.SMS}))
    twilio.opted_out.add(customer(1)["phone"])
    _launch(store, settings)
    assert campaign_status(store, "test-campaign").outbox == {"sms": {"accepted": 1, "suppressed": 1}}


def test_a_notice_that_cannot_be_rendered_is_never_sent(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1), customer(2)], channels=frozenset({Channel.SMS}))
    with store.begin() as conn:  # data the notice cannot be built from (imports never let this in)
        conn.execute(
            update(manifest).where(manifest.c.external_id == "C00001").values(time_zone="Mars/Olympus")
        )
    _launch(store, settings)
    assert [m["to"] for m in twilio.messages] == [customer(2)["phone"]]
    with store.connect() as conn:
        failed = conn.execute(select(outbox).where(outbox.c.state == "failed")).one()
    assert "render error" in failed.last_error and "Mars/Olympus" in failed.last_error


def test_a_template_edited_after_approval_stops_the_launch(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    settings = replace(settings, templates_dir=templates)
    planned_campaign(store, settings, tmp_path, [customer(1), customer(2)], channels=frozenset({Channel.SMS}))
    sms = templates / "breach_notice" / "sms.txt.j2"
    before = sms.read_text(encoding="utf-8")
    sms.write_text(before.replace("passwords or codes", "passwords, PINs or codes"), encoding="utf-8")
    assert sms.read_text(encoding="utf-8") != before
    with pytest.raises(CampaignStateError, match="breach_notice/en/sms/us_other is changed since approval"):
        _launch(store, settings)
    assert twilio.messages == []
    with store.connect() as conn:
        refused = conn.execute(select(audit_log).where(audit_log.c.action == "campaign.launch_refused")).one()
    assert "breach_notice/vi/sms/vn" in str(refused.detail)


def test_rows_a_dead_sender_left_in_flight_become_uncertain_not_resent(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 6)], channels=frozenset({Channel.EMAIL})
    )
    campaign = get_campaign(store, "test-campaign")
    past = utcnow() - timedelta(hours=1)
    with store.begin() as conn:  # a sender claimed two rows, handed them over, maybe sent them, and died
        claimed = q.claim_batch(
            conn,
            campaign_id=campaign.id,
            channel=Channel.EMAIL,
            limit=2,
            lease_token="dead",
            now=past,
            lease_until=past + timedelta(minutes=5),
        )
        q.hand_over(conn, [r.id for r in claimed], lease_token="dead", now=past)
    _launch(store, settings)
    assert len(smtp.received) == 3
    assert campaign_status(store, "test-campaign").outbox == {"email": {"accepted": 3, "uncertain": 2}}


def test_a_paused_campaign_sends_nothing(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.EMAIL}))
    campaign = get_campaign(store, "test-campaign")
    from notifier.sending.runner import drain

    with store.begin() as conn:
        conn.execute(update(campaigns).values(state="paused"))
    drain(store, settings, campaign, lambda chs: send_window(settings, "test-campaign", chs), actor="t")
    assert smtp.received == []
    assert campaign_status(store, "test-campaign").outbox == {"email": {"pending": 1}}


def test_a_window_closed_before_its_first_claim_sends_nothing_and_fails_nothing(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    """The gate may say no at once (window over, or another sender just completed or paused the
    campaign): the window ends quietly, as two senders racing to the end of a campaign need it to."""
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.EMAIL}))
    from notifier.sending.runner import start

    start(store, settings, "test-campaign", actor="t")
    result = send_window(settings, "test-campaign", Channel.EMAIL, seconds=-1.0)
    assert (result.claimed, smtp.received) == (0, [])
    assert campaign_status(store, "test-campaign").outbox == {"email": {"pending": 1}}


def test_two_senders_at_once_send_each_message_exactly_once(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(1, 61)])
    settings = replace(settings, batch_size=5)
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            _launch(store, settings)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    recipients = [r for m in smtp.received for r in m.recipients]
    assert len(recipients) == len(set(recipients)) == 60
    phones = [m["to"] for m in twilio.messages]
    assert len(phones) == len(set(phones)) == 60
    assert campaign_status(store, "test-campaign").outbox == {
        "email": {"accepted": 60},
        "sms": {"accepted": 60},
    }
    with store.connect() as conn:
        assert conn.execute(select(outbox).where(outbox.c.state == OutboxState.SENDING.value)).first() is None


def test_twilio_429_and_500_are_honoured_and_recovered(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 9)], channels=frozenset({Channel.SMS})
    )
    twilio.fail_next(429, count=3)
    twilio.fail_next(500, count=2)
    result = _launch(store, replace(settings, retry=FAST_RETRY))
    # 429 is a slow-down (a deferral); a 500 after the request went out may have created the message:
    # uncertain, asked of Twilio (it has none), then sent; each number gets exactly one.
    assert (result.deferred, result.uncertain, result.unreachable, result.failed) == (3, 2, 0, 0)
    assert sorted(m["to"] for m in twilio.messages) == sorted(customer(n)["phone"] for n in range(1, 9))
    assert campaign_status(store, "test-campaign").outbox == {"sms": {"accepted": 8}}
