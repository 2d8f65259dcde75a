"""Campaign lifecycle: open an incident, plan a campaign (freeze its manifest, fill the outbox),
send it batch by batch until nothing is due, and report its status. Used by the CLI and the flows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime
from pathlib import Path
from typing import Any

from notifier.config import Settings
from notifier.approval import require_approved
from notifier.channels import channel_from_url
from notifier.delivery import BatchResult, TokenBucket, deliver_batch
from notifier.errors import CampaignStateError, ConfigurationError, InputError, RenderError
from notifier.models import CampaignState, Channel, ChannelPolicy
from notifier.content import validate_facts
from notifier.render import NOTICES, Renderer
from notifier.selection import FreezeResult, Planning, Selection, freeze_manifest
from notifier.store import Store, as_utc, utcnow
from notifier.store import queries as q

__all__ = [
    "BatchResult",
    "CampaignRef",
    "campaign_exists",
    "campaign_status",
    "create_incident",
    "drain",
    "get_campaign",
    "launch",
    "send_batch",
    "mark_running",
    "load_incident_file",
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
                    renderer.render(facts, name="Sample Customer", locale=locale, time_zone="UTC",
                                    jurisdiction=jurisdiction)  # fmt: skip
                except (RenderError, KeyError, ValueError, TypeError) as exc:
                    raise InputError(f"incident facts do not render ({notice}, {locale}): {exc}") from exc
    now = utcnow()
    with store.begin() as conn:
        if q.incident_by_key(conn, facts["key"]) is not None:
            raise InputError(f"incident {facts['key']!r} exists already; incidents are not edited in place")
        incident_id = q.insert_incident(conn, key=facts["key"], title=facts["title"], facts=facts, actor=actor,
                                        now=now)  # fmt: skip
        q.audit(conn, actor=actor, action="incident.create", subject=f"incident:{facts['key']}",
                detail={"id": incident_id}, now=now)  # fmt: skip
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
    return CampaignRef(id=row.id, name=row.name, state=row.state,
                       channels=frozenset(Channel(c) for c in row.channels.split(",") if c),
                       facts=dict(incident.facts), notice=row.notice)  # fmt: skip


def plan_campaign(store: Store, *, name: str, incident_key: str, selection: Selection,
                  channels: frozenset[Channel], policy: ChannelPolicy, locales: tuple[str, ...], actor: str,
                  notice: str = "breach_notice", progress: Callable[[int], None] | None = None) -> FreezeResult:  # fmt: skip
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
            conn, name=name, incident_id=incident.id, notice=notice, state=CampaignState.DRAFT.value,
            channels=",".join(sorted(c.value for c in channels)), policy=policy.value,
            selection=selection.describe(), created_at=now, created_by=actor,
        )  # fmt: skip
    planning = Planning(channels=channels, policy=policy, locales=locales)
    result = freeze_manifest(store, campaign_id, selection, planning, progress=progress)
    with store.begin() as conn:
        q.set_campaign_state(conn, campaign_id, CampaignState.PLANNED.value, planned_at=utcnow())
        q.audit(conn, actor=actor, action="campaign.plan", subject=f"campaign:{name}",
                detail={"selected": result.selected, "selection": selection.describe()}, now=utcnow())  # fmt: skip
    return result


def mark_running(store: Store, campaign: CampaignRef, *, actor: str) -> None:
    with store.begin() as conn:
        moved = q.set_campaign_state(
            conn, campaign.id, CampaignState.RUNNING.value,
            expected=[CampaignState.PLANNED.value, CampaignState.RUNNING.value, CampaignState.COMPLETED.value],
            launched_at=utcnow(),
        )  # fmt: skip
        if not moved:
            raise CampaignStateError(f"campaign {campaign.name!r} is {campaign.state}; it cannot be launched")
        q.audit(conn, actor=actor, action="campaign.launch", subject=f"campaign:{campaign.name}", detail={},
                now=utcnow())  # fmt: skip


def drain(store: Store, campaign: CampaignRef, send_batch: Callable[[Channel], BatchResult], *,
          max_wait_seconds: float = 900.0, sleep: Callable[[float], None] = time.sleep) -> BatchResult:  # fmt: skip
    """Call ``send_batch(channel)`` until no row of the campaign is due, waiting for deferred retries.

    The campaign state is read between batches, so a pause or cancel takes effect at the next batch.
    Returns the totals; the campaign is marked completed when nothing is left to send."""
    total = BatchResult()
    deadline = time.monotonic() + max_wait_seconds
    while True:
        progressed = False
        for channel in sorted(campaign.channels):
            if _state(store, campaign.id) in (CampaignState.PAUSED, CampaignState.CANCELLED):
                return total
            result = send_batch(channel)
            total.add(result)
            progressed = progressed or result.claimed > 0
        if progressed:
            continue
        next_due = _next_due(store, campaign.id)
        if next_due is None:
            break
        wait = (next_due - utcnow()).total_seconds()
        if time.monotonic() + wait > deadline:
            break  # deferred rows stay deferred; a later launch picks them up
        sleep(max(wait, 0.05))
    with store.begin() as conn:
        q.set_campaign_state(conn, campaign.id, CampaignState.COMPLETED.value,
                             expected=[CampaignState.RUNNING.value], completed_at=utcnow())  # fmt: skip
    return total


def _state(store: Store, campaign_id: int) -> CampaignState:
    with store.connect() as conn:
        return CampaignState(q.campaign_state(conn, campaign_id))


def _next_due(store: Store, campaign_id: int) -> datetime | None:
    with store.connect() as conn:
        return as_utc(q.next_deferred_at(conn, campaign_id))


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
        return CampaignStatus(name=name, state=q.campaign_state(conn, campaign.id),
                              manifest=q.manifest_summary(conn, campaign.id),
                              outbox=q.outbox_counts(conn, campaign.id))  # fmt: skip

@lru_cache(maxsize=8)
def renderer_for(templates_dir: Path, locales_dir: Path, notice: str) -> Renderer:
    """One renderer per notice and process: compiled templates and catalogs are reused across batches."""
    return Renderer(templates_dir, locales_dir, notice)


def send_batch(settings: Settings, campaign_name: str, channel: Channel) -> BatchResult:
    """Claim and send one batch of ``channel`` for the campaign (one Prefect task runs exactly this)."""
    url = settings.email_url if channel is Channel.EMAIL else settings.sms_url
    if not url:
        raise ConfigurationError(f"no {channel} channel configured (NOTIFIER_{channel.upper()}_URL)")
    store = Store(settings.database_url)
    try:
        campaign = get_campaign(store, campaign_name)
        # Checked again before every batch: a template edited mid-campaign stops the sending at once.
        require_approved(store, settings, campaign_id=campaign.id, campaign_name=campaign.name,
                         notice=campaign.notice, actor="sender")  # fmt: skip
        renderer = renderer_for(settings.templates_dir, settings.locales_dir, campaign.notice)
        rate = settings.email_rate_per_s if channel is Channel.EMAIL else settings.sms_rate_per_s
        concurrency = settings.email_concurrency if channel is Channel.EMAIL else settings.sms_concurrency

        async def run() -> BatchResult:
            provider = channel_from_url(url, channel)
            try:
                return await deliver_batch(
                    store, campaign_id=campaign.id, channel_kind=channel, channel=provider, renderer=renderer,
                    facts=campaign.facts, batch_size=settings.batch_size, lease_seconds=settings.lease_seconds,
                    concurrency=concurrency, retry=settings.retry, bucket=TokenBucket(rate, burst=max(int(rate), 1)),
                )  # fmt: skip
            finally:
                await provider.aclose()

        return asyncio.run(run())
    finally:
        store.dispose()


def launch(store: Store, settings: Settings, campaign_name: str, send: Callable[[Channel], BatchResult], *,
           actor: str, max_wait_seconds: float = 900.0) -> BatchResult:  # fmt: skip
    """Check every needed notice piece is approved at its current content hash, mark the campaign
    running, settle rows a dead sender left behind, and send until nothing is due.

    Launching a completed campaign again is allowed and sends nothing that was already sent."""
    campaign = get_campaign(store, campaign_name)
    require_approved(store, settings, campaign_id=campaign.id, campaign_name=campaign.name,
                     notice=campaign.notice, actor=actor)  # fmt: skip
    mark_running(store, campaign, actor=actor)
    with store.begin() as conn:
        q.mark_expired_leases_uncertain(conn, campaign.id, utcnow())
    return drain(store, campaign, send, max_wait_seconds=max_wait_seconds)
