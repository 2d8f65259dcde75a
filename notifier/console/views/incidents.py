"""Incidents: the list; one incident's facts, missing translations and notification deadlines; recording
a new incident and revising one (comms), with the same checks as the CLI (a revision voids exactly the
approvals of the pieces whose text it changes)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.clock import utcnow
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.errors import InputError
from notifier.notices.deadlines import incident_deadlines
from notifier.notices.records import create_incident, edit_incident, incident_by_key, text_gaps
from notifier.store import queries as q

__all__ = ["routes"]


def routes(console: Console) -> list[BaseRoute]:
    store, settings = console.store, console.settings

    def incidents(request: Request) -> Response:
        require(request, Action.INCIDENT_VIEW)
        with store.connect() as conn:
            rows = q.incidents_list(conn)
        return render(request, "comms/incidents.html.j2", incidents=rows)

    def incident(request: Request) -> Response:
        require(request, Action.INCIDENT_VIEW)
        key = request.path_params["key"]
        found = incident_by_key(store, settings, key)
        obligations = incident_deadlines(store, settings, key, utcnow())
        return render(
            request,
            "comms/incident.html.j2",
            incident=found,
            obligations=[o for o in obligations if o.applies],
            gaps=text_gaps(settings, found),
            done=request.query_params.get("done", ""),
        )

    def new_page(request: Request) -> Response:
        require(request, Action.INCIDENT_EDIT)
        sample = (settings.templates_dir / "samples" / "complete.json").read_text(encoding="utf-8")
        return render(request, "comms/incident_edit.html.j2", key="", facts=sample, gaps=[])

    def create(request: Request, form: FormData) -> Response:
        user = require(request, Action.INCIDENT_EDIT)
        facts = _facts(str(form.get("facts", "")))
        create_incident(store, settings, facts, actor=user.username)
        return see_other(f"/incidents/{facts.get('key')}?done=recorded")

    def edit_page(request: Request) -> Response:
        require(request, Action.INCIDENT_EDIT)
        found = incident_by_key(store, settings, request.path_params["key"])
        text = json.dumps(found.facts, indent=2, ensure_ascii=False)
        gaps = text_gaps(settings, found)
        return render(request, "comms/incident_edit.html.j2", key=found.key, facts=text, gaps=gaps)

    def revise(request: Request, form: FormData) -> Response:
        user = require(request, Action.INCIDENT_EDIT)
        key = request.path_params["key"]
        edit = edit_incident(
            store,
            settings,
            key,
            _facts(str(form.get("facts", ""))),
            actor=user.username,
            comment=str(form.get("comment", ""))[:500],
        )
        done = f"revision {edit.revision}, {len(edit.changed_pieces)} pieces need approval again"
        return see_other(f"/incidents/{key}?done={quote(done)}")

    return [
        Route("/incidents", incidents, methods=["GET"]),
        Route("/incidents/new", new_page, methods=["GET"]),
        Route("/incidents/new", with_form(create), methods=["POST"]),
        Route("/incidents/{key}", incident, methods=["GET"]),
        Route("/incidents/{key}/edit", edit_page, methods=["GET"]),
        Route("/incidents/{key}/edit", with_form(revise), methods=["POST"]),
    ]


def _facts(text: str) -> dict[str, Any]:
    """The facts typed or pasted into the form, or an InputError saying where the JSON is broken."""
    try:
        facts = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"the facts: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    if not isinstance(facts, dict):
        raise InputError("the facts must be one JSON object (see docs/incidents.md)")
    return facts
