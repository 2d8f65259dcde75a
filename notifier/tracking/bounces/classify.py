"""Classify one message that arrived at the bounce address: which recipients failed, and how.

A breach notice that hard-bounces means the customer was *not* told by email, so the pipeline must fall
back to another channel and stop mailing that address; a soft bounce (full mailbox, spam filter,
greylisting, an expired queue entry) says nothing about the address itself and must not cost the
customer their email channel. Getting hard versus soft right therefore matters more than merely
spotting that something bounced, which is why we do not use flufl.bounce (it calls every 5xx
permanent).

Only the standard library is used (``email``, ``re``): bounces are hostile, messy input and the
parsing rules below are small enough to own. The order of evidence is

1. a machine-readable report (RFC 3464 delivery-status, RFC 5965 ARF feedback-report);
2. auto-reply markers (RFC 3834 ``Auto-Submitted``, vendor headers, subjects);
3. heuristics over the human-readable text of non-standard bounces (qmail, Exim, Yahoo, ...).

Each failure is then classified from its enhanced status code *and* the server's own words, because
many servers answer 550 / 5.0.0 for everything and only the text says why.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.parser
import email.policy
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

FailureKind = Literal["hard", "soft"]
Category = Literal["failure", "delivered", "delayed", "feedback", "auto_reply", "not_a_bounce"]

__all__ = ["BounceReport", "Category", "Failure", "FailureKind", "classify", "failure_kind"]

_MAX_DIAGNOSTIC = 300


@dataclass(frozen=True, slots=True)
class Failure:
    address: str | None  # the failed recipient, lower-cased; None if it cannot be found
    kind: FailureKind
    status: str | None  # enhanced status code such as "5.1.1", when known
    reply_code: str | None  # SMTP reply code such as "550", when known
    diagnostic: str  # the remote server's words, one line, at most 300 characters


@dataclass(frozen=True, slots=True)
class BounceReport:
    category: Category
    failures: tuple[Failure, ...]  # non-empty only when category == "failure"
    original_message_ids: tuple[str, ...]  # Message-ID values (with <>) of the returned original message
    feedback_type: str | None = None  # ARF Feedback-Type (e.g. "abuse") when category == "feedback"


# --------------------------------------------------------------------------------------------------
# Hard / soft decision
# --------------------------------------------------------------------------------------------------

# Enhanced status codes that are about the address itself (RFC 3463): bad mailbox, bad system,
# ambiguous, moved, not accepting mail (5.3.2) and unroutable (5.4.4: the domain has no mail host).
_HARD_STATUSES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.3.2", "5.4.4"})

# The server's words that mean the address is bad. Several vendors answer 5.0.0 or even 5.7.1 for an
# unknown user, so the text carries more weight than the code.
_HARD_TEXT = re.compile(
    r"user(?:name)?\s+(?:is\s+)?unknown|unknown\s+user|no\s+such\s+(?:user|mailbox|recipient|address|account)"
    r"|unknown\s+(?:local[- ]part|recipient|mailbox|address|e-?mail\s+address)"
    r"|recipient\s+(?:address\s+)?(?:unknown|not\s+found|does\s+not\s+exist|invalid)"
    r"|invalid\s+(?:recipient|mailbox|address|user)|(?:mailbox|address|user|account|recipient)"
    r"\s+(?:\S+\s+)?(?:does\s+not|doesn't|did\s+not)\s+exist"
    r"|(?:mailbox|user|recipient|account|address)\s+(?:is\s+)?(?:not\s+found|unavailable|invalid"
    r"|not\s+exist|nonexistent|unknown)|mailbox\s+not\s+found|not\s+a\s+valid\s+(?:mailbox|user|recipient)"
    r"|user\s+not\s+(?:found|exist|local)|no\s+mailbox|mailbox\s+unavailable|unrouteable|unroutable"
    r"|host\s+(?:or\s+domain\s+name\s+)?not\s+found|domain\s+(?:name\s+)?not\s+found"
    r"|unknown\s+(?:host|domain)"
    r"|no\s+such\s+domain|domain\s+does\s+not\s+exist|name\s+or\s+service\s+not\s+known"
    r"|host\s+unknown|nxdomain|no\s+mx|dns\s+error|has\s+moved|moved\s+to|no\s+longer\s+(?:with|valid|active"
    r"|available)|not\s+accepting\s+(?:any\s+)?(?:mail|e-?mail|messages)|does\s+not\s+accept\s+(?:e-?)?mail"
    r"|null\s+mx|address\s+unknown|bad\s+(?:destination\s+)?(?:mailbox\s+)?address"
    r"|account\s+does\s+not\s+exist"
    r"|recipient\s+rejected|mailbox\s+is\s+not\s+available|this\s+user\s+doesn't\s+have"
    r"|the\s+email\s+account\s+that\s+you\s+tried\s+to\s+reach\s+does\s+not\s+exist"
    r"|unknown\s+or\s+illegal\s+alias|not\s+listed\s+in|address\s+rejected:\s*user"
    r"|couldn't\s+be\s+found|could\s+not\s+be\s+found|wasn't\s+found|was\s+not\s+found",
    re.I,
)

# Specific reasons that say the address may well be fine (full, filtered, blocked, throttled, expired).
# They outrank a "hard" status code: many servers send 5.1.1 with "IP address blacklisted".
_STRONG_SOFT_TEXT = re.compile(
    r"mailbox\s+(?:is\s+)?full|quota|insufficient\s+(?:system\s+)?storage|storage\s+(?:is\s+)?full"
    r"|too\s+(?:big|large)|size\s+limit|exceeds?\s+(?:the\s+)?(?:maximum|size|message\s+size)"
    r"|spam|black\s*list|block\s*list|blocked|\brbl\b|dnsbl|spamhaus|reputation|rate[\s-]*limit|too\s+many"
    r"|expired|timed?\s*out|retry\s+time|authentication|\bspf\b|\bdkim\b|dmarc|\bptr\b"
    r"|reverse\s+(?:dns|lookup)"
    r"|\brdns\b|suspended|disabled|inactive|deactivated|greylist|graylist|virus|hop\s+count|routing\s+loop"
    r"|mail\s+loop|try\s+again|temporar|name\s+service\s+error|malformed",
    re.I,
)

# Vaguer words that still lean soft, but only when nothing better is known: weaker than a hard status.
_WEAK_SOFT_TEXT = re.compile(
    r"policy|later|deferred|content|filter|refused|denied|not\s+permitted|prohibited|forbidden|connection"
    r"|network|unreachable|mailer\s+error|syntax|rfc\s*\d|header|message\s+rejected|not\s+allowed|security"
    r"|\btls\b|certificate|relay",
    re.I,
)

# Texts that name the address as nonexistent in so many words: they stay hard even when a soft word
# appears in the same sentence ("user unknown, message refused").
_STRONG_HARD_TEXT = re.compile(
    r"user(?:name)?\s+(?:is\s+)?unknown|unknown\s+user|no\s+such\s+(?:user|mailbox|recipient|address|account)"
    r"|(?:mailbox|address|user|account)\s+(?:\S+\s+)?(?:does\s+not|doesn't)\s+exist|unknown\s+recipient"
    r"|user\s+not\s+found|mailbox\s+not\s+found|recipient\s+not\s+found|host\s+not\s+found"
    r"|domain\s+not\s+found|no\s+such\s+domain|unrouteable|host\s+unknown|unknown\s+local[- ]part"
    r"|invalid\s+recipient|recipient\s+address\s+rejected:\s*(?:user\s+unknown|undeliverable|unknown)"
    r"|address\s+couldn't\s+be\s+found|account\s+that\s+you\s+tried\s+to\s+reach\s+does\s+not\s+exist"
    r"|has\s+moved|not\s+accepting\s+(?:any\s+)?(?:mail|e-?mail|messages)|dns\s+lookup\s+fail"
    r"|domain\s+(?:is\s+)?not\s+reachable|recipient\s+name\s+is\s+not\s+recognized"
    r"|invalid\s+(?:final\s+delivery\s+)?user\s*id|存在しない|見つかりません|宛先不明",
    re.I,
)

# "Address rejected" without a stated reason is how several large providers say "no such user".
_BARE_REJECT = re.compile(r"(?:recipient\s+)?address\s+rejected\s*(?:[.:]\s*)?(?:$|[\[(])", re.I | re.M)

# Words about the *sender* side: "Sender address rejected: Domain not found" is our problem, not
# the recipient's, so it must not make the recipient hard.
_SENDER_SIDE = re.compile(
    r"sender\s+(?:address\s+)?(?:rejected|domain|verify)|of\s+sender\s+address"
    r"|envelope\s+from|sender\s+address\s+does\s+not",
    re.I,
)
_SENDER_STATUSES = frozenset({"5.1.7", "5.1.8"})

# DNS answers that failed for now (Postfix's "Host not found, try again" is the resolver's TRY_AGAIN).
_TRANSIENT = re.compile(
    r"not\s+found,\s*try\s+again|name\s+service\s+error|malformed\s+or\s+unexpected", re.I
)

# A rejection after the end of DATA cannot be about the mailbox existing (RCPT TO was accepted): some
# carriers say "user unknown" there when a content or sender filter refused the message.
_DATA_PHASE = re.compile(r"end\s+of\s+data\b", re.I)


def failure_kind(status: str | None, diagnostic: str, context: str = "") -> FailureKind:
    """Hard only when the code or the words say the address itself is bad; everything else is soft.

    ``context`` is the surrounding human-readable text (SMTP transcript), used only to tell whether
    the rejection came after DATA.
    """
    if status is not None and status.startswith("4"):
        return "soft"
    text = diagnostic or ""
    if _SENDER_SIDE.search(text) or status in _SENDER_STATUSES:
        return "soft"
    if _DATA_PHASE.search(text) or _DATA_PHASE.search(context):
        return "soft"
    if _TRANSIENT.search(text):
        return "soft"
    if _STRONG_HARD_TEXT.search(text):
        return "hard"
    if _STRONG_SOFT_TEXT.search(text):
        return "soft"
    if _BARE_REJECT.search(text) or status in _HARD_STATUSES:
        return "hard"
    if _WEAK_SOFT_TEXT.search(text):
        return "soft"
    if _HARD_TEXT.search(text):
        return "hard"
    return "soft"


# --------------------------------------------------------------------------------------------------
# Small parsing helpers
# --------------------------------------------------------------------------------------------------

_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_CODE = re.compile(r"(?<![\d.\-:/#])([245][0-5]\d)(?=[\s\-])(?![\d.])")
_MESSAGE_ID = re.compile(r"^[ \t]*Message-Id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]+>)", re.I | re.M)
# Only the daemon itself: "postmaster@domain" is sometimes the very recipient that failed.
_ROBOT_LOCAL = re.compile(r"^(?:mailer-daemon|mailer_daemon)$", re.I)


def _decode_header(value: object) -> str:
    """Header value as one line of text, whatever its encoding (broken encodings become replacement chars)."""
    if value is None:
        return ""
    try:
        parts = email.header.decode_header(str(value))
        out: list[str] = []
        for chunk, charset in parts:
            if isinstance(chunk, bytes):
                out.append(chunk.decode(_charset(charset), errors="replace"))
            else:
                out.append(chunk)
        return " ".join(" ".join(out).split())
    except Exception:  # noqa: BLE001 - an undecodable header is still better than no header
        return " ".join(str(value).split())


def _charset(name: str | None) -> str:
    if not name:
        return "utf-8"
    try:
        "".encode(name)
        return name
    except LookupError:  # unknown label such as "x-unknown": utf-8 with replacement is the best guess
        return "utf-8"


def _part_text(part: email.message.Message) -> str:
    """The decoded text of a non-multipart part; never raises."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - hostile input: any failure here degrades to a weaker reading
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = _charset(part.get_content_charset())
    try:
        return payload.decode(charset, errors="replace")
    except Exception:  # noqa: BLE001 - hostile input: any failure here degrades to a weaker reading
        return payload.decode("latin-1", errors="replace")


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style).*?</\1>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</li>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_DIAGNOSTIC]


