"""A graceful stop (notifier/stopping.py): SIGTERM to a sending `campaign launch`, a real process and a
real signal, on SQLite and PostgreSQL. It stops claiming, finishes what is in the provider's hands and
records it, gives back the rest (pending, no attempt counted), says so in one line and exits 0: no row
left uncertain, sending or claimed, every message the stand-ins received recorded as accepted, and a
relaunch finishes with nothing lost and nothing sent twice. A second signal stops it at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from helpers import customer, planned_campaign, sent_and_recorded
from sqlalchemy import select

from notifier.accounts.users import add_user, issue_token
from notifier.config import PROJECT_ROOT, Settings
from notifier.models import Channel
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import outbox
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

CUSTOMERS = 400
RATE = 80  # per channel and second: the campaign takes seconds, the signal lands in the middle


def _launch(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin
) -> subprocess.Popen[bytes]:
    add_user(store, "worker", display_name="worker", roles=["comms"], password=None, actor="tests")
    env = {
        **os.environ,
        "NOTIFIER_TOKEN": issue_token(store, "worker", label="stop test", actor="tests"),
        "NOTIFIER_DATABASE_URL": settings.database_url,
        "NOTIFIER_EMAIL_URL": f"{smtp.url}&rate={RATE}",
        "NOTIFIER_SMS_URL": f"{twilio.url}&rate={RATE}",
        "NOTIFIER_BATCH_SIZE": "200",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "notifier.cli.app", "campaign", "launch", "test-campaign", "--direct"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _sent(smtp: SmtpStandin, twilio: TwilioStandin) -> int:
    return len(smtp.received) + len(twilio.messages)


def _until_sending(worker: subprocess.Popen[bytes], smtp: SmtpStandin, twilio: TwilioStandin) -> None:
    deadline = time.monotonic() + 60
    while _sent(smtp, twilio) < 100:
        assert worker.poll() is None, worker.communicate()[1].decode()
        assert time.monotonic() < deadline, "the launch did not get going"
        time.sleep(0.01)


def test_sigterm_drains_a_sender_and_a_relaunch_finishes(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    rows = [customer(n) for n in range(1, CUSTOMERS + 1)]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.EMAIL, Channel.SMS}))
    worker = _launch(store, settings, smtp, twilio)
    _until_sending(worker, smtp, twilio)
    worker.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    _out, err = worker.communicate(timeout=60)
    took = time.monotonic() - signalled
    stderr = err.decode()
    assert worker.returncode == 0, stderr
    assert took < 25 and "Traceback" not in stderr, stderr
    said = re.search(r"stopped: (\d+) sent and recorded, (\d+) put back", stderr)
    assert said, stderr
    states, received, recorded = sent_and_recorded(store, smtp, twilio)
    assert states["uncertain"] == states["sending"] == states["claimed"] == 0, states
    assert set(states) <= {"accepted", "pending"} and states["pending"] > 0, states  # given back, not lost
    assert received == recorded  # everything that went out is recorded, nothing else is
    assert int(said.group(1)) == len(recorded)

    launch(store, settings, "test-campaign", actor="w2", max_wait_seconds=120)
    with store.connect() as conn:
        states = Counter(conn.execute(select(outbox.c.state)).scalars())
    assert states == Counter({"accepted": 2 * CUSTOMERS}), states
    received = [r for mail in smtp.received for r in mail.recipients] + [m["to"] for m in twilio.messages]
    assert len(received) == len(set(received)) == 2 * CUSTOMERS  # none twice, none lost


def test_a_second_signal_stops_at_once(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store,
        settings,
        tmp_path,
        [customer(n) for n in range(1, 201)],
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
    )
    worker = _launch(store, settings, smtp, twilio)
    _until_sending(worker, smtp, twilio)
    smtp.data_delay = 10.0  # what is in flight now takes 10 s: the second signal lands while it drains
    time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.poll() is None  # still draining
    worker.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _out, err = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGTERM and time.monotonic() - started < 5, err.decode()
    assert "again: stopping at once" in err.decode()


def test_sigterm_to_serve_answers_the_callbacks_in_flight_and_loses_none(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    """Every status callback answered 200 is in the store: the service commits what it took before it
    exits (Twilio sends a callback again after anything but a 200, so those are not lost either)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from twilio.request_validator import RequestValidator

    from notifier.testing.smtp import free_port

    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 301)], channels=frozenset({Channel.SMS})
    )
    launch(store, settings, "test-campaign", actor="t")
    with store.connect() as conn:
        tokens = list(conn.execute(select(outbox.c.message_token)).scalars())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NOTIFIER_DATABASE_URL": settings.database_url, "NOTIFIER_SMS_URL": twilio.url}
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notifier.cli.app",
            "serve",
            "--only",
            "hooks",
            "--port",
            str(port),
            "--public-url",
            base,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
    validator = RequestValidator(twilio.auth_token)

    def callback(token: str) -> int:
        url = f"{base}/twilio/status?t={token}"
        form = {"MessageSid": "SM" + token[:32].ljust(32, "0"), "MessageStatus": "delivered"}
        try:
            answer = httpx.post(
                url,
                data=form,
                headers={"X-Twilio-Signature": validator.compute_signature(url, form)},
                timeout=30,
            )
        except httpx.HTTPError:
            return 0  # refused or cut: Twilio would send it again
        return answer.status_code

    with ThreadPoolExecutor(16) as pool:
        answers = pool.map(callback, tokens)
        time.sleep(0.3)
        serve.send_signal(signal.SIGTERM)
        by_token = dict(zip(tokens, answers, strict=True))
    _out, err = serve.communicate(timeout=30)
    assert serve.returncode == 0 and "Traceback" not in err.decode(), err.decode()
    with store.connect() as conn:
        delivered = set(
            conn.execute(select(outbox.c.message_token).where(outbox.c.state == "delivered")).scalars()
        )
    answered = {t for t, code in by_token.items() if code == 200}
    assert answered and answered <= delivered  # nothing answered 200 was lost
