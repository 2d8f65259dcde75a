"""The evidence pack a regulator receives for one incident (legal-requirements.md §5): who was notified,
when, by which channel, with which approved text, and who was not reached, within which deadline.

``index.html`` is the pack a person reads and prints: the incident's timeline (facts, decisions,
approvals, launches, filings), counts per jurisdiction against the thresholds, the deadlines with what was
done when, the approvals of every notice piece, the hash-chain heads, and the list of files. Beside it:
CSV files of the same tables and the per-recipient ledger, the notices as customers saw them (proof
pages and .eml files), the chain heads as JSON, and ``MANIFEST.sha256`` with the SHA-256 of every other
file (``sha256sum -c MANIFEST.sha256`` checks it).

People are named by pseudonym only: an HMAC-SHA256 of their external id under the incident's own key,
which stays in the store. ``resolve_pseudonyms`` is the way back, audited."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import InputError
from notifier.models import Channel, OutboxState
from notifier.notices.approval import PieceStatus, statuses
from notifier.notices.deadlines import deadline_report
from notifier.notices.incidents import parse_incident
from notifier.notices.legal_channels import legal_notice_word
from notifier.notices.lint import Linter
from notifier.notices.proof import write_proofs
from notifier.notices.render import NOTICES
from notifier.pages import render_page
from notifier.reports.integrity import ChainStatus, seal_all, verify_all
from notifier.reports.spreadsheet import spreadsheet_safe
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import LedgerRow

__all__ = ["EvidencePack", "pseudonym", "resolve_pseudonyms", "write_evidence_pack"]

LEDGER_COLUMNS = (
    "pseudonym",
    "campaign",
    "jurisdiction",
    "notice_locale",
    "channel",
    "legal_notice",
    "content_hash",
    "sent_at",
    "delivered_at",
    "provider_message_id",
    "final_status",
    "attempts",
    "fallback_used",
    "reached",
    "not_used_reason",
    "last_change_at",
)
MANIFEST_NAME = "MANIFEST.sha256"


@dataclass(frozen=True, slots=True)
class EvidencePack:
    directory: Path
    files: list[tuple[str, str, int]]  # relative path, SHA-256, bytes (the manifest itself not included)
    ledger_rows: int
    chains: list[ChainStatus]


def pseudonym(key: str, external_id: str) -> str:
    """The name a person has in this incident's evidence: a keyed hash, the same in every pack of the
    incident, different in another incident's (the key is per incident)."""
    digest = hmac.new(bytes.fromhex(key), external_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return "p-" + digest[:24]


def _iso(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z" if moment else ""


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([spreadsheet_safe(v) for v in row])
            count += 1
    return count


def _ledger(rows: Iterable[LedgerRow], key: str) -> Iterable[Sequence[object]]:
    reached = {s.value for s in OutboxState.reached()}
    for row in rows:
        yield (
            pseudonym(key, row.external_id),
            row.campaign,
            row.jurisdiction or "",
            row.notice_locale,
            row.channel or "",
            legal_notice_word(row.channel, row.legal_channel, row.legal_gap),
            row.content_hash or "",
            _iso(row.sent_at),
            _iso(row.delivered_at),
            row.provider_message_id or "",
            row.state or "not reached: no usable channel",
            row.attempts or 0,
            "yes" if row.fallback else "",
            "yes" if row.state in reached else "no",
            " / ".join(r for r in (row.email_reason, row.sms_reason, row.letter_reason) if r)
            if row.channel is None
            else "",
            _iso(row.updated_at),
        )


def _notices_as_sent(
    store: Store, settings: Settings, incident: Any, campaigns: Any, sent: Any, out_dir: Path
) -> tuple[list[Path], list[PieceStatus]]:
    """The notices as customers saw them, for every notice the incident's campaigns sent (letters as
    PDFs when any was sent: laying them out takes seconds), and the approval state of their pieces."""
    linter = Linter(settings.templates_dir, settings.locales_dir)
    used = {c.notice for c in campaigns} or {NOTICES[0]}
    piece_statuses = [
        s for s in statuses(store, settings, incident, with_lint=False) if s.piece.notice in used
    ]
    letters = any(s.channel == Channel.LETTER.value for s in sent)
    pages = write_proofs(linter, out_dir, piece_statuses, incident=incident, letters=letters)
    for unused in sorted(set(NOTICES) - used):  # the proof writer renders every notice; keep the sent ones
        (out_dir / f"{unused}.html").unlink(missing_ok=True)
        for written in [
            *(out_dir / "eml").glob(f"{unused}-*.eml"),
            *(out_dir / "letters").glob(f"{unused}-*.pdf"),
        ]:
            written.unlink()
    return [p for p in pages if p.exists()], piece_statuses


def _timeline(
    incident: Any, history: Any, campaigns: Any, decisions: Any, audit: Any
) -> list[dict[str, str]]:
    """Every dated thing about the incident, oldest first: facts, revisions, decisions, launches, filings."""
    events: list[tuple[datetime, str, str, str]] = []
    if incident.occurred.start:
        events.append((incident.occurred.start, "fact", f"breach occurred ({incident.occurred.kind})", ""))
    events.append((incident.discovered_at, "fact", "breach discovered", ""))
    facts = incident.facts
    for label, value in (("determined", facts.get("determined_at")),):
        if value:
            events.append((datetime.fromisoformat(value), "fact", f"breach {label}", ""))
    hold = facts.get("law_enforcement_hold") or {}
    if hold.get("from"):
        events.append((datetime.fromisoformat(hold["from"]), "fact", "law-enforcement hold from", ""))
    if hold.get("until"):
        events.append((datetime.fromisoformat(hold["until"]), "fact", "law-enforcement hold until", ""))
    for filing in facts.get("filings") or []:
        events.append(
            (
                datetime.fromisoformat(filing["at"]),
                "filing",
                f"filed: {filing['obligation']}",
                filing.get("reference", ""),
            )
        )
    for revision in history:
        events.append(
            (
                revision.created_at,
                "decision",
                f"facts revision {revision.revision}",
                f"by {revision.created_by}: {revision.comment or ''}",
            )
        )
    # Legal decides on many pieces at once: one line per sitting (who, what, the same second), each piece
    # with its hash in approvals.csv.
    sittings: dict[tuple[datetime, str, str, str], list[Any]] = {}
    for d in decisions:
        sittings.setdefault((d.at.replace(microsecond=0), d.approver, d.role, d.decision), []).append(d)
    for (_second, approver, role, decision), group in sittings.items():
        notices = sorted({d.notice for d in group})
        languages = sorted({d.locale for d in group})
        what = f"{decision}: {len(group)} notice piece{'s' if len(group) > 1 else ''}"
        detail = f"by {approver} ({role}); {', '.join(notices)} in {', '.join(languages)}"
        if len(group) == 1:
            detail += f"; {group[0].channel}/{group[0].profile}, hash {group[0].content_hash[:16]}"
        events.append((group[0].at, "approval", what, detail + " (approvals.csv)"))
    for c in campaigns:
        for moment, what in (
            (c.planned_at, "planned"),
            (c.launched_at, "launched"),
            (c.completed_at, "completed"),
        ):
            if moment:
                events.append((moment, "campaign", f"campaign {c.name} {what}", f"{c.customers:,} customers"))
    for entry in audit:
        if entry.action.startswith(
            ("campaign.pause", "campaign.resume", "campaign.cancel", "campaign.plan_failed")
        ):
            events.append(
                (entry.at, "decision", entry.action, f"by {entry.actor}: {entry.detail.get('reason', '')}")
            )
    return [
        {"at": _iso(at), "kind": kind, "what": what, "detail": detail}
        for at, kind, what, detail in sorted(events, key=lambda e: e[0])
    ]


def write_evidence_pack(
    store: Store, settings: Settings, incident_key: str, out_dir: Path, *, actor: str
) -> EvidencePack:
    """Write the incident's evidence pack into ``out_dir`` (which must be empty or new) and record it in the
    audit log with the manifest's own hash."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(
            f"{out_dir} is not empty: give a new directory, so the pack holds only its own files"
        )
    now = utcnow()
    seal_all(store, now)  # everything written so far is in the chains the pack records
    with store.begin() as conn:
        row = q.incident_by_key(conn, incident_key)
        if row is None:
            raise InputError(
                f"no incident {incident_key!r}; `notifier incident list` shows the recorded ones"
            )
        key = q.ensure_pseudonym_key(conn, row.id, secrets.token_hex(32), now)
    incident = parse_incident(row.facts, settings.templates_dir)
    with store.connect() as conn:
        campaigns = q.incident_campaigns(conn, row.id)
        history = q.incident_history(conn, row.id)
        decisions = q.approvals_of_incident(conn, incident_key)
        audit = q.audit_of_incident(conn, incident_key, [c.name for c in campaigns])
        sent = q.content_sent(conn, [c.id for c in campaigns])
    deadlines = deadline_report(store, settings, incident_key, now)
    chains = verify_all(store)
    out_dir.mkdir(parents=True, exist_ok=True)

    timeline = _timeline(incident, history, campaigns, decisions, audit)
    _write_csv(
        out_dir / "timeline.csv",
        ("at_utc", "kind", "what", "detail"),
        ([t["at"], t["kind"], t["what"], t["detail"]] for t in timeline),
    )
    jurisdictions = sorted(deadlines.residents.items(), key=lambda item: -item[1])
    thresholds = [o for o in deadlines.obligations if o.threshold]
    _write_csv(
        out_dir / "jurisdictions.csv",
        ("jurisdiction", "affected_customers", "all_notified_at_utc"),
        ([j, n, _iso(deadlines.notified.get(j))] for j, n in jurisdictions),
    )
    applicable = [o for o in deadlines.obligations if o.applies]
    _write_csv(
        out_dir / "deadlines.csv",
        (
            "rule",
            "regime",
            "recipient",
            "clock",
            "clock_start_utc",
            "duration",
            "due_utc",
            "status",
            "done_at_utc",
            "reference",
            "threshold",
            "verify",
        ),
        (
            [
                o.rule_id,
                o.regime,
                o.recipient,
                o.clock,
                _iso(o.clock_start),
                o.duration,
                _iso(o.due),
                o.status.value,
                _iso(o.done_at),
                o.reference or "",
                o.threshold,
                "yes" if o.verify else "",
            ]
            for o in deadlines.obligations
        ),
    )
    _write_csv(
        out_dir / "approvals.csv",
        (
            "at_utc",
            "notice",
            "locale",
            "channel",
            "profile",
            "decision",
            "approver",
            "role",
            "content_hash",
            "comment",
        ),
        (
            [
                _iso(d.at),
                d.notice,
                d.locale,
                d.channel,
                d.profile,
                d.decision,
                d.approver,
                d.role,
                d.content_hash,
                d.comment or "",
            ]
            for d in decisions
        ),
    )
    approved_hashes = {d.content_hash: d for d in decisions if d.decision == "approved"}
    _write_csv(
        out_dir / "content_sent.csv",
        ("content_hash", "channel", "notice_locale", "messages", "approved_by", "approved_at_utc"),
        (
            [
                s.content_hash,
                s.channel,
                s.notice_locale,
                s.messages,
                getattr(approved_hashes.get(s.content_hash), "approver", "NOT APPROVED"),
                _iso(getattr(approved_hashes.get(s.content_hash), "at", None)),
            ]
            for s in sent
        ),
    )
    with store.connect() as conn:
        ledger_count = _write_csv(
            out_dir / "ledger.csv",
            LEDGER_COLUMNS,
            _ledger(q.ledger_rows(conn, [c.id for c in campaigns]), key),
        )

    proof_pages, piece_statuses = _notices_as_sent(
        store, settings, incident, campaigns, sent, out_dir / "notices"
    )
    heads = [
        {
            "chain": c.chain,
            "seq": c.head_seq,
            "row_hash": c.head_hash,
            "verified_links": c.verified,
            "broken": str(c.broken) if c.broken else None,
        }
        for c in chains
    ]
    (out_dir / "chains.json").write_text(
        json.dumps({"at": _iso(now), "heads": heads}, indent=2) + "\n", encoding="utf-8"
    )

    def digest_files() -> list[tuple[str, str, int]]:
        found = []
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
            data = path.read_bytes()
            found.append((path.relative_to(out_dir).as_posix(), hashlib.sha256(data).hexdigest(), len(data)))
        return found

    (out_dir / "index.html").write_text(
        render_page(
            "evidence.html.j2",
            incident=incident,
            generated_at=now,
            actor=actor,
            campaigns=campaigns,
            timeline=timeline,
            jurisdictions=jurisdictions,
            no_jurisdiction=deadlines.no_jurisdiction,
            thresholds=thresholds,
            obligations=applicable,
            decisions=decisions,
            statuses=piece_statuses,
            sent=sent,
            approved_hashes=approved_hashes,
            ledger_count=ledger_count,
            chains=chains,
            proof_pages=[p.relative_to(out_dir).as_posix() for p in proof_pages if p.exists()],
            files=digest_files(),
        ),
        encoding="utf-8",
    )
    files = digest_files()
    manifest_text = "".join(f"{digest}  {name}\n" for name, digest, _size in files)
    (out_dir / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="evidence.written",
            subject=f"incident:{incident_key}",
            detail={
                "directory": str(out_dir),
                "files": len(files) + 1,
                "manifest_sha256": hashlib.sha256(manifest_text.encode("utf-8")).hexdigest(),
                "ledger_rows": ledger_count,
                "chain_heads": {h["chain"]: h["row_hash"] for h in heads},
            },
            now=now,
        )
    return EvidencePack(out_dir, files, ledger_count, chains)


def resolve_pseudonyms(
    store: Store, incident_key: str, wanted: Sequence[str], *, actor: str, reason: str
) -> dict[str, str | None]:
    """Whom each pseudonym of the incident's evidence names (None: nobody of this incident). The company's
    way back from the regulator's file to a customer; it needs a reason and is audited."""
    if not reason.strip():
        raise InputError("resolving a pseudonym names a person: say why with --reason")
    with store.connect() as conn:
        row = q.incident_by_key(conn, incident_key)
        if row is None:
            raise InputError(f"no incident {incident_key!r}")
        campaign_ids = [c.id for c in q.incident_campaigns(conn, row.id)]
    with store.begin() as conn:
        key = q.ensure_pseudonym_key(conn, row.id, secrets.token_hex(32), utcnow())
    found: dict[str, str | None] = dict.fromkeys(wanted)
    with store.connect() as conn:
        for external_id in q.incident_external_ids(conn, campaign_ids):
            name = pseudonym(key, external_id)
            if name in found:
                found[name] = external_id
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="evidence.pseudonym_resolved",
            subject=f"incident:{incident_key}",
            detail={
                "pseudonyms": list(wanted),
                "reason": reason,
                "found": sum(v is not None for v in found.values()),
            },
            now=utcnow(),
        )
    return found
