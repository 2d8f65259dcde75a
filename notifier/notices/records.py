"""Recording incidents in the store: checked, rendered once in every notice, language and profile, audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import InputError, RenderError
from notifier.notices.incidents import Incident, parse_incident
from notifier.notices.render import NOTICES, Renderer
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["create_incident", "incident_by_id"]


def create_incident(store: Store, settings: Settings, facts: Mapping[str, Any], *, actor: str) -> int:
    """Record an incident after proving its facts render a complete notice in every locale and profile."""
    incident = parse_incident(facts, settings.templates_dir)
    for notice in NOTICES:
        renderer = Renderer(settings.templates_dir, settings.locales_dir, notice)
        for locale in renderer.locales:
            for profile in renderer.content.profiles.values():
                try:
                    renderer.render(
                        incident,
                        name="Sample Customer",
                        locale=locale,
                        time_zone="UTC",
                        jurisdiction=profile.sample_jurisdiction,
                    )
                except RenderError as exc:
                    raise InputError(f"incident facts do not render ({notice}, {locale}): {exc}") from exc
    now = utcnow()
    with store.begin() as conn:
        if q.incident_by_key(conn, incident.key) is not None:
            raise InputError(f"incident {incident.key!r} exists already; incidents are not edited in place")
        incident_id = q.insert_incident(
            conn, key=incident.key, title=incident.title, facts=dict(facts), actor=actor, now=now
        )
        q.audit(
            conn,
            actor=actor,
            action="incident.create",
            subject=f"incident:{incident.key}",
            detail={"id": incident_id},
            now=now,
        )
    return incident_id


def incident_by_id(store: Store, settings: Settings, incident_id: int) -> Incident:
    with store.connect() as conn:
        row = q.incident_by_id(conn, incident_id)
    return parse_incident(row.facts, settings.templates_dir)
