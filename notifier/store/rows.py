"""Typed rows: what the store hands out and takes in, instead of SQLAlchemy ``Row[Any]`` or dicts.

Each is a frozen dataclass with exactly the fields its callers use; ``from_row`` builds it from a
result row by name, so a column the query forgot is an error at the store, not an ``AttributeError``
three modules away."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from notifier.clock import as_utc
from notifier.models import OutboxState, Role

__all__ = [
    "BounceTarget",
    "BreakdownRow",
    "CampaignOverview",
    "CampaignRow",
    "ClaimedRow",
    "DecisionRow",
    "EvidenceCampaign",
    "HealthRow",
    "IncidentRevisionRow",
    "IncidentRow",
    "IncidentSummary",
    "LastNotice",
    "LedgerRow",
    "ManifestReader",
    "MessageRow",
    "Outcome",
    "ReasonRow",
    "ReplyRow",
    "SentContent",
    "SilentSms",
    "TimelineRow",
    "UncertainRow",
    "UserRow",
]


class _FromRow:
    @classmethod
    def from_row(cls, row: Any) -> Self:
        """Build from a SQLAlchemy row (or mapping) by field name; datetimes come back as UTC."""
        values: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = values[f.name]
            if isinstance(value, str) and "datetime" in str(f.type):
                value = datetime.fromisoformat(value)  # SQLite hands aggregates (MAX of a date) back as text
            kwargs[f.name] = as_utc(value) if isinstance(value, datetime) else value
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class ClaimedRow(_FromRow):
    """An outbox row a sender has claimed, with the manifest data its message is rendered from."""

    id: int
    attempts: int
    first_attempt_at: datetime | None
    message_token: str
    name: str
    email: str | None
    phone: str | None
    locale: str
    time_zone: str
    jurisdiction: str | None
    postal_address: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed row: its next state, written back under the claim's lease.

    ``handed_over``: the row was marked ``sending`` (handed to the provider) before this outcome;
    otherwise it goes straight from ``claimed`` (rendered but deferred for quiet hours, say)."""

    row_id: int
    lease: str
    state: OutboxState
    handed_over: bool
    attempted: bool = True  # False: handed over but the provider was never reached; the attempt is given back
    provider_message_id: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentRow(_FromRow):
    id: int
    key: str
    title: str
    facts: dict[str, Any]
    revision: int


@dataclass(frozen=True, slots=True)
class IncidentSummary(_FromRow):
    key: str
    title: str
    revision: int
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class IncidentRevisionRow(_FromRow):
    revision: int
    facts: dict[str, Any]
    created_at: datetime
    created_by: str
    comment: str | None


@dataclass(frozen=True, slots=True)
class CampaignRow(_FromRow):
    id: int
    name: str
    incident_id: int
    notice: str
    state: str
    channels: str
    settings: dict[str, Any] | None
    planned_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class UncertainRow(_FromRow):
    """A row whose fate a crash left unknown, with what it takes to ask the provider about it: the
    reader (to render the exact text we would have sent) and when it was handed over."""

    id: int
    channel: str
    message_token: str
    name: str
    phone: str | None
    email: str | None
    locale: str
    time_zone: str
    jurisdiction: str | None
    attempts: int
    handed_over_at: datetime | None


@dataclass(frozen=True, slots=True)
class BounceTarget(_FromRow):
    """The email row a bounce names, with what applying the bounce needs."""

    id: int
    state: str
    message_token: str
    email: str | None
    customer_id: int | None
    settings: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ManifestReader(_FromRow):
    """A customer as a campaign's manifest froze them: whom each channel's notice is for, and why not."""

    external_id: str
    name: str
    email: str | None
    phone: str | None
    locale: str
    notice_locale: str
    time_zone: str
    jurisdiction: str | None
    channel_plan: str
    email_reason: str | None
    sms_reason: str | None
    letter_reason: str | None
    postal_address: str | None


@dataclass(frozen=True, slots=True)
class DecisionRow(_FromRow):
    """Legal's latest decision on a notice piece."""

    incident_key: str
    notice: str
    locale: str
    channel: str
    profile: str
    content_hash: str
    decision: str
    approver: str
    role: str
    at: datetime
    comment: str | None


