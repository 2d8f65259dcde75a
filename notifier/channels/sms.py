"""SMS through Twilio's Messages API with the official ``twilio`` package's async client.

Connection string::

    twilio://ACCOUNT_SID:AUTH_TOKEN@api?from=+15005550006          (a sending number)
    twilio://ACCOUNT_SID:AUTH_TOKEN@api?messaging_service=MG...     (a Messaging Service)
        &status_callback=https://hooks.example.com/twilio/status   (our token is appended as ?t=)
        &validity=14400                                            (drop if not delivered in time)
    twilio+http://ACCOUNT_SID:AUTH_TOKEN@127.0.0.1:8089?from=...    (a local stand-in, plain HTTP)

Errors when creating a message (``channels.creation`` decides, for every provider API): 429 and a
connection that never carried the request are retried; once the request was written, a 5xx, no answer
in time or a dropped connection leaves it unknown whether Twilio created it (``UncertainDeliveryError``:
the row is settled by asking Twilio, never sent blindly again); other 4xx with a Twilio code are
permanent for that recipient (21211 invalid number, 21614 not a mobile number, ...); 21610 means the
recipient replied STOP and is marked ``opted_out`` so the engine suppresses SMS for them."""

from __future__ import annotations

import asyncio
import enum
import logging
from contextvars import ContextVar
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from notifier.channels.creation import failure_of_create
from notifier.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError
from notifier.models import Channel, Receipt, RenderedMessage
from notifier.redact import mask_phone, mask_url

__all__ = ["TwilioChannel", "TwilioError", "map_twilio_error"]

TWILIO_API = "https://api.twilio.com"
LOOKUP_PAGE_SIZE = 100
LOOKUP_LIMIT = 5000  # messages to one number looked through at most; past that, the row stays uncertain
# The twilio client logs every request (with the recipient and body) at INFO; keep that out of logs.
_quiet = logging.getLogger("notifier.twilio_http")
_quiet.setLevel(logging.WARNING)


class TwilioError(enum.IntEnum):
    """The Twilio error codes notifier acts on (twilio.com/docs/api/errors), declared once: the API's
    errors carry them as numbers, status callbacks as text (``ErrorCode``)."""

    OPTED_OUT = 21610  # the number told Twilio STOP: Twilio blocks our sender for it


class _Attempt:
    """One create request: whether its headers went out (then its fate is unknown without an answer)."""

    written = False


_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("notifier_twilio_attempt", default=None)


async def _headers_sent(_session: Any, _context: Any, _params: Any) -> None:
    attempt = _ATTEMPT.get()
    if attempt is not None:
        attempt.written = True


def _tracing() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_headers_sent)
    return trace


