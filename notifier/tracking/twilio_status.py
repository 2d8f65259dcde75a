"""Delivery tracking: Twilio status callbacks, checked and applied forward-only.

``tracking_app`` is a small ASGI app. ``POST /twilio/status?t=<message token>`` is what the SMS
channel puts in StatusCallback. Every request's ``X-Twilio-Signature`` is checked with the twilio
package's RequestValidator over the public URL Twilio called and whatever form fields arrived (Twilio
adds fields without notice); a forged or missing signature gets 403 and changes nothing. Callbacks
arrive out of order and more than once: a status only ever moves a row forward (a late "sent" never
overwrites "delivered"). Every applied callback is also an event row."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from notifier.clock import utcnow
from notifier.models import OutboxState
from notifier.store import Store
from notifier.store import queries as q
from notifier.tracking.webhook import RejectedError, signed_form

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
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


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
    """``public_base_url`` is how Twilio reaches us (e.g. https://hooks.example.com): signatures cover it,
    so behind a proxy it is the proxy's public address. Every request passes ``webhook.signed_form``
    first; bad input gets a 4xx and changes nothing, never a 5xx."""
    validator = RequestValidator(auth_token)

    async def twilio_status(request: Request) -> Response:
        try:
            fields = await signed_form(request, validator, public_base_url)
            token = request.query_params.get("t", "")
            if not _TOKEN.fullmatch(token):
                raise RejectedError(400, "missing or malformed message token")
        except RejectedError as exc:
            log.warning(
                "refused a Twilio callback for %s: %s (HTTP %d)", request.url.path, exc.reason, exc.status
            )
            return PlainTextResponse(exc.reason, status_code=exc.status)
        outcome = await asyncio.to_thread(
            apply_status,
            store,
            token=token,
            status=fields.get("MessageStatus", ""),
            error_code=fields.get("ErrorCode") or None,
            message_sid=fields.get("MessageSid"),
        )
        return PlainTextResponse(outcome)

    return Starlette(routes=[Route("/twilio/status", twilio_status, methods=["POST"])])
