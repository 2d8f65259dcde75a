"""End-to-end scenarios: render + MIME + send + record, from a launched campaign to all rows accepted,
with the real engine in separate sender processes (shards), against real servers on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from notifier.audience.selection import Selection
from notifier.clock import utcnow
from notifier.config import PROJECT_ROOT, Settings
from notifier.models import Channel, ChannelPolicy, CustomerRecord, DeliveryPolicy, QuietHours
from notifier.notices.approval import approve, pieces
from notifier.notices.incidents import parse_incident
from notifier.notices.records import create_incident
from notifier.sending.campaigns import campaign_status, control, plan_campaign
from notifier.sending.runner import start
from notifier.store import Store
from notifier.store import queries as q

INCIDENT = PROJECT_ROOT / "notifier" / "demo" / "incident.json"
LOCALES = (
    ("en_US", "America/New_York", "US", "CA"),
    ("ru_RU", "Europe/Moscow", "RU", None),
    ("vi_VN", "Asia/Ho_Chi_Minh", "VN", None),
)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh, migrated store: a SQLite file, or a throwaway PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        Store(url).upgrade(PROJECT_ROOT / "migrations")
        yield url
        return
    name = f"notifier_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    store = Store(url)
    store.upgrade(PROJECT_ROOT / "migrations")
    store.dispose()
    try:
        yield url
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _customers(n: int) -> Iterator[list[CustomerRecord]]:
    chunk = []
    for i in range(n):
        locale, zone, country, region = LOCALES[i % 3]
        phone = {
            "US": f"+1415{200 + i % 700:03d}{i % 10000:04d}",
            "RU": f"+7916{i % 10_000_000:07d}",
            "VN": f"+8491{i % 10_000_000:07d}",
        }[country]
        chunk.append(
            CustomerRecord(
                external_id=f"B{i:08d}",
                name=f"Customer {i}",
                email=f"c{i}@example.com",
                phone=phone,
                locale=locale,
                time_zone=zone,
                country=country,
                region=region,
                jurisdiction=f"{country}-{region}" if region else country,
                phone_is_mobile=True,
            )
        )
        if len(chunk) == 2000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prepare(url: str, customers: int, channel: Channel, workdir: Path) -> str:
    """Customers, incident, approvals and a planned campaign for one channel; returns its name."""
    store = Store(url)
    settings = Settings(database_url=url)
    for chunk in _customers(customers):
        with store.begin() as conn:
            q.upsert_customers(conn, chunk, utcnow())
    import json

    facts = json.loads(INCIDENT.read_text(encoding="utf-8"))
    create_incident(store, settings, facts, actor="bench-editor")  # the editor of every piece
    incident = parse_incident(facts, settings.templates_dir)
    approve(
        store,
        settings,
        incident,
        pieces(settings, incident),
        approver="bench-legal",
        role="legal",
        comment="bench",
    )
    ids = workdir / f"ids-{uuid.uuid4().hex[:6]}.txt"
    with ids.open("w", encoding="utf-8") as handle:  # streamed: the harness must not weigh on the RSS figure
        for i in range(customers):
            handle.write(f"B{i:08d}\n")
    name = f"bench-{channel.value}-{uuid.uuid4().hex[:6]}"
    plan_campaign(
        store,
        name=name,
        incident_key=facts["key"],
        selection=Selection(ids_file=ids),
        channels=frozenset({channel}),
        policy=ChannelPolicy.ALL,
        locales=("en", "ru", "vi"),
        actor="bench",
        delivery=DeliveryPolicy(quiet_hours=QuietHours(0, 24)),
    )
    store.dispose()
    return name


def run_shards(
    url: str,
    campaign: str,
    *,
    channel: Channel,
    channel_url: str,
    shards: int,
    stop_after: float | None = None,
    send_log: Path | None = None,
) -> tuple[float, int]:
    """Start the campaign, run ``shards`` sender processes until done (or ``stop_after`` seconds, then
    cancel); returns (seconds from start to the last shard finishing, rows accepted)."""
    store = Store(url)
    settings = Settings(database_url=url)
    start(store, settings, campaign, actor="bench")
    env = {
        **os.environ,
        "NOTIFIER_DATABASE_URL": url,
        "NOTIFIER_BATCH_SIZE": "500",
        "NOTIFIER_EMAIL_URL" if channel is Channel.EMAIL else "NOTIFIER_SMS_URL": channel_url,
        **({"BENCH_SEND_LOG": str(send_log)} if send_log else {}),
    }
    began = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench.shard", campaign], cwd=PROJECT_ROOT, env=env)
        for _ in range(shards)
    ]
    if stop_after is not None:
        time.sleep(stop_after)
        control(store, campaign, "cancel", actor="bench", reason="benchmark window over")
    for proc in procs:
        if proc.wait(timeout=900) != 0:
            raise RuntimeError(f"a shard failed with exit code {proc.returncode}")
    elapsed = time.perf_counter() - began
    accepted = campaign_status(store, campaign).outbox.get(channel.value, {}).get("accepted", 0)
    store.dispose()
    return elapsed, accepted
