"""Comms' campaign pages: campaigns with their live progress (sent, delivered, failed, remaining, rate,
ETA, the deadlines), launch, pause, resume and cancel, and test sends to seeds."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import quote

import httpx
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.clock import utcnow
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.errors import ConfigurationError, InputError, NotifierError
from notifier.models import OutboxState
from notifier.notices.deadlines import earliest_per_recipient, incident_deadlines
from notifier.redact import mask_url
from notifier.sending.campaigns import CONTROL, campaign_status, control, get_campaign, legal_notice_gaps
from notifier.sending.preview import send_to_seeds
from notifier.store import queries as q

__all__ = ["routes"]

RATE_WINDOW = timedelta(seconds=60)
NOTIFY = "notify-customers"  # the flow (and its deployment) that plans and sends a campaign
log = logging.getLogger(__name__)


def routes(console: Console) -> list[BaseRoute]:
    store, settings = console.store, console.settings

    rates = _Rates()

    def progress_of(name: str) -> dict[str, object]:
        campaign = get_campaign(store, name)
        with store.connect() as conn:
            counts = q.outbox_counts(
                conn, campaign.id
            )  # one GROUP BY on the (campaign, channel, state) index
            state = q.campaign_state(conn, campaign.id)
        states: dict[str, int] = {}
        for by_state in counts.values():
            for value, n in by_state.items():
                states[value] = states.get(value, 0) + n
        total = sum(states.values())
        remaining = sum(states.get(s.value, 0) for s in OutboxState.remaining())
        sent = sum(n for s, n in states.items() if OutboxState(s).rank >= 2)
        rate = rates.update(name, sent)
        eta = timedelta(seconds=round(remaining / rate)) if rate and remaining else None
        return {
            "name": name,
            "state": state,
            "total": total,
            "sent": sent,
            "delivered": states.get("delivered", 0),
            "failed": sum(states.get(s, 0) for s in ("bounced", "undelivered", "failed")),
            "remaining": remaining,
            "done_percent": round(100 * (total - remaining) / total, 1) if total else 100.0,
            "rate": round(rate, 1) if rate is not None else "measuring",
            "eta": str(eta)
            if eta
            else ("done" if not remaining else "not sending now" if rate == 0 else "…"),
        }

    def campaigns(request: Request) -> Response:
        require(request, Action.CAMPAIGN_VIEW)
        with store.connect() as conn:
            rows = q.campaigns_overview(conn)
        return render(request, "comms/campaigns.html.j2", campaigns=rows)

    def campaign(request: Request) -> Response:
        require(request, Action.CAMPAIGN_VIEW)
        name = request.path_params["name"]
        ref = get_campaign(store, name)
        obligations = [
            o for o in incident_deadlines(store, settings, str(ref.facts["key"]), utcnow()) if o.applies
        ]
        status = campaign_status(store, name)
        return render(
            request,
            "comms/campaign.html.j2",
            progress=progress_of(name),
            status=status,
            legal_gaps=legal_notice_gaps(status.manifest, settings.templates_dir),
            deadlines=earliest_per_recipient(obligations),
            done=request.query_params.get("done", ""),
        )

    def progress(request: Request) -> Response:
        require(request, Action.CAMPAIGN_VIEW)
        return render(request, "comms/progress.html.j2", progress=progress_of(request.path_params["name"]))

    def act(request: Request, form: FormData) -> Response:
        user = require(request, Action.CAMPAIGN_CONTROL)
        name = request.path_params["name"]
        action = str(form.get("action", ""))
        if action not in ("launch", *CONTROL):
            raise InputError(f"unknown action {action[:20]!r}: launch, {', '.join(CONTROL)}")
        done = action
        if action == "launch":
            done = _launch(console, name, user.username)
        else:
            control(store, name, action, actor=user.username, reason=str(form.get("reason", ""))[:500])
        if action == "resume":  # on the page, Resume means: go on sending (the CLI's resume only re-arms)
            done = "resume and " + _relaunch(console, name, user.username)
        return see_other(f"/campaigns/{name}?done={quote(done)}")

    def test_send(request: Request, form: FormData) -> Response:
        user = require(request, Action.CAMPAIGN_TEST_SEND)
        name = request.path_params["name"]
        seeds = [line.strip() for line in str(form.get("seeds", "")).splitlines() if line.strip()][:20]
        sends = send_to_seeds(store, settings, name, seeds, actor=user.username)
        return render(request, "comms/test_send.html.j2", name=name, sends=sends)

    return [
        Route("/campaigns", campaigns, methods=["GET"]),
        Route("/campaigns/{name}", campaign, methods=["GET"]),
        Route("/campaigns/{name}/progress", progress, methods=["GET"]),
        Route("/campaigns/{name}/control", with_form(act), methods=["POST"]),
        Route("/campaigns/{name}/test-send", with_form(test_send), methods=["POST"]),
    ]


class _Rates:
    """Messages handed over per second, per campaign, from the difference between two polls of the
    progress (so no query has to count recent events): None until there are two within a minute."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[float, int]] = {}
        self.lock = threading.Lock()

    def update(self, name: str, sent: int) -> float | None:
        now = time.monotonic()
        with self.lock:
            before = self.seen.get(name)
            if before is None or now - before[0] > RATE_WINDOW.total_seconds():
                self.seen[name] = (now, sent)
                return None
            if now - before[0] < 2:  # too close to tell; keep the older sample
                return None
            self.seen[name] = (now, sent)
        return max(0.0, (sent - before[1]) / (now - before[0]))