class _BaseUrlHttpClient(AsyncTwilioHttpClient):
    """The real async HTTP client (sending to another base URL for a local stand-in), which notes when a
    request's headers were written."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(logger=_quiet, trace_configs=[_tracing()], **kwargs)
        self.base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        if kwargs.get("timeout") is None and self.timeout:
            # The twilio package passes its own (None) per request, which would leave us waiting forever
            # on an answer that never comes: the channel's timeout (``&timeout=``, 30 s) holds.
            kwargs["timeout"] = self.timeout
        return await super().request(method, url, *args, **kwargs)


class TwilioChannel:
    kind = Channel.SMS

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        validity_period: int | None = None,
        base_url: str = TWILIO_API,
        timeout: float = 30.0,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ConfigurationError("twilio:// needs from=+E164 or messaging_service=MG...")
        if validity_period is not None and not 1 <= validity_period <= 36000:
            raise ConfigurationError("twilio:// validity must be 1..36000 seconds")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self.validity_period = validity_period
        self.base_url = base_url
        self.timeout = timeout
        self._client: Client | None = None

    @classmethod
    def from_url(cls, url: str) -> TwilioChannel:
        parts = urlsplit(url)
        # A literal "+" in these URLs is a phone prefix, never an encoded space.
        query = {k: v[-1] for k, v in parse_qs(parts.query.replace("+", "%2B")).items()}
        if not parts.username or not parts.password:
            raise ConfigurationError(f"{mask_url(url)}: needs ACCOUNT_SID:AUTH_TOKEN@")
        if parts.scheme == "twilio+http":
            base_url = f"http://{parts.hostname}:{parts.port or 80}"
        elif parts.hostname in (None, "api", "api.twilio.com"):
            base_url = TWILIO_API
        else:
            base_url = f"https://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"
        try:
            validity = int(query["validity"]) if "validity" in query else None
        except ValueError as exc:
            raise ConfigurationError(f"{mask_url(url)}: validity must be a number of seconds") from exc
        return cls(
            account_sid=unquote(parts.username),
            auth_token=unquote(parts.password),
            from_number=query.get("from"),
            messaging_service_sid=query.get("messaging_service"),
            status_callback=query.get("status_callback"),
            validity_period=validity,
            base_url=base_url,
            timeout=float(query.get("timeout", "30")),
        )

    def __repr__(self) -> str:
        return f"TwilioChannel({self.account_sid}:***@{self.base_url})"

    def _twilio(self) -> Client:
        if self._client is None:
            # Created lazily: aiohttp's session must be made inside the running event loop.
            http = _BaseUrlHttpClient(self.base_url, timeout=self.timeout)
            self._client = Client(self.account_sid, self._auth_token, http_client=http)
        return self._client

    async def send(self, message: RenderedMessage, *, token: str) -> Receipt:
        params: dict[str, Any] = {"to": message.to, "body": message.body_text}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        if self.status_callback:
            separator = "&" if "?" in self.status_callback else "?"
            params["status_callback"] = f"{self.status_callback}{separator}{urlencode({'t': token})}"
        if self.validity_period:
            params["validity_period"] = self.validity_period
        attempt = _Attempt()
        noted = _ATTEMPT.set(attempt)
        try:
            created = await self._twilio().messages.create_async(**params)
        except Exception as exc:
            raise map_twilio_error(exc, message.to, creating=True, written=attempt.written) from exc
        finally:
            _ATTEMPT.reset(noted)
        return Receipt(provider_message_id=str(created.sid))

    async def lookup(self, to: str, body: str, created_after: datetime) -> str | None:
        """The SID of *our* message to ``to``, if Twilio has one: used to settle a row a crash left
        uncertain ("did it go?") without sending again.

        A message counts as ours only by what proves it: our sending identity (the From number, or the
        Messaging Service), the exact body we would have sent, and created after ``created_after`` (our
        hand-over, less a margin for clock skew). Everything sent to that number is paged through, with
        no DateSent filter: a message still queued has no date_sent and would be missed, then sent twice.
        A look-up that cannot finish raises a DeliveryError; the row then stays uncertain."""
        params: dict[str, Any] = {"to": to, "page_size": LOOKUP_PAGE_SIZE}
        if not self.messaging_service_sid:
            params["from_"] = self.from_number
        seen = 0
        try:
            async for message in await self._twilio().messages.stream_async(**params):
                if self._is_ours(message, body, created_after):
                    return str(message.sid)
                seen += 1
                if seen >= LOOKUP_LIMIT:
                    break
        except Exception as exc:
            raise map_twilio_error(exc, to) from exc
        if seen >= LOOKUP_LIMIT:  # not proven either way: "none" here could mean a second notice
            raise TransientDeliveryError(
                f"{mask_phone(to)}: more than {LOOKUP_LIMIT} messages to look through"
            )
        return None

    async def status(self, sid: str) -> tuple[str, str | None]:
        """What Twilio says now of the message ``sid``: its status and error code (reconciliation asks for
        messages whose final status callback never came). A fetch that fails raises a DeliveryError."""
        try:
            message = await self._twilio().messages(sid).fetch_async()
        except Exception as exc:
            raise map_twilio_error(exc, sid) from exc
        code = message.error_code
        return str(message.status), (str(code) if code not in (None, "", 0) else None)

    def _is_ours(self, message: Any, body: str, created_after: datetime) -> bool:
        if self.messaging_service_sid:
            identity = message.messaging_service_sid == self.messaging_service_sid
        else:
            identity = message.from_ == self.from_number
        created = message.date_created
        return bool(identity and message.body == body and created is not None and created >= created_after)

    async def aclose(self) -> None:
        if self._client is not None:
            http = self._client.http_client
            if isinstance(http, AsyncTwilioHttpClient):
                await http.close()
            self._client = None


def map_twilio_error(
    exc: Exception, recipient: str, *, creating: bool = False, written: bool = False
) -> Exception:
    """Anything the twilio package or the network raises → a DeliveryError, or a ConfigurationError when
    Twilio refuses our credentials. ``creating``: the request creates a message (its failure is decided
    by ``channels.creation``, with ``written`` saying whether the request went out); a look-up or fetch
    that fails is only worth trying again. Anything else is re-raised as it is (the pipeline then fails
    that one row with the reason)."""
    who = mask_phone(recipient)
    if isinstance(exc, TwilioRestException):
        status, code = int(exc.status), exc.code
        text = f"{who}: HTTP {status}, Twilio error {code}: {exc.msg}"
        if status in (401, 403):
            # Our credentials, not the recipient: stop the run rather than fail every message.
            return ConfigurationError(f"Twilio refused our credentials (HTTP {status}, code {code})")
        if creating:
            return failure_of_create(
                text, status=status, written=True, code=code, opted_out=code == TwilioError.OPTED_OUT
            )
        if status == 429:
            return TransientDeliveryError(text, code=code)
        if status >= 500:
            return TransientDeliveryError(text, code=code, unreachable=True)
        return PermanentDeliveryError(text, code=code, opted_out=code == TwilioError.OPTED_OUT)
    if isinstance(exc, (TwilioException, aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        # TwilioException itself: a page of a list that did not come back 200, an answer it could not read.
        text = f"{who}: {type(exc).__name__}: {exc}"
        if creating:
            return failure_of_create(text, status=None, written=written)
        return TransientDeliveryError(text, unreachable=True)
    return exc
