"""Campaign lifecycle: open an incident, plan a campaign (freeze its manifest, fill the outbox),
send it batch by batch until nothing is due, and report its status. Used by the CLI and the flows."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from notifier.audience.selection import FreezeResult, Planning, Selection, freeze_manifest
from notifier.clock import as_utc, utcnow
from notifier.config import Settings
from notifier.errors import CampaignStateError, InputError, RenderError
from notifier.models import CampaignState, Channel, ChannelPolicy, DeliveryPolicy
from notifier.notices.content import validate_facts
from notifier.notices.render import NOTICES, Renderer
from notifier.sending import tokens
from notifier.store import Store
from notifier.store import queries as q

__all__ = [
    "CampaignRef",
    "campaign_exists",
    "campaign_status",
    "control",
    "create_incident",
    "get_campaign",
    "load_incident_file",
    "mark_running",
    "plan_campaign",
]


@dataclass(frozen=True, slots=True)
class CampaignRef:
    id: int
    name: str
    state: str
    channels: frozenset[Channel]
    facts: dict[str, Any]
    notice: str
    policy: DeliveryPolicy
    planned_at: datetime | None
    bounce_key: str | None = (
        None  # signs the email tokens (notifier.sending.tokens); None for campaigns planned before it
    )


def load_incident_file(path: Path) -> dict[str, Any]:
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(facts, dict):
        raise InputError(f"{path}: expected a JSON object of incident facts")
    return facts


def create_incident(store: Store, settings: Settings, facts: dict[str, Any], *, actor: str) -> int:
    """Record an incident after proving its facts render a complete notice in every locale."""
    problems = validate_facts(facts)
    if problems:
        raise InputError("incident facts: " + "; ".join(problems) + " (see docs/incidents.md)")
    for notice in NOTICES:
        renderer = Renderer(settings.templates_dir, settings.locales_dir, notice)
        for locale in renderer.locales:
            for jurisdiction in ("US-CA", None):
                try:
                    renderer.render(
                        facts,
                        name="Sample Customer",
                        locale=locale,
                        time_zone="UTC",
                        jurisdiction=jurisdiction,
                    )
                except (RenderError, KeyError, ValueError, TypeError) as exc:
                    raise InputError(f"incident facts do not render ({notice}, {locale}): {exc}") from exc
    now = utcnow()
    with store.begin() as conn:
        if q.incident_by_key(conn, facts["key"]) is not None:
            raise InputError(f"incident {facts['key']!r} exists already; incidents are not edited in place")
        incident_id = q.insert_incident(
            conn, key=facts["key"], title=facts["title"], facts=facts, actor=actor, now=now
        )
        q.audit(
            conn,
            actor=actor,
            action="incident.create",
            subject=f"incident:{facts['key']}",
            detail={"id": incident_id},
            now=now,
        )
    return incident_id


def campaign_exists(store: Store, name: str) -> bool:
    with store.connect() as conn:
        return q.campaign_by_name(conn, name) is not None


def get_campaign(store: Store, name: str) -> CampaignRef:
    with store.connect() as conn:
        row = q.campaign_by_name(conn, name)
        if row is None:
            raise CampaignStateError(f"no campaign named {name!r}")
        incident = q.incident_by_id(conn, row.incident_id)
    return CampaignRef(
        id=row.id,
        name=row.name,
        state=row.state,
        channels=frozenset(Channel(c) for c in row.channels.split(",") if c),
        facts=dict(incident.facts),
        notice=row.notice,
        policy=DeliveryPolicy.from_json(row.settings),
        planned_at=as_utc(row.planned_at),
        bounce_key=(row.settings or {}).get("bounce_key"),
    )


def plan_campaign(
    store: Store,
    *,
    name: str,
    incident_key: str,
    selection: Selection,
    channels: frozenset[Channel],
    policy: ChannelPolicy,
    locales: tuple[str, ...],
    actor: str,
    notice: str = "breach_notice",
    delivery: DeliveryPolicy = DeliveryPolicy(),
    progress: Callable[[int], None] | None = None,
) -> FreezeResult:
    """Create the campaign and freeze its manifest. A planned campaign's manifest is never re-selected."""
    if selection.ids_file is None and selection.query is None:
        raise InputError("say who is affected: an affected-ids file and/or a selection query")
    if notice not in NOTICES:
        raise InputError(f"unknown notice {notice!r}; known: {', '.join(NOTICES)}")
    now = utcnow()
    with store.begin() as conn:
        incident = q.incident_by_key(conn, incident_key)
        if incident is None:
            raise InputError(f"no incident {incident_key!r}; create it first (notifier incident create)")
        if q.campaign_by_name(conn, name) is not None:
            raise CampaignStateError(f"campaign {name!r} exists already; its manifest is frozen")
        campaign_id = q.insert_campaign(
            conn,
            name=name,
            incident_id=incident.id,
            notice=notice,
            state=CampaignState.DRAFT.value,
            channels=",".join(sorted(c.value for c in channels)),
            policy=policy.value,
            selection=selection.describe(),
            settings={**delivery.as_json(), "bounce_key": tokens.new_key()},
            created_at=now,
            created_by=actor,
        )
        if delivery.urgent_reason:
            q.audit(
                conn,
                actor=actor,
                action="campaign.urgent_override",
                subject=f"campaign:{name}",
                detail={"reason": delivery.urgent_reason, "overrides": "SMS quiet hours"},
                now=now,
            )
    planning = Planning(channels=channels, policy=policy, locales=locales)
    result = freeze_manifest(store, campaign_id, selection, planning, progress=progress)
    with store.begin() as conn:
        q.set_campaign_state(conn, campaign_id, CampaignState.PLANNED.value, planned_at=utcnow())
        q.audit(
            conn,
            actor=actor,
            action="campaign.plan",
            subject=f"campaign:{name}",
            detail={"selected": result.selected, "selection": selection.describe()},
            now=utcnow(),
        )
    return result


