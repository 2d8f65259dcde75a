"""Scale-out as docs/operations.md tells an operator to run it: a real Prefect server, prefect.yaml
deployed with `prefect deploy --all`, two process workers, and `start-campaign` fanning out two
`send-shard` runs that send one campaign together from a PostgreSQL store, each message exactly once.
And the console given that server: its Launch starts a notify-customers run that a worker sends, and a
campaign that is not approved is refused on the page before any run exists."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from helpers import LOCALES, customer, incident_facts, planned_campaign
from test_tracking import serving_at

from notifier.accounts.users import add_user
from notifier.audience.selection import Selection
from notifier.config import PROJECT_ROOT, Settings
from notifier.console.app import console_app
from notifier.models import Channel, ChannelPolicy
from notifier.sending.campaigns import campaign_status, plan_campaign
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin, free_port

pytestmark = [pytest.mark.prefect, pytest.mark.postgres]
PREFECT = str(Path(sys.executable).with_name("prefect"))
CUSTOMERS = 600
CONSOLE_CUSTOMERS = 40
PASSWORD = "console test passphrase"


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

    def deploy_with_workers(self, workers: int, env: dict[str, str]) -> None:
        """prefect.yaml deployed to a process pool, and ``workers`` workers with ``env`` polling it."""
        self.run("work-pool", "create", "local-process", "--type", "process")
        self.run("--no-prompt", "deploy", "--all")
        for n in range(1, workers + 1):
            self.spawn(f"worker{n}", "worker", "start", "--pool", "local-process", env=env)

    def runs_json(self) -> list[dict[str, Any]]:
        """Every flow run on the server, as its API gives it, with the flow's name added."""
        flows = {f["id"]: f["name"] for f in httpx.post(f"{self.api}/flows/filter", json={}).json()}
        runs: list[dict[str, Any]] = httpx.post(f"{self.api}/flow_runs/filter", json={}).json()
        return [{**r, "flow_name": flows[r["flow_id"]]} for r in runs]

    def _runs(self) -> list[tuple[str, str, str]]:
        return [(r["flow_name"], r["state_type"], r["id"]) for r in self.runs_json()]

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
    # Secrets reach the flows only through each worker's environment. At 50/s the campaign lasts ~12 s, so
    # both shards usually take part; how the rows split depends on when each process gets going.
    prefect_server.deploy_with_workers(2, _worker_env(settings, smtp))
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


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_the_console_launches_through_the_deployment_and_refuses_an_unapproved_campaign_on_the_page(
    prefect_server: PrefectServer, store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store,
        settings,
        tmp_path,
        [customer(n) for n in range(1, CONSOLE_CUSTOMERS + 1)],
        channels=frozenset({Channel.EMAIL}),
    )
    # The same people and incident, but the update notice, which legal has not approved.
    plan_campaign(
        store,
        name="held-back",
        incident_key=incident_facts()["key"],
        selection=Selection(ids_file=tmp_path / "affected.txt"),
        channels=frozenset({Channel.EMAIL}),
        policy=ChannelPolicy.ALL,
        locales=LOCALES,
        actor="tester",
        notice="breach_update",
    )
    add_user(store, "casey", display_name="Casey", roles=["comms"], password=PASSWORD, actor="tests")
    prefect_server.deploy_with_workers(1, _worker_env(settings, smtp))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Given explicitly: whatever Prefect settings this test process has, the launch must reach this server.
    app = console_app(
        store,
        settings,
        secret_key=secrets.token_hex(32),
        secure_cookies=False,
        prefect_api_url=prefect_server.api,
    )
    with serving_at(app, port), httpx.Client(base_url=base, headers={"Origin": base}, timeout=60) as casey:
        assert casey.post("/login", data={"username": "casey", "password": PASSWORD}).status_code == 303
        refused = casey.post("/campaigns/held-back/control", data={"action": "launch"})
        launched = casey.post("/campaigns/test-campaign/control", data={"action": "launch"})
        page = casey.get(launched.headers["location"]).text

    assert refused.status_code == 400, refused.text
    assert "cannot be sent" in refused.text and "breach_update" in refused.text  # the gate's own words
    assert launched.status_code == 303, launched.text
    done = parse_qs(urlsplit(launched.headers["location"]).query)["done"][0]
    named = re.fullmatch(r"launch: Prefect flow run (\S+)", done)
    assert named, done
    assert f"Done: {done}." in page

    deadline = time.monotonic() + 300
    while campaign_status(store, "test-campaign").state != "completed" and time.monotonic() < deadline:
        time.sleep(0.5)
    deadline = time.monotonic() + 60  # the run reports its final state a moment later
    while (
        prefect_server.flow_runs().get(("notify-customers", "COMPLETED"), 0) < 1
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)

    status = campaign_status(store, "test-campaign")
    per_recipient = Counter(r for mail in smtp.received for r in mail.recipients)
    assert status.state == "completed" and status.outbox == {"email": {"accepted": CONSOLE_CUSTOMERS}}
    assert len(per_recipient) == CONSOLE_CUSTOMERS and max(per_recipient.values()) == 1
    notify_runs = [r for r in prefect_server.runs_json() if r["flow_name"] == "notify-customers"]
    assert [
        (r["name"], r["state_type"], r["parameters"]["campaign"], r["parameters"]["actor"])
        for r in notify_runs
    ] == [(named.group(1), "COMPLETED", "test-campaign", "casey")]  # none for the refused campaign
    assert campaign_status(store, "held-back").state == "planned"


def _worker_env(settings: Settings, smtp: SmtpStandin) -> dict[str, str]:
    return {"NOTIFIER_DATABASE_URL": settings.database_url, "NOTIFIER_EMAIL_URL": f"{smtp.url}&rate=50"}
