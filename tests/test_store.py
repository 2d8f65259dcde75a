"""The store itself: migrations equal the schema, the outbox key holds, claims are exclusive."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from helpers import customer, planned_campaign
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from notifier.clock import utcnow
from notifier.config import Settings
from notifier.models import Channel, OutboxState
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import Outcome
from notifier.store.schema import metadata, outbox


def test_migrations_produce_exactly_the_declared_schema(store: Store) -> None:
    with store.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_one_outbox_row_per_campaign_customer_and_channel(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)])
    with store.connect() as conn:
        row = conn.execute(select(outbox)).first()
    assert row is not None
    duplicate = {k: v for k, v in row._mapping.items() if k != "id"} | {"message_token": "another"}
    with pytest.raises(IntegrityError), store.begin() as conn:
        conn.execute(insert(outbox).values(**duplicate))


def _claim(store: Store, campaign_id: int, limit: int, lease_seconds: int = 60) -> list[int]:
    now = utcnow()
    with store.begin() as conn:
        rows = q.claim_batch(
            conn,
            campaign_id=campaign_id,
            channel=Channel.EMAIL,
            limit=limit,
            lease_token=str(uuid.uuid4()),
            now=now,
            lease_until=now + timedelta(seconds=lease_seconds),
        )
    return [r.id for r in rows]


def test_claims_are_disjoint_and_exhaustive(store: Store, settings: Settings, tmp_path: Path) -> None:
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(40)])
    claimed: list[list[int]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while ids := _claim(store, 1, 3):
                claimed.append(ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    flat = [i for batch in claimed for i in batch]
    assert len(flat) == len(set(flat)) == 40
    assert max(len(batch) for batch in claimed) <= 3
    with store.connect() as conn:
        assert q.outbox_counts(conn, 1)["email"] == {"claimed": 40}
        leases = (
            conn.execute(select(outbox.c.lease_token).where(outbox.c.channel == "email").distinct())
            .scalars()
            .all()
        )
    assert len(leases) == len(claimed)  # one lease per claim


def test_a_claim_takes_exactly_the_limit(store: Store, settings: Settings, tmp_path: Path) -> None:
    # Regression: on PostgreSQL UPDATE … WHERE id IN (SELECT … LIMIT 2 FOR UPDATE SKIP LOCKED) claimed all 5.
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(5)])
    assert len(_claim(store, 1, 2)) == 2
    with store.connect() as conn:
        assert q.outbox_counts(conn, 1)["email"] == {"claimed": 2, "pending": 3}


def test_expired_leases_become_uncertain_and_late_answers_are_ignored(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(3)])
    now = utcnow()
    lease = "dead-worker"
    with store.begin() as conn:
        rows = q.claim_batch(
            conn,
            campaign_id=1,
            channel=Channel.EMAIL,
            limit=10,
            lease_token=lease,
            now=now - timedelta(minutes=10),
            lease_until=now - timedelta(minutes=5),
        )
        assert len(rows) == 3
        q.hand_over(conn, [r.id for r in rows], lease_token=lease, now=now - timedelta(minutes=10))
        assert q.mark_expired_leases_uncertain(conn, 1, now) == 3
        # The dead worker's late answer must not overwrite the uncertain state.
        late = Outcome(rows[0].id, lease, OutboxState.ACCEPTED, handed_over=True, provider_message_id="<x@y>")
        written = q.record_outcomes(conn, [late], now=now)
        assert written == 0
        assert q.outbox_counts(conn, 1)["email"] == {"uncertain": 3}


def test_claimed_rows_never_handed_over_go_back_not_uncertain(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(4)])
    now = utcnow()
    with store.begin() as conn:  # a sender claimed four rows ahead, handed one over, and died
        rows = q.claim_batch(
            conn,
            campaign_id=1,
            channel=Channel.EMAIL,
            limit=4,
            lease_token="dead",
            now=now - timedelta(minutes=10),
            lease_until=now - timedelta(minutes=5),
        )
        assert q.hand_over(conn, [rows[0].id], lease_token="dead", now=now) == [rows[0].id]
        assert q.mark_expired_leases_uncertain(conn, 1, now) == 1
        again = q.claim_batch(
            conn,
            campaign_id=1,
            channel=Channel.EMAIL,
            limit=10,
            lease_token="next",
            now=now,
            lease_until=now + timedelta(minutes=5),
        )
        assert sorted(r.id for r in again) == sorted(
            r.id for r in rows[1:]
        )  # never sent: anyone may take them
        assert q.outbox_counts(conn, 1)["email"] == {"uncertain": 1, "claimed": 3}
        # A hand-over is guarded by the lease: the dead sender's claim is no longer its own.
        assert q.hand_over(conn, [rows[1].id], lease_token="dead", now=now) == []


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("outbox", "state", "sent-ish"),
        ("outbox", "channel", "fax"),
        ("campaigns", "state", "done"),
        ("manifest", "channel_plan", "all"),
        ("approvals", "decision", "maybe"),
    ],
)
def test_the_schema_refuses_states_the_state_machine_does_not_know(
    store: Store, settings: Settings, tmp_path: Path, table: str, column: str, value: str
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)])
    target = metadata.tables[table]
    with pytest.raises(IntegrityError, match=f"ck_{table}_{column}|CHECK"), store.begin() as conn:
        conn.execute(update(target).values({column: value}))
