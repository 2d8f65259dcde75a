"""A campaign's delivery report as a page, and the customers it did not reach: a page at a time, or all
of them as a streamed CSV (masked; the export is audited)."""

from __future__ import annotations

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.console.security import sent_from_elsewhere
from notifier.console.web import Console, render, require
from notifier.errors import AccessDeniedError
from notifier.reports.delivery import build_report, not_reached_csv, not_reached_page, report_html

__all__ = ["routes"]

PAGE = 100  # customers per page of the not-reached list


def routes(console: Console) -> list[BaseRoute]:
    store, settings = console.store, console.settings

    def report(request: Request) -> Response:
        require(request, Action.CAMPAIGN_VIEW)
        report = build_report(store, request.path_params["name"], settings=settings)
        return HTMLResponse(report_html(report, None))  # rendered in memory: nothing left on disk

    def not_reached(request: Request) -> Response:
        require(request, Action.CAMPAIGN_VIEW)
        name = request.path_params["name"]
        try:
            page = min(max(0, int(request.query_params.get("page", "0"))), 10**9)
        except ValueError:
            page = 0
        lines, total = not_reached_page(store, name, page=page, size=PAGE)
        return render(
            request, "comms/not_reached.html.j2", name=name, lines=lines, total=total, page=page, size=PAGE
        )

    def not_reached_export(request: Request) -> Response:
        user = require(request, Action.CAMPAIGN_VIEW)
        if sent_from_elsewhere(request):
            raise AccessDeniedError("an export is audited: start it from the console's own page")
        name = request.path_params["name"]
        return StreamingResponse(
            iterate_in_threadpool(not_reached_csv(store, name, actor=user.username)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-not-reached.csv"'},
        )

    return [
        Route("/reports/{name}", report, methods=["GET"]),
        Route("/campaigns/{name}/not-reached", not_reached, methods=["GET"]),
        Route("/campaigns/{name}/not-reached.csv", not_reached_export, methods=["GET"]),
    ]
