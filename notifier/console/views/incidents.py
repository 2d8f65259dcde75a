"""Incidents: the list, and one incident's facts and notification deadlines."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.clock import utcnow
from notifier.console.web import Console, render, require
from notifier.notices.deadlines import incident_deadlines
from notifier.notices.records import incident_by_key
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
        )

    return [
        Route("/incidents", incidents, methods=["GET"]),
        Route("/incidents/{key}", incident, methods=["GET"]),
    ]
