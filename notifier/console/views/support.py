"""Support's pages: "was this customer notified?" (the query is posted, never in a URL), the reply queue
with assignee, internal note and status, and each reply with the notice it answers."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.accounts.users import list_users
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.errors import InputError
from notifier.models import ReplyStatus, Role
from notifier.redact import mask_contact
from notifier.reports.customer import look_up
from notifier.store import queries as q
from notifier.support.queue import list_replies, reply, update_reply

__all__ = ["routes"]


def routes(console: Console) -> list[BaseRoute]:
    store = console.store

    def lookup_page(request: Request) -> Response:
        require(request, Action.CUSTOMER_LOOK_UP)
        return render(request, "support/lookup.html.j2", query="", stories=None, revealed=False)

    def lookup(request: Request, form: FormData) -> Response:
        user = require(request, Action.CUSTOMER_LOOK_UP)
        query = str(form.get("query", ""))[:320]
        reason = str(form.get("reason", "")).strip()
        reveal = form.get("reveal") == "1"
        if reveal:
            require(request, Action.CONTACTS_REVEAL)
            if not reason:
                raise InputError("showing contacts in full needs a reason (it goes to the audit log)")
        stories = look_up(store, query, actor=user.username, reveal_reason=reason if reveal else None)
        return render(request, "support/lookup.html.j2", query=query, stories=stories, revealed=reveal)

    def queue(request: Request) -> Response:
        require(request, Action.SUPPORT_QUEUE)
        wanted = request.query_params.get("status", "open")
        status = (
            None
            if wanted == "all"
            else ReplyStatus(wanted)
            if wanted in set(ReplyStatus)
            else ReplyStatus.OPEN
        )
        rows = list_replies(store, status=status, campaign=None, limit=200)
        return render(
            request,
            "support/queue.html.j2",
            rows=rows,
            status=wanted,
            statuses=[s.value for s in ReplyStatus],
            mask=mask_contact,
        )

    def one(request: Request) -> Response:
        require(request, Action.SUPPORT_QUEUE)
        found = reply(store, _reply_id(request))
        people = [u.username for u in list_users(store) if Role.SUPPORT in u.roles and not u.disabled]
        return render(
            request,
            "support/reply.html.j2",
            r=found,
            mask=mask_contact,
            people=people,
            done=request.query_params.get("done", ""),
        )

    def change(request: Request, form: FormData) -> Response:
        user = require(request, Action.SUPPORT_QUEUE)
        reply_id = _reply_id(request)
        action = str(form.get("action", "note"))
        status = {
            "answer": ReplyStatus.ANSWERED,
            "close": ReplyStatus.CLOSED,
            "reopen": ReplyStatus.OPEN,
        }.get(action)
        assignee = str(form.get("assignee", "")).strip() or None
        note = str(form.get("note", "")).strip() or None
        update_reply(store, reply_id, actor=user.username, status=status, assignee=assignee, note=note)
        return see_other(f"/support/{reply_id}?done={action}")

    return [
        Route("/customers", lookup_page, methods=["GET"]),
        Route("/customers", with_form(lookup), methods=["POST"]),
        Route("/support", queue, methods=["GET"]),
        Route("/support/{reply_id}", one, methods=["GET"]),
        Route("/support/{reply_id}", with_form(change), methods=["POST"]),
    ]


def _reply_id(request: Request) -> int:
    raw = str(request.path_params["reply_id"])
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not q.storable_id(int(raw)):
        raise HTTPException(404, "no such reply")
    return int(raw)
