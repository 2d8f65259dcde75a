"""Plain value types shared by every layer: states and reasons as StrEnums (stored as-is),
and small frozen dataclasses. Imports nothing from notifier."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "CampaignState",
    "Channel",
    "ChannelPlan",
    "ChannelPolicy",
    "CustomerRecord",
    "OutboxState",
    "Receipt",
    "RenderedMessage",
    "TERMINAL_STATES",
    "UnreachableReason",
]


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class ChannelPlan(enum.StrEnum):
    """Which channels a manifest row will be notified on."""

    EMAIL = "email"
    SMS = "sms"
    BOTH = "both"
    NONE = "none"

    @classmethod
    def of(cls, email: bool, sms: bool) -> "ChannelPlan":
        if email and sms:
            return cls.BOTH
        if email:
            return cls.EMAIL
        if sms:
            return cls.SMS
        return cls.NONE

    @property
    def channels(self) -> tuple[Channel, ...]:
        return {
            ChannelPlan.EMAIL: (Channel.EMAIL,),
            ChannelPlan.SMS: (Channel.SMS,),
            ChannelPlan.BOTH: (Channel.EMAIL, Channel.SMS),
            ChannelPlan.NONE: (),
        }[self]


class ChannelPolicy(enum.StrEnum):
    """How a campaign turns available contacts into a channel plan."""

    ALL = "all"  # every channel with consent and a usable contact
    EMAIL_FIRST = "email-first"  # email when usable, SMS only for those without email


class UnreachableReason(enum.StrEnum):
    """Why one channel (or the whole customer) cannot be used. Stored verbatim in the manifest."""

    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    EMAIL_OPTED_OUT = "email_opted_out"
    DUPLICATE_EMAIL = "duplicate_email"
    NO_PHONE = "no_phone"
    INVALID_PHONE = "invalid_phone"
    NOT_MOBILE = "not_mobile"
    SMS_OPTED_OUT = "sms_opted_out"
    DUPLICATE_PHONE = "duplicate_phone"
    CHANNEL_DISABLED = "channel_disabled"  # the campaign does not use this channel
    POLICY = "policy"  # e.g. email-first: SMS not needed
    UNKNOWN_CUSTOMER = "unknown_customer"  # affected id not in the store


class OutboxState(enum.StrEnum):
    """The outbox state machine of DESIGN.md. Status only moves forward."""

    PENDING = "pending"
    SENDING = "sending"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    DEFERRED = "deferred"
    SUPPRESSED = "suppressed"
    SKIPPED = "skipped"
    UNCERTAIN = "uncertain"


TERMINAL_STATES = frozenset(
    {
        OutboxState.DELIVERED,
        OutboxState.BOUNCED,
        OutboxState.UNDELIVERED,
        OutboxState.FAILED,
        OutboxState.SUPPRESSED,
        OutboxState.SKIPPED,
    }
)


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    PLANNED = "planned"  # manifest frozen, outbox filled
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer as validated for the store. Unusable contact fields are None, with the reason kept."""

    external_id: str
    name: str
    email: str | None
    phone: str | None
    locale: str
    time_zone: str
    country: str | None
    region: str | None
    jurisdiction: str | None
    email_opt_out: bool = False
    sms_opt_out: bool = False
    email_problem: str | None = None
    phone_problem: str | None = None
    phone_is_mobile: bool = False


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """Everything one channel needs to send one notice; built completely before any send."""

    channel: Channel
    to: str
    body_text: str
    subject: str | None = None
    body_html: str | None = None
    locale: str = "en"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A provider accepted a message."""

    provider_message_id: str
    accepted_at: datetime
    detail: str = ""
