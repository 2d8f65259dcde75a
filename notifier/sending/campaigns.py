"""Campaign lifecycle: plan a campaign (freeze its manifest, fill the outbox), start it, pause, resume or
cancel it, and report its state and counts. Sending itself is ``sending.runner``'s. Every step is audited."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from notifier.audience.selection import FreezeResult, Planning, Selection, freeze_manifest
from notifier.clock import utcnow
from notifier.config import DEFAULT_TEMPLATES_DIR, Settings
from notifier.errors import CampaignStateError, InputError
from notifier.models import CampaignState, Channel, ChannelPolicy, DeliveryPolicy, LegalGap
from notifier.notices.incidents import parse_incident
from notifier.notices.legal_channels import NoticeLaw, gap_words, load_legal_channels
from notifier.notices.lint import missing_texts
from notifier.notices.render import NOTICES, UPDATE_NOTICES
from notifier.sending import tokens
from notifier.store import Store
from notifier.store import queries as q

__all__ = [
    "CampaignRef",
    "campaign_exists",
    "campaign_status",
    "control",
    "get_campaign",
    "legal_notice_gaps",
    "mark_running",
    "plan_campaign",
    "translation_gaps",
]


@dataclass(frozen=True, slots=True)
class CampaignRef:
    """A campaign as its senders and controls see it."""

    id: int
    name: str
    state: CampaignState
    channels: frozenset[Channel]
    incident_id: int
    facts: Mapping[str, Any]  # the incident's facts as recorded (parsed once per sending window)
    notice: str
    policy: DeliveryPolicy
    planned_at: datetime | None
    completed_at: datetime | None = None
    bounce_key: str | None = None  # signs the email tokens (sending.tokens); None if planned before them


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
        state=CampaignState(row.state),
        channels=frozenset(Channel(c) for c in row.channels.split(",") if c),
        incident_id=row.incident_id,
        facts=incident.facts,
        notice=row.notice,
        policy=DeliveryPolicy.from_json(row.settings),
        planned_at=row.planned_at,
        completed_at=row.completed_at,
        bounce_key=(row.settings or {}).get("bounce_key"),
    )


CAMPAIGN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


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
    delivery: DeliveryPolicy | None = None,
    progress: Callable[[int], None] | None = None,
    templates_dir: Path = DEFAULT_TEMPLATES_DIR,
) -> FreezeResult:
    """Create the campaign and freeze its manifest, deciding each person's notice in law with the legal
    content of ``templates_dir`` (its jurisdiction profiles and legal channels). A planned campaign's
    manifest is never re-selected; a plan that fails part-way (a broken file, a query or a database that
    fails) leaves nothing behind."""
    delivery = delivery or DeliveryPolicy()
    if not CAMPAIGN_NAME.fullmatch(name):
        raise InputError(
            f"campaign name {name[:40]!r}: 1 to 100 letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit (it names files and web addresses)"
        )
    selection.check()
    if notice not in NOTICES:
        raise InputError(f"unknown notice {notice!r}; known: {', '.join(NOTICES)}")
    now = utcnow()
    with store.begin() as conn:
        incident = q.incident_by_key(conn, incident_key)
        if incident is None:
            raise InputError(f"no incident {incident_key!r}; create it first (notifier incident create)")
        if q.campaign_by_name(conn, name) is not None:
            raise CampaignStateError(f"campaign {name!r} exists already; its manifest is frozen")
        recorded = parse_incident(incident.facts, templates_dir)
        law = NoticeLaw.of(templates_dir, recorded.data_categories)
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
    planning = Planning(
        channels=channels,
        policy=policy,
        locales=locales,
        once_per_person=notice not in UPDATE_NOTICES,
        law=law,
        home_country=recorded.country,
    )
    try:
        result = freeze_manifest(store, campaign_id, selection, planning, progress=progress)
    except BaseException as exc:
        _discard(store, campaign_id, name, actor=actor, error=exc)
        raise
    with store.begin() as conn:
        q.set_campaign_state(conn, campaign_id, CampaignState.PLANNED, planned_at=utcnow())
        q.audit(
            conn,
            actor=actor,
            action="campaign.plan",
            subject=f"campaign:{name}",
            detail={
                "selected": result.selected,
                "selection": selection.describe(),
                **({"not_customers": result.not_customers} if result.not_customers else {}),
            },
            now=utcnow(),
        )
    return result


def translation_gaps(store: Store, settings: Settings, name: str) -> list[str]:
    """For each notice language the manifest needs, the incident's texts missing in it and how many
    customers that leaves without a complete notice (they are not sent until the text is added)."""
    campaign = get_campaign(store, name)
    incident = parse_incident(campaign.facts, settings.templates_dir)
    with store.connect() as conn:
        by_locale = q.manifest_summary(conn, campaign.id)["by_locale"]
    lines = []
    for locale, customers in sorted(by_locale.items()):
        fields = [
            f
            for f in missing_texts(incident, locale)
            if campaign.notice in UPDATE_NOTICES or not f.startswith("update.")
        ]
        if fields:
            lines.append(
                f"{customers} customers read {locale}, but the incident has no {locale} text for "
                f"{', '.join(fields)}: add it (notifier incident edit {incident.key} FILE); launch is "
                "refused until then"
            )
    return lines


def legal_notice_gaps(manifest: Mapping[str, Any], templates_dir: Path) -> list[str]:
    """Who would get no notice the law accepts, and why, in words a comms person understands: a
    headline, then one line per jurisdiction profile and reason. Empty when everyone has one (or the
    campaign was planned before notifier decided it)."""
    groups = manifest.get("legal_gaps") or []
    if not groups:
        return []
    legal = load_legal_channels(templates_dir)
    missing = sum(g["customers"] for g in groups)
    lines = [
        f"{missing:,} of {manifest['total']:,} people would get no notice the law accepts from this "
        "campaign (other channels reach some of them as a courtesy only):"
    ]
    for group in groups:
        rule = legal.rules.get(group["profile"]) if group["profile"] else None
        where = f"{group['profile']} readers ({rule.rule})" if rule else "not in the store"
        lines.append(f"  {group['customers']:,} {where}: {gap_words(LegalGap(group['gap']), rule)}")
    return lines


def _discard(store: Store, campaign_id: int, name: str, *, actor: str, error: BaseException) -> None:
    """Undo a plan that failed part-way, so the name can be planned again once the cause is fixed."""
    with store.begin() as conn:
        q.delete_campaign(conn, campaign_id)
        q.audit(
            conn,
            actor=actor,
            action="campaign.plan_failed",
            subject=f"campaign:{name}",
            detail={"error": f"{type(error).__name__}: {error}"[:500]},
            now=utcnow(),
        )


CONTROL = {
    # action: (states it may come from, state it goes to)
    "pause": ({CampaignState.RUNNING, CampaignState.PLANNED}, CampaignState.PAUSED),
    "resume": ({CampaignState.PAUSED}, CampaignState.PLANNED),
    "cancel": ({CampaignState.PLANNED, CampaignState.RUNNING, CampaignState.PAUSED}, CampaignState.CANCELLED),
}


def control(store: Store, name: str, action: str, *, actor: str, reason: str = "") -> CampaignState:
    """Pause, resume or cancel a campaign. Senders read the state between batches, so it takes effect
    at the next batch; a cancelled campaign's unsent rows become ``skipped``. Audited."""
    campaign = get_campaign(store, name)
    allowed, target = CONTROL[action]
    now = utcnow()
    with store.begin() as conn:
        if not q.set_campaign_state(conn, campaign.id, target, expected=allowed):
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
    return target


def mark_running(store: Store, campaign: CampaignRef, *, actor: str) -> None:
    with store.begin() as conn:
        moved = q.set_campaign_state(
            conn,
            campaign.id,
            CampaignState.RUNNING,
            expected=[CampaignState.PLANNED, CampaignState.RUNNING, CampaignState.COMPLETED],
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
    state: CampaignState
    manifest: dict[str, Any]
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)
    providers_down: list[str] = field(default_factory=list)  # "account: since …: last error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.name,
            "state": self.state,
            "manifest": self.manifest,
            "outbox": self.outbox,
            "providers_down": self.providers_down,
        }


def campaign_status(store: Store, name: str) -> CampaignStatus:
    campaign = get_campaign(store, name)
    with store.connect() as conn:
        return CampaignStatus(
            name=name,
            state=q.campaign_state(conn, campaign.id),
            manifest=q.manifest_summary(conn, campaign.id),
            outbox=q.outbox_counts(conn, campaign.id),
            providers_down=[
                f"{h.account}: cannot be reached since {h.down_since:%Y-%m-%d %H:%M} UTC: {h.last_error}"
                for h in q.providers_down(conn)
            ],
        )
