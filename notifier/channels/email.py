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
import base64
import hashlib
import re
import ssl
from email.header import Header
from email.utils import format_datetime
from functools import lru_cache

import aiosmtplib
import idna

from notifier.clock import utcnow
from notifier.config import DEFAULT_BOUNCE_DOMAIN, SmtpSettings
from notifier.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError
from notifier.models import Channel, Receipt, RenderedMessage
from notifier.redact import mask_email

__all__ = ["SmtpChannel", "build_message"]


def _clean_display_name(name: str) -> str:
    # Names were cleaned at import, but a header is the one place where a stray CR/LF would be an
    # injection, so it is stripped again right here.
    return " ".join(name.replace("\r", " ").replace("\n", " ").split())[:120]


@lru_cache(maxsize=1024)
def _header_value(value: str) -> str:
    """A header value as it goes on the wire: RFC 2047 encoded-words when not plain short ASCII."""
    if value.isascii() and len(value) < 900 and "\r" not in value and "\n" not in value:
        return value
    return Header(value, "utf-8", maxlinelen=76, header_name="Subject").encode(linesep="\r\n")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9 .'-]+")


def _mailbox(name: str, address: str) -> str:
    """``name <address>`` for a header. A name of plain letters is quoted; anything else (non-ASCII,
    punctuation, text that looks like an RFC 2047 encoded word) is itself encoded, so a mail client shows
    it as the text it is and can never read addresses or words out of it."""
    if not name:
        return address
    if _PLAIN_NAME.fullmatch(name) and "=?" not in name:
        return f'"{name}" <{address}>'
    return f"{Header(name, 'utf-8', maxlinelen=998).encode()} <{address}>"