CONTROL = {
    # action: (states it may come from, state it goes to)
    "pause": ({CampaignState.RUNNING, CampaignState.PLANNED}, CampaignState.PAUSED),
    "resume": ({CampaignState.PAUSED}, CampaignState.PLANNED),
    "cancel": ({CampaignState.PLANNED, CampaignState.RUNNING, CampaignState.PAUSED}, CampaignState.CANCELLED),
}


def control(store: Store, name: str, action: str, *, actor: str, reason: str = "") -> str:
    """Pause, resume or cancel a campaign. Senders read the state between batches, so it takes effect
    at the next batch; a cancelled campaign's unsent rows become ``skipped``. Audited."""
    campaign = get_campaign(store, name)
    allowed, target = CONTROL[action]
    now = utcnow()
    with store.begin() as conn:
        if not q.set_campaign_state(conn, campaign.id, target.value, expected=[s.value for s in allowed]):
            raise CampaignStateError(f"campaign {name!r} is {campaign.state}; it cannot {action}")
        skipped = q.skip_unsent(conn, campaign.id, now) if action == "cancel" else 0
        q.audit(
            conn,
            actor=actor,
            action=f"campaign.{action}",
            subject=f"campaign:{name}",
            detail={"reason": reason, "skipped": skipped},
            now=now,
        )
    return target.value


def mark_running(store: Store, campaign: CampaignRef, *, actor: str) -> None:
    with store.begin() as conn:
        moved = q.set_campaign_state(
            conn,
            campaign.id,
            CampaignState.RUNNING.value,
            expected=[
                CampaignState.PLANNED.value,
                CampaignState.RUNNING.value,
                CampaignState.COMPLETED.value,
            ],
            launched_at=utcnow(),
        )
        if not moved:
            raise CampaignStateError(f"campaign {campaign.name!r} is {campaign.state}; it cannot be launched")
        q.audit(
            conn,
            actor=actor,
            action="campaign.launch",
            subject=f"campaign:{campaign.name}",
            detail={},
            now=utcnow(),
        )


@dataclass
class CampaignStatus:
    name: str
    state: str
    manifest: dict[str, Any]
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"campaign": self.name, "state": self.state, "manifest": self.manifest, "outbox": self.outbox}


def campaign_status(store: Store, name: str) -> CampaignStatus:
    campaign = get_campaign(store, name)
    with store.connect() as conn:
        return CampaignStatus(
            name=name,
            state=q.campaign_state(conn, campaign.id),
            manifest=q.manifest_summary(conn, campaign.id),
            outbox=q.outbox_counts(conn, campaign.id),
        )
