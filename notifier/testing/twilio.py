"""A local stand-in for Twilio's Messages API, so the real ``twilio`` client can be tested on loopback.

It answers as ``shared/reference/twilio/messages-api.openapi.json`` says: HTTP basic auth with the
account SID and auth token, ``201`` and a message resource on create (``sid`` ``SM…``, RFC 2822 dates,
``num_segments`` as a string), Twilio's error JSON (``code``, ``message``, ``more_info``, ``status``)
otherwise, and fetch/list of sent messages. Faults on cue: ``standin.fail_next(429, count=2)``;
numbers on ``standin.opted_out`` get 21610. Messages with a StatusCallback later get signed status
callbacks (delivered / undelivered / failed in configurable proportions and delay)."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode

import httpx
import phonenumbers
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from notifier.clock import utcnow
from notifier.notices.segments import segment_info
from notifier.testing.smtp import free_port

__all__ = ["TwilioStandin"]

API = "/2010-04-01/Accounts/{account_sid}"
_ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    21211: (400, "The 'To' number is not a valid phone number."),
    21602: (400, "Message body is required."),
    21603: (400, "The 'From' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}


def _error(code: int, status: int | None = None) -> JSONResponse:
    http_status, message = _ERRORS.get(code, (status or 400, "Error"))
    http_status = status or http_status
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http_status,
    }
    return JSONResponse(body, status_code=http_status)


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as Twilio shows it (without what only the stand-in keeps)."""
    return {k: v for k, v in resource.items() if k not in ("status_callback", "_created")}


def _matches(message: dict[str, Any], query: Mapping[str, str]) -> bool:
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    bounds = {k: v for k, v in query.items() if k.startswith("DateSent")}
    if not bounds:
        return True
    if message["date_sent"] is None:
        return False
    sent = parsedate_to_datetime(message["date_sent"])
    for key, raw in bounds.items():
        exact_day = len(raw) == 10
        limit = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        value = sent.date() if exact_day else sent
        bound = limit.date() if exact_day else (limit if limit.tzinfo else limit.replace(tzinfo=UTC))
        if (key == "DateSent" and value != bound) or (key == "DateSent<" and not value <= bound):
            return False
        if key == "DateSent>" and not value >= bound:
            return False
    return True


# The error code a final status comes with (30003 unreachable handset, 30008 unknown error).
_ERROR_OF = {"undelivered": 30003, "failed": 30008}
# Twilio's own default keywords (reference/twilio/NOTES.md): it blocks and unblocks numbers itself.
TWILIO_OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "REVOKE", "OPTOUT", "CANCEL"})
TWILIO_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
TWILIO_HELP = frozenset({"HELP", "INFO"})