def _clean_address(value: str) -> str | None:
    """The bare, lower-cased address from a header or DSN field ("rfc822; <a@b>" -> "a@b")."""
    if not value:
        return None
    if ";" in value:
        value = value.split(";", 1)[1]
    match = _ADDRESS.search(value)
    if match is None:
        return None
    return match.group(0).strip(".").lower()


def _status_in(text: str) -> str | None:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else None


def _reply_code_in(text: str) -> str | None:
    match = _REPLY_CODE.search(text)
    return match.group(1) if match else None


def _walk(msg: email.message.Message) -> Iterator[email.message.Message]:
    try:
        yield from msg.walk()
    except Exception:  # noqa: BLE001 - hostile input: any failure here degrades to a weaker reading
        yield msg


# --------------------------------------------------------------------------------------------------
# Original Message-IDs
# --------------------------------------------------------------------------------------------------


def _original_message_ids(msg: email.message.Message, own_id: str | None) -> tuple[str, ...]:
    """Message-IDs of the returned original, wherever the bounce quotes its headers."""
    found: list[str] = []
    for part in _walk(msg):
        if part is msg:
            continue
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") or (
            part.get_content_maintype() == "message" and part.is_multipart()
        ):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
                value = payload[0].get("Message-ID")
                if value:
                    match = re.search(r"<[^<>\s]+>", str(value))
                    if match:
                        found.append(match.group(0))
        if not part.is_multipart() and part.get_content_maintype() in ("text", "message"):
            found.extend(m.group(1) for m in _MESSAGE_ID.finditer(_part_text(part)))
    if not msg.is_multipart():
        found.extend(m.group(1) for m in _MESSAGE_ID.finditer(_part_text(msg)))
    out: list[str] = []
    for mid in found:
        if mid != own_id and mid not in out:
            out.append(mid)
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# RFC 3464 delivery-status and RFC 5965 feedback reports
# --------------------------------------------------------------------------------------------------


