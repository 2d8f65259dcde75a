"""Incidents: the list; one incident's facts, missing translations and notification deadlines; recording
a new incident and revising one (comms), with the same checks as the CLI (a revision voids exactly the
approvals of the pieces whose text it changes)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.console.facts_form import (
    OTHER,
    Values,
    facts_from_form,
    form_sections,
    form_values,
    problem_links,
)
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.errors import InputError
from notifier.notices.content import load_content
from notifier.notices.deadlines import incident_deadlines
from notifier.notices.records import (
    changed_fields,
    create_incident,
    edit_incident,
    incident_by_key,
    incident_history,
    revision_facts,
    text_gaps,
)
from notifier.notices.render import NOTICES, renderer_for
from notifier.store import queries as q
from notifier.store.rows import IncidentRevisionRow, IncidentRow

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
            history=_revisions(incident_history(store, key)),
            done=request.query_params.get("done", ""),
        )

    def form_page(
        request: Request,
        values: Values,
        *,
        key: str = "",
        revision: int | None = None,
        problems: list[str] | None = None,
    ) -> Response:
        gaps: list[str] = []
        if key:
            gaps = text_gaps(settings, incident_by_key(store, settings, key))
        return render(
            request,
            "comms/incident_edit.html.j2",
            status_code=400 if problems else 200,
            key=key,
            revision=revision,
            sections=form_sections(
                values, locales=_locales(settings), categories=_categories(settings), new=not key
            ),
            other=values.get(OTHER, [""])[0] if values.get(OTHER) else "",
            gaps=gaps,
            problems=problem_links(problems or []),
            comment=values.get("comment", [""])[0] if values.get("comment") else "",
        )

    def new_page(request: Request) -> Response:
        require(request, Action.INCIDENT_EDIT)
        return form_page(request, {})

    def create(request: Request, form: FormData) -> Response:
        user = require(request, Action.INCIDENT_EDIT)
        values = _posted(form)
        try:
            facts = facts_from_form(values, key=None, original=None)
            create_incident(store, settings, facts, actor=user.username)
        except InputError as exc:
            return form_page(request, values, problems=list(exc.problems))
        return see_other(f"/incidents/{quote(str(facts['key']))}?done=recorded")

    def edit_page(request: Request) -> Response:
        require(request, Action.INCIDENT_EDIT)
        row = _row(request.path_params["key"])
        return form_page(request, form_values(row.facts), key=row.key, revision=row.revision)

    def revise(request: Request, form: FormData) -> Response:
        user = require(request, Action.INCIDENT_EDIT)
        row = _row(request.path_params["key"])
        values = _posted(form)
        comment = str(form.get("comment", "")).strip()[:500]
        based_on = row.revision
        try:
            based_on = int(str(form.get("revision", "")))
            opened = revision_facts(store, row.key, based_on)
            if not comment:
                raise InputError("say what changed and why: the comment is kept with the revision")
            facts = facts_from_form(values, key=row.key, original=opened)
            edit = edit_incident(
                store, settings, row.key, facts, actor=user.username, comment=comment, based_on=based_on
            )
        except (InputError, ValueError) as exc:
            # What was typed comes back with the problems, still based on the revision it was opened at:
            # recording it again cannot undo what a later revision changed.
            problems = list(exc.problems) if isinstance(exc, InputError) else ["the form lost its revision"]
            return form_page(request, values, key=row.key, revision=based_on, problems=problems)
        done = f"revision {edit.revision}, {len(edit.changed_pieces)} pieces need approval again"
        return see_other(f"/incidents/{quote(row.key)}?done={quote(done)}")

    def _row(key: str) -> IncidentRow:
        with store.connect() as conn:
            row = q.incident_by_key(conn, key)
        if row is None:
            raise HTTPException(404, f"no incident {key!r}")
        return row

    return [
        Route("/incidents", incidents, methods=["GET"]),
        Route("/incidents/new", new_page, methods=["GET"]),
        Route("/incidents/new", with_form(create), methods=["POST"]),
        Route("/incidents/{key}", incident, methods=["GET"]),
        Route("/incidents/{key}/edit", edit_page, methods=["GET"]),
        Route("/incidents/{key}/edit", with_form(revise), methods=["POST"]),
    ]


def _posted(form: FormData) -> dict[str, list[str]]:
    """Every posted name with all its values (text fields only; this form uploads no file)."""
    return {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form}


def _revisions(history: list[IncidentRevisionRow]) -> list[tuple[IncidentRevisionRow, list[str]]]:
    """Each revision, newest first, with the facts it changed (the first one recorded them all)."""
    changed = [
        (row, changed_fields(before.facts, row.facts) if before else [])
        for before, row in zip([None, *history], history, strict=False)
    ]
    return changed[::-1]


def _locales(settings: Settings) -> tuple[str, ...]:
    """The languages notices are written in: a text box each."""
    return renderer_for(settings.templates_dir, settings.locales_dir, NOTICES[0]).locales


def _categories(settings: Settings) -> dict[str, str]:
    """The data categories of the legal content model, as the form's checkboxes say them."""
    known = load_content(settings.templates_dir).categories
    return {name: f"{name}: {category.label}" for name, category in known.items()}
