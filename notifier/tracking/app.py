"""The tracking service (``notifier serve``): one ASGI app for everything providers send us.

- ``POST /twilio/status?t=<message token>``: Twilio status callbacks (``twilio_status``), written in
  batches, each answered once its batch is committed.
- ``POST /twilio/inbound``: inbound SMS, the Messaging webhook of our numbers (``inbound``), answered
  with TwiML.
- ``GET /healthz``: ``{"status": "up"}`` (200) while the store answers, ``{"status": "down"}`` (503) when
  it does not; nothing else (no version, no reason): whoever can reach it learns only that. Every part of
  ``notifier serve`` answers it (``health_endpoint``), the console alone too.

Every Twilio request passes ``webhook.signed_form`` first (content type, size, field count, NUL bytes,
then the signature over the public URL Twilio called, off the event loop); bad input gets a 4xx with
one WARNING line and changes nothing, never a 5xx. Store work runs in worker threads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notifier.errors import InputError, StoreError
from notifier.store import Store
from notifier.tracking.inbound import take_inbound_sms
from notifier.tracking.keywords import KeywordTable
from notifier.tracking.twilio_status import MESSAGE_TOKEN, StatusCallback, StatusWriter
from notifier.tracking.webhook import RejectedError, signed_form

__all__ = ["health_endpoint", "tracking_app"]

log = logging.getLogger(__name__)


def health_endpoint(store: Store) -> Callable[[Request], Awaitable[Response]]:
    """``GET /healthz`` for a load balancer: up or down, said to anyone, and only that."""

    async def healthz(request: Request) -> Response:
        try:
            await asyncio.to_thread(store.ping)
        except StoreError as exc:
            log.warning("health check: %s", exc)
            return JSONResponse({"status": "down"}, status_code=503)
        return JSONResponse({"status": "up"})

    return healthz


def tracking_app(store: Store, *, auth_token: str, public_base_url: str, templates_dir: Path) -> Starlette:
    """``public_base_url`` is how Twilio reaches us (e.g. https://hooks.example.com): signatures cover it,
    so behind a proxy it is the proxy's public address. The keyword table is read here, once."""
    validator = RequestValidator(auth_token)
    keywords = KeywordTable.load(templates_dir)
    writer = StatusWriter(store)

    def refused(request: Request, exc: RejectedError) -> Response:
        log.warning("refused a Twilio request for %s: %s (HTTP %d)", request.url.path, exc.reason, exc.status)
        return PlainTextResponse(exc.reason, status_code=exc.status)

    async def twilio_status(request: Request) -> Response:
        try:
            fields = await signed_form(request, validator, public_base_url)
            token = request.query_params.get("t", "")
            if not MESSAGE_TOKEN.fullmatch(token):
                raise RejectedError(400, "missing or malformed message token")
        except RejectedError as exc:
            return refused(request, exc)
        callback = StatusCallback(
            token=token,
            status=fields.get("MessageStatus", ""),
            error_code=fields.get("ErrorCode") or None,
            message_sid=fields.get("MessageSid"),
            fields=dict(fields),
        )
        try:
            outcome = await writer.apply(callback)
        except Exception as exc:  # noqa: BLE001 - the store failed, not the request: Twilio may try again
            log.error("could not record a status callback: %s", type(exc).__name__)
            return PlainTextResponse("the store is unavailable", status_code=503)
        return PlainTextResponse(outcome)

    async def twilio_inbound(request: Request) -> Response:
        try:
            fields = await signed_form(request, validator, public_base_url)
            answer = await asyncio.to_thread(take_inbound_sms, store, keywords, templates_dir, dict(fields))
        except RejectedError as exc:
            return refused(request, exc)
        except InputError as exc:
            return refused(request, RejectedError(400, str(exc)))
        except (SQLAlchemyError, StoreError) as exc:  # the store, not the request: Twilio tries again
            log.error("could not record an inbound SMS: %s", type(exc).__name__)
            return PlainTextResponse("the store is unavailable", status_code=503)
        twiml = MessagingResponse()
        if answer.reply:
            twiml.message(answer.reply)
        return Response(str(twiml.to_xml()), media_type="text/xml")

    return Starlette(
        routes=[
            Route("/twilio/status", twilio_status, methods=["POST"]),
            Route("/twilio/inbound", twilio_inbound, methods=["POST"]),
            Route("/healthz", health_endpoint(store), methods=["GET"]),
        ]
    )