def _field_blocks(part: email.message.Message) -> list[email.message.Message]:
    """The header blocks of a message/delivery-status (or feedback-report) part.

    The email package already splits message/delivery-status into one pseudo-message per block;
    other spellings (text/plain DSNs, base64 bodies) arrive as text and are split here.
    """
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, email.message.Message) for p in payload):
        blocks = list(payload)
        if blocks and any(len(b.keys()) for b in blocks):
            return blocks
    text = _part_text(part)
    parser = email.parser.HeaderParser()
    return [
        parser.parsestr(chunk.strip() + "\n")
        for chunk in re.split(r"\r?\n[ \t]*\r?\n", text)
        if chunk.strip()
    ]


_DIAGNOSTIC_TYPES = frozenset({"smtp", "x-unix", "x-postfix", "x-local", "unix"})


def _dsn_report(blocks: list[email.message.Message], human: str) -> tuple[Category, list[Failure]] | None:
    failures: list[Failure] = []
    actions: list[str] = []
    for block in blocks:
        final = _decode_header(block.get("Final-Recipient"))
        original = _decode_header(block.get("Original-Recipient"))
        action = _decode_header(block.get("Action")).lower()
        status_field = _decode_header(block.get("Status"))
        if not (final or original or action):
            continue  # the per-message block (Reporting-MTA, Arrival-Date ...)
        actions.append(action)
        if action and not action.startswith("fail"):
            continue
        diagnostic = _decode_header(block.get("Diagnostic-Code"))
        if ";" in diagnostic and diagnostic.split(";", 1)[0].strip().lower() in _DIAGNOSTIC_TYPES:
            diagnostic = diagnostic.split(";", 1)[1].strip()
        address = _clean_address(final) or _clean_address(original)
        status = _status_in(status_field) or _status_in(diagnostic)
        # A bare or generic diagnostic ("5.0.0") leaves the human text as the only source of reasons.
        evidence = diagnostic
        if len(re.sub(r"[\d.\s#()]", "", diagnostic)) < 8:
            evidence = diagnostic + " " + _human_near(human, address)
        if status is None:
            status = _status_in(evidence)
        reply = _reply_code_in(diagnostic) or _reply_code_in(evidence)
        kind = failure_kind(status, evidence, _human_near(human, address, 8))
        if action == "" and status and not status.startswith(("4", "5")):
            continue
        failures.append(Failure(address, kind, status, reply, _one_line(diagnostic or evidence)))
    if failures:
        return "failure", failures
    if not actions:
        return None
    if any(a.startswith("delay") for a in actions):
        return "delayed", []
    if any(a.startswith(("deliver", "relay", "expand")) for a in actions):
        return "delivered", []
    return None


