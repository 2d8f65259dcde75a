"""Plain value types shared by every layer: states and reasons as StrEnums (stored as-is),
and small frozen dataclasses. Imports nothing from notifier."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "TERMINAL_STATES",
    "CampaignState",
    "Channel",
    "ChannelPlan",
    "ChannelPolicy",
    "CustomerRecord",
    "DeliveryPolicy",
    "OutboxState",
    "Receipt",
    "RenderedMessage",
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
    def of(cls, email: bool, sms: bool) -> ChannelPlan:
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
    EMAIL_BOUNCED = "email_bounced"  # a hard bounce in an earlier campaign
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


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How a campaign delivers, stated when it is planned (and audited).

    quiet_start/quiet_end: SMS only between these local hours of the recipient (default 09:00-20:00).
    urgent_reason: if set, quiet hours are overridden; the reason is recorded in the audit log.
    uncertain_email: what to do with emails whose fate a crash left unknown: "hold" them for review,
    or "resend" them with the same Message-ID (receivers and our bounce handling can then dedupe)."""

    quiet_start: int = 9
    quiet_end: int = 20
    urgent_reason: str | None = None
    uncertain_email: str = "hold"

    def __post_init__(self) -> None:
        if not (0 <= self.quiet_start < self.quiet_end <= 24):
            raise ValueError(
                f"quiet hours must be 0 <= start < end <= 24, got {self.quiet_start}-{self.quiet_end}"
            )
        if self.uncertain_email not in ("hold", "resend"):
            raise ValueError("uncertain_email is hold or resend")

    def as_json(self) -> dict[str, object]:
        return {
            "quiet_start": self.quiet_start,
            "quiet_end": self.quiet_end,
            "urgent_reason": self.urgent_reason,
            "uncertain_email": self.uncertain_email,
        }

    @classmethod
    def from_json(cls, data: dict[str, object] | None) -> DeliveryPolicy:
        data = data or {}
        return cls(
            quiet_start=int(data.get("quiet_start", 9)),
            quiet_end=int(data.get("quiet_end", 20)),  # type: ignore[arg-type]
            urgent_reason=data.get("urgent_reason") or None,  # type: ignore[arg-type]
            uncertain_email=str(data.get("uncertain_email", "hold")),
        )
