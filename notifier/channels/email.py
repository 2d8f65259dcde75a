"""Email over SMTP with aiosmtplib: a small pool of reusable connections, multipart text + HTML.

Connection string::

    smtp://[user:password@]host[:port][?starttls=1&from=notices@example.com&reply_to=support@example.com
           &bounce_domain=bounces.example.com&pool=4&timeout=30]
    smtps://user:password@host[:465][?...]          (implicit TLS)

``from`` is the visible sender, ``reply_to`` the support mailbox replies go to, and
``bounce_domain`` the domain of the VERP return path ``bounce+<token>@<bounce_domain>``, which tells
us which outbox row bounced. The Message-ID is ``<token@bounce_domain>``: the same on any resend.

Errors: 5xx replies are permanent; 4xx replies (421 included, with its code so the engine can tell a
busy server), disconnects and timeouts are transient."""

from __future__ import annotations

import asyncio
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from notifier.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError
from notifier.models import Channel, Receipt, RenderedMessage
from notifier.redact import mask_email, mask_url
from notifier.store import utcnow

__all__ = ["SmtpChannel", "build_message"]

_TRUE = {"1", "true", "yes", "on"}


def _clean_display_name(name: str) -> str:
    # Names were cleaned at import, but a header is the one place where a stray CR/LF would be an
    # injection, so it is stripped again right here.
    return " ".join(name.replace("\r", " ").replace("\n", " ").split())[:120]


def build_message(message: RenderedMessage, *, sender: str, reply_to: str | None, message_id: str,
                  display_name: str = "") -> EmailMessage:  # fmt: skip
    """The MIME message: multipart/alternative (text, then HTML), UTF-8, no tracking of any kind."""
    email = EmailMessage()
    email["From"] = sender
    local, _, domain = message.to.rpartition("@")
    email["To"] = Address(display_name=_clean_display_name(display_name), username=local, domain=domain)
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = message_id
    if reply_to:
        email["Reply-To"] = reply_to
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text, subtype="plain", charset="utf-8")
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html", charset="utf-8")
    email["Content-Language"] = message.locale.replace("_", "-")  # after set_content, which drops Content-*
    return email


class SmtpChannel:
    kind = Channel.EMAIL

    def __init__(self, *, hostname: str, port: int, username: str | None = None, password: str | None = None,
                 use_tls: bool = False, start_tls: bool = False, sender: str = "notices@localhost",
                 reply_to: str | None = None, bounce_domain: str = "localhost", pool_size: int = 4,
                 timeout: float = 30.0, tls_context: ssl.SSLContext | None = None) -> None:  # fmt: skip
        self.hostname = hostname
        self.port = port
        self.username = username
        self._password = password
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.sender = sender
        self.reply_to = reply_to
        self.bounce_domain = bounce_domain
        self.timeout = timeout
        self.tls_context = tls_context
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(pool_size)
        self._url = f"smtp{'s' if use_tls else ''}://{hostname}:{port}"

    @classmethod
    def from_url(cls, url: str) -> "SmtpChannel":
        parts = urlsplit(url)
        # A literal "+" in these URLs is a phone prefix, never an encoded space.
        query = {k: v[-1] for k, v in parse_qs(parts.query.replace("+", "%2B")).items()}
        if not parts.hostname:
            raise ConfigurationError(f"{mask_url(url)}: missing host")
        implicit_tls = parts.scheme == "smtps"
        try:
            return cls(
                hostname=parts.hostname,
                port=parts.port or (465 if implicit_tls else 25),
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                use_tls=implicit_tls,
                start_tls=query.get("starttls", "0").lower() in _TRUE,
                sender=query.get("from", "notices@localhost"),
                reply_to=query.get("reply_to"),
                bounce_domain=query.get("bounce_domain", "localhost"),
                pool_size=int(query.get("pool", "4")),
                timeout=float(query.get("timeout", "30")),
            )
        except ValueError as exc:
            raise ConfigurationError(f"{mask_url(url)}: {exc}") from exc

    def __repr__(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"SmtpChannel({self._url.replace('://', '://' + user)})"

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.hostname, port=self.port, use_tls=self.use_tls, start_tls=self.start_tls,
            username=self.username, password=self._password, timeout=self.timeout, tls_context=self.tls_context,
        )  # fmt: skip
        await client.connect()
        return client

    async def send(self, message: RenderedMessage, *, token: str) -> Receipt:
        message_id = f"<{token}@{self.bounce_domain}>"
        mime = build_message(message, sender=self.sender, reply_to=self.reply_to, message_id=message_id,
                             display_name=message.headers.get("display_name", ""))  # fmt: skip
        envelope_from = f"bounce+{token}@{self.bounce_domain}"
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else await self._connect()
                if not client.is_connected:
                    client = await self._connect()
                response = await client.send_message(mime, sender=envelope_from, recipients=[message.to])
            except Exception as exc:
                if client is not None:
                    client.close()
                raise _map_error(exc, message.to) from exc
            self._idle.put_nowait(client)
        detail = response[1] if isinstance(response, tuple) else ""
        return Receipt(provider_message_id=message_id, accepted_at=utcnow(), detail=str(detail)[:200])

    async def aclose(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


def _map_error(exc: Exception, recipient: str) -> Exception:
    """SMTP failure → Transient/PermanentDeliveryError; anything unexpected is re-raised as is."""
    who = mask_email(recipient)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0] if exc.recipients else None
        code = refused.code if refused is not None else 550
        text = refused.message if refused is not None else "recipient refused"
        return _by_code(code, f"{who}: {code} {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, f"{who}: {exc.code} {exc.message}")
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError,
                        aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPException, OSError,
                        asyncio.TimeoutError)):  # fmt: skip
        return TransientDeliveryError(f"{who}: {type(exc).__name__}: {exc}")
    return exc


def _by_code(code: int, text: str) -> TransientDeliveryError | PermanentDeliveryError:
    if 400 <= code < 500:
        return TransientDeliveryError(text, code=code)
    return PermanentDeliveryError(text, code=code)