def _human_near(human: str, address: str | None, lines_after: int = 4) -> str:
    """The human-readable lines that talk about an address (or the whole short text without one)."""
    if not human:
        return ""
    if address:
        lines = human.splitlines()
        for i, line in enumerate(lines):
            if address in line.lower():
                return " ".join(lines[i : i + lines_after])
    return human[:1500]


def _feedback_type(msg: email.message.Message) -> str | None:
    for part in _walk(msg):
        if part.get_content_type() == "message/feedback-report":
            for block in _field_blocks(part):
                value = _decode_header(block.get("Feedback-Type"))
                if value:
                    return value.strip().lower()
            return "unknown"
    return None


# --------------------------------------------------------------------------------------------------
# Auto-replies
# --------------------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:out\s+of\s+(?:the\s+)?office|auto(?:matic)?[\s_-]*(?:reply|response|answer)|auto:|autoreply"
    r"|vacation|on\s+vacation|away\s+from|abwesenheit|absence|r[ée]ponse\s+automatique|自動応答|不在)",
    re.I,
)


def _is_auto_reply(msg: email.message.Message) -> bool:
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Vacation"):
        return True
    precedence = _decode_header(msg.get("Precedence")).lower()
    if precedence == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.search(_decode_header(msg.get("Subject"))))


