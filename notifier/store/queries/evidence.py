"""What a regulator's evidence pack reads about one incident: its campaigns, every approval decision, the
audit trail of the incident, its notice pieces and campaigns, which approved content was sent how often,
and the incident's pseudonym key."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Connection, func, or_, select

from notifier.store.queries._dialect import dialect_insert
from notifier.store.queries.audit import AuditEntry, as_aware
from notifier.store.rows import DecisionRow, EvidenceCampaign, SentContent
from notifier.store.schema import approvals, audit_log, campaigns, manifest, outbox, pseudonym_keys

__all__ = [
    "approvals_of_incident",
    "audit_of_incident",
    "content_sent",
    "ensure_pseudonym_key",
    "incident_campaigns",
    "incident_external_ids",
]


def incident_campaigns(conn: Connection, incident_id: int) -> list[EvidenceCampaign]:
    query = (
        select(
            campaigns.c.id,
            campaigns.c.name,
            campaigns.c.notice,
            campaigns.c.state,
            campaigns.c.channels,
            campaigns.c.policy,
            campaigns.c.created_at,
            campaigns.c.created_by,
            campaigns.c.planned_at,
            campaigns.c.launched_at,
            campaigns.c.completed_at,
            select(func.count())
            .select_from(manifest)
            .where(manifest.c.campaign_id == campaigns.c.id)
            .scalar_subquery()
            .label("customers"),
        )
        .where(campaigns.c.incident_id == incident_id)
        .order_by(campaigns.c.id)
    )
    return [EvidenceCampaign.from_row(r) for r in conn.execute(query)]


def approvals_of_incident(conn: Connection, incident_key: str) -> list[DecisionRow]:
    """Every decision legal took on the incident's pieces, oldest first (not only the latest)."""
    query = (
        select(approvals)
        .where(approvals.c.incident_key == incident_key)
        .order_by(approvals.c.at, approvals.c.id)
    )
    return [DecisionRow.from_row(r) for r in conn.execute(query)]


def audit_of_incident(conn: Connection, incident_key: str, campaign_names: Sequence[str]) -> list[AuditEntry]:
    """The audit trail of the incident, its notice pieces and its campaigns, oldest first."""
    subjects = [f"incident:{incident_key}", *(f"campaign:{name}" for name in campaign_names)]
    query = (
        select(audit_log)
        .where(
            or_(
                audit_log.c.subject.in_(subjects),
                audit_log.c.subject.startswith(f"piece:{incident_key}/", autoescape=True),
            )
        )
        .order_by(audit_log.c.id)
    )
    return [
        AuditEntry(r.id, as_aware(r.at), r.actor, r.action, r.subject, dict(r.detail), r.seq)
        for r in conn.execute(query)
    ]


def content_sent(conn: Connection, campaign_ids: Sequence[int]) -> list[SentContent]:
    """Which approved content (by hash) went out on which channel in which language, how many times."""
    query = (
        select(
            outbox.c.content_hash,
            outbox.c.channel,
            manifest.c.notice_locale,
            func.count().label("messages"),
        )
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .where(outbox.c.campaign_id.in_(list(campaign_ids)), outbox.c.content_hash.is_not(None))
        .group_by(outbox.c.content_hash, outbox.c.channel, manifest.c.notice_locale)
        .order_by(manifest.c.notice_locale, outbox.c.channel, outbox.c.content_hash)
    )
    return [SentContent.from_row(r) for r in conn.execute(query)]


def incident_external_ids(conn: Connection, campaign_ids: Sequence[int]) -> Iterator[str]:
    """Every affected external id of these campaigns (to find whom a pseudonym names)."""
    query = (
        select(manifest.c.external_id)
        .where(manifest.c.campaign_id.in_(list(campaign_ids)))
        .distinct()
        .execution_options(yield_per=10_000)
    )
    yield from conn.scalars(query)


def ensure_pseudonym_key(conn: Connection, incident_id: int, new_key: str, now: datetime) -> str:
    """The incident's pseudonym key: the one recorded, or ``new_key`` recorded now (first pack)."""
    statement = dialect_insert(conn, pseudonym_keys).values(
        incident_id=incident_id, key=new_key, created_at=now
    )
    conn.execute(statement.on_conflict_do_nothing(index_elements=["incident_id"]))
    return str(conn.scalar(select(pseudonym_keys.c.key).where(pseudonym_keys.c.incident_id == incident_id)))
