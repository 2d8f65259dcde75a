"""The audit log: who did what to which campaign, incident or notice piece, and when. Append-only and
hash-chained (store/queries/chain.py): every entry is sealed in the transaction that writes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, insert, literal, or_, select

from notifier.clock import as_utc
from notifier.store.queries.chain import seal
from notifier.store.schema import audit_log, campaigns, incidents

__all__ = ["AuditEntry", "as_aware", "audit", "audit_entries"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    seq: int | None


def audit(
    conn: Connection, *, actor: str, action: str, subject: str, detail: dict[str, Any], now: datetime
) -> None:
    """Append one entry to the audit log (who did what to which campaign/incident, when) and seal it."""
    conn.execute(insert(audit_log).values(at=now, actor=actor, action=action, subject=subject, detail=detail))
    seal(conn, audit_log.name, now)


def audit_entries(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    incident: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries first, filtered by exact actor, action prefix (``campaign.``), subject
    substring (``incident:acme-2026``) and incident (its own entries, its notice pieces' and its
    campaigns')."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if incident:
        its_campaigns = (
            select(literal("campaign:", String) + campaigns.c.name)
            .join(incidents, incidents.c.id == campaigns.c.incident_id)
            .where(incidents.c.key == incident)
        )
        query = query.where(
            or_(
                audit_log.c.subject == f"incident:{incident}",
                audit_log.c.subject.startswith(f"piece:{incident}/", autoescape=True),
                audit_log.c.subject.in_(its_campaigns),
            )
        )
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if action:
        query = query.where(audit_log.c.action.startswith(action, autoescape=True))
    if subject:
        query = query.where(audit_log.c.subject.contains(subject, autoescape=True))
    rows = conn.execute(query)
    return [
        AuditEntry(r.id, as_aware(r.at), r.actor, r.action, r.subject, dict(r.detail), r.seq) for r in rows
    ]


def as_aware(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives naive ones back)."""
    aware = as_utc(moment)
    assert aware is not None
    return aware
