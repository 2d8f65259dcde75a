"""Recording incidents in the store: checked, rendered once in every notice, language and profile, audited.

An incident is never edited in place: ``edit_incident`` adds a revision (every earlier one is kept) and
records its author as the editor of exactly the pieces whose text changed, which voids their approvals
(notices.approval): a launch then refuses until someone else approves the new text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import InputError, RenderError
from notifier.notices.approval import Piece, submit_changed
from notifier.notices.incidents import Incident, parse_incident
from notifier.notices.lint import missing_texts
from notifier.notices.render import NOTICES, renderer_for
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import IncidentRevisionRow

__all__ = [
    "Edit",
    "changed_fields",
    "create_incident",
    "edit_incident",
    "incident_by_id",
    "incident_by_key",
    "incident_history",
    "revision_facts",
    "text_gaps",
]


@dataclass(frozen=True, slots=True)
class Edit:
    """What an edit did: the new revision, the facts it changed, and the pieces whose text changed."""

    revision: int
    changed_fields: list[str]
    changed_pieces: list[Piece]


def _check_renders(settings: Settings, incident: Incident) -> None:
    """Every notice, in every profile its readers can get, renders from these facts in each language the
    incident has all its texts in. A language it lacks a text in is not refused here (an incident may
    concern no reader of it): lint names the gap, and a campaign whose readers need it cannot launch."""
    for notice in NOTICES:
        renderer = renderer_for(settings.templates_dir, settings.locales_dir, notice)
        for locale in renderer.locales:
            if missing_texts(incident, locale):
                continue
            for profile in renderer.content.profiles.values():
                if not profile.applies_to(incident.data_categories):
                    continue
                try:
                    renderer.render(
                        incident, name="Sample Customer", locale=locale, time_zone="UTC", profile=profile.name
                    )
                except RenderError as exc:
                    raise InputError(
                        f"incident facts do not render ({notice}, {locale}, {profile.name}): {exc}"
                    ) from exc


def create_incident(store: Store, settings: Settings, facts: Mapping[str, Any], *, actor: str) -> int:
    """Record an incident after proving its facts render a complete notice in every locale and profile;
    ``actor`` becomes the editor of every piece (legal approves them: four eyes)."""
    incident = parse_incident(facts, settings.templates_dir)
    _check_renders(settings, incident)
    now = utcnow()
    with store.begin() as conn:
        if q.incident_by_key(conn, incident.key) is not None:
            raise InputError(
                f"incident {incident.key!r} exists already; change it with `notifier incident edit "
                f"{incident.key} FILE` (a new revision)"
            )
        incident_id = q.insert_incident(
            conn, key=incident.key, title=incident.title, facts=dict(facts), actor=actor, now=now
        )
        q.audit(
            conn,
            actor=actor,
            action="incident.create",
            subject=f"incident:{incident.key}",
            detail={"id": incident_id, "revision": 1},
            now=now,
        )
    submit_changed(store, settings, None, incident, author=actor, comment="incident recorded")
    return incident_id


def edit_incident(
    store: Store,
    settings: Settings,
    key: str,
    facts: Mapping[str, Any],
    *,
    actor: str,
    comment: str = "",
    based_on: int | None = None,
) -> Edit:
    """Make ``facts`` the incident's next revision; the approvals of every piece whose text changes are
    void from then on. Refused, changing nothing, if the facts do not render or name another incident.

    ``based_on`` is the revision the editor started from (a form opened a while ago). If someone revised
    the incident since, the editor's changes (against ``based_on``) are made on the current revision,
    unless both changed the same facts: then it is refused, naming them, and nothing is overwritten."""
    if facts.get("key") != key:
        raise InputError(f"the file is for incident {facts.get('key')!r}, not {key!r}; the key never changes")
    with store.connect() as conn:
        row = q.incident_by_key(conn, key)
    if row is None:
        raise InputError(f"no incident {key!r}; record it first with `notifier incident create FILE`")
    if based_on is not None and row.revision != based_on:
        base = revision_facts(store, key, based_on)
        facts = _on_top_of(row.facts, base, facts, key=key, revision=row.revision, based_on=based_on)
    after = parse_incident(facts, settings.templates_dir)
    _check_renders(settings, after)
    before = parse_incident(row.facts, settings.templates_dir)
    changed = changed_fields(row.facts, dict(facts))
    if not changed:
        raise InputError(f"incident {key!r} revision {row.revision} already has exactly these facts")
    now = utcnow()
    with store.begin() as conn:
        revision = q.revise_incident(
            conn,
            row.id,
            expected_revision=row.revision,
            title=after.title,
            facts=dict(facts),
            actor=actor,
            comment=comment,
            now=now,
        )
        if revision is None:
            raise InputError(f"incident {key!r} was edited by someone else meanwhile; look again and retry")
        q.audit(
            conn,
            actor=actor,
            action="incident.edit",
            subject=f"incident:{key}",
            detail={"revision": revision, "changed": changed, "comment": comment},
            now=now,
        )
    pieces = submit_changed(
        store,
        settings,
        before,
        after,
        author=actor,
        comment=f"incident revision {revision}: {comment}".strip(),
    )
    return Edit(revision, changed, pieces)


def _on_top_of(
    current: Mapping[str, Any],
    base: Mapping[str, Any],
    edited: Mapping[str, Any],
    *,
    key: str,
    revision: int,
    based_on: int,
) -> dict[str, Any]:
    """``edited`` (made from revision ``based_on``, facts ``base``) applied to the ``current`` facts: what
    the editor changed replaces what is there, everything else stays as the later revision has it."""
    mine = changed_fields(base, edited)
    theirs = changed_fields(base, current)
    both = sorted({m for m in mine for t in theirs if _overlap(m, t)})
    if both:
        raise InputError(
            f"incident {key!r} was revised (now revision {revision}) after you opened revision {based_on}, "
            f"and that revision changed what you changed too: {', '.join(both)}; open it again and make "
            "your change on what it says now"
        )
    merged: dict[str, Any] = json.loads(json.dumps(current))  # a deep copy
    for dotted in mine:
        path = dotted.split(".")
        value = _at(edited, path)
        here = merged
        for part in path[:-1]:
            inner = here.get(part)
            if not isinstance(inner, dict):  # absent now (a changed object would have overlapped)
                inner = here[part] = {}
            here = inner
        if value is None:
            here.pop(path[-1], None)
        else:
            here[path[-1]] = value
    return merged


def _overlap(one: str, other: str) -> bool:
    """Whether two changed facts touch the same value (``contact`` and ``contact.phone`` do)."""
    return one == other or one.startswith(other + ".") or other.startswith(one + ".")


def _at(facts: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = facts
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the facts that differ (``what_happened.ru``, ``contact.phone``)."""
    changed = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += changed_fields(a, b, f"{prefix}{name}.")
        else:
            changed.append(f"{prefix}{name}")
    return changed


