"""Reading a mailbox over IMAP (``notifier track mailbox``, and the ``track-mailbox`` flow): the Reply-To
inbox or a bounce mailbox, or one that gets both.

Each new message, in UID order, is one of:
- a bounce or complaint (``bounces.classify``): applied to the row it names, like the SMTP receiver does;
- an auto-reply (RFC 3834 ``Auto-Submitted``, vacation headers, subjects in en/ru/vi): an event, not
  queued for support;
- a customer's reply: an event and an entry in the support queue, matched to the notice it answers by
  our Message-ID in its In-Reply-To / References (signature checked), else by the sender's address.

The mailbox is opened read-only: nothing is flagged, moved or deleted, so people may share it. What has
been read is a checkpoint in the store (UIDVALIDITY and the last UID), saved in the same transaction as
each message's effects: a reader stopped at any point starts again after the last message it finished,
reads nothing twice and misses nothing. If the server renumbers the folder (a new UIDVALIDITY), it is
read again from the start, and messages already on record are recognised by their Message-ID."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import Connection

from notifier import stopping
from notifier.clock import utcnow
from notifier.config import MailboxSettings
from notifier.errors import MailboxError
from notifier.models import Channel, EventKind
from notifier.redact import mask_email
from notifier.sending import tokens
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import LastNotice
from notifier.tracking.bounces.classify import classify
from notifier.tracking.bounces.intake import EVENT_OF, apply_report_in, tokens_from_message_ids
from notifier.tracking.email_replies import EmailReply, read_reply
from notifier.tracking.inbound import clean_text

__all__ = ["MailboxRun", "apply_saved_message", "read_mailbox", "record_files_applied"]

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # larger messages are recorded as unknown, never downloaded
FETCH_AT_ONCE = 50
TIMEOUT_SECONDS = 30.0
_BOUNCES = ("failure", "delayed", "delivered", "feedback")


@dataclass
class MailboxRun:
    """What one read of the mailbox did."""

    mailbox: str
    read: int = 0
    bounces: int = 0
    replies: int = 0
    auto_replies: int = 0
    other: int = 0  # not a bounce, not addressed to a notice of ours, too large, unreadable
    already_recorded: int = 0  # read again after a UIDVALIDITY change
    last_uid: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def read_mailbox(
    store: Store,
    mailbox: MailboxSettings,
    *,
    bounce_domain: str | None,
    limit: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> MailboxRun:
    """Read up to ``limit`` new messages (see the module docstring); ``progress(done, total)``."""
    run = MailboxRun(mailbox.key)
    with _Session(mailbox) as client:
        try:
            selected = client.select_folder(mailbox.folder, readonly=True)
        except IMAPClientError as exc:
            raise MailboxError(f"mailbox {mailbox.key}: cannot open the folder: {exc}") from None
        validity = int(selected[b"UIDVALIDITY"])
        with store.connect() as conn:
            checkpoint = q.mailbox_checkpoint(conn, mailbox.key)
        reread = checkpoint is not None and checkpoint[0] != validity
        if reread:
            log.warning("mailbox %s was renumbered (UIDVALIDITY changed): reading it again", mailbox.key)
        last = checkpoint[1] if checkpoint is not None and not reread else 0
        run.last_uid = last
        uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)[:limit]
        for start in range(0, len(uids), FETCH_AT_ONCE):
            if stopping.requested():
                break  # a graceful stop: every message taken so far has its checkpoint; the rest waits
            chunk = uids[start : start + FETCH_AT_ONCE]
            sizes = client.fetch(chunk, ["RFC822.SIZE"])
            small = [u for u in chunk if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= MAX_MESSAGE_BYTES]
            bodies = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            for uid in chunk:
                raw = bodies.get(uid, {}).get(b"BODY[]")
                kind = _take(store, mailbox.key, validity, uid, raw, bounce_domain, reread=reread, run=run)
                run.kinds[kind] = run.kinds.get(kind, 0) + 1
                run.read += 1
                run.last_uid = uid
            if progress is not None:
                progress(run.read, len(uids))
    log.info(
        "mailbox %s: %d read (%d bounces, %d replies, %d auto-replies, %d other)",
        mailbox.key,
        run.read,
        run.bounces,
        run.replies,
        run.auto_replies,
        run.other,
    )
    return run


def apply_saved_message(store: Store, raw: bytes, *, bounce_domain: str | None) -> str:
    """One message saved from a mailbox (an ``.eml`` file), applied as the reader applies a new message;
    returns what it was. A message already on record (by its Message-ID) is not applied twice."""
    with store.begin() as conn:
        return _apply(conn, raw, bounce_domain, utcnow(), reread=True, run=MailboxRun("files"))


def record_files_applied(store: Store, *, actor: str, command: str, results: list[tuple[bytes, str]]) -> None:
    """One audit entry for a run of saved files applied by a person (`track bounce-files|mail-files`):
    each file by its SHA-256 (never its name or content: both may hold an address) and what it was taken
    as. A forged "bounce" suppresses a customer's address, so whoever fed it in must be on record."""
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="tracking.files_applied",
            subject=f"tracking:{command}",
            detail={
                "files": [
                    {"sha256": hashlib.sha256(raw).hexdigest(), "taken_as": taken} for raw, taken in results
                ]
            },
            now=utcnow(),
        )


