"""The start page: what the signed-in person can do, by role."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.console.web import Console, render

__all__ = ["routes"]


def routes(console: Console) -> list[BaseRoute]:
    del console

    def start(request: Request) -> Response:
        if request.state.user is None:
            return render(request, "login.html.j2", error="")
        return render(request, "home.html.j2")

    return [Route("/", start, methods=["GET"])]
