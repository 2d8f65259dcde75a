"""Support's "was I notified?": one customer found by external id, email or phone, with every notice they
were planned for, each message's full timeline (our state changes and what the provider and the customer
said), the approved content it was rendered from, fallbacks, replies and consent changes.

Contacts are masked unless revealed with a reason; every look-up is in the audit log, because it is
access to one person's data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.audience.postal import envelope_lines, masked_lines
from notifier.audience.validation import validate_email_address, validate_phone
from notifier.clock import as_utc, utcnow
from notifier.errors import InputError
from notifier.models import OutboxState
from notifier.redact import mask_email, mask_phone, mask_text
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["CustomerStory", "Message", "Notice", "ReplyLine", "TimelineEntry", "look_up", "query_kind"]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    source: str  # "notifier" (our state change) or the provider/customer ("twilio", "smtp", "imap")
    what: str  # "pending → sending", "delivered", "replied"
    detail: str


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    state: str
    reached: bool
    attempts: int
    provider_message_id: str | None
    content_hash: str | None
    approved_by: str  # "legal@example.com, 2026-11-29 10:02 UTC" or "" (not sent yet)
    fallback: bool
    last_error: str
    timeline: list[TimelineEntry]


@dataclass(frozen=True, slots=True)
class Notice:
    campaign: str
    incident: str
    notice: str
    campaign_state: str
    planned_at: datetime | None
    notice_locale: str
    jurisdiction: str | None
    channel_plan: str
    not_used: list[str]  # "email: duplicate_email", "sms: policy"
    messages: list[Message]
    legal_notice: str = ""  # "email (us_ca)", "none: needs_letter (us_ca)"; empty: planned before 0016

    @property
    def reached(self) -> bool:
        return any(m.reached for m in self.messages)


def _legal_notice(profile: str | None, channel: str | None, gap: str | None) -> str:
    """Which channel was this person's notice in law in one campaign, or why none was."""
    where = f" ({profile})" if profile else ""
    if gap:
        return f"none: {gap}{where}"
    return f"{channel}{where}" if channel else ""


@dataclass(frozen=True, slots=True)
class ReplyLine:
    id: int
    received_at: datetime | None
    channel: str
    status: str
    assignee: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class CustomerStory:
    external_id: str
    name: str
    email: str
    phone: str
    locale: str
    jurisdiction: str | None
    email_opt_out: bool
    sms_opt_out: bool
    email_problem: str | None
    address: list[str]  # the envelope's lines, masked unless revealed; [] when there is none
    address_problem: str | None
    esign_consent: str  # "2024-03-01 (web form v3)", or "" when none is recorded
    notices: list[Notice]
    replies: list[ReplyLine]
    consent: list[TimelineEntry]  # opt-outs and opt-ins, by SMS keyword or by hand
    other_events: list[TimelineEntry] = field(default_factory=list)  # about them, not about a message


def _address_lines(customer: Any, reveal: bool) -> list[str]:
    address = q.address_of(customer._mapping)
    if address is None:
        return []
    return envelope_lines(address) if reveal else masked_lines(address)


def query_kind(query: str) -> dict[str, str]:
    """What the support agent typed, as the look-up it is: an email address (normalized as imports do), a
    phone number (E.164; a leading + or 00 is needed for the country) or an external id."""
    text = query.strip()
    if not text:
        raise InputError("look up whom? give an external id, an email address or a phone number")
    if "@" in text:
        normalized, problem = validate_email_address(text)
        if normalized is None:
            raise InputError(f"{mask_email(text)!r} is not a valid email address: {problem}")
        return {"email": normalized}
    digits = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    if digits.startswith(("+", "00")) and digits.lstrip("+").isdigit():
        e164, _mobile, problem = validate_phone("+" + digits.lstrip("+").removeprefix("00"), None)
        if e164 is None:
            raise InputError(f"{mask_phone(digits)!r} is not a valid phone number: {problem}")
        return {"phone": e164}
    return {"external_id": text}


def _entry_from_event(event: Any) -> TimelineEntry:
    at = as_utc(event.provider_at or event.received_at)
    assert at is not None
    return TimelineEntry(at, event.provider, event.kind, mask_text(event.reason))


