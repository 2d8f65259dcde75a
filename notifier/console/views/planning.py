"""Comms plans a campaign in the console: the affected-ids file uploaded, a saved selection query chosen by
name, or a follow-up of the customers an earlier campaign did not reach; channels, policy and delivery
hours. The manifest is frozen and its counts (by channel, language, jurisdiction, and why customers cannot
be reached) shown before any launch."""

from __future__ import annotations

import secrets
from dataclasses import replace
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.audience.saved import saved_selection, saved_selections, selection_of
from notifier.audience.selection import Selection
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.errors import InputError
from notifier.models import Channel, ChannelPolicy, DeliveryPolicy
from notifier.notices.render import NOTICES, renderer_for
from notifier.sending.campaigns import plan_campaign
from notifier.store import queries as q

__all__ = ["BODY_LIMITS", "MAX_UPLOAD", "routes"]

MAX_UPLOAD = 64 * 1024 * 1024  # an affected-ids file of a few million ids
BODY_LIMITS = {"/campaigns/new": MAX_UPLOAD + 2**20}  # the file and the rest of the form (console.security)


def routes(console: Console) -> list[BaseRoute]:
    store, settings = console.store, console.settings

    def form_page(request: Request) -> Response:
        require(request, Action.CAMPAIGN_PLAN)
        with store.connect() as conn:
            incidents = q.incidents_list(conn)
            campaigns = q.campaigns_overview(conn)
        return render(
            request,
            "comms/plan.html.j2",
            incidents=incidents,
            campaigns=[c for c in campaigns if c.state == "completed"],
            saved=saved_selections(store),
            notices=NOTICES,
            policies=[p.value for p in ChannelPolicy],
        )

    def plan(request: Request, form: FormData) -> Response:
        user = require(request, Action.CAMPAIGN_PLAN)
        name = str(form.get("name", "")).strip()
        upload = form.get("affected_ids")
        follow_up = str(form.get("not_reached_in", "")).strip() or None
        ids_file = None
        if isinstance(upload, UploadFile) and upload.filename:
            data = upload.file.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise InputError(f"the affected-ids file is over {MAX_UPLOAD // 2**20} MB: split it")
            folder = settings.var_dir / "uploads" / user.username
            folder.mkdir(parents=True, exist_ok=True)
            ids_file = folder / f"{secrets.token_hex(8)}-affected-ids.csv"  # never the uploaded name
            ids_file.write_bytes(data)
        saved = str(form.get("saved", "")).strip()
        chosen = Selection(access=settings.selection)
        if saved:
            chosen = selection_of(
                saved_selection(store, saved), source_url=settings.source_url, access=settings.selection
            )
        if ids_file is None and follow_up is None and not saved:
            raise InputError(
                "say who is affected: upload the affected-ids file, choose a saved selection, or choose a "
                "campaign to follow up"
            )
        try:
            delivery = DeliveryPolicy.from_options(
                quiet_hours=str(form.get("quiet_hours", "09-20")),
                urgent=str(form.get("urgent", "")).strip() or None,
            )
            channels = frozenset(Channel(str(c)) for c in form.getlist("channels"))
            policy = ChannelPolicy(str(form.get("policy", "all")))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if not channels:
            raise InputError("choose at least one channel")
        notice = str(form.get("notice", NOTICES[0]))
        result = plan_campaign(
            store,
            name=name,
            incident_key=str(form.get("incident", "")),
            selection=replace(chosen, ids_file=ids_file, not_reached_in=follow_up),
            channels=channels,
            policy=policy,
            locales=renderer_for(settings.templates_dir, settings.locales_dir, notice).locales,
            actor=user.username,
            notice=notice,
            delivery=delivery,
            templates_dir=settings.templates_dir,
        )
        done = "planned"
        if result.not_customers:
            done += (
                f"; {result.not_customers} value(s) the selection returned are no customer's id and were "
                "not kept"
            )
        return see_other(f"/campaigns/{name}?done={quote(done)}")

    return [
        Route("/campaigns/new", form_page, methods=["GET"]),
        Route("/campaigns/new", with_form(plan), methods=["POST"]),
    ]
