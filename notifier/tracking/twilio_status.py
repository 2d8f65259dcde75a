"""Twilio status callbacks, applied forward-only.

``POST /twilio/status?t=<message token>`` (served by ``tracking.app``) is what the SMS channel puts in
StatusCallback. Callbacks arrive out of order and more than once: a status only ever moves a row forward
(a late "sent" never overwrites "delivered"). Every callback, in-flight ones too, is an event with the
fields that arrived; a row that moves also gets its delivery event."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from notifier.clock import utcnow
from notifier.models import Channel, EventKind, OutboxState
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["MESSAGE_TOKEN", "TWILIO_STATUS", "apply_status"]

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
# Twilio MessageStatus → the event it is (every channel's events share notifier.models.EventKind).
TWILIO_EVENT: dict[str, EventKind] = {
    "accepted": EventKind.QUEUED,
    "queued": EventKind.QUEUED,
    "scheduled": EventKind.QUEUED,
    "sending": EventKind.SENT,
    "sent": EventKind.SENT,
    "delivered": EventKind.DELIVERED,
    "read": EventKind.DELIVERED,
    "undelivered": EventKind.UNDELIVERED,
    "failed": EventKind.FAILED,
    "canceled": EventKind.FAILED,
}
OPTED_OUT = "21610"
MESSAGE_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def apply_status(
    store: Store,
    *,
    token: str,
    status: str,
    error_code: str | None,
    message_sid: str | None,
    fields: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """Apply one provider status to the row with ``token``; returns what happened (response and logs)."""
    now = now or utcnow()
    status = status.lower()
    kind = EventKind.OPTED_OUT if error_code == OPTED_OUT else TWILIO_EVENT.get(status, EventKind.UNKNOWN)
    target = TWILIO_STATUS.get(status)
    with store.begin() as conn:
        q.event_for_token(
            conn,
            token=token,
            kind=kind,
            channel=Channel.SMS,
            provider="twilio",
            payload=json.dumps(dict(fields or {}), ensure_ascii=False, sort_keys=True),
            now=now,
            reason=error_code,
            provider_message_id=message_sid,
        )
        if target is None:
            return (
                "ignored: in-flight status"
                if status in TWILIO_STATUS
                else f"ignored: unknown status {status!r}"
            )
        return _advance(conn, token, target, status, error_code, message_sid, now)


def _advance(
    conn: Connection,
    token: str,
    target: OutboxState,
    status: str,
    error_code: str | None,
    message_sid: str | None,
    now: datetime,
) -> str:
    if error_code == OPTED_OUT:
        target = OutboxState.SUPPRESSED
    detail = (
        f"twilio {status}"
        + (f" (error {error_code})" if error_code else "")
        + (f" {message_sid}" if message_sid else "")
    )
    moved = q.advance_by_token(conn, token=token, to_state=target, detail=detail, now=now)
    if moved and target is OutboxState.SUPPRESSED:
        q.suppress_customers_sms(conn, [moved])
    if moved and target in (OutboxState.UNDELIVERED, OutboxState.FAILED):
        q.release_fallback(conn, [moved], now)  # sms-first: the customer's email, waiting, goes out
    return f"{'applied' if moved else 'kept (not forward)'}: {target.value}"
