"""A local SMTP server (aiosmtpd) that records what it receives and can misbehave on cue.

Used by the demo (saving each message as ``.eml``) and by the tests, with the real aiosmtplib
client on the other side. Faults are queued: ``server.fail_next(451, count=3)`` answers the next
three RCPT commands with 451; ``server.drop_next()`` closes the connection instead of answering;
``server.refuse(address, 550)`` refuses one recipient for good.

Like a real submission server it can require TLS and AUTH: ``SmtpStandin(tls=(certfile, keyfile),
logins={"user": "password"})`` offers STARTTLS and accepts mail only from a client that used it and
logged in (``implicit_tls=True`` speaks TLS from the first byte, as on port 465). Each received mail
records whether its session was encrypted and who logged in."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["ReceivedMail", "SmtpStandin"]

# aiosmtpd logs every envelope (sender and recipient addresses) at INFO: customer data stays out of logs.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def envelope_bytes(envelope: Envelope) -> bytes:
    """The message as received (aiosmtpd keeps it as bytes unless told to decode it)."""
    content = envelope.original_content or envelope.content or b""
    return content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes
    encrypted: bool = False  # the session ran over TLS (STARTTLS or implicit)
    login: str | None = None  # who authenticated, if anyone

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Faults:
    queued: deque[int] = field(default_factory=deque)  # reply codes for the next RCPTs; 0 = drop
    refused: dict[str, int] = field(default_factory=dict)


class _Handler:
    def __init__(self, standin: SmtpStandin) -> None:
        self.standin = standin

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        faults = self.standin.faults
        with self.standin.lock:
            code = faults.queued.popleft() if faults.queued else faults.refused.get(address.lower())
        if code == 0:
            if server.transport is not None:
                server.transport.close()
            return "421 closing"  # never seen: the connection is gone
        if code:
            text = {
                421: "Too many connections, slow down",
                451: "Temporary local problem",
                452: "Insufficient storage",
                550: "No such user here",
            }.get(code, "Refused")
            return f"{code} {'4.7.0' if code < 500 else '5.1.1'} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.standin.data_delay:  # a slow server: the message waits in the sender's hands
            await asyncio.sleep(self.standin.data_delay)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        mail = ReceivedMail(
            envelope_from=str(envelope.mail_from),
            recipients=tuple(envelope.rcpt_tos),
            data=envelope_bytes(envelope),
            encrypted=session.ssl is not None
            or (server.transport is not None and server.transport.get_extra_info("sslcontext") is not None),
            login=login,
        )
        self.standin.record(mail)
        return "250 Message accepted for delivery"


class SmtpStandin:
    """Start with ``with SmtpStandin(save_dir=...) as smtp:``; ``smtp.url`` is the channel URL to use."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        save_dir: Path | None = None,
        tls: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
        logins: dict[str, str] | None = None,
        smtputf8: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.save_dir = save_dir
        self.received: list[ReceivedMail] = []
        self.faults = _Faults()
        self.data_delay = 0.0  # seconds each message waits before its 250 (set while running)
        self.lock = threading.Lock()
        self.logins = logins
        self.implicit_tls = implicit_tls
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
        server_kwargs: dict[str, Any] = {"data_size_limit": 10 * 1024 * 1024, "enable_SMTPUTF8": smtputf8}
        if context is not None and not implicit_tls:
            server_kwargs |= {"tls_context": context, "require_starttls": True}
        if logins is not None:
            server_kwargs |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS session is encrypted anyway.
                "auth_require_tls": tls is not None and not implicit_tls,
            }
        self._controller = Controller(
            _Handler(self),
            hostname=host,
            port=self.port,
            server_kwargs=server_kwargs,
            ssl_context=context if implicit_tls else None,
            server_hostname="localhost" if implicit_tls else None,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.logins is not None
            and self.logins.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    @property
    def url(self) -> str:
        return (
            f"smtp://{self.host}:{self.port}?from=notices@example.com&reply_to=support@example.com"
            f"&bounce_domain=bounces.example.com"
        )

    def record(self, mail: ReceivedMail) -> None:
        with self.lock:
            self.received.append(mail)
            count = len(self.received)
        if self.save_dir is not None:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            token = mail.envelope_from.partition("+")[2].partition("@")[0] or f"{count:08d}"
            (self.save_dir / f"{token}.eml").write_bytes(mail.data)

    def fail_next(self, code: int, count: int = 1) -> None:
        with self.lock:
            self.faults.queued.extend([code] * count)

    def drop_next(self, count: int = 1) -> None:
        self.fail_next(0, count)

    def refuse(self, address: str, code: int = 550) -> None:
        with self.lock:
            self.faults.refused[address.lower()] = code

    def start(self) -> SmtpStandin:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpStandin:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
