"""Scale-out as docs/operations.md tells an operator to run it: a real Prefect server, prefect.yaml
deployed with `prefect deploy --all`, two process workers, and `start-campaign` fanning out two
`send-shard` runs that send one campaign together from a PostgreSQL store, each message exactly once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import customer, planned_campaign

from notifier.config import PROJECT_ROOT, Settings
from notifier.models import Channel
from notifier.sending.campaigns import campaign_status
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin, free_port

pytestmark = [pytest.mark.prefect, pytest.mark.postgres]
PREFECT = str(Path(sys.executable).with_name("prefect"))
CUSTOMERS = 600


class PrefectServer:
    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NOTIFIER_"))},
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api,
            "NOTIFIER_PROJECT_DIR": str(PROJECT_ROOT),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        }
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.processes.append(
                subprocess.Popen(
                    [PREFECT, *args],
                    cwd=PROJECT_ROOT,
                    env={**self.env, **(env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [PREFECT, *args],
            check=False,
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (
            f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done.stdout

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 300  # a first start migrates Prefect's own database
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.processes[0].poll() is None, (self.logs / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        raise AssertionError("the Prefect server did not come up")

    def _runs(self) -> list[tuple[str, str, str]]:
        flows = {f["id"]: f["name"] for f in httpx.post(f"{self.api}/flows/filter", json={}).json()}
        return [
            (flows[r["flow_id"]], r["state_type"], r["id"])
            for r in httpx.post(f"{self.api}/flow_runs/filter", json={}).json()
        ]

    def flow_runs(self) -> Counter[tuple[str, str]]:
        return Counter((flow, state) for flow, state, _ in self._runs())

    def shard_accepted(self) -> list[int]:
        """What each send-shard run says it accepted, from the end of its own log."""
        accepted = []
        for flow, _, run_id in self._runs():
            if flow != "send-shard":
                continue
            logs = httpx.post(
                f"{self.api}/logs/filter",
                json={"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_DESC", "limit": 20},
            ).json()
            accepted += [
                int(m.group(1))
                for log in logs
                if (m := re.search(r"shard totals: accepted=(\d+)", log["message"]))
            ]
        return sorted(accepted)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[PrefectServer]:
    server = PrefectServer(tmp_path / "prefect-home")
    server.spawn("server", "server", "start", "--host", "127.0.0.1", "--port", str(server.port))
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_workers_send_one_campaign_through_the_deployments_exactly_once(
    prefect_server: PrefectServer, store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store,
        settings,
        tmp_path,
        [customer(n) for n in range(1, CUSTOMERS + 1)],
        channels=frozenset({Channel.EMAIL}),
    )
    prefect_server.run("work-pool", "create", "local-process", "--type", "process")
    prefect_server.run("--no-prompt", "deploy", "--all")
    # Secrets reach the flows only through each worker's environment. At 50/s the campaign lasts ~12 s, so
    # both shards usually take part; how the rows split depends on when each process gets going.
    worker_env = {"NOTIFIER_DATABASE_URL": settings.database_url, "NOTIFIER_EMAIL_URL": f"{smtp.url}&rate=50"}
    for n in (1, 2):
        prefect_server.spawn(f"worker{n}", "worker", "start", "--pool", "local-process", env=worker_env)
    prefect_server.run(
        "deployment", "run", "start-campaign/start-campaign", "-p", "campaign=test-campaign", "-p", "shards=2"
    )

    deadline = time.monotonic() + 300
    while campaign_status(store, "test-campaign").state != "completed" and time.monotonic() < deadline:
        time.sleep(0.5)
    deadline = time.monotonic() + 60  # the runs report their final state a moment later
    while prefect_server.flow_runs().get(("send-shard", "COMPLETED"), 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)

    status = campaign_status(store, "test-campaign")
    per_recipient = Counter(r for mail in smtp.received for r in mail.recipients)
    assert status.state == "completed" and status.outbox == {"email": {"accepted": CUSTOMERS}}
    assert len(per_recipient) == CUSTOMERS and max(per_recipient.values()) == 1  # each exactly once
    sending_runs = {
        k: n for k, n in prefect_server.flow_runs().items() if k[0] in ("start-campaign", "send-shard")
    }
    assert sending_runs == {("start-campaign", "COMPLETED"): 1, ("send-shard", "COMPLETED"): 2}
    # The scheduled deployments (track-mailbox, reconcile) may run meanwhile; they never fail or send here.
    assert not {state for _, state in prefect_server.flow_runs()} & {"FAILED", "CRASHED"}
    deadline = time.monotonic() + 60  # run logs reach the server in batches, after the run's final state
    while len(shares := prefect_server.shard_accepted()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(shares) == 2 and sum(shares) == CUSTOMERS  # each shard's own count adds up to the campaign
    print(f"rows sent by each shard: {shares}")
