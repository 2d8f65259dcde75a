"""A store outage is a pause, not a crash: the line to PostgreSQL is cut in the middle of a campaign (a TCP
proxy in front of the real server resets every connection and refuses new ones, as a restart does).

- Shorter than NOTIFIER_STORE_OUTAGE_SECONDS: the launch waits, goes on by itself and exits 0; every row
  is accepted, every message arrived once, and no traceback is printed.
- Longer: one line saying so, exit 1, no traceback; a relaunch once the store is back finishes the campaign
  with nothing lost and nothing sent twice.
- The webhooks answer 503 while the store is away (Twilio tries again) and apply the same request after."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from helpers import customer, planned_campaign
from sqlalchemy import select
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

from notifier.accounts.users import add_user, issue_token
from notifier.config import PROJECT_ROOT, Settings
from notifier.models import Channel
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import manifest, outbox, replies
from notifier.testing.serving import served
from notifier.testing.smtp import SmtpStandin, free_port
from notifier.testing.tcp_proxy import TcpProxy
from notifier.testing.twilio import TwilioStandin
from notifier.tracking.app import tracking_app

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]
CUSTOMERS = 300
RATE = 120  # messages per second and channel: the campaign takes a few seconds, the cut lands inside it


def _through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def _launch_process(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, url: str, **env: str
) -> subprocess.Popen[bytes]:
    add_user(store, "worker", display_name="worker", roles=["comms"], password=None, actor="tests")
    environment = {
        **os.environ,
        "NOTIFIER_TOKEN": issue_token(store, "worker", label="outage test", actor="tests"),
        "NOTIFIER_DATABASE_URL": url,
        "NOTIFIER_EMAIL_URL": f"{smtp.url}&rate={RATE}",
        "NOTIFIER_SMS_URL": f"{twilio.url}&rate={RATE}",
        "NOTIFIER_BATCH_SIZE": "100",
        "NOTIFIER_LEASE_SECONDS": "60",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "notifier.cli.app", "campaign", "launch", "test-campaign", "--direct"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _sent(smtp: SmtpStandin, twilio: TwilioStandin) -> int:
    return len(smtp.received) + len(twilio.messages)


def _wait_for_sending(worker: subprocess.Popen[bytes], smtp: SmtpStandin, twilio: TwilioStandin) -> None:
    deadline = time.monotonic() + 90
    while _sent(smtp, twilio) < 120:
        assert worker.poll() is None, worker.communicate()[1].decode()
        assert time.monotonic() < deadline, "the launch did not get going"
        time.sleep(0.01)


def _outcome(store: Store, smtp: SmtpStandin, twilio: TwilioStandin) -> tuple[Counter[str], list[str]]:
    """Rows by state, and every recipient who got more than one message."""
    with store.connect() as conn:
        states = Counter(conn.execute(select(outbox.c.state)).scalars())
    received = Counter(r for mail in smtp.received for r in mail.recipients)
    received.update(m["to"] for m in twilio.messages)
    return states, [who for who, n in received.items() if n > 1]


def _plan(store: Store, settings: Settings, tmp_path: Path) -> None:
    planned_campaign(
        store,
        settings,
        tmp_path,
        [customer(n) for n in range(1, CUSTOMERS + 1)],
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
    )


def test_an_outage_shorter_than_the_grace_is_a_pause(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    _plan(store, settings, tmp_path)
    with TcpProxy("127.0.0.1", make_url(store.url).port or 5432) as proxy:
        worker = _launch_process(store, settings, smtp, twilio, _through(proxy, store.url))
        _wait_for_sending(worker, smtp, twilio)
        proxy.cut()
        at_cut = _sent(smtp, twilio)
        time.sleep(4)
        during = _sent(smtp, twilio) - at_cut
        proxy.restore()
        _out, err = worker.communicate(timeout=120)
    stderr = err.decode()
    assert worker.returncode == 0, stderr
    assert "Traceback" not in stderr and "does not answer" in stderr and "answers again" in stderr
    # Handed over before the cut at most: no provider call once the store was seen to be away.
    assert during <= 2 * 2 * 8, during
    states, twice = _outcome(store, smtp, twilio)
    assert twice == []
    assert states == Counter({"accepted": 2 * CUSTOMERS}), states  # nothing lost, uncertain or held
    assert _sent(smtp, twilio) == 2 * CUSTOMERS


def test_an_outage_longer_than_the_grace_ends_with_one_line_and_a_relaunch_finishes(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    _plan(store, settings, tmp_path)
    with TcpProxy("127.0.0.1", make_url(store.url).port or 5432) as proxy:
        worker = _launch_process(
            store,
            settings,
            smtp,
            twilio,
            _through(proxy, store.url),
            NOTIFIER_STORE_OUTAGE_SECONDS="2",
            NOTIFIER_LEASE_SECONDS="6",  # what the dead run left in flight is settled 6 s later
        )
        _wait_for_sending(worker, smtp, twilio)
        proxy.cut()
        _out, err = worker.communicate(timeout=60)
    stderr = err.decode()
    assert worker.returncode == 1, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: the store at ") and "has not answered for" in last, stderr
    assert "more than 2 s: NOTIFIER_STORE_OUTAGE_SECONDS" in last
    # Back: the relaunch settles what was in flight (SMS asked of Twilio; email held for review, never
    # sent blindly) and sends the rest.
    sms_url = f"{twilio.url}&rate={RATE}"
    launch(
        store,
        replace(settings, sms_url=sms_url, lease_seconds=6),
        "test-campaign",
        actor="w2",
        max_wait_seconds=120,
    )
    states, twice = _outcome(store, smtp, twilio)
    assert twice == []
    assert set(states) <= {"accepted", "uncertain"} and sum(states.values()) == 2 * CUSTOMERS, states
    with store.connect() as conn:
        held = conn.execute(select(outbox.c.channel).where(outbox.c.state == "uncertain")).scalars().all()
        emails = set(conn.execute(select(manifest.c.email)).scalars())
    assert set(held) <= {"email"}  # an uncertain SMS is settled by asking Twilio
    received = {r for mail in smtp.received for r in mail.recipients}
    assert received <= emails


def test_the_webhooks_answer_503_while_the_store_is_away_and_apply_the_retry(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.SMS}))
    launch(store, settings, "test-campaign", actor="t")
    with store.connect() as conn:
        token = conn.execute(select(outbox.c.message_token)).scalar_one()
    with TcpProxy("127.0.0.1", make_url(store.url).port or 5432) as proxy:
        away = Store(_through(proxy, store.url))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        app = tracking_app(
            away, auth_token=twilio.auth_token, public_base_url=base, templates_dir=settings.templates_dir
        )
        with served(app, port):
            url = f"{base}/twilio/status?t={token}"

            def callback(status: str) -> int:
                form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": status}
                signature = RequestValidator(twilio.auth_token).compute_signature(url, form)
                answer = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=20)
                return answer.status_code

            assert callback("sent") == 200  # the pool holds a connection now
            proxy.cut()
            assert callback("delivered") == 503
            inbound = twilio.text_in(f"{base}/twilio/inbound", sender=customer(1)["phone"], body="hello?")
            assert inbound.status_code == 503
            proxy.restore()
            assert callback("delivered") == 200  # Twilio's retry
            inbound = twilio.text_in(f"{base}/twilio/inbound", sender=customer(1)["phone"], body="hello?")
            assert inbound.status_code == 200
        away.dispose()
    with store.connect() as conn:
        assert conn.execute(select(outbox.c.state)).scalar_one() == "delivered"
        assert conn.execute(select(replies.c.body)).scalars().all() == ["hello?"]
