"""Plain value types shared by every layer: states and reasons as StrEnums (stored as-is),
and small frozen dataclasses. Imports nothing from notifier."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CampaignState",
    "Channel",
    "ChannelPlan",
    "ChannelPolicy",
    "CustomerRecord",
    "Decision",
    "DeliveryPolicy",
    "EventKind",
    "LegalGap",
    "OutboxState",
    "PostalAddress",
    "QuietHours",
    "Receipt",
    "RenderedMessage",
    "ReplyStatus",
    "Role",
    "SelectionSource",
    "UncertainEmail",
    "UnreachableReason",
    "parse_duration",
]


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"  # a PDF per person, printed and mailed (channels/printfile.py)


class ChannelPlan(enum.StrEnum):
    """Which channels a manifest row will be notified on (``both`` is email and SMS, as before letters)."""

    EMAIL = "email"
    SMS = "sms"
    BOTH = "both"
    NONE = "none"
    LETTER = "letter"
    EMAIL_LETTER = "email+letter"
    SMS_LETTER = "sms+letter"
    ALL = "email+sms+letter"

    @classmethod
    def of(cls, email: bool, sms: bool, letter: bool = False) -> ChannelPlan:
        wanted = tuple(
            c for c, on in ((Channel.EMAIL, email), (Channel.SMS, sms), (Channel.LETTER, letter)) if on
        )
        return next(p for p in cls if p.channels == wanted)

    @property
    def channels(self) -> tuple[Channel, ...]:
        return _PLAN_CHANNELS[self]

    def without(self, channel: Channel) -> ChannelPlan:
        kept = [c for c in self.channels if c is not channel]
        return ChannelPlan.of(Channel.EMAIL in kept, Channel.SMS in kept, Channel.LETTER in kept)

    def adding(self, channel: Channel) -> ChannelPlan:
        kept = {*self.channels, channel}
        return ChannelPlan.of(Channel.EMAIL in kept, Channel.SMS in kept, Channel.LETTER in kept)

    @classmethod
    def including(cls, channel: Channel) -> list[ChannelPlan]:
        """Every plan that sends on ``channel``."""
        return [p for p in cls if channel in p.channels]


_PLAN_CHANNELS = {
    ChannelPlan.EMAIL: (Channel.EMAIL,),
    ChannelPlan.SMS: (Channel.SMS,),
    ChannelPlan.BOTH: (Channel.EMAIL, Channel.SMS),
    ChannelPlan.NONE: (),
    ChannelPlan.LETTER: (Channel.LETTER,),
    ChannelPlan.EMAIL_LETTER: (Channel.EMAIL, Channel.LETTER),
    ChannelPlan.SMS_LETTER: (Channel.SMS, Channel.LETTER),
    ChannelPlan.ALL: (Channel.EMAIL, Channel.SMS, Channel.LETTER),
}


class ChannelPolicy(enum.StrEnum):
    """How a campaign turns available contacts into a channel plan."""

    ALL = "all"  # every channel with consent and a usable contact
    EMAIL_FIRST = "email-first"  # email when usable, SMS only for those without email
    SMS_FIRST = "sms-first"  # SMS when usable, email only for those without SMS or whose SMS fails


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
    NO_ADDRESS = "no_address"  # no postal address on record
    INVALID_ADDRESS = "invalid_address"  # an address the post would not deliver (customers.address_problem)
    CHANNEL_DISABLED = "channel_disabled"  # the campaign does not use this channel
    POLICY = "policy"  # e.g. email-first: SMS not needed
    UNKNOWN_CUSTOMER = "unknown_customer"  # affected id not in the store
    ALREADY_NOTIFIED = "already_notified"  # got this notice of this incident in an earlier campaign


class LegalGap(enum.StrEnum):
    """Why a person gets no notice the law accepts (notices/legal_channels.py words each for people).
    Stored verbatim in the manifest's ``legal_gap``."""

    CHANNEL_NOT_USED = "channel_not_used"  # a contact the law accepts, on a channel the campaign leaves out
    NEEDS_LETTER = "needs_letter"  # a letter would be their notice; the campaign sends none
    NO_LEGAL_CONTACT = "no_legal_contact"  # no contact the law accepts at all (no postal address either)
    UNKNOWN_CUSTOMER = "unknown_customer"  # affected id not in the store