def wire_address(address: str) -> tuple[str, bool]:
    """The recipient as it goes on the wire, and whether that needs SMTPUTF8: an internationalized
    domain is written in its ASCII (IDNA) form; a local part that is not ASCII needs SMTPUTF8."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "\r" in address or "\n" in address:
        raise PermanentDeliveryError("not a deliverable address", code=553)
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise PermanentDeliveryError(
                f"the address's domain has no ASCII (IDNA) form: {exc}", code=553
            ) from None
    return f"{local}@{domain}", not local.isascii()


def _base64_lines(text: str) -> bytes:
    # encodebytes writes 76-character lines (RFC 2045) in C; SMTP wants them ended by CRLF.
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def build_message(
    message: RenderedMessage,
    *,
    sender: str,
    reply_to: str | None,
    message_id: str,
    display_name: str = "",
    date: str | None = None,
) -> bytes:
    """The MIME bytes: multipart/alternative (text, then HTML), UTF-8, base64 bodies, no tracking.

    Written out directly rather than through ``email.message.EmailMessage``: that was measured at several
    milliseconds per message (header registry, policy folding), which dominated sending. Every header
    value that could carry customer data is encoded here (RFC 2047) and stripped of CR/LF, and bodies are
    base64, so no customer data can add a header or break a line limit. The proofs use this same code."""
    recipient, _utf8 = wire_address(message.to)
    boundary = "=_" + hashlib.sha1(message_id.encode()).hexdigest()[:24]  # "=_" never occurs in base64
    headers = [
        f"From: {sender}",
        f"To: {_mailbox(_clean_display_name(display_name), recipient)}",
        f"Subject: {_header_value(message.subject or '')}",
        f"Date: {date or format_datetime(utcnow())}",
        f"Message-ID: {message_id}",
        *([f"Reply-To: {reply_to}"] if reply_to else []),
        "Auto-Submitted: auto-generated",
        f"Content-Language: {message.locale.replace('_', '-')}",
        "MIME-Version: 1.0",
    ]
    parts = [("plain", message.body_text)] + ([("html", message.body_html)] if message.body_html else [])
    chunks = [
        "\r\n".join(headers).encode(),
        f'\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
    ]
    for subtype, body in parts:
        chunks.append(
            f"--{boundary}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n".encode()
        )
        chunks.append(_base64_lines(body))
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


class SmtpChannel:
    kind = Channel.EMAIL

    def __init__(
        self,
        *,
        hostname: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool = False,
        sender: str = "notices@localhost",
        reply_to: str | None = None,
        bounce_domain: str = DEFAULT_BOUNCE_DOMAIN,
        pool_size: int = 4,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
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
    def from_url(cls, url: str) -> SmtpChannel:
        return cls.from_settings(SmtpSettings.parse(url, source="email channel URL"))

    @classmethod
    def from_settings(cls, smtp: SmtpSettings) -> SmtpChannel:
        return cls(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.implicit_tls,
            start_tls=smtp.starttls,
            sender=smtp.sender,
            reply_to=smtp.reply_to,
            bounce_domain=smtp.bounce_domain,
            pool_size=smtp.pool,
            timeout=smtp.timeout,
            tls_context=_tls_context(smtp.cafile) if smtp.tls_requested else None,
        )

    def __repr__(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"SmtpChannel({self._url.replace('://', '://' + user)})"

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            username=self.username,
            password=self._password,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        await client.connect()
        return client

    def compose(self, message: RenderedMessage, *, token: str) -> bytes:
        """The exact bytes ``send`` hands to the server for this message (proofs use it too)."""
        return build_message(
            message,
            sender=self.sender,
            reply_to=self.reply_to,
            message_id=f"<{token}@{self.bounce_domain}>",
            display_name=message.headers.get("display_name", ""),
        )

    async def send(self, message: RenderedMessage, *, token: str) -> Receipt:
        mime = self.compose(message, token=token)
        envelope_from = f"bounce+{token}@{self.bounce_domain}"
        recipient, needs_utf8 = wire_address(message.to)
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else await self._connect()
                if not client.is_connected:
                    client = await self._connect()
                options = await _mail_options(client, recipient, needs_utf8)
                await client.sendmail(envelope_from, [recipient], mime, mail_options=options)
            except PermanentDeliveryError:
                if client is not None:
                    self._idle.put_nowait(client)  # the recipient's address was at fault, not the connection
                raise
            except Exception as exc:
                if client is not None:
                    client.close()
                raise _map_error(exc, message.to) from exc
            self._idle.put_nowait(client)
        return Receipt(provider_message_id=f"<{token}@{self.bounce_domain}>")

    async def aclose(self) -> None:
        """QUIT every pooled connection at once (one by one costs a round trip each: seconds when slow)."""
        clients = []
        while not self._idle.empty():
            clients.append(self._idle.get_nowait())
        await asyncio.gather(*(self._quit(client) for client in clients))

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        try:
            await asyncio.wait_for(client.quit(), timeout=5)
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            client.close()


async def _mail_options(client: aiosmtplib.SMTP, recipient: str, needs_utf8: bool) -> list[str]:
    """SMTPUTF8 when the recipient's local part is not ASCII, if the server offers it; if it does not,
    that one recipient fails for good, with the reason."""
    if not needs_utf8:
        return []
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    if not client.supports_extension("smtputf8"):
        raise PermanentDeliveryError(
            f"{mask_email(recipient)}: the address has non-ASCII characters before the @ and this SMTP "
            "server does not offer SMTPUTF8",
            code=553,
        )
    return ["SMTPUTF8"]


def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """Certificates are always verified (against the system's CAs, or ``cafile`` for a private CA)."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"SMTP cafile={cafile}: {exc}") from exc


def _map_error(exc: Exception, recipient: str) -> Exception:
    """SMTP failure → Transient/PermanentDeliveryError, or ConfigurationError when the fault is ours
    (credentials, TLS trust, a server without STARTTLS): that stops the run instead of failing every
    recipient. Anything unexpected is re-raised as is."""
    who = mask_email(recipient)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return ConfigurationError(f"the SMTP server refused our login: {exc.code} {exc.message}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConfigurationError(
            f"the SMTP server's TLS certificate is not trusted: {exc.verify_message} "
            "(for a private CA, add cafile=/path/to/ca.pem to the URL)"
        )
    # aiosmtplib says "not supported" (STARTTLS, AUTH) with SMTPNotSupported or (AUTH) a bare SMTPException.
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or (
        type(exc) is aiosmtplib.SMTPException and "not supported" in str(exc)
    ):
        return ConfigurationError(f"the SMTP server does not support what the URL asks for: {exc}")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0] if exc.recipients else None
        code = refused.code if refused is not None else 550
        text = refused.message if refused is not None else "recipient refused"
        return _by_code(code, f"{who}: {code} {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, f"{who}: {exc.code} {exc.message}")
    if isinstance(exc, _UNREACHABLE):
        return TransientDeliveryError(f"{who}: {type(exc).__name__}: {exc}", unreachable=True)
    if isinstance(exc, aiosmtplib.SMTPException):
        return TransientDeliveryError(f"{who}: {type(exc).__name__}: {exc}")
    return exc


# Failures to talk to the server at all: the provider's trouble, never the recipient's.
_UNREACHABLE = (
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPTimeoutError,
    OSError,
    asyncio.TimeoutError,
)


def _by_code(code: int, text: str) -> TransientDeliveryError | PermanentDeliveryError:
    if 400 <= code < 500:
        return TransientDeliveryError(text, code=code)
    return PermanentDeliveryError(text, code=code)