def _story(store: Store, customer: Any, reveal: bool) -> CustomerStory:
    customer_id = int(customer.id)
    with store.connect() as conn:
        planned = q.notices_of_customer(conn, customer_id)
        messages = q.messages_of(conn, [(int(m.campaign_id), int(m.id)) for m in planned])
        outbox_ids = [int(m.id) for m in messages]
        changes = q.delivery_events_of(conn, outbox_ids)
        came_back = q.customer_events(conn, customer_id, outbox_ids)
        replies = q.replies_of_customer(conn, customer_id)
        decisions = q.approvals_of_hashes(conn, sorted({m.content_hash for m in messages if m.content_hash}))
    approved = {d.content_hash: d for d in decisions if d.decision == "approved"}
    reached_states = {s.value for s in OutboxState.reached()}
    notices = []
    for row in planned:
        own = [m for m in messages if m.manifest_id == row.id]
        built = []
        for m in own:
            timeline = [
                TimelineEntry(
                    as_utc(c.at) or c.at,
                    "notifier",
                    f"{c.from_state} → {c.to_state}" if c.from_state else f"→ {c.to_state}",
                    mask_text(c.detail) if not reveal else (c.detail or ""),
                )
                for c in changes
                if c.outbox_id == m.id
            ]
            timeline += [_entry_from_event(e) for e in came_back if e.outbox_id == m.id]
            timeline.sort(key=lambda t: t.at)
            decision = approved.get(m.content_hash)
            built.append(
                Message(
                    channel=m.channel,
                    state=m.state,
                    reached=m.state in reached_states,
                    attempts=int(m.attempts or 0),
                    provider_message_id=m.provider_message_id,
                    content_hash=m.content_hash,
                    approved_by=f"{decision.approver}, {decision.at:%Y-%m-%d %H:%M} UTC" if decision else "",
                    fallback=any(
                        c.outbox_id == m.id and c.from_state == OutboxState.WAITING.value for c in changes
                    ),
                    last_error=(m.last_error or "") if reveal else mask_text(m.last_error),
                    timeline=timeline,
                )
            )
        notices.append(
            Notice(
                campaign=row.campaign,
                incident=row.incident,
                notice=row.notice,
                campaign_state=row.campaign_state,
                planned_at=as_utc(row.planned_at),
                notice_locale=row.notice_locale,
                jurisdiction=row.jurisdiction,
                channel_plan=row.channel_plan,
                not_used=[
                    f"{ch}: {r}"
                    for ch, r in (
                        ("email", row.email_reason),
                        ("sms", row.sms_reason),
                        ("letter", row.letter_reason),
                    )
                    if r
                ],
                messages=built,
                legal_notice=_legal_notice(row.profile, row.legal_channel, row.legal_gap),
            )
        )
    consent_kinds = {"opted_out", "opted_in"}
    about_them = [e for e in came_back if e.outbox_id is None]
    email, phone = customer.email or "", customer.phone or ""
    return CustomerStory(
        external_id=customer.external_id,
        name=customer.name,
        email=email if reveal else mask_email(email),
        phone=phone if reveal else mask_phone(phone),
        locale=customer.locale,
        jurisdiction=customer.jurisdiction,
        email_opt_out=bool(customer.email_opt_out),
        sms_opt_out=bool(customer.sms_opt_out),
        email_problem=customer.email_problem,
        address=_address_lines(customer, reveal),
        address_problem=customer.address_problem,
        esign_consent=(
            f"{as_utc(customer.esign_consent_at):%Y-%m-%d} ({customer.esign_consent_how})"
            if customer.esign_consent_at
            else ""
        ),
        notices=notices,
        replies=[
            ReplyLine(
                r.id,
                as_utc(r.received_at),
                r.channel,
                r.status,
                r.assignee or "",
                " ".join(r.body.split())[:160],
            )
            for r in replies
        ],
        consent=[_entry_from_event(e) for e in came_back if e.kind in consent_kinds],
        other_events=[_entry_from_event(e) for e in about_them if e.kind not in consent_kinds],
    )


def look_up(store: Store, query: str, *, actor: str, reveal_reason: str | None = None) -> list[CustomerStory]:
    """Every customer the query names (an email or phone can be shared), each with their whole story.
    Recorded in the audit log (with the query masked); a reveal needs a reason and says so there too."""
    if reveal_reason is not None and not reveal_reason.strip():
        raise InputError("--reveal shows the customer's contacts in full: say why with --reason")
    kind = query_kind(query)
    with store.connect() as conn:
        found = q.customers_matching(conn, **kind)
    stories = [_story(store, c, reveal_reason is not None) for c in found]
    ((field_name, value),) = kind.items()
    shown = {"external_id": value, "email": mask_email(value), "phone": mask_phone(value)}[field_name]
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="contacts.revealed" if reveal_reason is not None else "customer.looked_up",
            subject=f"customer:{shown}",
            detail={
                "by": field_name,
                "found": [s.external_id for s in stories],
                **({"reason": reveal_reason} if reveal_reason is not None else {}),
            },
            now=utcnow(),
        )
    return stories