def _launch(console: Console, name: str, actor: str) -> str:
    """Send the campaign once the launch gate has passed: through the notify-customers deployment when the
    console has a Prefect server, else in a thread of this process. Returns what was done, for the page."""
    from notifier.notices.approval import require_approved
    from notifier.sending.runner import launch

    campaign = get_campaign(console.store, name)
    # The gate answers now, on the page: a refusal inside a flow run or a background thread would reach
    # nobody. The sending path runs it again, before every batch.
    require_approved(
        console.store,
        console.settings,
        campaign_id=campaign.id,
        campaign_name=name,
        notice=campaign.notice,
        actor=actor,
    )
    if console.prefect_api_url:
        return f"launch: Prefect flow run {_start_deployment(console.prefect_api_url, name, actor)}"
    try:  # this process sends: it needs every channel the campaign uses, or it would stop at once, unseen
        for channel in sorted(campaign.channels):
            console.settings.channel(channel)
    except ConfigurationError as exc:
        raise HTTPException(
            503,
            f"this console sends in its own process and cannot: {exc} where it runs, or run it with "
            "PREFECT_API_URL so that a worker sends; nothing was sent",
        ) from None

    def send() -> None:
        try:
            launch(console.store, console.settings, name, actor=actor)
        except Exception:
            log.exception("launch of campaign %s failed", name)

    threading.Thread(target=send, daemon=True, name=f"launch-{name}").start()
    return "launch"


def _relaunch(console: Console, name: str, actor: str) -> str:
    """Launch a campaign just resumed; when that is refused, the page says it is resumed all the same."""
    resumed = "resumed (the campaign is planned again, Launch sends it) but not launched: "
    try:
        return _launch(console, name, actor)
    except HTTPException as exc:
        raise HTTPException(exc.status_code, resumed + str(exc.detail)) from None
    except NotifierError as exc:
        raise InputError(resumed + str(exc)) from None


def _start_deployment(api_url: str, name: str, actor: str) -> str:
    """Start a notify-customers run for the campaign on the Prefect server at ``api_url``; its name, or
    a readable 503 when the server does not take it (nothing was sent)."""
    from prefect.exceptions import PrefectException

    from notifier.orchestration import start_deployment

    try:
        return start_deployment(api_url, NOTIFY, campaign=name, actor=actor)
    except (httpx.HTTPError, PrefectException, OSError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise HTTPException(
            503,
            f"the Prefect server at {mask_url(api_url)} did not start the {NOTIFY} run ({reason}); nothing "
            "was sent: check the server and its deployment, then launch again",
        ) from None