_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery\s+(?:status|failure|failed|notification|has\s+failed|problem)"
    r"|failure|returned\s+mail|mail\s+delivery|non[- ]?delivery|could\s+not\s+be\s+delivered"
    r"|not\s+delivered|rejected|bounce|mail\s+system\s+error|error|unzustellbar|non\s+remis|warning"
    r"|returned|failed|delivery\s+report|nicht\s+zugestellt|no\s+se\s+puede\s+entregar",
    re.I,
)


def _looks_like_bounce_subject(msg: email.message.Message) -> bool:
    return bool(_BOUNCE_SUBJECT.search(_decode_header(msg.get("Subject"))))


# --------------------------------------------------------------------------------------------------
# Heuristics for bounces without a delivery-status part
# --------------------------------------------------------------------------------------------------

# Lines where the returned original (or its headers) starts: everything after them is the sender's
# own message, whose addresses and words must not be mistaken for the failure.
_ORIGINAL_START = re.compile(
    r"^\s*(?:-+\s*)?(?:"
    r"below\s+this\s+line\s+is\s+a\s+copy|this\s+is\s+a\s+copy\s+of\s+the\s+message|"
    r"original\s+message\s+(?:follows|headers?)|"
    r"-+\s*original\s+message|returned\s+mail\s+follows|"
    r"unsent\s+message\s+below|"
    r"the\s+headers?\s+of\s+(?:the|your)\s+(?:original\s+)?message|"
    r"headers?\s+(?:of\s+the\s+)?(?:original|returned)\s+message|"
    r"message\s+headers\s+follow|copy\s+of\s+(?:the\s+|your\s+)?(?:original\s+)?message|"
    r"the\s+text\s+you\s+sent\s+follows|original\s+text\s+follows|"
    r"included\s+is\s+a\s+copy|a\s+copy\s+of\s+the\s+original|--- the header of the original"
    r")",
    re.I | re.M,
)
# A quoted header block (two header lines in a row, starting with Received/Return-Path/From ...).
_QUOTED_HEADERS = re.compile(
    r"^(?:Return-Path|Received|Delivered-To|X-[\w-]+|Message-Id|DKIM-Signature)"
    r":.*\n(?:[ \t].*\n)*[\w-]+:",
    re.I | re.M,
)


