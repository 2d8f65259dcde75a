"""Bounces that arrive after the provider accepted a message: the real aiosmtplib client delivers them
to the bounce receiver (aiosmtpd) at the VERP address, or they are read from a plain mailbox; the
email row becomes ``bounced``, an email-first customer's SMS is released, and a hard bounce retires
the address for later campaigns."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiosmtplib
import pytest
from helpers import LOCALES, customer, dsn, import_rows, incident_facts, planned_campaign, sign_in
from sqlalchemy import select

from notifier.audience.selection import Selection
from notifier.config import Settings
from notifier.models import Channel, ChannelPolicy
from notifier.sending.campaigns import campaign_status, plan_campaign
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import audit_log, campaigns, customers, events, manifest, outbox
from notifier.testing.smtp import ReceivedMail, SmtpStandin, free_port
from notifier.testing.twilio import TwilioStandin
from notifier.tracking.bounces.intake import BounceReceiver, apply_bounce

DOMAIN = "bounces.example.com"


def _launch(store: Store, settings: Settings, name: str = "test-campaign") -> None:
    launch(
        store,
        settings,
        name,
        actor="tester",
        max_wait_seconds=30,
    )


def _mail_to(smtp: SmtpStandin, address: str) -> ReceivedMail:
    return next(m for m in smtp.received if m.recipients == (address,))


def _one_email_sent(store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path) -> ReceivedMail:
    """An email-only campaign for customer 1, sent: the mail as it arrived."""
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.EMAIL}))
    _launch(store, settings)
    return _mail_to(smtp, "c1@example.com")


def _deliver(port: int, raw: bytes, to: str) -> None:
    async def send() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
            await client.sendmail("", [to], raw)  # the null sender <>, as every bounce has

    asyncio.run(send())


def _states(store: Store) -> dict[tuple[str, str], str]:
    with store.connect() as conn:
        return {
            (r.email or r.phone, r.channel): r.state
            for r in conn.execute(
                select(manifest.c.email, manifest.c.phone, outbox.c.channel, outbox.c.state).join(manifest)
            )
        }


def test_a_hard_bounce_releases_the_sms_fallback_and_retires_the_address(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    rows = [customer(1), customer(2)]
    planned_campaign(store, settings, tmp_path, rows, policy=ChannelPolicy.EMAIL_FIRST)
    _launch(store, settings)
    assert twilio.messages == []  # email went out; SMS waits as the fallback
    bounced = _mail_to(smtp, "c2@example.com")
    raw = dsn(
        bounced,
        status="5.1.1",
        diagnostic="550 5.1.1 <c2@example.com>: Recipient address rejected: "
        "User unknown in virtual mailbox table",
    )
    with BounceReceiver(store, DOMAIN, port=free_port()) as receiver:
        _deliver(receiver.port, raw, bounced.envelope_from)
    [outcome] = receiver.outcomes
    assert outcome.category == "failure" and outcome.action.startswith("bounced (hard bounce: 5.1.1")
    assert "SMS fallback released" in outcome.action
    assert _states(store)[("c2@example.com", "email")] == "bounced"

    _launch(store, settings)  # the released SMS goes out; nobody else gets anything twice
    assert [m["to"] for m in twilio.messages] == [customer(2)["phone"]]
    assert campaign_status(store, "test-campaign").outbox == {
        "email": {"accepted": 1, "bounced": 1},
        "sms": {"accepted": 1, "waiting": 1},
    }

    import_rows(store, tmp_path, rows)  # a re-import with the same address does not revive it
    with store.connect() as conn:
        problem = conn.execute(
            select(customers.c.email_problem).where(customers.c.email == "c2@example.com")
        ).scalar()
    assert problem is not None and problem.startswith("hard bounce: 5.1.1")
    plan_campaign(  # an update notice: it goes to everyone again (a first notice would skip both)
        store,
        name="follow-up",
        incident_key=incident_facts()["key"],
        locales=LOCALES,
        actor="t",
        selection=Selection(ids_file=tmp_path / "affected.txt"),
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        policy=ChannelPolicy.EMAIL_FIRST,
        notice="breach_update",
    )
    with store.connect() as conn:
        follow_up = conn.execute(select(campaigns.c.id).where(campaigns.c.name == "follow-up")).scalar()
        reasons = dict(
            conn.execute(
                select(manifest.c.email, manifest.c.email_reason).where(manifest.c.campaign_id == follow_up)
            ).all()
        )
    assert reasons["c2@example.com"] == "email_bounced" and reasons["c1@example.com"] is None


def test_a_soft_bounce_marks_the_message_bounced_but_keeps_the_address(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    mail = _one_email_sent(store, settings, smtp, tmp_path)
    raw = dsn(mail, status="5.2.2", diagnostic="552 5.2.2 <c1@example.com>: Mailbox full, quota exceeded")
    with BounceReceiver(store, DOMAIN, port=free_port()) as receiver:
        _deliver(receiver.port, raw, mail.envelope_from)
    assert receiver.outcomes[0].action.startswith("bounced (soft bounce: 5.2.2")
    assert _states(store)[("c1@example.com", "email")] == "bounced"
    with store.connect() as conn:
        assert conn.execute(select(customers.c.email_problem)).scalar() is None
        (event,) = conn.execute(select(events)).all()
        row_id = conn.execute(select(outbox.c.id).where(outbox.c.channel == "email")).scalar_one()
    assert (event.kind, event.channel, event.provider, event.reason, event.outbox_id) == (
        "bounced",
        "email",
        "smtp",
        "5.2.2",
        row_id,
    )
    assert event.customer_id is not None and event.campaign_id is not None
    assert json.loads(event.payload)["failures"][0]["diagnostic"].startswith("552 5.2.2")


def test_a_bounce_in_a_plain_mailbox_is_matched_by_the_quoted_message_id(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    mail = _one_email_sent(store, settings, smtp, tmp_path)
    raw = dsn(mail, status="5.1.1", diagnostic="550 5.1.1 user unknown")
    outcome = apply_bounce(store, raw, bounce_domain=DOMAIN)  # no envelope: read from a mailbox
    signed = mail.envelope_from.split("+")[1].split("@")[0]  # token-signature
    assert outcome.token == signed.rsplit("-", 1)[0] and f"<{signed}@{DOMAIN}>" in raw.decode()
    assert _states(store)[("c1@example.com", "email")] == "bounced"
    again = apply_bounce(store, raw, bounce_domain=DOMAIN)  # the same bounce twice changes nothing more
    assert again.action.startswith("kept (not forward from bounced)")
    with store.connect() as conn:  # but both arrivals are on record
        assert conn.execute(select(events.c.kind, events.c.reason)).all() == [("bounced", "5.1.1")] * 2


def test_forged_bounces_and_bounces_that_name_no_message_of_ours_change_nothing(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    mail = _one_email_sent(store, settings, smtp, tmp_path)
    signed = mail.envelope_from.split("+")[1].split("@")[0]
    token = signed.rsplit("-", 1)[0]  # guessable (c<campaign>m<row>e); the signature is not
    real = dsn(mail, status="5.1.1", diagnostic="550 user unknown")
    with BounceReceiver(store, DOMAIN, port=free_port()) as receiver:
        for claimed in ("NoSuchToken123", token, f"{token}-aaaaaaaaaa"):  # unknown, unsigned, badly signed
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused, match="No such bounce address"):
                _deliver(
                    receiver.port,
                    real.replace(signed.encode(), claimed.encode()),
                    f"bounce+{claimed}@{DOMAIN}",
                )
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):  # not an open relay
            _deliver(receiver.port, real, "someone@elsewhere.example")
        # Sent to a plain address of the domain, it is matched by the Message-ID it quotes, signature and all.
        _deliver(
            receiver.port,
            real.replace(signed.encode(), f"{token}-aaaaaaaaaa".encode()),
            f"postmaster@{DOMAIN}",
        )
    # Refused before the message was even read; the one that got in by another door changed nothing either.
    assert [o.action for o in receiver.outcomes] == ["refused: the signature does not match (forged?)"]
    assert _states(store)[("c1@example.com", "email")] == "accepted"
    with store.connect() as conn:
        assert conn.execute(select(customers.c.email_problem)).scalar() is None


def test_a_spam_complaint_opts_the_customer_out_of_email(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    mail = _one_email_sent(store, settings, smtp, tmp_path)
    headers = mail.data.split(b"\r\n\r\n", 1)[0].decode()
    arf = (
        "From: feedback@isp.example\r\nTo: "
        + mail.envelope_from
        + "\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: isp/1.0\r\n"
        "Version: 1\r\n\r\n"
        f"--F\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--F--\r\n"
    ).encode()
    with BounceReceiver(store, DOMAIN, port=free_port()) as receiver:
        _deliver(receiver.port, arf, mail.envelope_from)
    assert receiver.outcomes[0].category == "feedback"
    with store.connect() as conn:
        assert conn.execute(select(customers.c.email_opt_out)).scalar() is True
        assert conn.execute(select(events.c.kind, events.c.reason)).all() == [("complained", "abuse")]
    import_rows(store, tmp_path, [customer(1)])  # the file says "not opted out": the complaint still counts
    with store.connect() as conn:
        assert conn.execute(select(customers.c.email_opt_out)).scalar() is True


def test_bounces_saved_from_a_mailbox_are_applied_from_the_cli(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from notifier.cli.app import app

    planned_campaign(
        store, settings, tmp_path, [customer(1), customer(2)], channels=frozenset({Channel.EMAIL})
    )
    _launch(store, settings)
    saved = tmp_path / "bounce.eml"
    saved.write_bytes(
        dsn(_mail_to(smtp, "c2@example.com"), status="5.1.1", diagnostic="550 5.1.1 no such user")
    )
    noise = tmp_path / "hello.eml"
    noise.write_bytes(b"From: a@b.example\r\nSubject: hi\r\n\r\nnot a bounce\r\n")
    args = ["track", "bounce-files", str(saved), str(noise), "--domain", DOMAIN]
    args += ["--database-url", settings.database_url]
    sign_in(store, monkeypatch, "viewer")
    refused = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert refused.exit_code != 0 and "may not tracking.apply" in refused.output  # a forged bounce suppresses
    who = sign_in(store, monkeypatch, "support")
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    with store.connect() as conn:
        applied = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(
                audit_log.c.action == "tracking.files_applied"
            )
        ).one()
    assert applied.actor == who and len(applied.detail["files"]) == 2  # by SHA-256, never by name
    assert "bounced (hard bounce: 5.1.1" in result.output and "unmatched" in result.output
    assert _states(store) == {("c1@example.com", "email"): "accepted", ("c2@example.com", "email"): "bounced"}


def test_oversized_and_abandoned_deliveries_are_refused_quietly(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with BounceReceiver(store, DOMAIN, port=free_port()) as receiver:
        with pytest.raises(aiosmtplib.SMTPResponseException, match=r"552|too big|exceeded"):
            _deliver(receiver.port, b"Subject: x\r\n\r\n" + b"A" * (3 * 1024 * 1024), f"postmaster@{DOMAIN}")
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:  # goes away mid-DATA
            for line in (
                b"EHLO x\r\n",
                b"MAIL FROM:<>\r\n",
                f"RCPT TO:<postmaster@{DOMAIN}>\r\n".encode(),
                b"DATA\r\n",
            ):
                sock.sendall(line)
                sock.recv(1024)
            sock.sendall(b"Subject: half a message\r\n")
        time.sleep(0.3)
    assert receiver.outcomes == []
    assert "Traceback" not in caplog.text and all(r.levelname != "ERROR" for r in caplog.records)