@dataclass
class TwilioStandin:
    """Run with ``with TwilioStandin() as twilio:``; ``twilio.url`` is the ``twilio+http://`` channel URL."""

    account_sid: str = "AC" + "0" * 31 + "1"
    auth_token: str = "standin-auth-token"
    from_number: str = "+15005550006"
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    # Status callbacks: final statuses drawn in these proportions (seeded), posted after `callback_delay`
    # seconds, signed like Twilio's; `callback_duplicates` re-posts a stale "sent" after the final one.
    callback_outcomes: dict[str, float] = field(default_factory=lambda: {"delivered": 1.0})
    callback_delay: float = 0.05
    callback_duplicates: bool = False
    callback_seed: int = 7
    callbacks_lost: float = 0.0  # share of messages whose callbacks never arrive (their status is still kept)
    callbacks_posted: list[dict[str, str]] = field(default_factory=list)
    record_path: str | None = None  # benchmarks: append each accepted message's arrival time (epoch s)
    queued: set[str] = field(default_factory=set)  # numbers whose messages stay queued: no date_sent yet
    garbled: set[str] = field(default_factory=set)  # numbers whose create answer is broken (not JSON)
    # Advanced Opt-Out: the account's own keywords (e.g. {"ARRET": "STOP"}), on top of Twilio's defaults.
    # While set, an inbound message matching any keyword carries OptOutType, as Twilio sends it then.
    advanced_opt_out: dict[str, str] | None = None
    late_seconds: float = 5.0  # how late a "late" answer comes (answer_after_creating)
    _after_create: deque[str | None] = field(default_factory=deque)
    _faults: deque[int] = field(default_factory=deque)
    _list_faults: deque[int] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _pending_callbacks: set[asyncio.Task[None]] = field(default_factory=set)
    _rng: random.Random = field(default_factory=random.Random)
    _thread: threading.Thread | None = None
    _record: TextIO | None = None

    @property
    def url(self) -> str:
        return f"twilio+http://{self.account_sid}:{self.auth_token}@{self.host}:{self.port}?from={self.from_number}"

    def fail_next(self, http_status: int, count: int = 1) -> None:
        """The next ``count`` create requests get HTTP 429 (code 20429) or 5xx (code 20500)."""
        with self._lock:
            self._faults.extend([http_status] * count)

    def answer_after_creating(self, *plan: str | None) -> None:
        """How the next creates are answered, one entry each, in order: None as usual; ``"500"`` creates
        the message, then answers HTTP 500 (code 20500); ``"late"`` creates it and answers only after
        ``late_seconds``, when the client has given up waiting. Either way Twilio has the message."""
        with self._lock:
            self._after_create.extend(plan)

    def fail_list_next(self, http_status: int, count: int = 1) -> None:
        """The next ``count`` list requests (pages) get this HTTP status (code 20500 for 5xx, else 20429)."""
        with self._lock:
            self._list_faults.extend([http_status] * count)

    def inject(
        self,
        to: str,
        body: str,
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        queued: bool = False,
    ) -> dict[str, Any]:
        """A message someone else on the account sent (a one-time code, another campaign): it is listed
        like ours, and must not be taken for ours."""
        form = {
            "To": to,
            "Body": body,
            **({"From": from_} if from_ else {}),
            **({"MessagingServiceSid": messaging_service_sid} if messaging_service_sid else {}),
        }
        resource = self._resource(form, queued=queued)
        with self._lock:
            self.messages.append(resource)
        return resource

    def _authorized(self, request: Request, account_sid: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (
            secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
            and account_sid == self.account_sid
        )

    def _resource(self, form: dict[str, str], *, queued: bool = False) -> dict[str, Any]:
        created = utcnow()
        now = format_datetime(created)
        sid = "SM" + secrets.token_hex(16)
        body = form["Body"]
        service = form.get("MessagingServiceSid")
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None if queued else now,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(segment_info(body).segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"{API.format(account_sid=self.account_sid)}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"{API.format(account_sid=self.account_sid)}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback"),
            "_created": created.timestamp(),
        }

    async def _create(self, request: Request) -> Response:
        account_sid = request.path_params["account_sid"]
        if not self._authorized(request, account_sid):
            return _error(20003)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            return _error(20429 if fault == 429 else 20500, fault)
        # Twilio's API is form-encoded; parsed here directly rather than pulling in python-multipart.
        form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        to = form.get("To", "")
        try:
            valid = phonenumbers.is_valid_number(phonenumbers.parse(to, None))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            return _error(21211)
        if not form.get("Body"):
            return _error(21602)
        if len(form["Body"]) > 1600:
            return _error(21617)
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(21603)
        if to in self.opted_out:
            return _error(21610)
        if to in self.garbled:
            # A proxy or a half-broken gateway: a success status whose body the client cannot read.
            return Response(b"<html>upstream hiccup</html>", status_code=201, media_type="application/json")
        resource = self._resource(form, queued=to in self.queued)
        with self._lock:
            self.messages.append(resource)
            if self._record is not None:
                self._record.write(f"{time.time():.6f}\n")
            then = self._after_create.popleft() if self._after_create else None
        if form.get("StatusCallback") and to not in self.queued:
            self._pending_callbacks.add(
                asyncio.get_running_loop().create_task(self._post_callbacks(resource))
            )
        if then == "500":
            return _error(20500, 500)
        if then == "late":
            await asyncio.sleep(self.late_seconds)
        return JSONResponse(_public(resource), status_code=201)

    async def _fetch(self, request: Request) -> JSONResponse:
        if not self._authorized(request, request.path_params["account_sid"]):
            return _error(20003)
        sid = request.path_params["sid"]
        for message in self.messages:
            if message["sid"] == sid:
                return JSONResponse(_public(message))
        return _error(20404)

    async def _list(self, request: Request) -> JSONResponse:
        """Messages newest first, filtered by To, From and DateSent (``DateSent``, ``DateSent<``,
        ``DateSent>``: a message not yet sent has no date_sent and never matches one), in pages of
        ``PageSize`` (50 by default, 1000 at most) followed through ``next_page_uri``, as Twilio does."""
        if not self._authorized(request, request.path_params["account_sid"]):
            return _error(20003)
        with self._lock:
            fault = self._list_faults.popleft() if self._list_faults else None
            messages = list(self.messages)
        if fault is not None:
            return _error(20500 if fault >= 500 else 20429, fault)
        query = request.query_params
        found = sorted((m for m in messages if _matches(m, query)), key=lambda m: -m["_created"])
        try:
            size = max(1, min(int(query.get("PageSize", "50")), 1000))
            page = max(0, int(query.get("Page", "0")))
        except ValueError:
            return _error(20001, 400)
        rows = found[page * size : (page + 1) * size]
        base = f"{API.format(account_sid=self.account_sid)}/Messages.json"
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(number: int) -> str:
            return (
                base
                + "?"
                + urlencode({**filters, "PageSize": size, "Page": number, "PageToken": f"PA{number}"})
            )

        more = (page + 1) * size < len(found)
        return JSONResponse(
            {
                "messages": [_public(m) for m in rows],
                "end": page * size + max(len(rows) - 1, 0),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": uri(page - 1) if page else None,
                "start": page * size,
                "uri": uri(page),
            }
        )

    def _final_status(self) -> str:
        with self._lock:
            roll = self._rng.random()
        cumulative = 0.0
        for status, share in self.callback_outcomes.items():
            cumulative += share
            if roll < cumulative:
                return status
        return "delivered"

    async def _post_callbacks(self, resource: dict[str, Any]) -> None:
        """Post "sent" then the final status, signed with our auth token, like Twilio does."""
        final = self._final_status()
        with self._lock:
            lost = self._rng.random() < self.callbacks_lost
            # What a fetch of the message answers from now on, whether or not its callbacks arrive.
            resource["status"] = final
            resource["error_code"] = _ERROR_OF.get(final)
            resource["date_updated"] = format_datetime(utcnow())
        if lost:
            return
        statuses = ["sent", final] + (["sent"] if self.callback_duplicates else [])
        validator = RequestValidator(self.auth_token)
        async with httpx.AsyncClient(timeout=10) as client:
            for status in statuses:
                await asyncio.sleep(self.callback_delay)
                form = {
                    "MessageSid": resource["sid"],
                    "AccountSid": self.account_sid,
                    "From": resource["from"] or "",
                    "To": resource["to"],
                    "MessageStatus": status,
                    "ApiVersion": "2010-04-01",
                    "MessagingServiceSid": resource["messaging_service_sid"] or "",
                }
                if status in _ERROR_OF:
                    form["ErrorCode"] = str(_ERROR_OF[status])
                url = resource["status_callback"]
                signature = validator.compute_signature(url, form)
                try:
                    await client.post(url, data=form, headers={"X-Twilio-Signature": signature})
                except httpx.HTTPError as exc:  # the receiver is down: Twilio would not retry either
                    logging.getLogger(__name__).warning("status callback failed: %s", exc)
                with self._lock:
                    self.callbacks_posted.append({"to": resource["to"], "status": status})

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until every status callback due so far has been posted (or given up)."""
        deadline = time.monotonic() + timeout
        while True:
            try:  # the stand-in's own thread adds tasks meanwhile
                if all(task.done() for task in list(self._pending_callbacks)):
                    return
            except RuntimeError:
                continue
            if time.monotonic() > deadline:
                raise TimeoutError("the Twilio stand-in still has status callbacks to post")
            time.sleep(0.05)

    def text_in(
        self,
        webhook_url: str,
        *,
        sender: str,
        body: str,
        to: str | None = None,
        message_sid: str | None = None,
    ) -> httpx.Response:
        """A customer texts ``body`` to one of our numbers: post Twilio's inbound-message webhook, signed,
        to ``webhook_url`` and return the answer (TwiML). Like Twilio, the stand-in itself blocks the
        number after one of its opt-out words and unblocks it after an opt-in word; with Advanced Opt-Out
        the webhook says so (``OptOutType``). ``message_sid`` sends one message's webhook again."""
        word = "".join(body.split()).upper()
        opt_out_type = self._opt_out_type(word)
        if opt_out_type == "STOP":
            self.opted_out.add(sender)
        elif opt_out_type == "START":
            self.opted_out.discard(sender)
        form = {
            "MessageSid": message_sid or "SM" + secrets.token_hex(16),
            "SmsSid": "",
            "AccountSid": self.account_sid,
            "MessagingServiceSid": "",
            "From": sender,
            "To": to or self.from_number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        form["SmsSid"] = form["MessageSid"]
        if opt_out_type is not None and self.advanced_opt_out is not None:
            form["OptOutType"] = opt_out_type
        signature = RequestValidator(self.auth_token).compute_signature(webhook_url, form)
        return httpx.post(webhook_url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)

    def _opt_out_type(self, word: str) -> str | None:
        if word in (self.advanced_opt_out or {}):
            return (self.advanced_opt_out or {})[word]
        if word in TWILIO_OPT_OUT:
            return "STOP"
        if word in TWILIO_OPT_IN:
            return "START"
        if word in TWILIO_HELP:
            return "HELP"
        return None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"{API}/Messages.json", self._create, methods=["POST"]),
                Route(f"{API}/Messages.json", self._list, methods=["GET"]),
                Route(f"{API}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
            ]
        )

    def start(self) -> TwilioStandin:
        if self.record_path:  # line-buffered: each arrival time is on disk as soon as it is written
            self._record = Path(self.record_path).open("a", encoding="ascii", buffering=1)  # noqa: SIM115
        self._rng.seed(self.callback_seed)
        self.port = self.port or free_port(self.host)
        config = uvicorn.Config(
            self.app(), host=self.host, port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="twilio-standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"Twilio stand-in did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._record is not None:
            self._record.close()
            self._record = None

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> None:
    """``python -m notifier.testing.twilio --port 8089 [--record FILE]``: a stand-in in its own process."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", default=None)
    args = parser.parse_args()
    standin = TwilioStandin(port=args.port, record_path=args.record)
    standin.start()
    sys.stdout.write(standin.url + "\n")
    sys.stdout.flush()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    standin.stop()


if __name__ == "__main__":
    main()