def _human_text(msg: email.message.Message) -> tuple[str, str]:
    """(text before the quoted original, text of the quoted original) from the readable parts."""
    texts: list[str] = []
    for part in _walk(msg):
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/feedback-report", "text/rfc822-headers"):
            continue
        if _inside_rfc822(msg, part):
            continue
        # A report whose MIME structure is broken arrives as one non-multipart body: read it as text.
        broken_root = part is msg and ctype.startswith(("multipart/", "message/"))
        if ctype in ("text/plain", "text/html") or broken_root or (ctype.startswith("text/") and not texts):
            text = _part_text(part)
            if ctype == "text/html":
                if texts:
                    continue  # the plain alternative already says it
                text = _html_to_text(text)
            texts.append(text)
    full = "\n".join(texts).replace("\r\n", "\n")
    cut = len(full)
    match = _ORIGINAL_START.search(full)
    if match:
        cut = match.start()
    headers = _QUOTED_HEADERS.search(full)
    if headers and headers.start() < cut:
        cut = headers.start()
    return full[:cut], full[cut:]


def _inside_rfc822(root: email.message.Message, target: email.message.Message) -> bool:
    """Whether a part belongs to an attached original message (its text is the sender's, not the MTA's)."""
    for part in _walk(root):
        if part is root:
            continue
        if part.get_content_type() in ("message/rfc822", "message/global", "message/partial"):
            for inner in _walk(part):
                if inner is target and inner is not part:
                    return True
    return False


# Lines that carry a failed address in the common non-DSN formats.
_QMAIL_LINE = re.compile(r"^[ \t]*<([^<>\s@]+@[^<>\s]+)>:?[ \t]*$", re.M)
_ADDRESS_LINE = re.compile(
    r"^[ \t]*<?([^<>\s@:;\"']+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?[ \t]*:?[ \t]*(.*)$", re.M
)
_EXIM_INTRO = re.compile(
    r"following\s+(?:address(?:\(es\))?|recipients?)|could\s+not\s+be\s+delivered\s+to"
    r"|delivery\s+to\s+the\s+following|failed\s+recipients?|permanent\s+error"
    r"|undeliverable\s+to",
    re.I,
)
_RCPT_FIELD = re.compile(
    r"(?:original[- ]recipient|final[- ]recipient|failed[- ]recipient"
    r"|recipient(?:\s+address)?|rcpt\s+to|to)\s*[:=]\s*(?:rfc822\s*;\s*)?"
    r"<?([^<>\s@]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})",
    re.I,
)


def _addresses_in(text: str) -> Iterator[str]:
    for match in _ADDRESS.finditer(text):
        yield match.group(0).strip(".").lower()


_HELPDESK = re.compile(r"contact|questions|assistance|write\s+to|send\s+(?:an?\s+)?e-?mail\s+to|help", re.I)


def _is_robot(address: str, excluded: set[str]) -> bool:
    local = address.split("@", 1)[0]
    return address in excluded or bool(_ROBOT_LOCAL.match(local))