class OutboxState(enum.StrEnum):
    """The outbox state machine of DESIGN.md, declared once: each state's traits are in ``_TRAITS``
    below and every other module asks them (``OutboxState.due()``, ``state.rank``, ...).

    ``pending → claimed → sending → accepted → delivered | bounced | undelivered | failed``, beside them
    ``deferred`` (due again at ``next_attempt_at``), ``waiting`` (a fallback, sent only if the channel
    before it fails for good), ``suppressed``, ``skipped``, ``uncertain``, and ``no_receipt`` (accepted,
    never confirmed when the campaign's tracking window closed). A sender *claims* rows
    ahead under a lease and marks them ``sending`` only just before it hands them to the provider, so
    after a crash a ``claimed`` row goes back to ``pending`` and only a ``sending`` one is ``uncertain``.
    Reports from providers only ever move a row to a state of higher rank."""

    PENDING = "pending"
    WAITING = "waiting"
    DEFERRED = "deferred"
    CLAIMED = "claimed"
    SENDING = "sending"
    UNCERTAIN = "uncertain"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    SKIPPED = "skipped"
    NO_RECEIPT = (
        "no_receipt"  # accepted, and no final report came before the campaign's tracking window closed
    )

    @property
    def rank(self) -> int:
        """How far a message got: 0 not handed over, 1 handed over (answer unknown), 2 accepted, 3 final."""
        return _TRAITS[self].rank

    @property
    def terminal(self) -> bool:
        """Nothing more happens to the row by itself (only a person or a later report can move it)."""
        return _TRAITS[self].terminal

    @classmethod
    def due(cls) -> frozenset[OutboxState]:
        """States a sender may claim (``deferred`` once its ``next_attempt_at`` has come)."""
        return frozenset(s for s in cls if _TRAITS[s].due)

    @classmethod
    def leased(cls) -> frozenset[OutboxState]:
        """States a sender holds under a lease: claimed ahead, or handed to the provider."""
        return frozenset(s for s in cls if _TRAITS[s].leased)

    @classmethod
    def unsent(cls) -> frozenset[OutboxState]:
        """Never handed to a provider and not final: what a cancel skips and the approval gate covers."""
        return frozenset(s for s in cls if s.rank == 0 and not s.terminal)

    @classmethod
    def remaining(cls) -> frozenset[OutboxState]:
        """Work a running campaign still has to do (progress displays)."""
        return cls.due() | cls.leased()

    @classmethod
    def before(cls, state: OutboxState) -> frozenset[OutboxState]:
        """The states a provider's report of ``state`` may move a row on from (forward only)."""
        return frozenset(s for s in cls if s.rank < state.rank)

    @classmethod
    def reached(cls) -> frozenset[OutboxState]:
        """The customer was told on this channel: delivered, or accepted with no failure reported since."""
        return frozenset(s for s in cls if _TRAITS[s].reached)

    @classmethod
    def awaiting_outcome(cls) -> frozenset[OutboxState]:
        """Handed to a provider and not final: what a bounce or a late report can still settle."""
        return frozenset(s for s in cls if s.rank in (1, 2))


@dataclass(frozen=True, slots=True)
class _StateTraits:
    rank: int
    due: bool = False
    leased: bool = False
    terminal: bool = False
    reached: bool = False


