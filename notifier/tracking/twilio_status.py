"""Delivery tracking: Twilio status callbacks, checked and applied forward-only.

``tracking_app`` is a small ASGI app. ``POST /twilio/status?t=<message token>`` is what the SMS
channel puts in StatusCallback. Every request's ``X-Twilio-Signature`` is checked with the twilio
package's RequestValidator over the public URL Twilio called and whatever form fields arrived (Twilio
adds fields without notice); a forged or missing signature gets 403 and changes nothing. Callbacks
arrive out of order and more than once: a status only ever moves a row forward (a late "sent" never
overwrites "delivered"). Every applied callback is also an event row."""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from notifier.clock import utcnow
from notifier.models import OutboxState
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["TWILIO_STATUS", "apply_status", "tracking_app"]

log = logging.getLogger(__name__)

# Twilio MessageStatus → our outbox state; None = still in flight, nothing to record beyond "accepted".
TWILIO_STATUS: dict[str, OutboxState | None] = {
    "accepted": None,
    "queued": None,
    "scheduled": None,
    "sending": None,
    "sent": None,
    "delivered": OutboxState.DELIVERED,
    "read": OutboxState.DELIVERED,
    "undelivered": OutboxState.UNDELIVERED,
    "failed": OutboxState.FAILED,
    "canceled": OutboxState.FAILED,
}
OPTED_OUT = "21610"


def apply_status(
    store: Store,
    *,
    token: str,
    status: str,
    error_code: str | None,
    message_sid: str | None,
    now: datetime | None = None,
) -> str:
    """Apply one provider status to the row with ``token``; returns what happened (response and logs)."""
    target = TWILIO_STATUS.get(status.lower())
    if target is None:
        return (
            "ignored: in-flight status"
            if status.lower() in TWILIO_STATUS
            else f"ignored: unknown status {status!r}"
        )
    if error_code == OPTED_OUT:
        target = OutboxState.SUPPRESSED
    detail = (
        f"twilio {status}"
        + (f" (error {error_code})" if error_code else "")
        + (f" {message_sid}" if message_sid else "")
    )
    with store.begin() as conn:
        moved = q.advance_by_token(
            conn,
            token=token,
            to_state=target,
            detail=detail,
            now=now or utcnow(),
        )
        if moved and target is OutboxState.SUPPRESSED:
            q.suppress_customers_sms(conn, [moved])
    return f"{'applied' if moved else 'kept (not forward)'}: {target.value}"


def tracking_app(store: Store, *, auth_token: str, public_base_url: str) -> Starlette:
    """``public_base_url`` is how Twilio reaches us (e.g. https://hooks.example.com): signatures cover it."""
    validator = RequestValidator(auth_token)

    async def twilio_status(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", errors="replace")
        fields = MultiDict(parse_qsl(body, keep_blank_values=True))
        url = (
            public_base_url.rstrip("/")
            + request.url.path
            + (f"?{request.url.query}" if request.url.query else "")
        )
        if not validator.validate(url, fields, request.headers.get("X-Twilio-Signature", "")):
            log.warning("rejected a Twilio callback with a bad signature for %s", request.url.path)
            return PlainTextResponse("invalid signature", status_code=403)
        token = request.query_params.get("t")
        if not token:
            return PlainTextResponse("missing message token", status_code=400)
        outcome = apply_status(
            store,
            token=token,
            status=fields.get("MessageStatus", ""),
            error_code=fields.get("ErrorCode") or None,
            message_sid=fields.get("MessageSid"),
        )
        return PlainTextResponse(outcome)

    return Starlette(routes=[Route("/twilio/status", twilio_status, methods=["POST"])])