def _heuristic_failures(msg: email.message.Message, human: str, quoted: str) -> list[Failure]:
    excluded = set(
        _addresses_in(
            " ".join(_decode_header(msg.get(h)) for h in ("From", "To", "Sender", "Reply-To", "Return-Path"))
        )
    )
    candidates: list[tuple[str, str]] = []  # (address, diagnostic text)

    def add(address: str, diagnostic: str) -> None:
        address = address.strip(".").lower()
        if _is_robot(address, excluded) or any(address == a for a, _ in candidates):
            return
        candidates.append((address, diagnostic))

    # X-Failed-Recipients is Exim's (and others') explicit list.
    for value in msg.get_all("X-Failed-Recipients") or []:
        for address in _addresses_in(_decode_header(value)):
            add(address, _human_near(human, address))

    # qmail and Yahoo: "<addr>:" on its own line followed by the reason.
    qmail = list(_QMAIL_LINE.finditer(human))
    for i, match in enumerate(qmail):
        # The reason runs up to the next address block, never into the next recipient's reason.
        end = qmail[i + 1].start() if i + 1 < len(qmail) else match.end() + 600
        add(match.group(1), human[match.end() : min(end, match.end() + 600)])

    # Exim / Postfix text / many others: an address at the start of a line after an introduction.
    intro = _EXIM_INTRO.search(human)
    if not candidates:
        region = human[intro.start() :] if intro else human
        lines = list(_ADDRESS_LINE.finditer(region))
        for i, match in enumerate(lines):
            end = lines[i + 1].start() if i + 1 < len(lines) else match.end() + 600
            rest = region[match.end() : min(end, match.end() + 600)]
            add(match.group(1), match.group(2) + "\n" + rest)

    if not candidates:
        for match in _RCPT_FIELD.finditer(human):
            add(match.group(1), human[match.end() : match.end() + 600])

    if not candidates:
        for match in _ADDRESS.finditer(human):
            address = match.group(0).strip(".").lower()
            # "please contact <support@isp>" names a helpdesk, not the recipient.
            before = human[max(0, match.start() - 80) : match.start()]
            if _is_robot(address, excluded) or _HELPDESK.search(before):
                continue
            add(address, _human_near(human, address))
            break

    if not candidates:
        # Last resort: the To: of the returned original.
        original_to = _original_to(msg, quoted)
        if original_to:
            add(original_to, human)

    failures: list[Failure] = []
    reasons = human
    for address, near in candidates:
        text = _diagnostic_text(near) or _diagnostic_text(reasons)
        evidence = text + " " + near[:600] if text else near[:600] + " " + reasons[:2000]
        status = _status_in(text) or _status_in(near[:600]) or _status_in(reasons)
        reply = _reply_code_in(text) or _reply_code_in(near[:600]) or _reply_code_in(reasons)
        failures.append(
            Failure(
                address,
                failure_kind(status, evidence, near),
                status,
                reply,
                _one_line(text or near or reasons),
            )
        )
    if not failures and reasons.strip():
        text = _diagnostic_text(reasons)
        status = _status_in(reasons)
        failures.append(
            Failure(
                None,
                failure_kind(status, reasons),
                status,
                _reply_code_in(reasons),
                _one_line(text or reasons),
            )
        )
    return failures


def _diagnostic_text(text: str) -> str:
    """The most server-like line: one carrying an SMTP reply code or an enhanced status code."""
    for line in text.splitlines():
        if _STATUS.search(line) or re.search(r"(?<!\d)[45]\d\d[\s-]", line):
            return line.strip()
    return ""


