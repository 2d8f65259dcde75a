"""Cancelling a sending flow run from Prefect (the UI's Cancel button is this API call): Prefect's runner
tells the flow process to cancel and sends it SIGTERM; the flow drains like any stopped sender
(notifier/stopping.py) and the run ends Cancelled, not Crashed. The runner, the flow process, the
signal and the server are all real: ``notify_customers.serve()`` in a subprocess against the session's
Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
from helpers import customer, planned_campaign, sent_and_recorded

from notifier.config import PROJECT_ROOT, Settings
from notifier.models import Channel
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

CUSTOMERS = 300
RATE = 40  # per channel and second: the run sends for several seconds, the cancel lands in the middle
SERVE = (
    "from flows.notify_customers import notify_customers; "
    "notify_customers.serve(name='notify-customers', print_starting_message=False)"
)


def _wait(what: str, seconds: float, check: object) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.prefect
@pytest.mark.postgres
@pytest.mark.parametrize(
    "db_url", ["postgres"], indirect=True
)  # as deployed; SIGTERM on SQLite: test_graceful_stop
def test_cancelling_a_run_from_prefect_drains_it_and_the_run_ends_cancelled(
    prefect_harness: None,
    store: Store,
    settings: Settings,
    smtp: SmtpStandin,
    twilio: TwilioStandin,
    tmp_path: Path,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Cancelling

    rows = [customer(n) for n in range(1, CUSTOMERS + 1)]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.EMAIL, Channel.SMS}))
    env = {
        **os.environ,
        **settings.as_env(),
        "NOTIFIER_EMAIL_URL": f"{smtp.url}&rate={RATE}",
        "NOTIFIER_SMS_URL": f"{twilio.url}&rate={RATE}",
        "NOTIFIER_BATCH_SIZE": "100",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    runner = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with get_client(sync_client=True) as client:

            def deployed() -> bool:
                assert runner.poll() is None, runner.communicate()[0].decode()
                return any(d.name == "notify-customers" for d in client.read_deployments())

            _wait("the runner did not register its deployment", 120, deployed)
            flow_run = run_deployment(
                "notify-customers/notify-customers", parameters={"campaign": "test-campaign"}, timeout=0
            )
            run_id: UUID = flow_run.id  # type: ignore[union-attr]
            _wait(
                "the run did not start sending", 120, lambda: len(smtp.received) + len(twilio.messages) > 60
            )
            client.set_flow_run_state(run_id, Cancelling(), force=True)

            def ended() -> bool:
                state = client.read_flow_run(run_id).state
                return state is not None and state.is_final()

            _wait("the cancelled run did not end", 90, ended)
            state = client.read_flow_run(run_id).state
            assert state is not None
            logs = "\n".join(log.message for log in client.read_logs() if log.flow_run_id == run_id)
    finally:
        runner.terminate()
        output = runner.communicate(timeout=60)[0].decode()
    assert state.is_cancelled(), f"{state.type}: {state.message}\n{logs}\n{output[-3000:]}"
    assert "SIGTERM: stopping" in logs and "stopped:" in logs, logs
    states, received, recorded = sent_and_recorded(store, smtp, twilio)
    assert states["uncertain"] == states["sending"] == states["claimed"] == 0, states
    assert states["pending"] > 0, states  # cancelled mid-campaign: the rest was given back
    assert received == recorded  # what went out is recorded, nothing else

    launch(store, settings, "test-campaign", actor="after-cancel", max_wait_seconds=120)
    received = [r for mail in smtp.received for r in mail.recipients] + [m["to"] for m in twilio.messages]
    assert len(received) == len(set(received)) == 2 * CUSTOMERS  # none twice, none lost
