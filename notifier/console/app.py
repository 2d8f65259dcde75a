"""The console as one Starlette application: sessions, the cross-site check and security headers around
every view; errors as pages a person can read (401 → sign in, 403, 404, 400 with what was wrong)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from notifier.accounts.sessions import session_identity
from notifier.config import Settings
from notifier.console.security import BodyLimit, Guard, cookie_name, cookie_signer, signed_secret
from notifier.console.views import admin, auth, comms, home, incidents, legal, planning, reports, support
from notifier.console.web import HERE, Console, render
from notifier.errors import AccessDeniedError, NotifierError
from notifier.store import Store

__all__ = ["console_app"]


class Sessions:
    """ASGI middleware: the signed-in person of each request (``request.state.user``, None if nobody)."""

    def __init__(self, app: ASGIApp, *, store: Store, secret_key: str, cookie: str) -> None:
        self.app, self.store, self.signer, self.cookie = app, store, cookie_signer(secret_key), cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            secret = signed_secret(Request(scope), self.signer, self.cookie)
            # A page refreshing itself (htmx polling) is not the person doing something: it must not keep
            # an abandoned session alive past its idle limit.
            active = not any(name == b"hx-request" for name, _value in scope.get("headers", []))
            user = await run_in_threadpool(session_identity, self.store, secret, active) if secret else None
            scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def console_app(
    store: Store,
    settings: Settings,
    *,
    secret_key: str,
    secure_cookies: bool,
    prefect_api_url: str | None = None,
) -> Starlette:
    """The console. ``secret_key`` signs session cookies; ``secure_cookies`` marks them Secure (behind
    TLS, which is where the console belongs). With ``prefect_api_url``, a launch starts a run of that
    Prefect server's notify-customers deployment; without, the console's own process sends."""
    context = Console(store, settings, prefect_api_url)

    async def not_signed_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)
        return render(
            request,
            "error.html.j2",
            status_code=exc.status_code,
            title=f"{exc.status_code}",
            message=exc.detail,
        )

    async def denied(request: Request, exc: Exception) -> Response:
        return render(request, "error.html.j2", status_code=403, title="Not allowed", message=str(exc))

    async def bad_input(request: Request, exc: Exception) -> Response:
        return render(request, "error.html.j2", status_code=400, title="That did not work", message=str(exc))

    routes = [
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        *auth.routes(context, secure_cookies=secure_cookies, secret_key=secret_key),
        *home.routes(context),
        *legal.routes(context),
        *planning.routes(context),
        *comms.routes(context),
        *reports.routes(context),
        *incidents.routes(context),
        *support.routes(context),
        *admin.routes(context),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(Guard),
            Middleware(BodyLimit, larger=planning.BODY_LIMITS),
            Middleware(Sessions, store=store, secret_key=secret_key, cookie=cookie_name(secure_cookies)),
        ],
        exception_handlers={
            HTTPException: not_signed_in,
            AccessDeniedError: denied,
            NotifierError: bad_input,
        },
    )
