"""The regulator's evidence pack: every file listed with its SHA-256, a ledger of every message under
pseudonyms only, the deadlines, approvals and timeline, the hash-chain heads; and the audited way back
from a pseudonym to a customer."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, sign_in
from sqlalchemy import func, select
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.config import Settings
from notifier.errors import InputError
from notifier.reports.evidence import resolve_pseudonyms, write_evidence_pack
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import audit_log, chain_heads, manifest, outbox

runner = CliRunner()
INCIDENT = "2026-11-credential-leak"


@pytest.fixture
def sent(store: Store, settings: Settings, tmp_path: Path) -> Settings:
    rows = [customer(n) for n in range(1, 10)] + [customer(10, email="", phone="")]
    planned_campaign(store, settings, tmp_path, rows, extra_ids=("GONE-1",))
    launch(store, settings, "test-campaign", actor="tester")
    return settings


def test_the_pack_lists_every_file_with_its_sha256_and_names_nobody(
    store: Store, sent: Settings, tmp_path: Path
) -> None:
    pack = write_evidence_pack(store, sent, INCIDENT, tmp_path / "pack", actor="dpo")
    root = pack.directory
    listed = {}
    for line in (root / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"MANIFEST.sha256"}
    assert set(listed) == on_disk
    assert {
        "index.html",
        "ledger.csv",
        "deadlines.csv",
        "approvals.csv",
        "timeline.csv",
        "chains.json",
    } <= on_disk
    assert "notices/breach_notice.html" in on_disk and not any("breach_update" in n for n in on_disk)
    for name, digest in listed.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name
    everything = "\n".join(
        (root / n).read_text(encoding="utf-8", errors="replace") for n in on_disk if not n.endswith(".eml")
    )
    for n in range(1, 11):  # no customer id, address, phone or name anywhere in the pack
        assert f"C{n:05d}" not in everything and f"c{n}@example.com" not in everything
        assert f"Customer {n}," not in everything and f"Customer {n}<" not in everything
    assert "+79160000003" not in everything and "GONE-1" not in everything


def test_the_ledger_has_every_message_under_a_stable_pseudonym(
    store: Store, sent: Settings, tmp_path: Path
) -> None:
    first = write_evidence_pack(store, sent, INCIDENT, tmp_path / "one", actor="dpo")
    again = write_evidence_pack(store, sent, INCIDENT, tmp_path / "two", actor="dpo")
    with (first.directory / "ledger.csv").open(encoding="utf-8", newline="") as handle:
        ledger = list(csv.DictReader(handle))
    with store.connect() as conn:
        messages = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        no_channel = conn.execute(
            select(func.count()).select_from(manifest).where(manifest.c.channel_plan == "none")
        ).scalar_one()
        hashes = set(conn.execute(select(outbox.c.content_hash)).scalars())
    assert len(ledger) == first.ledger_rows == messages + no_channel
    assert {r["content_hash"] for r in ledger if r["channel"]} == hashes
    assert all(r["pseudonym"].startswith("p-") and len(r["pseudonym"]) == 26 for r in ledger)
    assert len({r["pseudonym"] for r in ledger}) == 11  # 10 customers and the unknown id
    assert (first.directory / "ledger.csv").read_bytes() == (again.directory / "ledger.csv").read_bytes()
    # Each person's notice in law: exactly one message is it, or every line says why there is none.
    by_person: dict[str, list[str]] = {}
    for r in ledger:
        by_person.setdefault(r["pseudonym"], []).append(r["legal_notice"])
    assert all(
        (marks.count("yes") == 1 and set(marks) <= {"yes", "courtesy copy"})
        or (len(set(marks)) == 1 and marks[0].startswith("none: "))
        for marks in by_person.values()
    ), by_person
    assert sum(marks[0] == "none: unknown_customer" for marks in by_person.values()) == 1
    assert any("courtesy copy" in marks for marks in by_person.values())
    accepted = [r for r in ledger if r["final_status"] == "accepted"]
    assert accepted and all(
        r["sent_at"] and r["provider_message_id"] and r["reached"] == "yes" for r in accepted
    )

    wanted = [ledger[0]["pseudonym"], "p-000000000000000000000000"]
    with pytest.raises(InputError):
        resolve_pseudonyms(store, INCIDENT, wanted, actor="dpo", reason=" ")
    found = resolve_pseudonyms(store, INCIDENT, wanted, actor="dpo", reason="regulator asks about one line")
    assert found[wanted[1]] is None and found[wanted[0]] is not None
    with store.connect() as conn:
        entry = conn.execute(
            select(audit_log).where(audit_log.c.action == "evidence.pseudonym_resolved")
        ).one()
    assert entry.detail["reason"] == "regulator asks about one line" and entry.actor == "dpo"


def test_a_pack_of_a_campaign_that_was_paused_reads_its_times_on_every_store(
    store: Store, sent: Settings, tmp_path: Path
) -> None:
    from notifier.clock import utcnow
    from notifier.store import queries as q

    with store.begin() as conn:
        q.audit(
            conn,
            actor="casey",
            action="campaign.pause",
            subject="campaign:test-campaign",
            detail={"reason": "hotline down"},
            now=utcnow(),
        )
    pack = write_evidence_pack(store, sent, INCIDENT, tmp_path / "pack", actor="dpo")
    timeline = (pack.directory / "timeline.csv").read_text(encoding="utf-8")
    assert "campaign.pause" in timeline and "by casey: hotline down" in timeline


def test_the_pack_records_the_chain_heads_and_itself_in_the_audit_log(
    store: Store, sent: Settings, tmp_path: Path
) -> None:
    pack = write_evidence_pack(store, sent, INCIDENT, tmp_path / "pack", actor="dpo")
    heads = json.loads((pack.directory / "chains.json").read_text(encoding="utf-8"))["heads"]
    with store.connect() as conn:
        stored = {r.chain: r.row_hash for r in conn.execute(select(chain_heads))}
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "evidence.written")).one()
    # The delivery chains are sealed before the pack and unchanged since; the audit log has one entry more.
    assert {h["chain"]: h["row_hash"] for h in heads if h["chain"] != "audit_log"} == {
        k: v for k, v in stored.items() if k != "audit_log"
    }
    assert all(h["broken"] is None and h["verified_links"] == h["seq"] for h in heads)
    assert {h["chain"] for h in heads if h["seq"] > 0} >= {"audit_log", "delivery_events"}
    manifest_digest = hashlib.sha256((pack.directory / "MANIFEST.sha256").read_bytes()).hexdigest()
    assert entry.detail["manifest_sha256"] == manifest_digest
    html = (pack.directory / "index.html").read_text(encoding="utf-8")
    assert 'id="deadlines"' in html and "NOT APPROVED" not in html and "approved: " in html


def test_the_command_refuses_a_used_directory_and_an_unknown_incident(
    store: Store, sent: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = ["--database-url", sent.database_url]
    sign_in(store, monkeypatch, "support")
    denied = runner.invoke(cli, ["evidence", INCIDENT, "--out", str(tmp_path / "no"), *url])
    assert (
        denied.exit_code == 1 and "may not evidence.write" in denied.output and not (tmp_path / "no").exists()
    )
    sign_in(store, monkeypatch, "legal", username="dpo")
    used = tmp_path / "used"
    used.mkdir()
    (used / "old.txt").write_text("x", encoding="utf-8")
    refused = runner.invoke(cli, ["evidence", INCIDENT, "--out", str(used), *url])
    assert refused.exit_code == 1 and "not empty" in refused.output and "Traceback" not in refused.output
    unknown = runner.invoke(cli, ["evidence", "no-such-incident", "--out", str(tmp_path / "x"), *url])
    assert unknown.exit_code == 1 and "no incident" in unknown.output
    made = runner.invoke(cli, ["evidence", INCIDENT, "--out", str(tmp_path / "pack"), *url])
    assert made.exit_code == 0, made.output
    assert "sha256sum -c MANIFEST.sha256" in made.output