_S = OutboxState
_TRAITS: dict[OutboxState, _StateTraits] = {
    _S.PENDING: _StateTraits(rank=0, due=True),
    _S.WAITING: _StateTraits(rank=0),
    _S.DEFERRED: _StateTraits(rank=0, due=True),
    _S.CLAIMED: _StateTraits(rank=0, leased=True),
    _S.SENDING: _StateTraits(rank=1, leased=True),
    _S.UNCERTAIN: _StateTraits(rank=1),
    _S.ACCEPTED: _StateTraits(rank=2, reached=True),
    _S.DELIVERED: _StateTraits(rank=3, terminal=True, reached=True),
    _S.BOUNCED: _StateTraits(rank=3, terminal=True),
    _S.UNDELIVERED: _StateTraits(rank=3, terminal=True),
    _S.FAILED: _StateTraits(rank=3, terminal=True),
    _S.SUPPRESSED: _StateTraits(rank=3, terminal=True),
    _S.SKIPPED: _StateTraits(rank=0, terminal=True),
    # Settled, and not counted as reached: the provider took it and nobody ever confirmed it arrived. Rank
    # 2, so a report that comes later still moves it on.
    _S.NO_RECEIPT: _StateTraits(rank=2, terminal=True),
}


class EventKind(enum.StrEnum):
    """What came back from a provider or a customer, for every channel and provider alike (in the spirit
    of django-anymail's tracking events). Reports, look-ups and the support queue read these."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    COMPLAINED = "complained"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    HELP = "help"  # asked for help by keyword (HELP, ПОМОЩЬ, TRO GIUP): answered at once, not queued
    REPLIED = "replied"
    AUTO_REPLIED = "auto_replied"
    UNKNOWN = "unknown"


class ReplyStatus(enum.StrEnum):
    """Where a customer's reply is in the support queue."""

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class Decision(enum.StrEnum):
    """Legal's decision on one notice piece at one content hash."""

    APPROVED = "approved"
    REJECTED = "rejected"


