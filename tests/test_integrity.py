"""Tamper evidence: the audit log, delivery events and events are hash-chained; an edit, a deletion or a
re-hashed row is found at the first link it breaks, and two writers at once never fork a chain."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, sign_in
from sqlalchemy import Connection, delete, func, select, text, update
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.reports.integrity import seal_all, verify_all
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.schema import audit_log, chain_heads, delivery_events

runner = CliRunner()


def _audit(store: Store, n: int, actor: str = "tester") -> None:
    for i in range(n):
        with store.begin() as conn:
            q.audit(
                conn, actor=actor, action="test.entry", subject=f"thing:{i}", detail={"i": i}, now=utcnow()
            )


def _reset_audit_chain(conn: Connection) -> None:
    conn.execute(delete(audit_log))
    conn.execute(
        update(chain_heads).where(chain_heads.c.chain == "audit_log").values(seq=0, row_hash="0" * 64)
    )


def _broken(store: Store) -> dict[str, q.ChainBreak]:
    return {s.chain: s.broken for s in verify_all(store) if s.broken is not None}


def test_audit_entries_are_sealed_as_they_are_written_and_verify(store: Store) -> None:
    _audit(store, 5)
    with store.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        head = conn.execute(select(chain_heads).where(chain_heads.c.chain == "audit_log")).one()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
    assert (head.seq, head.row_hash) == (5, rows[-1].row_hash)
    assert _broken(store) == {}
    status = {s.chain: s for s in verify_all(store)}["audit_log"]
    assert (status.verified, status.unsealed) == (5, 0)


@pytest.mark.parametrize("column, value", [("actor", "mallory"), ("detail", {"i": 99}), ("at", None)])
def test_editing_one_audit_row_by_hand_breaks_the_chain_at_that_row(
    store: Store, column: str, value: object
) -> None:
    _audit(store, 6)
    with store.begin() as conn:
        target = conn.execute(select(audit_log.c.id, audit_log.c.at).where(audit_log.c.seq == 4)).one()
        if column == "at":
            value = target.at.replace(microsecond=(target.at.microsecond + 1) % 1_000_000)
        conn.execute(update(audit_log).where(audit_log.c.id == target.id).values({column: value}))
    broken = _broken(store)["audit_log"]
    assert (broken.row_id, broken.seq) == (target.id, 4)
    assert "edited" in broken.reason


def test_deleting_a_row_or_the_tail_or_re_hashing_an_edit_is_found(store: Store) -> None:
    _audit(store, 6)
    with store.begin() as conn:
        ids = dict(conn.execute(select(audit_log.c.seq, audit_log.c.id)).all())
        conn.execute(delete(audit_log).where(audit_log.c.seq == 3))
    broken = _broken(store)["audit_log"]
    assert (broken.seq, broken.row_id) == (3, ids[4]) and "missing" in broken.reason

    with store.begin() as conn:  # put a forged row 3 back, hashed correctly over its predecessor
        conn.execute(delete(audit_log))
        conn.execute(
            update(chain_heads).where(chain_heads.c.chain == "audit_log").values(seq=0, row_hash="0" * 64)
        )
    _audit(store, 6)
    with store.begin() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 3)).one()
        forged = {**row._mapping, "actor": "mallory"}
        conn.execute(
            update(audit_log)
            .where(audit_log.c.id == row.id)
            .values(actor="mallory", row_hash=q.chain.row_digest("audit_log", forged, row.prev_hash))
        )
        next_id = conn.execute(select(audit_log.c.id).where(audit_log.c.seq == 4)).scalar_one()
    broken = _broken(store)["audit_log"]
    assert (broken.seq, broken.row_id) == (4, next_id) and "re-hashed" in broken.reason

    with store.begin() as conn:  # a clean chain again, then its newest row deleted
        conn.execute(delete(audit_log))
        conn.execute(
            update(chain_heads).where(chain_heads.c.chain == "audit_log").values(seq=0, row_hash="0" * 64)
        )
    _audit(store, 3)
    with store.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 3))
    broken = _broken(store)["audit_log"]
    assert broken.row_id is None and broken.seq == 3 and "head" in broken.reason


def test_delivery_records_are_sealed_in_batches_and_an_edit_shows(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(i) for i in range(1, 13)])
    launch(store, settings, "test-campaign", actor="tester")
    statuses = {s.chain: s for s in verify_all(store)}
    assert statuses["delivery_events"].unsealed > 0  # written by the sender, not yet chained
    sealed = seal_all(store)
    with store.connect() as conn:
        written = conn.execute(select(func.count()).select_from(delivery_events)).scalar_one()
    assert sealed["delivery_events"] == written == statuses["delivery_events"].unsealed
    assert seal_all(store)["delivery_events"] == 0  # nothing twice
    statuses = {s.chain: s for s in verify_all(store)}
    assert statuses["delivery_events"].verified == written and statuses["delivery_events"].unsealed == 0
    assert _broken(store) == {}

    with store.begin() as conn:
        victim = conn.execute(select(delivery_events.c.id).where(delivery_events.c.seq == 7)).scalar_one()
        conn.execute(
            update(delivery_events).where(delivery_events.c.id == victim).values(to_state="delivered")
        )
    broken = _broken(store)
    assert list(broken) == ["delivery_events"] and broken["delivery_events"].row_id == victim


def test_events_chain_covers_what_came_back(store: Store) -> None:
    from notifier.models import Channel, EventKind

    with store.begin() as conn:
        for i in range(4):
            q.insert_event(
                conn,
                kind=EventKind.REPLIED,
                channel=Channel.SMS,
                provider="twilio",
                payload=f"body {i}",
                now=utcnow(),
                contact="+15551230000",
            )
    assert seal_all(store)["events"] == 4
    with store.begin() as conn:
        conn.execute(text("UPDATE events SET payload = 'STOP' WHERE seq = 2"))
    assert _broken(store)["events"].seq == 2


def test_writers_and_sealers_at_once_never_fork_a_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def work(actor: str) -> None:
        try:
            _audit(store, 60, actor=actor)
            seal_all(store)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"writer-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.connect() as conn:
        seqs = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars().all()
    assert seqs == list(range(1, 241))
    assert _broken(store) == {}


def test_audit_verify_command_names_the_first_broken_link(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _audit(store, 3)
    sign_in(store, monkeypatch, "admin")
    ok = runner.invoke(cli, ["audit", "verify", "--database-url", settings.database_url])
    assert ok.exit_code == 0, ok.output
    assert "audit_log" in ok.output and "BROKEN" not in ok.output
    with store.begin() as conn:
        victim = conn.execute(select(audit_log.c.id).where(audit_log.c.seq == 2)).scalar_one()
        conn.execute(update(audit_log).where(audit_log.c.id == victim).values(subject="thing:forged"))
    bad = runner.invoke(cli, ["audit", "verify", "--database-url", settings.database_url])
    assert bad.exit_code == 1
    assert f"audit_log row id {victim} (link 2)" in bad.output and "Traceback" not in bad.output
    listed = runner.invoke(
        cli, ["audit", "list", "--action", "test.", "--database-url", settings.database_url]
    )
    assert listed.exit_code == 0 and "thing:forged" in listed.output


def test_the_audit_log_of_one_incident_holds_its_pieces_and_campaigns_and_nothing_else(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)])  # records, approves and plans KEY
    _audit(store, 2)  # about other things
    with store.begin() as conn:
        q.audit(conn, actor="x", action="test.other", subject="incident:another", detail={}, now=utcnow())
        q.audit(conn, actor="x", action="test.other", subject="campaign:test", detail={}, now=utcnow())
        key = conn.execute(text("SELECT key FROM incidents")).scalar_one()
        about = q.audit_entries(conn, incident=key, limit=1000)
        everything = q.audit_entries(conn, limit=1000)
    subjects = {e.subject.split(":", 1)[0] for e in about}
    assert subjects == {"incident", "piece", "campaign"}  # recorded, approved piece by piece, planned
    assert all(
        e.subject in (f"incident:{key}", "campaign:test-campaign") or e.subject.startswith(f"piece:{key}/")
        for e in about
    )
    assert len(everything) == len(about) + 4
