"""Reliability: a sending worker killed with SIGKILL mid-campaign, then resumed.

Zero duplicates, zero lost: every customer's row ends accepted or ``uncertain`` (held for review, never
blindly re-sent), no more rows are uncertain than the dead worker really had in flight (about its
concurrency, never its claim of ``BATCH`` rows ahead), and every accepted row's message really arrived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import customer, planned_campaign
from sqlalchemy import select

from notifier.config import PROJECT_ROOT, Settings
from notifier.models import Channel
from notifier.sending.pipeline import in_flight_bound
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import manifest, outbox
from notifier.testing.smtp import SmtpStandin

CUSTOMERS = 400
BATCH = 200  # claimed ahead: a crash must not make these uncertain
LEASE = 2
CONCURRENCY = 4
# In the provider's hands (one per sender slot) and answered but not yet written: never the claim, never
# a row still waiting for its slot (pipeline.in_flight_bound).
IN_FLIGHT = in_flight_bound(CONCURRENCY, BATCH)


def _token(store: Store) -> str:
    """The launching worker's API token (a comms user's): the CLI acts only as a signed-in person."""
    from notifier.accounts.users import add_user, issue_token

    add_user(store, "worker", display_name="worker", roles=["comms"], password=None, actor="tests")
    return issue_token(store, "worker", label="crash test", actor="tests")


@pytest.mark.parametrize("kill_after", [1, 130, 333])
def test_kill_9_mid_campaign_then_resume(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path, kill_after: int
) -> None:
    planned_campaign(
        store,
        settings,
        tmp_path,
        [customer(n) for n in range(1, CUSTOMERS + 1)],
        channels=frozenset({Channel.EMAIL}),
    )
    env = {
        **os.environ,
        "NOTIFIER_TOKEN": _token(store),
        "NOTIFIER_DATABASE_URL": settings.database_url,
        "NOTIFIER_EMAIL_URL": f"{smtp.url}&concurrency={CONCURRENCY}",
        "NOTIFIER_BATCH_SIZE": str(BATCH),
        "NOTIFIER_LEASE_SECONDS": str(LEASE),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notifier.cli.app",
            "campaign",
            "launch",
            "test-campaign",
            "--direct",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(smtp.received) < kill_after:
        assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else "worker died"
        assert time.monotonic() < deadline, "the worker did not get going"
        time.sleep(0.005)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    received_before = len(smtp.received)
    assert received_before < CUSTOMERS, "killed too late to test anything"

    time.sleep(LEASE + 0.5)  # the dead worker's leases expire
    launch(store, settings, "test-campaign", actor="w2")

    per_recipient = Counter(r for mail in smtp.received for r in mail.recipients)
    assert [r for r, n in per_recipient.items() if n > 1] == []  # zero duplicates
    with store.connect() as conn:
        rows = conn.execute(select(outbox.c.state, manifest.c.email).join(manifest)).all()
    states = Counter(state for state, _ in rows)
    assert set(states) <= {"accepted", "uncertain"} and sum(states.values()) == CUSTOMERS  # zero lost
    assert states["uncertain"] <= IN_FLIGHT  # what was really in flight, not the claim
    accepted = {email for state, email in rows if state == "accepted"}
    assert accepted <= set(per_recipient)  # accepted means it really went out
    uncertain = {email for state, email in rows if state == "uncertain"}
    assert set(per_recipient) <= accepted | uncertain
    # Uncertain and never sent: only a row marked in the instant before its request (one per sender slot).
    assert len(uncertain - set(per_recipient)) <= CONCURRENCY


def test_kill_9_then_relaunch_at_once_with_the_resend_policy(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    """Relaunched before the dead sender's leases ran out, under `resend`: the relaunch waits for them,
    settles them and finishes; only what was in flight can arrive twice."""
    from notifier.models import DeliveryPolicy, QuietHours, UncertainEmail

    resend = DeliveryPolicy(quiet_hours=QuietHours(0, 24), uncertain_email=UncertainEmail.RESEND)
    rows = [customer(n) for n in range(1, CUSTOMERS + 1)]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.EMAIL}), delivery=resend)
    env = {
        **os.environ,
        "NOTIFIER_TOKEN": _token(store),
        "NOTIFIER_DATABASE_URL": settings.database_url,
        "NOTIFIER_EMAIL_URL": f"{smtp.url}&concurrency={CONCURRENCY}",
        "NOTIFIER_BATCH_SIZE": str(BATCH),
        "NOTIFIER_LEASE_SECONDS": str(LEASE),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notifier.cli.app",
            "campaign",
            "launch",
            "test-campaign",
            "--direct",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(smtp.received) < 150:
        assert worker.poll() is None and time.monotonic() < deadline, "the worker did not get going"
        time.sleep(0.005)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    started = time.monotonic()
    launch(store, replace(settings, lease_seconds=LEASE), "test-campaign", actor="w2", max_wait_seconds=60)
    assert time.monotonic() - started < 30  # it did not spin to its deadline
    per_recipient = Counter(r for mail in smtp.received for r in mail.recipients)
    assert set(per_recipient) == {r["email"] for r in rows}  # everybody got it
    assert sum(n - 1 for n in per_recipient.values()) <= IN_FLIGHT  # twice only for what was in flight
    with store.connect() as conn:
        states = Counter(conn.execute(select(outbox.c.state)).scalars())
    assert states == {"accepted": CUSTOMERS}
