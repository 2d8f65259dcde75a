"""Bounces in: find which message a bounce is about, and apply it to the outbox and the customer.

Our mail carries the outbox row's token twice: in the VERP envelope sender ``bounce+TOKEN@domain``
(where the bounce is delivered) and in ``Message-ID: <TOKEN@domain>`` (which most bounces quote). A
bounce delivered to a VERP address names its row exactly; one that reached a plain mailbox is matched
through the quoted Message-ID. Both carry the token signed with the campaign's key
(``notifier.sending.tokens``):
a bounce whose signature does not match is refused, and one that names no row of ours is unmatched;
neither changes anything.

What a bounce does (forward only, like every status):
- failure, hard or soft: the email row becomes ``bounced`` (the notice did not reach the customer by
  email), and an SMS waiting as email-first fallback is released;
- hard: also marks the address as bounced, so later campaigns do not use it;
- feedback (a spam complaint, ARF): the customer is opted out of email;
- delivered, delayed, auto-reply, not a bounce: recorded (log line and event) only.

Every bounce that names a row of ours is also an event (``events``), with the classifier's reading.

``BounceReceiver`` is an SMTP server (aiosmtpd) for the bounce domain: run it as that domain's MX."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Connection

from notifier.clock import utcnow
from notifier.models import Channel, EventKind, OutboxState
from notifier.redact import mask_email
from notifier.sending import tokens
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import BounceTarget
from notifier.tracking.bounces.classify import BounceReport, Failure, classify

__all__ = [
    "EVENT_OF",
    "BounceOutcome",
    "BounceReceiver",
    "apply_bounce",
    "apply_report",
    "apply_report_in",
    "token_from_address",
    "tokens_from_message_ids",
]

log = logging.getLogger(__name__)
_TOKEN = r"[A-Za-z0-9_-]{1,64}"
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # a bounce quotes our notice (tens of KB); more is refused with 552
CLASSIFY_SECONDS = 5.0
# Rows a bounce may move on from: it can overtake our own record ("sending") or follow a crash ("uncertain").
_BEFORE_BOUNCED = OutboxState.awaiting_outcome()


@dataclass(frozen=True, slots=True)
class BounceOutcome:
    category: str  # the classifier's category
    token: str | None  # the outbox row's token it names, if any (without the signature)
    action: str  # what was done, for the log and the operator


def token_from_address(address: str, bounce_domain: str | None = None) -> str | None:
    """``bounce+TOKEN@domain`` → TOKEN, as signed (the VERP address our mail is sent from)."""
    match = re.fullmatch(rf"bounce\+({_TOKEN})@([^@\s>]+)", address.strip().strip("<>"), flags=re.IGNORECASE)
    if match is None or (bounce_domain and match.group(2).lower() != bounce_domain.lower()):
        return None
    return match.group(1)


def tokens_from_message_ids(message_ids: tuple[str, ...], bounce_domain: str | None = None) -> list[str]:
    """``<TOKEN@domain>`` Message-IDs of our own mail, quoted in a bounce → TOKENs, as signed."""
    tokens = []
    for message_id in message_ids:
        match = re.fullmatch(rf"<?({_TOKEN})@([^@\s>]+)>?", message_id.strip())
        if match and (not bounce_domain or match.group(2).lower() == bounce_domain.lower()):
            tokens.append(match.group(1))
    return tokens


def apply_bounce(
    store: Store,
    raw: bytes,
    *,
    envelope_to: str | None = None,
    bounce_domain: str | None = None,
    now: datetime | None = None,
) -> BounceOutcome:
    """Classify one inbound message and apply it to the row it names (see the module docstring)."""
    return apply_report(store, classify(raw), envelope_to=envelope_to, bounce_domain=bounce_domain, now=now)


def apply_report(
    store: Store,
    report: BounceReport,
    *,
    envelope_to: str | None = None,
    bounce_domain: str | None = None,
    now: datetime | None = None,
) -> BounceOutcome:
    """Apply an already classified message to the row it names (one message may go to several rows)."""
    with store.begin() as conn:
        return apply_report_in(
            conn, report, envelope_to=envelope_to, bounce_domain=bounce_domain, now=now or utcnow()
        )


def apply_report_in(
    conn: Connection,
    report: BounceReport,
    *,
    envelope_to: str | None,
    bounce_domain: str | None,
    now: datetime,
    provider: str = "smtp",
    message_id: str | None = None,
) -> BounceOutcome:
    """``apply_report`` inside the caller's transaction (a mailbox reader saves its checkpoint in it too);
    ``provider`` names where the bounce came from on its event (the SMTP receiver, or IMAP)."""
    signed = token_from_address(envelope_to, bounce_domain) if envelope_to else None
    if signed is None:
        signed = next(iter(tokens_from_message_ids(report.original_message_ids, bounce_domain)), None)
    if signed is None:
        return BounceOutcome(report.category, None, "unmatched: names no message of ours")
    token, signature = tokens.split(signed)
    row = q.email_row_by_token(conn, token)
    if row is None:
        return BounceOutcome(report.category, token, "unmatched: no email row has this token")
    key = (row.settings or {}).get("bounce_key")
    if key is not None and not tokens.verify(token, signature, key):
        log.warning("refused a bounce for outbox %s: its signature does not match", row.id)
        return BounceOutcome(report.category, token, "refused: the signature does not match (forged?)")
    action = _apply(conn, report, row, now)
    _record_event(conn, report, row, now, provider, message_id)
    log.info("bounce for outbox %s (%s): %s", row.id, mask_email(row.email or ""), action)
    return BounceOutcome(report.category, token, action)


def _genuine(store: Store, signed: str) -> bool:
    """The VERP token names an email row of ours and carries its campaign's signature."""
    token, signature = tokens.split(signed)
    with store.connect() as conn:
        row = q.email_row_by_token(conn, token)
    if row is None:
        return False
    key = (row.settings or {}).get("bounce_key")
    return key is None or tokens.verify(token, signature, key)