@dataclass(frozen=True, slots=True)
class HealthRow(_FromRow):
    """Whether a provider account answers (``sending.health``)."""

    account: str
    consecutive_failures: int
    down_since: datetime | None
    last_error: str | None
    next_probe_at: datetime | None


@dataclass(frozen=True, slots=True)
class LastNotice(_FromRow):
    """A notice we sent (an outbox row) with what a reply to it needs: its campaign, reader, language,
    and the incident's facts (whose support contact an answer gives)."""

    outbox_id: int
    campaign_id: int
    campaign: str
    notice: str
    customer_id: int | None
    locale: str
    notice_locale: str
    jurisdiction: str | None
    incident_facts: dict[str, Any]
    campaign_settings: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ReplyRow(_FromRow):
    """A customer's reply in the support queue, with the notice it answers where known."""

    id: int
    channel: str
    contact: str
    customer_external_id: str | None
    customer_name: str | None
    campaign: str | None
    notice: str | None
    outbox_state: str | None
    content_hash: str | None
    locale: str | None
    received_at: datetime
    subject: str | None
    body: str
    status: str
    assignee: str | None
    note: str | None
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class SilentSms(_FromRow):
    """An SMS the provider accepted and has said nothing final about since."""

    id: int
    message_token: str
    provider_message_id: str


@dataclass(frozen=True, slots=True)
class BreakdownRow(_FromRow):
    """Messages of one channel × state × notice language × jurisdiction (channel None: no channel)."""

    channel: str | None
    state: str | None
    notice_locale: str
    jurisdiction: str | None
    count: int


@dataclass(frozen=True, slots=True)
class ReasonRow(_FromRow):
    channel: str
    state: str
    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class TimelineRow:
    bucket: datetime  # the start of the bucket, UTC
    state: str
    count: int


@dataclass(frozen=True, slots=True)
class MessageRow(_FromRow):
    """One (customer, channel) line of a delivery report (channel None: no usable channel)."""

    external_id: str
    name: str
    email: str | None
    phone: str | None
    postal_address: str | None
    notice_locale: str
    jurisdiction: str | None
    channel_plan: str
    email_reason: str | None
    sms_reason: str | None
    letter_reason: str | None
    legal_channel: str | None
    legal_gap: str | None
    channel: str | None
    state: str | None
    attempts: int | None
    provider_message_id: str | None
    last_error: str | None
    content_hash: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    fallback: bool
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class LedgerRow(_FromRow):
    """One message of an incident's evidence ledger (no contact data: the pack names people by pseudonym)."""

    campaign: str
    external_id: str
    jurisdiction: str | None
    notice_locale: str
    channel_plan: str
    email_reason: str | None
    sms_reason: str | None
    letter_reason: str | None
    legal_channel: str | None
    legal_gap: str | None
    channel: str | None
    state: str | None
    attempts: int | None
    provider_message_id: str | None
    content_hash: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    fallback: bool
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class EvidenceCampaign(_FromRow):
    id: int
    name: str
    notice: str
    state: str
    channels: str
    policy: str
    created_at: datetime
    created_by: str
    planned_at: datetime | None
    launched_at: datetime | None
    completed_at: datetime | None
    customers: int


@dataclass(frozen=True, slots=True)
class SentContent(_FromRow):
    content_hash: str
    channel: str
    notice_locale: str
    messages: int


@dataclass(frozen=True, slots=True)
class UserRow(_FromRow):
    id: int
    username: str
    display_name: str
    password_hash: str | None
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    password_changed_at: datetime | None
    created_at: datetime
    created_by: str
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class TokenRow(_FromRow):
    """One API token as an admin sees it (never the token: only its hash is kept)."""

    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return f"revoked ({self.revoke_reason or 'revoked'})"
        if self.expires_at is None or self.expires_at <= now:
            return "expired"
        return "live"


@dataclass(frozen=True, slots=True)
class CampaignOverview(_FromRow):
    name: str
    incident: str
    notice: str
    state: str
    planned_at: datetime | None
    completed_at: datetime | None
    customers: int


@dataclass(frozen=True, slots=True)
class SavedSelectionRow(_FromRow):
    name: str
    description: str
    query: str
    source: str
    saved_by: str
    saved_at: datetime
