"""One process for the webhooks and the console, or either alone: requests to the webhooks' paths go to
the webhooks' app, everything else to the console (404 for the part that is not served here). Every
process answers ``GET /healthz`` (up or down, nothing more), whichever parts it serves."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from notifier.store import Store
from notifier.tracking.app import health_endpoint

__all__ = ["HOOK_PATHS", "by_path"]

HOOK_PATHS = ("/twilio/",)
HEALTH = "/healthz"


def by_path(hooks: ASGIApp | None, console: ASGIApp | None, *, store: Store) -> ASGIApp:
    not_here = PlainTextResponse("not served here", status_code=404)
    healthz = health_endpoint(store)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Neither app needs start-up work: answer the server's lifespan protocol here.
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = str(scope.get("path", ""))
        if path == HEALTH and scope["type"] == "http":
            if scope.get("method") not in ("GET", "HEAD"):
                await PlainTextResponse("405: GET it", status_code=405)(scope, receive, send)
                return
            response = await healthz(Request(scope, receive))
            await response(scope, receive, send)
            return
        target = hooks if path.startswith(HOOK_PATHS) else console
        if target is None:
            await not_here(scope, receive, send)
            return
        await target(scope, receive, send)

    return app