def _apply(conn: Connection, report: BounceReport, row: BounceTarget, now: datetime) -> str:
    if report.category == "feedback":
        if row.customer_id is not None:
            q.opt_out_email(conn, row.customer_id)
        return f"complaint ({report.feedback_type or 'feedback'}): customer opted out of email"
    if report.category != "failure":
        return f"recorded only: {report.category}"
    failure = _failure_for(report, row.email)
    words = " ".join(x for x in (failure.status, failure.diagnostic) if x)
    detail = f"{failure.kind} bounce: {words}"
    moved = q.advance_by_token(
        conn,
        token=row.message_token,
        to_state=OutboxState.BOUNCED,
        from_states=_BEFORE_BOUNCED,
        detail=detail[:500],
        now=now,
    )
    if not moved:
        return f"kept (not forward from {row.state}): {detail}"
    released = q.release_fallback(conn, [moved], now)
    if failure.kind == "hard" and row.customer_id is not None and row.email:
        q.mark_email_bounced(conn, row.customer_id, row.email, words)
    return f"bounced ({detail})" + (", SMS fallback released" if released else "")


# The classifier's categories → the event model's kinds (notifier.models.EventKind).
EVENT_OF: dict[str, EventKind] = {
    "failure": EventKind.BOUNCED,
    "delayed": EventKind.DEFERRED,
    "delivered": EventKind.DELIVERED,
    "feedback": EventKind.COMPLAINED,
    "auto_reply": EventKind.AUTO_REPLIED,
}


def _record_event(
    conn: Connection,
    report: BounceReport,
    row: BounceTarget,
    now: datetime,
    provider: str,
    message_id: str | None,
) -> None:
    """The bounce as an event: its kind, the failure's status as reason, the classifier's reading."""
    failure = _failure_for(report, row.email) if report.failures else None
    payload = {
        "category": report.category,
        "feedback_type": report.feedback_type,
        "failures": [
            {
                "address": f.address,
                "kind": f.kind,
                "status": f.status,
                "reply_code": f.reply_code,
                "diagnostic": f.diagnostic,
            }
            for f in report.failures
        ],
        "original_message_ids": list(report.original_message_ids),
    }
    q.event_for_token(
        conn,
        token=row.message_token,
        kind=EVENT_OF.get(report.category, EventKind.UNKNOWN),
        channel=Channel.EMAIL,
        provider=provider,
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
        now=now,
        reason=(failure.status or failure.reply_code) if failure else report.feedback_type,
        provider_message_id=message_id,
    )


def _failure_for(report: BounceReport, email: str | None) -> Failure:
    """The failure about the address we sent to; the only one when the bounce names just one."""
    for failure in report.failures:
        if email and failure.address and failure.address.lower() == email.lower():
            return failure
    return report.failures[0]


def envelope_bytes(envelope: Envelope) -> bytes:
    """The message as received (aiosmtpd keeps it as bytes unless told to decode it)."""
    content = envelope.original_content or envelope.content or b""
    return content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape")


class _Handler:
    def __init__(self, receiver: BounceReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain != self.receiver.bounce_domain.lower():
            return "550 5.7.1 Relaying denied: this server only takes bounces"
        signed = token_from_address(address, self.receiver.bounce_domain)
        # A VERP address is checked before any message is read: a guessed or forged one costs nothing.
        if signed is not None and not await asyncio.to_thread(_genuine, self.receiver.store, signed):
            return "550 5.1.1 No such bounce address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope_bytes(envelope)
        # Parsed once, however many of our addresses it was sent to, off the SMTP server's event loop and
        # under a time budget, so other connections are not held up meanwhile.
        try:
            report = await asyncio.wait_for(asyncio.to_thread(classify, raw), CLASSIFY_SECONDS)
        except TimeoutError:
            log.warning(
                "a message of %d bytes took over %s s to read; kept unclassified", len(raw), CLASSIFY_SECONDS
            )
            self.receiver.outcomes.append(BounceOutcome("not_a_bounce", None, "unclassified: took too long"))
            return "250 Accepted"
        for rcpt in envelope.rcpt_tos:
            outcome = await asyncio.to_thread(
                apply_report,
                self.receiver.store,
                report,
                envelope_to=rcpt,
                bounce_domain=self.receiver.bounce_domain,
            )
            self.receiver.outcomes.append(outcome)
        return "250 Bounce received"


class BounceReceiver:
    """SMTP for the bounce domain (``with BounceReceiver(store, "bounces.example.com", port=2525):``).
    Mail for other domains is refused; every accepted message is applied at once."""

    def __init__(
        self, store: Store, bounce_domain: str, *, host: str = "127.0.0.1", port: int = 2525
    ) -> None:
        self.store = store
        self.bounce_domain = bounce_domain
        self.host = host
        self.port = port
        self.outcomes: list[BounceOutcome] = []
        self._controller = Controller(
            _Handler(self), hostname=host, port=port, server_kwargs={"data_size_limit": MAX_MESSAGE_BYTES}
        )

    def __enter__(self) -> BounceReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