class _Session:
    """A logged-in IMAP connection; every way of failing to get one is a MailboxError saying what to check."""

    def __init__(self, mailbox: MailboxSettings) -> None:
        self.mailbox = mailbox
        self.client: IMAPClient | None = None

    def __enter__(self) -> IMAPClient:
        m = self.mailbox
        context = ssl.create_default_context(cafile=m.cafile)
        try:
            client = IMAPClient(m.host, port=m.port, ssl=m.tls, ssl_context=context, timeout=TIMEOUT_SECONDS)
            if m.starttls:
                client.starttls(context)
            client.login(m.user, m.password)
        except (IMAPClientError, OSError) as exc:  # OSError: refused, TLS, timeouts
            said = exc.args[0] if exc.args else ""
            reason = (said.decode(errors="replace") if isinstance(said, bytes) else str(exc)) or type(
                exc
            ).__name__
            raise MailboxError(
                f"mailbox {m.key}: {reason}; check NOTIFIER_MAILBOX_URL (host, port, TLS, user, password)"
            ) from None
        self.client = client
        return client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            with contextlib.suppress(IMAPClientError, OSError):  # read already; a bad goodbye loses nothing
                self.client.logout()


def _take(
    store: Store,
    key: str,
    validity: int,
    uid: int,
    raw: bytes | None,
    bounce_domain: str | None,
    *,
    reread: bool,
    run: MailboxRun,
) -> str:
    """Apply one message and move the checkpoint past it, in one transaction; returns what it was."""
    now = utcnow()
    with store.begin() as conn:
        # Another reader may have taken this message meanwhile (the row lock makes it wait on PostgreSQL).
        current = q.mailbox_checkpoint(conn, key, for_update=True)
        if current is not None and current[0] == validity and current[1] >= uid:
            return "read by another reader"
        kind = _apply(conn, raw, bounce_domain, now, reread=reread, run=run)
        q.save_mailbox_checkpoint(conn, key, uid_validity=validity, last_uid=uid, now=now)
    return kind


def _apply(
    conn: Connection,
    raw: bytes | None,
    bounce_domain: str | None,
    now: datetime,
    *,
    reread: bool,
    run: MailboxRun,
) -> str:
    if raw is None:  # too large to read, or gone
        q.insert_event(
            conn,
            kind=EventKind.UNKNOWN,
            channel=Channel.EMAIL,
            provider="imap",
            payload="{}",
            now=now,
            reason="too large or unreadable",
        )
        run.other += 1
        return "too large"
    reply = read_reply(raw)
    if reread and reply.message_id and q.event_recorded(conn, "imap", reply.message_id):
        run.already_recorded += 1
        return "already recorded"
    report = classify(raw)
    if report.category in _BOUNCES:
        outcome = apply_report_in(
            conn,
            report,
            envelope_to=None,
            bounce_domain=bounce_domain,
            now=now,
            provider="imap",
            message_id=reply.message_id,
        )
        if outcome.token is None or outcome.action.startswith(("unmatched", "refused")):
            _event(conn, EVENT_OF[report.category], reply, None, now, reason=outcome.action[:64])
        run.bounces += 1
        return report.category
    notice = _notice_answered(conn, reply, bounce_domain)
    if report.category == "auto_reply" or reply.auto:
        _event(conn, EventKind.AUTO_REPLIED, reply, notice, now)
        run.auto_replies += 1
        return "auto_reply"
    if reply.sender is None or not (reply.text or reply.subject):
        _event(conn, EventKind.UNKNOWN, reply, notice, now, reason="no sender or no text")
        run.other += 1
        return "unknown"
    event_id = _event(conn, EventKind.REPLIED, reply, notice, now)
    q.insert_reply(
        conn,
        event_id=event_id,
        channel=Channel.EMAIL,
        contact=reply.sender,
        body=clean_text(reply.text),
        subject=clean_text(reply.subject, 300),
        now=now,
        customer_id=notice.customer_id if notice else None,
        campaign_id=notice.campaign_id if notice else None,
        outbox_id=notice.outbox_id if notice else None,
        locale=notice.notice_locale if notice else None,
    )
    log.info("reply from %s queued for support", mask_email(reply.sender))
    run.replies += 1
    return "reply"


def _notice_answered(conn: Connection, reply: EmailReply, bounce_domain: str | None) -> LastNotice | None:
    """Our message the reply quotes (its signed token checked), else the last notice to the sender."""
    for signed in tokens_from_message_ids(reply.references, bounce_domain):
        token, signature = tokens.split(signed)
        notice = q.notice_by_token(conn, token)
        key = (notice.campaign_settings or {}).get("bounce_key") if notice else None
        if notice is not None and (key is None or tokens.verify(token, signature, key)):
            return notice
    if reply.sender:
        return q.last_notice_to(conn, Channel.EMAIL, reply.sender)
    return None


def _event(
    conn: Connection,
    kind: EventKind,
    reply: EmailReply,
    notice: LastNotice | None,
    now: datetime,
    *,
    reason: str | None = None,
) -> int:
    payload = {
        "from": reply.sender,
        "subject": reply.subject,
        "message_id": reply.message_id,
        "references": list(reply.references),
        "text": reply.text,
    }
    return q.insert_event(
        conn,
        kind=kind,
        channel=Channel.EMAIL,
        provider="imap",
        payload=json.dumps(payload, ensure_ascii=False),
        now=now,
        reason=reason,
        customer_id=notice.customer_id if notice else None,
        campaign_id=notice.campaign_id if notice else None,
        outbox_id=notice.outbox_id if notice else None,
        provider_message_id=reply.message_id,
        contact=reply.sender,
    )
