"""Inbound SMS: a keyword (STOP / START / HELP in any language we write in) takes effect at once and is
answered in the customer's language; anything else goes to the support queue as a reply.

The sender is matched by their E.164 number to the latest SMS notice we sent it (its campaign, customer,
language and incident, whose support contact the answer gives) and to every customer with that number.
An opt-out reaches every later campaign (the customer's ``sms_opt_out``) and the rows of unfinished
campaigns not yet held by a sender; an opt-in undoes exactly that. Every message is an event, with what
arrived kept as its payload.

Twilio's own opt-out handling is the source of truth where it acted: when its keyword list matched
(``OptOutType`` STOP, START or HELP, e.g. ``ARRET`` under Advanced Opt-Out), Twilio has blocked or
unblocked the number itself and answered the customer, so we record the same consent and add no answer
of ours. Our keyword table covers the words Twilio does not know (СТОП, HỦY …).

Each message is taken once, by its ``MessageSid`` (``inbound_messages``): a replayed webhook, signed and
all, is answered 200 and changes nothing (no second reply in the support queue, no consent flipped)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.clock import utcnow
from notifier.errors import InputError
from notifier.models import Channel, EventKind
from notifier.notices.incidents import parse_incident
from notifier.redact import mask_phone
from notifier.store import Store
from notifier.store import queries as q
from notifier.tracking.keywords import Keyword, KeywordAction, KeywordTable

__all__ = ["TWILIO_OPT_OUT_TYPES", "InboundAnswer", "clean_text", "take_inbound_sms"]

log = logging.getLogger(__name__)
MAX_REPLY_CHARS = 4000  # an SMS of 10 concatenated segments is 1,600; an email reply's text is cut here
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
# Twilio's OptOutType → what it did to the number (it has already answered the customer itself).
TWILIO_OPT_OUT_TYPES = {
    "STOP": KeywordAction.OPT_OUT,
    "START": KeywordAction.OPT_IN,
    "HELP": KeywordAction.HELP,
}
_EVENT_OF = {
    KeywordAction.OPT_OUT: EventKind.OPTED_OUT,
    KeywordAction.OPT_IN: EventKind.OPTED_IN,
    KeywordAction.HELP: EventKind.HELP,
}


@dataclass(frozen=True, slots=True)
class InboundAnswer:
    kind: EventKind
    reply: str | None  # what to text back (TwiML), None for nothing
    rows_changed: int = 0  # outbox rows an opt-out suppressed or an opt-in restored
    reply_id: int | None = None  # the support queue entry
    replayed: bool = False  # this MessageSid was taken before: nothing done


def clean_text(text: str, limit: int = MAX_REPLY_CHARS) -> str:
    """A customer's text as support may read it: control and direction-override characters removed,
    line ends as \\n, at most ``limit`` characters. It stays text: pages escape it, never render it."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def take_inbound_sms(
    store: Store,
    keywords: KeywordTable,
    templates_dir: Path,
    fields: Mapping[str, str],
) -> InboundAnswer:
    """Apply one inbound SMS (Twilio's webhook fields, already checked) and say what to answer."""
    sender = fields.get("From", "").strip()
    body = fields.get("Body", "")
    sid = fields.get("MessageSid", "").strip()
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", sender):
        raise InputError("From is not an E.164 number")
    if not MESSAGE_SID.fullmatch(sid):
        raise InputError("MessageSid is missing or is not a Twilio message SID (SM or MM and 32 hex digits)")
    opt_out_type = fields.get("OptOutType", "").strip().upper()
    if opt_out_type and opt_out_type not in TWILIO_OPT_OUT_TYPES:
        raise InputError(f"OptOutType {opt_out_type[:16]!r} is none of {', '.join(TWILIO_OPT_OUT_TYPES)}")
    ours = keywords.match(body)
    by_twilio = TWILIO_OPT_OUT_TYPES.get(opt_out_type)
    keyword = (
        Keyword(by_twilio, ours.language if ours else "en", f"{opt_out_type} (Twilio)")
        if by_twilio is not None
        else ours
    )
    kind = _EVENT_OF[keyword.action] if keyword else EventKind.REPLIED
    payload = json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)
    now = utcnow()
    with store.begin() as conn:
        inbound_id = q.inbound_seen(conn, provider="twilio", message_id=sid, now=now)
        if inbound_id is None:
            log.info("inbound SMS %s from %s again: taken before, nothing changed", sid, mask_phone(sender))
            return InboundAnswer(kind, None, replayed=True)
        last = q.last_notice_to(conn, Channel.SMS, sender)
        customer_ids = q.customer_ids_by_phone(conn, sender)
        # the customer our last notice to this number was for, else anyone with the number
        customer_id = last.customer_id if last and last.customer_id else next(iter(customer_ids), None)
        event_id = q.insert_event(
            conn,
            kind=kind,
            channel=Channel.SMS,
            provider="twilio",
            payload=payload,
            now=now,
            reason=keyword.word if keyword else None,
            customer_id=customer_id,
            campaign_id=last.campaign_id if last else None,
            outbox_id=last.outbox_id if last else None,
            provider_message_id=sid,
            contact=sender,
        )
        q.link_inbound(conn, inbound_id, event_id)
        changed, reply_id = 0, None
        detail = f"inbound SMS {keyword.word if keyword else ''} (event {event_id})"
        if keyword is not None and keyword.action is KeywordAction.OPT_OUT:
            changed = q.opt_out_sms(conn, sender, detail=detail, now=now)
        elif keyword is not None and keyword.action is KeywordAction.OPT_IN:
            changed = q.opt_in_sms(conn, sender, detail=detail, now=now)
        elif keyword is None:
            reply_id = q.insert_reply(
                conn,
                event_id=event_id,
                channel=Channel.SMS,
                contact=sender,
                body=clean_text(body),
                now=now,
                customer_id=customer_id,
                campaign_id=last.campaign_id if last else None,
                outbox_id=last.outbox_id if last else None,
                locale=last.notice_locale if last else None,
            )
        facts = last.incident_facts if last else q.latest_incident_facts(conn)
    log.info(
        "inbound SMS from %s: %s%s",
        mask_phone(sender),
        kind.value,
        f" ({changed} unsent rows changed)" if changed else "",
    )
    if keyword is None:
        return InboundAnswer(kind, None, reply_id=reply_id)
    if by_twilio is not None:  # Twilio answered the customer itself; a second answer would be noise
        return InboundAnswer(kind, None, rows_changed=changed)
    language = (last.notice_locale.split("_")[0] if last else None) or keyword.language
    if language not in keywords.replies:
        language = keyword.language
    brand, contact = _brand_and_contact(facts, templates_dir, last.jurisdiction if last else None, language)
    if brand is None:
        return InboundAnswer(kind, None, rows_changed=changed)  # no incident at all: nobody to speak for
    text = keywords.reply(keyword.action, language, brand=brand, contact=contact)
    return InboundAnswer(kind, text, rows_changed=changed)


def _brand_and_contact(
    facts: Mapping[str, Any] | None, templates_dir: Path, jurisdiction: str | None, language: str
) -> tuple[str | None, str | None]:
    """The incident's brand and the support contact its notice gave this reader: phone, else email,
    else the web page."""
    if not facts:
        return None, None
    try:
        incident = parse_incident(facts, templates_dir)
    except InputError:
        company = facts.get("company")
        return (str(company.get("brand") or "") or None) if isinstance(company, dict) else None, None
    country = jurisdiction.split("-")[0].upper() if jurisdiction else None
    contact = incident.contact.for_reader(country, language)
    return incident.brand, contact.phone or contact.email or contact.url