def _original_to(msg: email.message.Message, quoted: str) -> str | None:
    for part in _walk(msg):
        if part.get_content_type() in ("message/rfc822", "message/global", "text/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
                address = _clean_address(_decode_header(payload[0].get("To")))
            else:
                headers = email.parser.HeaderParser().parsestr(_part_text(part))
                address = _clean_address(_decode_header(headers.get("To")))
            if address:
                return address
    match = re.search(r"^To:[ \t]*(.*(?:\n[ \t].*)*)", quoted, re.I | re.M)
    if match:
        return _clean_address(match.group(1))
    return None


_BOUNCE_SENDER = re.compile(
    r"mailer-daemon|postmaster|mail\s+delivery|mail\s+administrator|mdaemon"
    r"|bounce|daemon|mail\s+system",
    re.I,
)
_BOUNCE_BODY = re.compile(
    r"could\s+not\s+be\s+delivered|couldn't\s+be\s+delivered|wasn't\s+delivered|was\s+not\s+delivered"
    r"|undeliverable|delivery\s+(?:has\s+)?failed|failed\s+permanently|permanent\s+(?:error|failure)"
    r"|unable\s+to\s+deliver|not\s+able\s+to\s+deliver|delivery\s+to\s+the\s+following|returned\s+to\s+sender"
    r"|following\s+address(?:\(es\))?\s+failed|message\s+(?:was\s+)?(?:rejected|blocked|bounced)"
    r"|(?<!\d)5\d\d[\s-]|\b5\.\d{1,3}\.\d{1,3}\b|delivery\s+failure|user\s+unknown|not\s+delivered"
    r"|did\s+not\s+reach|not\s+recognized|error\s+delivering|delivery\s+problems|returned\s+mail",
    re.I,
)


def _looks_like_bounce(msg: email.message.Message, human: str) -> bool:
    sender = _decode_header(msg.get("From")) + " " + _decode_header(msg.get("Return-Path"))
    score = 0
    if _BOUNCE_SENDER.search(sender):
        score += 1
    if _decode_header(msg.get("Return-Path")).strip() == "<>":
        score += 1
    if _looks_like_bounce_subject(msg):
        score += 1
    if _BOUNCE_BODY.search(human):
        score += 1
    if msg.get("X-Failed-Recipients"):
        score += 2
    return score >= 2


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def classify(raw: bytes) -> BounceReport:
    """Decide what one message at the bounce address means. Never raises."""
    try:
        return _classify(raw)
    except Exception:  # noqa: BLE001 - hostile input must not stop the bounce processor; treat it as ordinary mail
        return BounceReport("not_a_bounce", (), ())


def _classify(raw: bytes) -> BounceReport:
    msg = email.message_from_bytes(raw)
    own_id_match = re.search(r"<[^<>\s]+>", str(msg.get("Message-ID") or ""))
    own_id = own_id_match.group(0) if own_id_match else None
    original_ids = _original_message_ids(msg, own_id)

    feedback = _feedback_type(msg)
    report_type = (msg.get_param("report-type") or "") if msg.get_content_type() == "multipart/report" else ""
    if feedback is not None or str(report_type).lower() == "feedback-report":
        return BounceReport("feedback", (), original_ids, feedback or "unknown")

    human, quoted = _human_text(msg)

    dsn_blocks: list[email.message.Message] = []
    for part in _walk(msg):
        ctype = part.get_content_type()
        is_dsn = ctype in ("message/delivery-status", "message/global-delivery-status")
        if is_dsn and not _inside_rfc822(msg, part):
            dsn_blocks.extend(_field_blocks(part))
    if dsn_blocks:
        result = _dsn_report(dsn_blocks, human)
        if result is not None:
            category, failures = result
            if len(failures) == 1 and failures[0].address is None:
                # A DSN without a usable Final-Recipient: the human-readable part usually names it.
                named = [f.address for f in _heuristic_failures(msg, human, quoted) if f.address]
                if named:
                    only = failures[0]
                    failures = [Failure(named[0], only.kind, only.status, only.reply_code, only.diagnostic)]
            return BounceReport(category, tuple(failures), original_ids)

    looks_like_bounce = _looks_like_bounce(msg, human + "\n" + quoted[:2000])
    # Exim and others mark their bounces "Auto-Submitted: auto-replied" too, so that header alone only
    # means a vacation reply when nothing else says "bounce".
    auto_submitted = _decode_header(msg.get("Auto-Submitted")).lower().startswith("auto-replied")
    if _is_auto_reply(msg) or (auto_submitted and not looks_like_bounce):
        return BounceReport("auto_reply", (), original_ids)
    if not looks_like_bounce:
        return BounceReport("not_a_bounce", (), original_ids)

    failures = _heuristic_failures(msg, human, quoted)
    if not failures:
        return BounceReport("not_a_bounce", (), original_ids)
    return BounceReport("failure", tuple(failures), original_ids)
