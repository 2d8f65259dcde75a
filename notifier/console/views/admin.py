"""Admin's pages: users and their roles (add, disable, enable, reset a password, change roles), their API
tokens (issue one, shown once; revoke one), and the audit log with filters (user, action, subject,
incident) and the verification of the hash chains."""

from __future__ import annotations

from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.accounts.users import (
    add_user,
    issue_token,
    list_tokens,
    list_users,
    reset_password,
    revoke_token,
    set_disabled,
    set_roles,
)
from notifier.clock import utcnow
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.errors import InputError
from notifier.models import Role
from notifier.reports.integrity import verify_all
from notifier.store import queries as q

__all__ = ["routes"]

FILTERS = ("actor", "action", "subject", "incident")  # the audit log's filters (store.queries.audit_entries)


def routes(console: Console) -> list[BaseRoute]:
    store = console.store

    def users_page(request: Request, *, done: str = "", issued: tuple[str, str] | None = None) -> Response:
        people = list_users(store)
        return render(
            request,
            "admin/users.html.j2",
            users=people,
            tokens={u.username: list_tokens(store, u.username) for u in people},
            now=utcnow(),
            token_days=console.settings.token_days,
            roles=[r.value for r in Role],
            done=done,
            issued=issued,
        )

    def users(request: Request) -> Response:
        require(request, Action.USERS_MANAGE)
        return users_page(request, done=request.query_params.get("done", ""))

    def add(request: Request, form: FormData) -> Response:
        admin = require(request, Action.USERS_MANAGE)
        added = add_user(
            store,
            str(form.get("username", "")),
            display_name=str(form.get("display_name", "")),
            roles=[str(r) for r in form.getlist("roles")],
            password=str(form.get("password", "")),
            actor=admin.username,
        )
        return see_other(f"/admin/users?done=added+{added.username}")

    def change(request: Request, form: FormData) -> Response:
        admin = require(request, Action.USERS_MANAGE)
        username = request.path_params["username"]
        action = str(form.get("action", ""))
        if action in ("disable", "enable"):
            set_disabled(store, username, action == "disable", actor=admin.username)
        elif action == "roles":
            set_roles(store, username, [str(r) for r in form.getlist("roles")], actor=admin.username)
        elif action == "reset":
            reset_password(store, username, str(form.get("password", "")), actor=admin.username)
        elif action == "revoke_token":
            token_id = str(form.get("token", ""))
            if not token_id.isascii() or not token_id.isdigit() or len(token_id) > 19:
                raise InputError("choose the token to revoke from the list")
            revoke_token(store, username, int(token_id), actor=admin.username)
        elif action == "issue_token":
            days = str(form.get("days", "")).strip() or str(console.settings.token_days)
            if not days.isdigit() or not 1 <= int(days) <= 3650:
                raise InputError("a token is valid for 1 to 3650 days")
            token = issue_token(
                store,
                username,
                label=str(form.get("label", "")),
                actor=admin.username,
                valid_for=timedelta(days=int(days)),
            )
            # Shown on this answer only (never in a URL, never again): only its hash is kept.
            return users_page(request, done=f"token issued for {username}", issued=(username, token))
        else:
            raise InputError(f"unknown change {action[:40]!r}")
        return see_other(f"/admin/users?done={action.replace('_', '+')}")

    def audit(request: Request) -> Response:
        require(request, Action.AUDIT_VIEW)
        filters = {k: request.query_params.get(k, "").strip() or None for k in FILTERS}
        with store.connect() as conn:
            entries = q.audit_entries(conn, limit=200, **filters)
            incidents = q.incidents_list(conn)
        return render(
            request, "admin/audit.html.j2", entries=entries, filters=filters, incidents=incidents, chains=None
        )

    def verify(request: Request) -> Response:
        require(request, Action.AUDIT_VIEW)
        with store.connect() as conn:
            entries = q.audit_entries(conn, limit=200)
            incidents = q.incidents_list(conn)
        return render(
            request,
            "admin/audit.html.j2",
            entries=entries,
            filters=dict.fromkeys(FILTERS),
            incidents=incidents,
            chains=verify_all(store),
        )

    return [
        Route("/admin/users", users, methods=["GET"]),
        Route("/admin/users", with_form(add), methods=["POST"]),
        Route("/admin/users/{username}", with_form(change), methods=["POST"]),
        Route("/admin/audit", audit, methods=["GET"]),
        Route("/admin/audit/verify", verify, methods=["POST"]),
    ]
