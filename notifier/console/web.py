"""What every console view shares: the page renderer (Jinja2, autoescape, StrictUndefined), the signed-in
person of the request, and the one check of what they may do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from notifier.accounts.permissions import Action, Identity
from notifier.config import Settings
from notifier.errors import AccessDeniedError, InputError
from notifier.store import Store

__all__ = ["NAV", "Console", "render", "require", "see_other", "with_form"]

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Console:
    """What the views need, built once by ``console_app``."""

    store: Store
    settings: Settings
    # The Prefect server whose notify-customers deployment sends a launched campaign; None: this process
    # sends it.
    prefect_api_url: str | None = None


# The navigation: each entry shown only to those who may take its action.
NAV: tuple[tuple[str, str, Action], ...] = (
    ("/campaigns", "Campaigns", Action.CAMPAIGN_VIEW),
    ("/incidents", "Incidents", Action.INCIDENT_VIEW),
    ("/customers", "Customer look-up", Action.CUSTOMER_LOOK_UP),
    ("/support", "Replies", Action.SUPPORT_QUEUE),
    ("/admin/users", "Users", Action.USERS_MANAGE),
    ("/admin/audit", "Audit log", Action.AUDIT_VIEW),
)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["Action"] = Action
    return env


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    user: Identity | None = request.state.user
    nav = [(href, label) for href, label, action in NAV if user is not None and user.may(action)]
    page = (
        _environment()
        .get_template(template)
        .render(request=request, user=user, nav=nav, path=request.url.path, **context)
    )
    return HTMLResponse(page, status_code=status_code)


def require(request: Request, action: Action) -> Identity:
    """The signed-in person, if they may take ``action``: else 403 (or 401, sent to sign in)."""
    user: Identity | None = request.state.user
    if user is None:
        raise HTTPException(401, "sign in first")
    if not user.may(action):
        raise AccessDeniedError(f"{user.username} may not {action.value}")
    return user


def see_other(path: str) -> RedirectResponse:
    """After a form is handled: the page to show next (POST, redirect, GET)."""
    return RedirectResponse(path, status_code=303)


def with_form(
    handler: Callable[[Request, FormData], Response], *, anonymous: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that reads the posted form, then runs ``handler`` in a worker thread: the store is
    synchronous, and the event loop must go on serving other requests meanwhile. (Endpoints without a
    form are plain functions: Starlette runs those in a worker thread itself.) Nobody's form is read
    before they are signed in (only the sign-in form itself is ``anonymous``): a stranger's upload is
    answered at once, unread."""

    async def endpoint(request: Request) -> Response:
        if not anonymous and request.state.user is None:
            raise HTTPException(401, "sign in first")
        form = await request.form()
        nul = next(
            (name for name, value in form.multi_items() if isinstance(value, str) and "\x00" in value), None
        )
        if nul is not None:  # PostgreSQL refuses it in any text, and no field has a use for it
            raise InputError(f"the field {nul[:40]!r} holds a NUL character: remove it and send again")
        return await run_in_threadpool(handler, request, form)

    return endpoint