def text_gaps(settings: Settings, incident: Incident) -> list[str]:
    """One line per notice language the incident has no complete text in (what lint reports as errors)."""
    locales = renderer_for(settings.templates_dir, settings.locales_dir, NOTICES[0]).locales
    return [
        f"no {locale} text for {', '.join(fields)}: readers of {locale} get no notice until it is added"
        for locale in locales
        if (fields := [f for f in missing_texts(incident, locale) if not f.startswith("update.")])
    ]


def incident_by_id(store: Store, settings: Settings, incident_id: int) -> Incident:
    with store.connect() as conn:
        row = q.incident_by_id(conn, incident_id)
    return parse_incident(row.facts, settings.templates_dir)


def incident_by_key(store: Store, settings: Settings, key: str) -> Incident:
    with store.connect() as conn:
        row = q.incident_by_key(conn, key)
    if row is None:
        raise InputError(f"no incident {key!r}; `notifier incident list` shows the recorded ones")
    return parse_incident(row.facts, settings.templates_dir)


def revision_facts(store: Store, key: str, revision: int) -> dict[str, Any]:
    """The facts revision ``revision`` of the incident recorded, or an InputError naming what is missing."""
    with store.connect() as conn:
        row = q.incident_by_key(conn, key)
        facts = q.incident_revision_facts(conn, row.id, revision) if row is not None else None
    if facts is None:
        raise InputError(f"incident {key!r} has no revision {revision} to start from; open it again")
    return facts


def incident_history(store: Store, key: str) -> list[IncidentRevisionRow]:
    with store.connect() as conn:
        row = q.incident_by_key(conn, key)
        if row is None:
            raise InputError(f"no incident {key!r}")
        return q.incident_history(conn, row.id)