class Role(enum.StrEnum):
    """What a person does with notifier; a user may hold several. What each role may do is declared once,
    in ``notifier.accounts.permissions``."""

    ADMIN = "admin"  # users and roles, the audit log
    COMMS = "comms"  # incidents, campaigns: plan, launch, control, watch
    LEGAL = "legal"  # reviews and approves every notice piece; evidence for regulators
    SUPPORT = "support"  # looks customers up, answers their replies, reads reports
    VIEWER = "viewer"  # reads campaigns and reports, masked; changes nothing


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    PLANNED = "planned"  # manifest frozen, outbox filled
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """A postal address as its country's post wants it (audience/postal.py checks and normalizes it:
    region names and codes as the post writes them, the city in capitals where the post asks)."""

    country: str
    line1: str
    line2: str = ""
    city: str = ""
    district: str = ""
    region: str = ""
    postal_code: str = ""


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
    address: PostalAddress | None = None
    address_problem: str | None = None
    # When and how the person agreed to electronic notices (US E-SIGN Act): where the law wants a letter,
    # an email counts as the notice only with this recorded.
    esign_consent_at: datetime | None = None
    esign_consent_how: str | None = None


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
    document: bytes | None = None  # a letter's PDF (``to`` is then its reference)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A provider accepted a message: its id there (SMTP: our Message-ID; Twilio: the message SID)."""

    provider_message_id: str


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, what: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``2d``; ValueError naming ``what`` otherwise."""
    match = _DURATION.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{what} {text!r}: expected a duration such as 30m, 12h or 2d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class UncertainEmail(enum.StrEnum):
    """What happens to emails whose fate a crash left unknown."""

    HOLD = "hold"  # stay uncertain, listed for review; a person releases them (resend or mark sent)
    RESEND = "resend"  # sent again with the same Message-ID (receivers and our bounce handling can dedupe)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """SMS only between ``start`` and ``end`` (whole hours, 0-24, in the recipient's local time)."""

    start: int = 9
    end: int = 20

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end <= 24):
            raise ValueError(f"quiet hours must be 0 <= start < end <= 24, got {self.start}-{self.end}")

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """``09-20`` or ``09:00-20:00`` (whole hours). Raises ValueError saying what is expected."""
        match = re.fullmatch(r"\s*(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?\s*", text)
        if match is None:
            raise ValueError(f"quiet hours {text!r}: expected whole hours such as 09-20 or 09:00-20:00")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.start:02d}-{self.end:02d}"

    def next_allowed(self, now: datetime, time_zone: str) -> datetime | None:
        """None if ``now`` is inside the window there; else when the window next opens (UTC)."""
        local = now.astimezone(ZoneInfo(time_zone))
        if self.start <= local.hour < self.end:
            return None
        opens = local.replace(hour=self.start, minute=0, second=0, microsecond=0)
        if local.hour >= self.end:
            opens += timedelta(days=1)
        return opens.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How a campaign delivers, stated when it is planned (and audited).

    quiet_hours: SMS only inside this window of the recipient's local time (default 09-20).
    urgent_reason: if set, quiet hours are overridden; the reason is recorded in the audit log.
    uncertain_email: emails whose fate a crash left unknown are held for review or resent.
    retry_for: how long after a message's first attempt transient failures (SMTP 4xx, Twilio 429) are
               retried before it fails (default 12 hours); a provider that cannot be reached at all
               does not count against it.
    tracking_window: how long after the campaign completes reports are awaited (default 72 hours); then
               reconciliation settles SMS with no final report as ``no_receipt``."""

    quiet_hours: QuietHours = QuietHours()
    urgent_reason: str | None = None
    uncertain_email: UncertainEmail = UncertainEmail.HOLD
    retry_for: timedelta = timedelta(hours=12)
    tracking_window: timedelta = timedelta(hours=72)

    @classmethod
    def from_options(
        cls,
        *,
        quiet_hours: str = "09-20",
        urgent: str | None = None,
        uncertain_email: str = "hold",
        retry_for: str = "12h",
        tracking_window: str = "72h",
    ) -> DeliveryPolicy:
        """From the words a user gives (CLI options, flow parameters); ValueError says what is wrong."""
        try:
            uncertain = UncertainEmail(uncertain_email)
        except ValueError:
            raise ValueError(f"uncertain email {uncertain_email!r}: expected hold or resend") from None
        return cls(
            quiet_hours=QuietHours.parse(quiet_hours),
            urgent_reason=urgent or None,
            uncertain_email=uncertain,
            retry_for=parse_duration(retry_for, what="retry for"),
            tracking_window=parse_duration(tracking_window, what="tracking window"),
        )

    def sms_window(self) -> QuietHours | None:
        """The quiet hours SMS keep to; None when an urgent campaign overrides them."""
        return None if self.urgent_reason else self.quiet_hours

    def as_json(self) -> dict[str, object]:
        return {
            "quiet_start": self.quiet_hours.start,
            "quiet_end": self.quiet_hours.end,
            "urgent_reason": self.urgent_reason,
            "uncertain_email": self.uncertain_email.value,
            "retry_for_seconds": self.retry_for.total_seconds(),
            "tracking_window_seconds": self.tracking_window.total_seconds(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> DeliveryPolicy:
        data = data or {}
        urgent = data.get("urgent_reason")
        return cls(
            quiet_hours=QuietHours(int(str(data.get("quiet_start", 9))), int(str(data.get("quiet_end", 20)))),
            urgent_reason=str(urgent) if urgent else None,
            uncertain_email=UncertainEmail(str(data.get("uncertain_email", "hold"))),
            retry_for=timedelta(seconds=float(str(data.get("retry_for_seconds", 12 * 3600)))),
            tracking_window=timedelta(seconds=float(str(data.get("tracking_window_seconds", 72 * 3600)))),
        )


class SelectionSource(enum.StrEnum):
    """Where a saved selection query runs: on the store, or on the company's own read-only database
    (``NOTIFIER_SOURCE_URL``, whose rows must carry the customer columns: docs/selection.md)."""

    STORE = "store"
    SOURCE = "source"
