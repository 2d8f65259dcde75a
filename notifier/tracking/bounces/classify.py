"""Classify one message that arrived at the bounce address: which recipients failed, and how.

A breach notice that hard-bounces means the customer was *not* told by email, so the pipeline must fall
back to another channel and stop mailing that address; a soft bounce (full mailbox, spam filter,
greylisting, an expired queue entry) says nothing about the address itself and must not cost the
customer their email channel. Getting hard versus soft right therefore matters more than merely
spotting that something bounced, which is why we do not use flufl.bounce (it calls every 5xx
permanent).

Only the standard library is used (``email``, ``re``): bounces are hostile, messy input and the
parsing rules below are small enough to own. What the message is comes from, in this order:

1. a machine-readable report (RFC 3464 delivery-status, RFC 5965 ARF feedback-report): its ``Action``
   decides failed / delayed / delivered per recipient, whatever the prose around it says;
2. auto-reply markers (RFC 3834 ``Auto-Submitted``, vendor headers, subjects);
3. heuristics over the human-readable text of non-standard bounces (qmail, Exim, Yahoo, ...), where a
   "will keep trying" warning is a delay, not a failure.

Each failure is then classified hard or soft by ``_RULES``, one ordered table: the first rule that
holds decides. Codes that settle the matter come first (4.x.x, sender-side, the SMTP phase), then
specific reasons in the server's words (full, filtered, blocked, policy, ...), then codes whose subject
contradicts a "user unknown" text, then address codes, and the generic words last. Reasons follow
sisimai's taxonomy: userunknown, hostunknown, hasmoved and notaccept are hard, everything else soft.

Every stage is bounded (bytes parsed, MIME parts walked, text examined, recipients returned) and every
pattern either is anchored or has bounded repetitions, so hostile input costs time linear in its size
and ``classify`` never raises.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.parser
import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

FailureKind = Literal["hard", "soft"]
Category = Literal["failure", "delivered", "delayed", "feedback", "auto_reply", "not_a_bounce"]

__all__ = ["BounceReport", "Category", "Failure", "FailureKind", "classify"]

_MAX_DIAGNOSTIC = 300

# Budgets. Real bounces are far inside them (the largest of ~630 real samples is 73 KB, with 14 MIME
# boundaries and 3.5 KB of folded header); anything beyond is the returned original or an attack.
_MAX_RAW_BYTES = 512 * 1024  # the report parts come first; the tail is the returned original
_MAX_LINE_BYTES = 16 * 1024  # one physical line, and one header with its continuation lines
_MAX_STRUCTURE_LINES = 128  # MIME boundary and Content-Type lines kept before parsing
_MAX_PARTS = 64  # MIME parts walked
_MAX_DEPTH = 32  # MIME nesting followed
_MAX_PART_TEXT = 64 * 1024  # characters read from one part
_MAX_HUMAN_TEXT = 128 * 1024  # characters of human-readable text examined in all
_MAX_HEADER = 16 * 1024  # characters of one header value
_MAX_FAILURES = 256  # recipients returned from one report
_MAX_BLOCK = 1500  # characters of text read as one recipient's reason
_MAX_MESSAGE_IDS = 16


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


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.I)


# Specific reasons that say the address may well be fine. They outrank "user unknown" wording and even
# a 5.1.1 code: filters and blocklists often hide behind both ("550 5.1.1 IP address blacklisted").
_MAILBOX_FULL = _words(
    r"mail\s*box\s+(?:is\s+)?(?:full|over\s+quota)|\bquota\b|insufficient\s+(?:system\s+)?storage",
    r"(?:disk|storage|space)\s+(?:is\s+)?(?:full|exhausted)|out\s+of\s+(?:disk\s+)?space",
    r"mailbox\s+size\s+limit|(?:mailbox|inbox)\s+(?:has\s+)?exceeded|postfach\s+(?:ist\s+)?voll",
    r"bo[iî]te\s+(?:aux\s+lettres\s+)?pleine|一杯|容量",
)
_TOO_BIG = _words(
    r"too\s+(?:big|large)|size\s+(?:limit|exceeds?)|message\s+(?:size|length)\s+exceeds",
    r"exceeds?\s+(?:the\s+)?(?:maximum|max\b|allowed|size|message\s+size|fixed)|maximum\s+(?:message\s+)?size",
)
_SUSPENDED = _words(
    r"suspend|disabled|de-?activated|inactive|(?:account|mailbox|user)\s+(?:is\s+|has\s+been\s+)?(?:locked|frozen)",
)
_RECIPIENT_FILTER = _words(
    r"recipient(?:'s)?\s+(?:preferences?|rules?|settings|filter)|user\s+rules|user\s+reject",
    r"refuse[sd]?\s+to\s+(?:accept|receive)|(?:blocked|rejected)\s+by\s+(?:the\s+)?(?:recipient|user)\b(?!\s+domain)",
    r"only\s+accept(?:s|ing)?\s+(?:e-?mail|mail|messages)\s+from|(?:allow|white|safe|permit)[\s-]*list",
    r"sender\s+(?:is\s+)?not\s+(?:allowed|authori[sz]ed|approved|pre-approved)",
)
_RELAYING = _words(
    r"relay(?:ing)?\s+(?:access\s+)?(?:is\s+)?(?:denied|prohibited|not\s+(?:permitted|allowed))",
    r"unable\s+to\s+relay|not\s+(?:permitted|allowed)\s+to\s+relay|do\s+not\s+relay|no\s+relaying|open\s+relay",
)
_SPAM_OR_CONTENT = _words(
    r"spam|junk\s+mail|\bvirus|malware|infected|phish|\bbulk\b|unsolicited|suspicious|quarantin",
    r"content\s+(?:filter|rejected|restriction|policy)|(?:message|mail|e-?mail)\s+content",
    r"(?:prohibited|forbidden|banned|illegal|dangerous|blocked)\s+(?:attachment|content|file|words?)",
    r"\bfilter(?:ed|ing|s)?\b|\bmedia\s+(?:error|type|not\s+supported)",
)
_POLICY = _words(
    r"\bpolic(?:y|ies)\b|not\s+(?:permitted|authori[sz]ed|allowed)|access\s+denied|permission",
    r"prohibited|forbidden|administrative\s+prohibition|denied\s+by|restricted\b",
    r"members?[\s-]only|non-?member|not\s+(?:a\s+)?member|moderat(?:ed|or|ion)|not\s+subscribed|権限",
)
_BLOCKED = _words(
    r"\bblock(?:ed|list|ing)?\b|black\s*-?\s*list|deny\s*list|\brbl\b|\bdnsbl|spamhaus|spamcop|barracuda",
    r"\bsorbs\b|(?:is|are|was|been|currently)\s+listed\s+(?:at|in|on|by)|listed\s+as\s+abusive",
    r"reputation|\bbanned|\babus(?:e|ive)\b|(?:your|sending|client|source)\s+(?:ip|host|server|network)\b",
    r"go\s+away|dynamic\s+ip|refused\s+to\s+talk|connection\s+(?:refused|rejected|dropped)",
    r"(?:not\s+accept(?:ing)?|refus(?:e|ed|ing))\s+(?:any\s+)?(?:e-?mail|mail|messages|connections?)\s+from",
)
_AUTHENTICATION = _words(
    r"\bspf\b|sender\s+policy\s+framework|\bdkim\b|domainkeys|\bdmarc\b|\barc\s+validation|\bptr\b",
    r"reverse\s+(?:dns|lookup|ip|hostname)|\brdns\b|cannot\s+find\s+your\s+(?:host\s*name|reverse)",
    r"authentic|authentif|\btls\b|starttls|certificate|encrypt|credentials",
)
_RATE_LIMITED = _words(
    r"rate[\s-]*limit|too\s+many|throttl|slow\s+down|excessive|(?:unusual|high)\s+(?:rate|volume)",
    r"(?:sending|daily|hourly|connection)\s+(?:limit|rate)|limit\s+(?:exceeded|reached)",
    r"exceeded\s+(?:the\s+)?(?:\w+\s+)?limit",
)
_EXPIRED_OR_NETWORK = _words(
    r"expired|timed?\s*-?\s*out|retry\s+time|no\s+answer|queued?\s+too\s+long|delivery\s+time",
    r"could\s+not\s+be\s+delivered\s+(?:with)?in\s+\d|connection\s+(?:lost|closed|reset|timed)",
    r"lost\s+connection|network\s+(?:is\s+)?(?:unreachable|error)|no\s+route\s+to\s+host",
    r"(?:routing|mail)\s+loop|loop\s+(?:detected|count)|hop\s+count|too\s+many\s+hops|remote\s+protocol\s+error",
    r"(?:temporary|transient)\s+(?:failure|error|problem)|temporar(?:il)?y|try\s+again\s+later",
    r"greylist|graylist|\bdeferred\b",
)

# A DNS answer that failed for now (Postfix's "Host not found, try again" is the resolver's TRY_AGAIN).
# Weaker than a final address code from the report: "Host not found" with 5.4.4 is a dead domain.
_TRANSIENT_DNS = _words(
    r"not\s+found,\s*try\s+again|temporary\s+failure\s+in\s+name\s+resolution|\bservfail\b",
    r"dns\s+(?:timeout|temporar)|name\s+server\s+(?:timeout|failure)|malformed\s+or\s+unexpected",
)

# Words about the *sender* side: "Sender address rejected: Domain not found" is our problem, not the
# recipient's, so it must not make the recipient hard.
_SENDER_SIDE = _words(
    r"sender\s+(?:address\s+)?(?:rejected|domain|verify|verification|unknown|invalid)|of\s+sender\s+address",
    r"envelope\s+from|sender\s+address\s+does\s+not|unroutable\s+sender|invalid\s+sender|bogus\s+mail\s+from",
    r"null\s+sender|\bbatv\b|backscatter",
)

# The server's words that the address itself is bad.
_USER_UNKNOWN = _words(
    r"\b(?:user|recipient|mail\s*box|address(?:ee)?|account|local[- ]?part|e-?mail(?:\s+address)?|alias)"
    r"(?:\s*(?:name|id|\(s\)))?\s+(?:is\s+)?(?:unknown|not\s+(?:found|known|exist(?:ing|s)?|recogni[sz]ed"
    r"|valid|present|local)|(?:does\s+not|doesn't|did\s+not)\s+exist|non-?existe?nt|invalid|unavailable)",
    r"\bunknown\s+(?:user|recipient|mailbox|addressee|address|account|local[- ]?part|e-?mail|alias"
    r"|virtual\s+user)",
    r"\bno\s+such\s+(?:user|recipient|mailbox|address|account|person|local\s+user|e-?mail)",
    r"\bno\s+(?:mailbox|account|user)\s+(?:here\s+)?(?:by\s+that\s+name|found|with\s+th(?:at|is)\s+name)",
    r"\binvalid\s+(?:recipient|mailbox|user|address|account|e-?mail\s+address|destination)",
    r"\bnot\s+a\s+valid\s+(?:mailbox|user|recipient|address|e-?mail)",
    r"\b(?:user|mailbox|account|address|recipient)\s+\S{1,100}\s+(?:does\s+not|doesn't)\s+exist",
    r"\b(?:could|can)(?:n[o']t|\s+not)\s+be\s+found|\bwas(?:n't|\s+not)\s+found|recip(?:ient)?notfound",
    r"not\s+listed\s+in\s+(?:\w+\s+){0,4}(?:directory|address\s+book)|doesn't\s+have\s+an?\s+\S{1,60}\s+account",
    r"no\s+longer\s+(?:valid|exists?|available|active|in\s+use|with\s+us)|\bbad\s+(?:destination\s+)?"
    r"(?:mailbox\s+)?address|address\s+unknown|unknown\s+or\s+illegal\s+alias",
    r"(?:benutzer|empf[aä]nger|adresse)\s+(?:ist\s+)?unbekannt|unbekannte[rs]?\s+(?:benutzer|empf[aä]nger)",
    r"(?:utilisateur|destinataire|adresse)\s+inconnue?|(?:usuario|destinatario)\s+(?:desconocido|no\s+existe)",
    r"存在しない|見つかりません|宛先不明",
)
_HOST_UNKNOWN = _words(
    r"\b(?:host|domain)(?:\s+or\s+domain)?(?:\s+name)?\s+(?:is\s+)?(?:not\s+found|unknown"
    r"|(?:does\s+not|doesn't)\s+exist|not\s+exist|invalid|not\s+reachable)",
    r"\bunknown\s+(?:host|domain)|\bno\s+such\s+(?:host|domain)|\bunroute?able\b|name\s+or\s+service\s+not\s+known",
    r"\bnxdomain\b|no\s+(?:valid\s+)?(?:mx|mail\s+exchanger)\s+(?:records?\s+)?(?:found|for|exists?)",
    r"domain\s+must\s+exist|(?:recipient|destination|mail)\s+domain\s+(?:is\s+)?(?:invalid|unknown|not\s+found)",
    r"(?:couldn't|could\s+not|unable\s+to)\s+find\s+(?:a\s+|the\s+|any\s+)?(?:mail\s+exchanger|mx\b|host\b)",
)
_HAS_MOVED = _words(
    r"\bhas\s+moved|\bmoved\s+(?:to|permanently)|has\s+been\s+replaced\s+by",
    r"(?:changed|new)\s+(?:(?:his|her|their|the)\s+)?e-?mail\s+address",
)
# "Does not accept mail" is a dead domain (null MX); "does not accept mail *from* you" is a block,
# which the blocked family has already claimed by the time this runs.
_NOT_ACCEPTING = _words(
    r"(?:does\s+not|doesn't|do\s+not|will\s+not|won't)\s+accept\s+(?:any\s+)?(?:e-?mail|mail|messages)",
    r"not\s+accepting\s+(?:any\s+)?(?:e-?mail|mail|messages)|\bnull\s*mx\b|no\s+smtp\s+service|accepts\s+no\s+mail",
)

# Vaguer words: they lean soft, or hard, only when nothing specific was said.
_GENERIC_SOFT = _words(
    r"refused|denied|rejected\s+(?:due\s+to|by|for|because)|not\s+accepted|network|connection|unreachable",
    r"mailer\s+error|syntax|\brfc\s*\d|header|message\s+rejected|security|service\s+(?:not\s+)?(?:un)?available",
    r"system\s+error|local\s+error|try\s+again|later",
)
_GENERIC_HARD = _words(
    r"address\s+rejected|recipient\s+(?:address\s+)?rejected|(?:does\s+not|doesn't)\s+exist|\binvalid\b",
    r"not\s+found|check\s+(?:the\s+|if\s+(?:the\s+)?)?(?:e-?mail\s+)?address",
)

# Enhanced status codes that are about the address itself (RFC 3463, RFC 7505): bad mailbox, bad
# system, bad syntax, moved, null MX, not accepting mail, unroutable, owner changed.
_ADDRESS_STATUSES = frozenset(
    {"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.3.2", "5.4.4", "5.7.17", "5.7.18", "5.7.27"}
)
_SENDER_STATUSES = frozenset({"5.1.7", "5.1.8"})
# Status subjects (the middle digit) that classify the failure as something other than the address:
# mail system (3), routing (4), content (6), security and policy (7). A server that says "550 5.7.1
# User unknown" or "5.2.0 Unknown user" is telling us through the code that a filter, not a missing
# mailbox, refused. Protocol (5) is not among them: 5.5.0 "mailbox unavailable" is how large
# providers say no such user.
_MASKING_SUBJECTS = frozenset({"3", "4", "6", "7"})
# Of the mailbox-status codes, 5.2.1 ("mailbox disabled") may be permanent (RFC 3463), so a "user
# unknown" text settles it as hard; the others (undefined, full, too big, list expansion) do not.
_MASKING_STATUSES = frozenset({"5.2.0", "5.2.2", "5.2.3", "5.2.4"})


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What is known about one failed recipient, strongest first."""

    status: str | None  # enhanced status code (from the report's Status field, else from the words)
    words: str  # the server's words (Diagnostic-Code or the text block about this recipient)
    phase: str | None = None  # the SMTP command that was refused: CONN, MAIL, RCPT or DATA
    reply: str | None = None  # SMTP reply code, when the words carry one
    local_program: bool = False  # Diagnostic-Code type x-unix: a local delivery program failed

    @property
    def subject(self) -> str | None:
        return self.status.split(".")[1] if self.status else None


_URL = re.compile(r"\b(?:https?|ftp)://([^\s<>\"'/?#]{0,255})[^\s<>\"']{0,500}", re.I)


def _reason_words(text: str) -> str:
    """The server's words without URL paths and addresses: ".../reason/#filtered" or a mailbox called
    "filtered@example.jp" names no reason (a URL's host, such as a blocklist's, may)."""
    return _ADDRESS.sub(" ", _URL.sub(r" \1 ", text[:_MAX_BLOCK]))


def _says(pattern: re.Pattern[str]) -> Callable[[_Evidence], bool]:
    return lambda ev: pattern.search(ev.words) is not None


def _is_temporary(ev: _Evidence) -> bool:
    if ev.status is not None:
        return ev.status.startswith("4")
    return bool(ev.reply and ev.reply.startswith("4"))


def _masked_by_status(ev: _Evidence) -> bool:
    # A refusal of RCPT TO itself is about the address, so the words are believed there (sisimai does
    # the same); elsewhere, or when the phase is unknown, the code's subject wins.
    return (
        ev.phase != "RCPT"
        and ev.status is not None
        and ev.status.startswith("5")
        and ev.status not in _ADDRESS_STATUSES
        and (ev.subject in _MASKING_SUBJECTS or ev.status in _MASKING_STATUSES)
    )


# The order of evidence, strongest first; the first rule that holds decides. Each entry is
# (sisimai-style reason, kind, test).
_RULES: tuple[tuple[str, FailureKind, Callable[[_Evidence], bool]], ...] = (
    # 1. What the codes and the dialogue settle: a 4.x.x is transient by definition; a refusal of the
    #    sender, of the connection or of the content (after DATA, so RCPT TO was accepted) is not
    #    about the recipient's address whatever words come with it.
    ("temporary", "soft", _is_temporary),
    ("rejected", "soft", lambda ev: ev.status in _SENDER_STATUSES or ev.phase == "MAIL"),
    ("rejected", "soft", _says(_SENDER_SIDE)),
    ("mailererror", "soft", lambda ev: ev.local_program),
    ("blocked", "soft", lambda ev: ev.phase == "CONN"),
    ("filtered", "soft", lambda ev: ev.phase == "DATA"),
    # 2. Specific reasons in the server's words.
    ("mailboxfull", "soft", _says(_MAILBOX_FULL)),
    ("mesgtoobig", "soft", _says(_TOO_BIG)),
    ("suspend", "soft", _says(_SUSPENDED)),
    ("filtered", "soft", _says(_RECIPIENT_FILTER)),
    ("norelaying", "soft", _says(_RELAYING)),
    ("spamdetected", "soft", _says(_SPAM_OR_CONTENT)),
    ("policyviolation", "soft", _says(_POLICY)),
    ("blocked", "soft", _says(_BLOCKED)),
    ("authfailure", "soft", _says(_AUTHENTICATION)),
    ("toomanyconn", "soft", _says(_RATE_LIMITED)),
    ("expired", "soft", _says(_EXPIRED_OR_NETWORK)),
    # 3. A code whose subject is not the address outranks "user unknown" words...
    ("filtered", "soft", _masked_by_status),
    # 4. ...and a code about the address outranks the resolver's excuses and vaguer words.
    ("userunknown", "hard", lambda ev: ev.status in _ADDRESS_STATUSES),
    ("networkerror", "soft", _says(_TRANSIENT_DNS)),
    ("userunknown", "hard", _says(_USER_UNKNOWN)),
    ("hostunknown", "hard", _says(_HOST_UNKNOWN)),
    ("hasmoved", "hard", _says(_HAS_MOVED)),
    ("notaccept", "hard", _says(_NOT_ACCEPTING)),
    # 5. Generic words, soft before hard: when a server is vague, keeping the address costs less than
    #    dropping a customer's email channel for a breach notice they still need.
    ("onhold", "soft", _says(_GENERIC_SOFT)),
    ("userunknown", "hard", _says(_GENERIC_HARD)),
)


def _decide(ev: _Evidence) -> tuple[str, FailureKind]:
    for reason, kind, holds in _RULES:
        if holds(ev):
            return reason, kind
    return "undefined", "soft"


# Which SMTP command a reply answered: Postfix "in reply to RCPT TO command", Exim "SMTP error from
# remote mail server after end of data", 1&1 "for TEXT command", Sendmail ">>> DATA" / "<<< 550 ...".
_PHASE_SAID = re.compile(
    r"(?:in\s+reply\s+to|did\s+not\s+like\s+our)\s+(end\s+of\s+data|data|rcpt\s+to|mail\s+from|helo|ehlo)\b"
    r"|server\s+(?:after|for)\s+(end\s+of\s+data|initial\s+connection|data|text|rcpt(?:\s+to)?"
    r"|mail(?:\s+from)?|helo|ehlo)\b",
    re.I,
)
_TRANSCRIPT_COMMAND = re.compile(r"^[ \t]*>>>[ \t]*(data|rcpt|mail|helo|ehlo)\b", re.I | re.M)
_TRANSCRIPT_REPLY = re.compile(r"^[ \t]*<<<[ \t]*[45]\d\d", re.M)
_RCPT_QUOTE = re.compile(r"<[^<>\s@]{1,64}@[^<>\s]{1,255}>\.\.\.[ \t]+(?!sender)", re.I)
_PIPELINED = re.compile(r"need\s+rcpt|no\s+valid\s+recipients|valid\s+rcpt\s+command\s+must\s+precede", re.I)


def _smtp_phase(text: str) -> str | None:
    said = _PHASE_SAID.search(text)
    if said:
        return _phase_name(said.group(1) or said.group(2))
    reply = _TRANSCRIPT_REPLY.search(text)
    if reply is None:
        # Sendmail answers RCPT TO by quoting the recipient: "550 5.1.1 <a@b>... User unknown".
        return "RCPT" if _RCPT_QUOTE.search(text) else None
    commands = list(_TRANSCRIPT_COMMAND.finditer(text, 0, reply.start()))
    if not commands:
        return None
    phase = _phase_name(commands[-1].group(1))
    if phase == "DATA" and _PIPELINED.search(text, reply.end()):
        # PIPELINING: RCPT TO and DATA went out together, the transcript names only DATA, and the
        # DATA reply that follows ("503 Need RCPT") shows the first reply was RCPT TO's.
        return "RCPT"
    return phase


def _phase_name(command: str) -> str:
    word = command.split(maxsplit=1)[0].lower()
    if word in ("end", "data", "text"):
        return "DATA"
    if word in ("helo", "ehlo", "initial"):
        return "CONN"
    return "RCPT" if word == "rcpt" else "MAIL"


# --------------------------------------------------------------------------------------------------
# Bounded parsing
# --------------------------------------------------------------------------------------------------

_STRUCTURE_LINE = re.compile(rb"--|content-type\s*:", re.I)
_HEADER_LINE = re.compile(rb"[!-9;-~]{1,100}:")


def _bounded(raw: bytes) -> bytes:
    """The part of ``raw`` worth parsing, with every line and folded header cut to its budget.

    The email package's header-parameter parsing is quadratic in a header's length, and it recurses
    once per MIME level, so both are cut here, before it sees them; so is the number of MIME parts.
    """
    out: list[bytes] = []
    folded = 0  # bytes in the current header and its continuation lines
    structure = 0
    for line in raw[:_MAX_RAW_BYTES].split(b"\n"):
        if _STRUCTURE_LINE.match(line):
            structure += 1
            if structure > _MAX_STRUCTURE_LINES:
                break
        kept = line[:_MAX_LINE_BYTES]
        if kept[:1] in (b" ", b"\t"):
            folded += len(kept)
            if folded > _MAX_LINE_BYTES:
                continue
        else:
            folded = len(kept) if _HEADER_LINE.match(kept) else 0
        out.append(kept)
    return b"\n".join(out)


@dataclass(frozen=True, slots=True)
class _Part:
    message: email.message.Message
    ctype: str
    in_original: bool  # inside a returned message: the sender's words, not the mail system's


_ORIGINAL_TYPES = ("message/rfc822", "message/global", "message/partial")
_DELIVERY_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_REPORT_TYPES = (*_DELIVERY_STATUS_TYPES, "message/feedback-report")


@dataclass
class _Mail:
    """One parsed message with its parts walked once, and each part's text decoded once."""

    msg: email.message.Message
    parts: list[_Part]
    _texts: dict[int, str] = field(default_factory=dict)

    def text(self, part: email.message.Message) -> str:
        key = id(part)
        if key not in self._texts:
            self._texts[key] = _part_text(part)
        return self._texts[key]

    def header(self, name: str) -> str:
        return _decode_header(self.msg.get(name))


def _parse(raw: bytes) -> _Mail:
    msg = email.message_from_bytes(_bounded(raw))
    return _Mail(msg, _walk_parts(msg))


def _walk_parts(root: email.message.Message) -> list[_Part]:
    """Depth-first, like ``Message.walk``, but iterative and within the part and depth budgets."""
    parts: list[_Part] = []
    stack: list[tuple[email.message.Message, bool, int]] = [(root, False, 0)]
    while stack and len(parts) < _MAX_PARTS:
        part, in_original, depth = stack.pop()
        ctype = _content_type(part)
        parts.append(_Part(part, ctype, in_original))
        if depth >= _MAX_DEPTH or ctype in _REPORT_TYPES:
            continue  # report blocks are read as fields, not as parts
        inner = in_original or (part is not root and ctype in _ORIGINAL_TYPES)
        stack.extend((child, inner, depth + 1) for child in reversed(_children(part)))
    return parts


def _children(part: email.message.Message) -> list[email.message.Message]:
    try:
        payload = part.get_payload() if part.is_multipart() else None
    except Exception:  # noqa: BLE001 - hostile input: a part we cannot open has no children
        return []
    if not isinstance(payload, list):
        return []
    return [p for p in payload if isinstance(p, email.message.Message)]


def _content_type(part: email.message.Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001 - hostile input: a broken Content-Type reads as plain text
        return "text/plain"


# --------------------------------------------------------------------------------------------------
# Small parsing helpers
# --------------------------------------------------------------------------------------------------

# Addresses. Every repetition is bounded (RFC 5321 limits: 64-octet local part, 63-octet labels) and
# the search form may not start inside a run of address characters, so a long run without "@" is
# scanned once, not once per position.
_LOCAL_CHARS = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~.-"
_ADDR = (
    rf"[{_LOCAL_CHARS}]{{1,64}}@[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){1,10}"
)
_ADDRESS = re.compile(rf"(?<![{_LOCAL_CHARS}]){_ADDR}")
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_CODE = re.compile(r"(?<![\d.\-:/#])([245][0-5]\d)(?=[\s\-,])(?![\d.])")
_MESSAGE_ID = re.compile(r"^[ \t]*Message-Id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,250}>)", re.I | re.M)
_ANGLE_ID = re.compile(r"<[^<>\s]{1,250}>")
# Only the daemon itself: "postmaster@domain" is sometimes the very recipient that failed.
_ROBOT_LOCAL = re.compile(r"^(?:mailer-daemon|mailer_daemon)$", re.I)


def _decode_header(value: object) -> str:
    """Header value as one line of text, whatever its encoding (broken encodings become replacement chars)."""
    if value is None:
        return ""
    text = _raw_utf8(str(value)[:_MAX_HEADER])
    # 8-bit bytes come back as a Header object whose str() has lost them; decode_header keeps them.
    encoded = value if isinstance(value, email.header.Header) else text
    try:
        out: list[str] = []
        for chunk, charset in email.header.decode_header(encoded):
            if isinstance(chunk, bytes):
                out.append(chunk.decode(_charset(charset), errors="replace"))
            else:
                out.append(chunk)
        return _decode_iso2022(" ".join(" ".join(out).split()))
    except Exception:  # noqa: BLE001 - an undecodable header is still better than no header
        return " ".join(text.split())


def _raw_utf8(text: str) -> str:
    """A header with raw 8-bit bytes (the email package keeps them as surrogates) read as UTF-8."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", errors="replace")


def _decode_iso2022(text: str) -> str:
    """Undeclared ISO-2022-JP (escape sequences in a field read as ASCII, as Lotus Domino sends them)."""
    if "\x1b$" not in text:
        return text
    try:
        return text.encode("latin-1").decode("iso-2022-jp", errors="replace")
    except (UnicodeError, LookupError):
        return text


def _charset(name: str | None) -> str:
    if not name:
        return "utf-8"
    try:
        "".encode(name)
        return name
    except LookupError:  # unknown label such as "x-unknown": utf-8 with replacement is the best guess
        return "utf-8"


def _part_text(part: email.message.Message) -> str:
    """The decoded text of a non-multipart part, within the per-part budget; never raises."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - hostile input: any failure here degrades to a weaker reading
        payload = None
    if not isinstance(payload, bytes):
        try:
            raw = part.get_payload()
        except Exception:  # noqa: BLE001 - hostile input: any failure here degrades to a weaker reading
            return ""
        return _decode_iso2022(raw[:_MAX_PART_TEXT]) if isinstance(raw, str) else ""
    payload = payload[: _MAX_PART_TEXT * 2]  # bytes, for multi-byte charsets; cut again as text below
    try:
        text = payload.decode(_charset(part.get_content_charset()), errors="replace")
    except Exception:  # noqa: BLE001 - hostile input: any failure here degrades to a weaker reading
        text = payload.decode("latin-1", errors="replace")
    if "\ufffd" in text:
        text = _utf8_if_clean(payload) or text  # a wrong label, most often UTF-8 declared as something else
    return _decode_iso2022(text[:_MAX_PART_TEXT])


def _utf8_if_clean(payload: bytes) -> str | None:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(payload) - 3:
            return None
        return payload[: error.start].decode("utf-8")  # only the budget's cut split a character


_HIDDEN_ELEMENT = re.compile(r"<(script|style)\b", re.I)
_TAG = re.compile(r"<[^<>]{0,2000}>")  # cannot run past the next "<", so unclosed tags cost nothing
_LINE_BREAK_TAG = re.compile(r"<(?:br|/p|/div|/tr|/li|/h\d)\b[^<>]{0,200}>", re.I)


def _html_to_text(markup: str) -> str:
    return html.unescape(_TAG.sub(" ", _LINE_BREAK_TAG.sub("\n", _without_hidden(markup))))


def _without_hidden(markup: str) -> str:
    """Markup without <script>/<style> elements; one pass, an unclosed element hides the rest."""
    out: list[str] = []
    position = 0
    lowered = markup.lower()
    while (match := _HIDDEN_ELEMENT.search(markup, position)) is not None:
        out.append(markup[position : match.start()])
        end = lowered.find(f"</{match.group(1).lower()}", match.end())
        if end < 0:
            return "".join(out)
        position = end + 2
    out.append(markup[position:])
    return "".join(out)


def _one_line(text: str) -> str:
    return " ".join(text[: _MAX_DIAGNOSTIC * 4].split())[:_MAX_DIAGNOSTIC].rstrip()


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


def _addresses_in(text: str) -> Iterator[str]:
    for match in _ADDRESS.finditer(text):
        yield match.group(0).strip(".").lower()


# --------------------------------------------------------------------------------------------------
# Original Message-IDs
# --------------------------------------------------------------------------------------------------


def _original_message_ids(mail: _Mail, own_id: str | None) -> tuple[str, ...]:
    """Message-IDs of the returned original, wherever the bounce quotes its headers."""
    found: list[str] = []
    for part in mail.parts:
        if part.message is not mail.msg and part.ctype in _ORIGINAL_TYPES:
            found.extend(_attached_message_id(part.message))
        if not part.message.is_multipart() and part.ctype.startswith(("text/", "message/")):
            found.extend(m.group(1) for m in _MESSAGE_ID.finditer(mail.text(part.message)))
    out: list[str] = []
    for mid in found:
        if mid != own_id and mid not in out:
            out.append(mid)
    return tuple(out[:_MAX_MESSAGE_IDS])


def _attached_message_id(part: email.message.Message) -> list[str]:
    children = _children(part)
    if not children:
        return []
    match = _ANGLE_ID.search(_decode_header(children[0].get("Message-ID")))
    return [match.group(0)] if match else []


# --------------------------------------------------------------------------------------------------
# RFC 3464 delivery-status and RFC 5965 feedback reports
# --------------------------------------------------------------------------------------------------

_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)")


def _field_blocks(mail: _Mail, part: email.message.Message) -> list[list[tuple[str, str]]]:
    """The blocks of (lower-case name, value) fields of a delivery-status or feedback-report part.

    The email package already splits message/delivery-status into one pseudo-message per block;
    other spellings (text/plain DSNs, base64 bodies) arrive as text and are split here.
    """
    blocks = _children(part)
    if blocks and any(len(b) for b in blocks):
        return [[(name.lower(), _decode_header(value)) for name, value in b.items()] for b in blocks]
    return _fields_from_text(mail.text(part))


def _fields_from_text(text: str) -> list[list[tuple[str, str]]]:
    blocks: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
        elif line[0] in " \t" and blocks[-1]:
            name, value = blocks[-1][-1]
            blocks[-1][-1] = (name, (value + " " + line.strip())[:_MAX_HEADER])
        elif (match := _FIELD.match(line)) is not None:
            blocks[-1].append((match.group(1).lower(), _decode_iso2022(match.group(2).strip())))
    return [b for b in blocks if b]


# A per-recipient field seen twice means a new recipient: some MTAs (AOL among them) run the blocks
# together without the blank line, and reading only the first would lose every other recipient.
_RECORD_FIELDS = frozenset({"final-recipient", "original-recipient", "action", "status"})


def _dsn_records(blocks: Iterable[list[tuple[str, str]]]) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    for block in blocks:
        current: dict[str, str] = {}
        for name, value in block:
            if name in _RECORD_FIELDS and name in current:
                records.append(current)
                current = {}
            current.setdefault(name, value)
        if current:
            records.append(current)
    return records[: _MAX_FAILURES * 2]


_DIAGNOSTIC_TYPES = frozenset({"smtp", "x-unix", "x-postfix", "x-local", "unix", "x-notes"})


def _dsn_report(records: list[dict[str, str]], human: _HumanText) -> tuple[Category, list[Failure]] | None:
    """Failures for every ``Action: failed`` recipient; otherwise what the actions say happened."""
    failures: list[Failure] = []
    actions: list[str] = []
    for record in records:
        address = _clean_address(record.get("final-recipient", "")) or _clean_address(
            record.get("original-recipient", "")
        )
        action = _record_action(record, human)
        if address is None and not action:
            continue  # the per-message block (Reporting-MTA, Arrival-Date ...)
        actions.append(action)
        if action.startswith("fail") and len(failures) < _MAX_FAILURES:
            failures.append(_dsn_failure(record, address, human))
    if failures:
        return "failure", failures
    if any(a.startswith("delay") for a in actions):
        return "delayed", []
    if any(a.startswith(("deliver", "relay", "expand")) for a in actions):
        return "delivered", []
    return None


def _record_action(record: dict[str, str], human: _HumanText) -> str:
    """The Action field, or what the status implies when a sloppy MTA left it out."""
    action = record.get("action", "").strip().lower()
    if action:
        return action
    status = _status_in(record.get("status", ""))
    if status is None:
        return "failed" if record.get("diagnostic-code") else ""
    if status.startswith("2"):
        return "delivered"
    if status.startswith("4") and human.still_trying:
        return "delayed"
    return "failed"


def _dsn_failure(record: dict[str, str], address: str | None, human: _HumanText) -> Failure:
    diagnostic = record.get("diagnostic-code", "")
    dtype = ""
    if ";" in diagnostic and diagnostic.split(";", 1)[0].strip().lower() in _DIAGNOSTIC_TYPES:
        dtype, diagnostic = (s.strip() for s in diagnostic.split(";", 1))
    near = human.about(address)
    words = diagnostic
    if len(re.sub(r"[\d.\s#()]", "", diagnostic)) < 8:
        # A bare or generic diagnostic ("5.0.0") leaves the human text as the only source of reasons.
        words = diagnostic + " " + near
    status = _status_in(record.get("status", ""))
    if status is None or status.endswith(".0.0"):
        # The reporting MTA's "5.0.0" is generic; the remote server's own code is the specific one.
        status = _status_in(words) or status
    reply = _reply_code_in(diagnostic) or _reply_code_in(words)
    phase = _smtp_phase(words) or _smtp_phase(near)
    ev = _Evidence(status, _reason_words(words), phase, reply, local_program=dtype.lower() == "x-unix")
    return Failure(address, _decide(ev)[1], status, reply, _one_line(diagnostic or words))


def _feedback_type(mail: _Mail) -> str | None:
    for part in mail.parts:
        if part.ctype == "message/feedback-report":
            for block in _field_blocks(mail, part.message):
                for name, value in block:
                    if name == "feedback-type" and value:
                        return value.strip().lower()
            return "unknown"
    return None


# --------------------------------------------------------------------------------------------------
# Auto-replies and delays
# --------------------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:out\s+of\s+(?:the\s+)?office|auto(?:matic)?[\s_-]*(?:reply|response|answer)|auto:|autoreply"
    r"|vacation|on\s+vacation|away\s+from|abwesenheit|absence|r[ée]ponse\s+automatique|自動応答|不在)",
    re.I,
)


def _is_auto_reply(mail: _Mail) -> bool:
    msg = mail.msg
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Vacation"):
        return True
    if mail.header("Precedence").lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.search(mail.header("Subject")))


# A warning that the mail system is still trying is a delay, not a failure. "Warning only" settles it,
# whatever headings the warning reuses ("fatal errors"); the vaguer phrases count unless the same text
# also says it gave up (Sendmail's final notice says "could not be delivered for 5 days").
_ONLY_A_WARNING = re.compile(r"warning\s+(?:message\s+)?only|do\s+not\s+need\s+to\s+resend", re.I)
_STILL_TRYING = re.compile(
    r"will\s+(?:keep|continue\s+to)\s+(?:try|retry|attempt)|will\s+(?:be\s+)?retr(?:y|ied)"
    r"|will\s+try\s+(?:again|to\s+deliver)|(?:has|have)\s+not\s+(?:yet\s+)?been\s+delivered"
    r"|still\s+(?:undelivered|not\s+delivered|being\s+retried|trying|in\s+(?:the\s+)?queue)"
    r"|delivery\s+(?:has\s+been\s+|is\s+|was\s+)?delayed"
    r"|delayed\s+(?:delivery|mail)|delivery\s+incomplete|delivery\s+attempts\s+will\s+continue",
    re.I,
)
_GAVE_UP = re.compile(
    r"given\s+up|giving\s+up|gave\s+up|permanent(?:ly)?\s+(?:error|failure|fatal|failed)|failed\s+permanently"
    r"|fatal\s+error|will\s+not\s+be\s+(?:retried|delivered)|no\s+(?:further|more)\s+(?:attempts|retries)"
    r"|retry\s+time(?:out)?\s+(?:exceeded|reached)|(?:will\s+be|has\s+been)\s+(?:deleted|removed)\s+from"
    r"|could\s+not\s+be\s+delivered\s+for\s+\d+\s+days|delivery\s+has\s+failed|message\s+expired",
    re.I,
)
_DELAY_SUBJECT = re.compile(
    r"\bdelay|still\s+being\s+retried|could\s+not\s+send\s+message\s+for\s+past", re.I
)


def _is_delay_warning(subject: str, human: str) -> bool:
    if _ONLY_A_WARNING.search(human):
        return True
    if _GAVE_UP.search(human):
        return False
    return bool(_STILL_TRYING.search(human) or _DELAY_SUBJECT.search(subject))


_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery\s+(?:status|failure|failed|notification|has\s+failed|problem)"
    r"|failure|returned\s+mail|mail\s+delivery|non[- ]?delivery|could\s+not\s+be\s+delivered"
    r"|not\s+delivered|rejected|bounce|mail\s+system\s+error|error|unzustellbar|non\s+remis|warning"
    r"|returned|failed|delivery\s+report|nicht\s+zugestellt|no\s+se\s+puede\s+entregar|エラー|不達|配信不能",
    re.I,
)


# --------------------------------------------------------------------------------------------------
# The human-readable text
# --------------------------------------------------------------------------------------------------

# Lines where the returned original (or its headers) starts: everything after them is the sender's
# own message, whose addresses and words must not be mistaken for the failure.
_ORIGINAL_START = re.compile(
    # Possessive runs: a line of 16,000 dashes is read once, not once per way of splitting it.
    r"^[ \t]*+(?:-++[ \t]*+(?:original\s+message|the\s+header\s+of\s+the\s+original)|(?:-++[ \t]*+)?(?:"
    r"below\s+this\s+line\s+is\s+a\s+copy|this\s+is\s+a\s+copy\s+of\s+the\s+message|"
    r"original\s+message\s+(?:follows|headers?)|returned\s+mail\s+follows|unsent\s+message\s+below|"
    r"the\s+headers?\s+of\s+(?:the|your)\s+(?:original\s+)?message|"
    r"headers?\s+(?:of\s+the\s+)?(?:original|returned)\s+message|"
    r"message\s+headers\s+follow|copy\s+of\s+(?:the\s+|your\s+)?(?:original\s+)?message|"
    r"the\s+text\s+you\s+sent\s+follows|original\s+text\s+follows|"
    r"included\s+is\s+a\s+copy|a\s+copy\s+of\s+the\s+original"
    r"))",
    re.I | re.M,
)
# A quoted header block (two header lines in a row, starting with Received/Return-Path/From ...).
_QUOTED_HEADERS = re.compile(
    r"^(?:Return-Path|Received|Delivered-To|X-[\w-]{1,60}|Message-Id|DKIM-Signature)"
    r":.*\n(?:[ \t].*\n)*[\w-]{1,60}:",
    re.I | re.M,
)
_HELPDESK = re.compile(
    r"contact|questions|assistance|write\s+to|send\s+(?:an?\s+)?e-?mail\s+to|help|連絡|問い合わせ", re.I
)


class _HumanText:
    """The mail system's own prose (before the quoted original), indexed by the addresses it names."""

    def __init__(self, text: str, subject: str, failed_header: Iterable[str] = ()) -> None:
        self.text = text
        self.lines = text.splitlines()
        self.still_trying = _is_delay_warning(subject, text)
        self._first_line: dict[str, int] = {}
        for number, line in enumerate(self.lines):
            for address in _addresses_in(line):
                self._first_line.setdefault(address, number)
        self.helpdesks = frozenset(_helpdesk_addresses(text))
        self.blocks = {a: b for a, b in _mention_blocks(text).items() if a not in self.helpdesks}
        for address in failed_header:  # X-Failed-Recipients: Exim's explicit list
            if len(self.blocks) < _MAX_FAILURES:
                self.blocks.setdefault(address, self.near(address))

    def near(self, address: str | None, lines_after: int = 4) -> str:
        """The lines that talk about an address (or the start of a short text without one)."""
        if address and address in self._first_line:
            number = self._first_line[address]
            return "\n".join(self.lines[number : number + lines_after])[:_MAX_BLOCK]
        return self.text[:_MAX_BLOCK]

    def about(self, address: str | None) -> str:
        """The recipient's own block of reasons if the text has one, else the lines around it."""
        return self.blocks.get(address or "") or self.near(address, 8)


def _helpdesk_addresses(text: str) -> Iterator[str]:
    """Addresses the text offers for help ("please contact <support@isp>"): never the recipient."""
    previous_end = 0
    for match in _ADDRESS.finditer(text):
        # The words just before this address, not across another address or a paragraph break.
        before = text[max(previous_end, match.start() - 80) : match.start()].rsplit("\n\n", 1)[-1]
        if _HELPDESK.search(before):
            yield match.group(0).strip(".").lower()
        previous_end = match.end()


def _human_text(mail: _Mail) -> tuple[str, str]:
    """(text before the quoted original, text of the quoted original) from the readable parts."""
    texts: list[str] = []
    size = 0
    for part in mail.parts:
        if part.in_original or part.message.is_multipart() or size > _MAX_HUMAN_TEXT:
            continue
        if part.ctype in _REPORT_TYPES or part.ctype == "text/rfc822-headers":
            continue
        # A report whose MIME structure is broken arrives as one non-multipart body: read it as text.
        broken_root = part.message is mail.msg and part.ctype.startswith(("multipart/", "message/"))
        readable = part.ctype in ("text/plain", "text/html") or broken_root
        if not (readable or (part.ctype.startswith("text/") and not texts)):
            continue
        if part.ctype == "text/html" and texts:
            continue  # the plain alternative already says it
        text = mail.text(part.message)
        texts.append(_html_to_text(text) if part.ctype == "text/html" else text)
        size += len(texts[-1])
    full = "\n".join(texts).replace("\r\n", "\n")[:_MAX_HUMAN_TEXT]
    cut = len(full)
    match = _ORIGINAL_START.search(full)
    if match:
        cut = match.start()
    headers = _QUOTED_HEADERS.search(full, 0, cut)
    if headers:
        cut = headers.start()
    return full[:cut], full[cut:]


# --------------------------------------------------------------------------------------------------
# Failed recipients in bounces without a delivery-status part
# --------------------------------------------------------------------------------------------------

# Lines that name a failed recipient in the common formats. Each starts that recipient's block of
# reasons, which runs to the next line naming another recipient or to the end of its own extent: the
# paragraph (qmail, Exim, Postfix), the line (Sendmail), or the replies to the command (transcripts).
_PARAGRAPH, _LINE, _REPLIES = "paragraph", "line", "replies"
_MENTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # qmail, Exim, GMX, Sendmail lists: the address alone on its line ("<a@b>:", "a@b", '"a@b":').
    (re.compile(rf"^[ \t]*(?:[*•-][ \t]+)?[<\"'\[(]?({_ADDR})[>\"'\])]?[ \t]*:?[ \t]*$", re.M), _PARAGRAPH),
    # Postfix text, SurfControl, MXLogic: "<a@b>: reason" or "<a@b> (expanded from <c@d>): reason".
    (
        re.compile(
            rf"^[ \t]*[<\"'\[]?({_ADDR})[>\"'\]]?(?:[ \t]*\((?:expanded|generated)[ \t]+from[^)]{{0,300}}\))?"
            r"[ \t]*[:,][ \t]*\S",
            re.M,
        ),
        _PARAGRAPH,
    ),
    # Exchange: "a@b on 4/29/2013 11:34 PM" and the reasons indented below it.
    (re.compile(rf"^[ \t]*<?({_ADDR})>?[ \t]+on[ \t]+\S", re.M), _PARAGRAPH),
    # Sendmail: "550 5.1.1 <a@b>... User unknown", "<a@b>... Deferred", "<<< 550 <a@b>, User unknown".
    (
        re.compile(
            r"^[ \t]*(?:<<<[ \t]*)?(?:[245]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}[ \t]+)?)?"
            rf"<({_ADDR})>(?:\.\.\.|,)",
            re.M,
        ),
        _LINE,
    ),
    # SMTP transcripts: ">>> RCPT TO:<a@b>" and the replies that follow it.
    (re.compile(rf"^[ \t]*(?:>>>[ \t]*)?RCPT[ \t]+TO:[ \t]*<({_ADDR})>", re.M | re.I), _REPLIES),
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_NOT_A_REPLY = re.compile(r"\n(?![ \t]*<<<)")
_RCPT_FIELD = re.compile(
    r"(?:original[- ]recipient|final[- ]recipient|failed[- ]recipient|recipient(?:\s+address)?"
    r"|rcpt\s+to|delivered\s+to|\bto)[ \t]*[:=][ \t]*(?:rfc822[ \t]*;[ \t]*)?<?"
    rf"({_ADDR})",
    re.I,
)


def _mention_blocks(text: str) -> dict[str, str]:
    """Every recipient the text names as failed, in order, with the text about it."""
    mentions = sorted(
        (match.start(), match.end(), match.group(1).strip(".").lower(), extent)
        for pattern, extent in _MENTIONS
        for match in pattern.finditer(text)
    )
    blocks: dict[str, str] = {}
    for (start, end, address, extent), stop in zip(
        mentions, _next_other_starts(mentions, len(text)), strict=True
    ):
        if _ROBOT_LOCAL.match(address.split("@", 1)[0]) or len(blocks.get(address, "")) >= _MAX_BLOCK:
            continue
        block = text[start : min(stop, _extent_end(text, end, extent), start + _MAX_BLOCK)]
        blocks[address] = (blocks[address] + "\n" + block)[:_MAX_BLOCK] if address in blocks else block
        if len(blocks) >= _MAX_FAILURES:
            break
    return blocks


def _next_other_starts(mentions: list[tuple[int, int, str, str]], default: int) -> list[int]:
    """For each mention, where the next mention of a *different* address starts (one backward pass)."""
    out = [default] * len(mentions)
    following: list[tuple[int, str]] = []  # the nearest two distinct addresses after the current one
    for i in range(len(mentions) - 1, -1, -1):
        start, _, address, _ = mentions[i]
        out[i] = next((s for s, a in following if a != address), default)
        following = [(start, address), *[(s, a) for s, a in following if a != address][:1]]
    return out


def _extent_end(text: str, position: int, extent: str) -> int:
    limit = position + _MAX_BLOCK  # searched no further: a block is never longer
    if extent == _LINE:
        end = text.find("\n", position, limit)
    elif extent == _REPLIES:
        end = m.start() if (m := _NOT_A_REPLY.search(text, position, limit)) else -1
    else:
        end = m.start() if (m := _BLANK_LINE.search(text, position, limit)) else -1
    return limit if end < 0 else end


def _fallback_recipient(mail: _Mail, human: _HumanText, quoted: str) -> dict[str, str]:
    """One recipient from weaker evidence, when no line names one the usual way."""
    excluded = set(
        _addresses_in(" ".join(mail.header(h) for h in ("From", "To", "Sender", "Reply-To", "Return-Path")))
    )
    excluded |= human.helpdesks

    def usable(address: str) -> bool:
        return address not in excluded and not _ROBOT_LOCAL.match(address.split("@", 1)[0])

    for match in _RCPT_FIELD.finditer(human.text):
        address = match.group(1).strip(".").lower()
        if usable(address):
            return {address: human.text[match.end() : match.end() + 600]}
    for address in _addresses_in(human.text):
        if usable(address):
            return {address: human.near(address)}
    original_to = _original_to(mail, quoted)
    return {original_to: human.text} if original_to else {}


def _text_failures(mail: _Mail, human: _HumanText, quoted: str) -> list[Failure]:
    blocks = human.blocks or _fallback_recipient(mail, human, quoted)
    failures = [_text_failure(address, block, human.text) for address, block in blocks.items()]
    if not failures and human.text.strip():
        failures.append(_text_failure(None, "", human.text))
    return failures


def _text_failure(address: str | None, block: str, reasons: str) -> Failure:
    """One recipient's failure from its block of text, or from the whole report when the block is silent."""
    line = _diagnostic_line(block)
    if line:
        # The server's reply and what follows it; the mail system's prose before it is boilerplate.
        words = block[block.find(line) :]
    elif len(block.strip()) > len(address or "") + 12:
        words = block
    else:
        line = _diagnostic_line(reasons)
        words = line + "\n" + block + "\n" + reasons
    status = _status_in(line) or _status_in(words)
    reply = _reply_code_in(line) or _reply_code_in(words)
    ev = _Evidence(status, _reason_words(words), _smtp_phase(block) or _smtp_phase(words), reply)
    return Failure(address, _decide(ev)[1], status, reply, _one_line(line or block or reasons))


_CODE_LINE = re.compile(r"(?<!\d)[45]\d\d[\s-]")


def _diagnostic_line(text: str) -> str:
    """The most server-like line: one carrying an SMTP reply code or an enhanced status code."""
    for line in text[:_MAX_HUMAN_TEXT].splitlines():
        if _STATUS.search(line) or _CODE_LINE.search(line):
            return line.strip()
    return ""


def _original_to(mail: _Mail, quoted: str) -> str | None:
    for part in mail.parts:
        if part.ctype in (*_ORIGINAL_TYPES, "text/rfc822-headers") and part.message is not mail.msg:
            children = _children(part.message)
            if children:
                address = _clean_address(_decode_header(children[0].get("To")))
            else:
                headers = email.parser.HeaderParser().parsestr(mail.text(part.message))
                address = _clean_address(_decode_header(headers.get("To")))
            if address:
                return address
    match = re.search(r"^To:[ \t]*(.*(?:\n[ \t].*)*)", quoted[:_MAX_PART_TEXT], re.I | re.M)
    return _clean_address(match.group(1)) if match else None


_BOUNCE_SENDER = re.compile(
    r"mailer-daemon|post[_-]?master|mail\s+delivery|mail\s+administrator|mdaemon|bounce|daemon|mail\s+system",
    re.I,
)
_BOUNCE_BODY = re.compile(
    r"could\s+not\s+be\s+delivered|couldn't\s+be\s+delivered|wasn't\s+delivered|was\s+not\s+delivered"
    r"|undeliverable|delivery\s+(?:has\s+)?failed|failed\s+permanently|permanent\s+(?:error|failure)"
    r"|unable\s+to\s+deliver|not\s+able\s+to\s+deliver|delivery\s+to\s+the\s+following|returned\s+to\s+sender"
    r"|following\s+address(?:\(es\))?\s+failed|message\s+(?:was\s+)?(?:rejected|blocked|bounced)"
    r"|(?<!\d)5\d\d[\s-]|\b5\.\d{1,3}\.\d{1,3}\b|delivery\s+failure|user\s+unknown|not\s+delivered"
    r"|did\s+not\s+reach|not\s+recognized|error\s+delivering|delivery\s+problems|returned\s+mail"
    r"|送信できません|配信できません|届きませんでした",
    re.I,
)


def _looks_like_bounce(mail: _Mail, text: str) -> bool:
    score = 0
    if _BOUNCE_SENDER.search(mail.header("From") + " " + mail.header("Return-Path")):
        score += 1
    if mail.header("Return-Path").strip() == "<>":
        score += 1
    if _BOUNCE_SUBJECT.search(mail.header("Subject")):
        score += 1
    if _BOUNCE_BODY.search(text):
        score += 1
    if mail.msg.get("X-Failed-Recipients"):
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
    mail = _parse(raw)
    own_id = _ANGLE_ID.search(mail.header("Message-ID"))
    original_ids = _original_message_ids(mail, own_id.group(0) if own_id else None)

    feedback = _feedback_type(mail)
    report_type = ""
    if mail.parts[0].ctype == "multipart/report":
        report_type = str(mail.msg.get_param("report-type") or "")
    if feedback is not None or report_type.lower() == "feedback-report":
        return BounceReport("feedback", (), original_ids, feedback or "unknown")

    text, quoted = _human_text(mail)
    failed_header = [
        a for v in mail.msg.get_all("X-Failed-Recipients") or [] for a in _addresses_in(_decode_header(v))
    ]
    human = _HumanText(text, mail.header("Subject"), failed_header)
    reported = _from_delivery_status(mail, human)
    if reported is not None:
        category, failures = reported
        return BounceReport(category, tuple(failures), original_ids)

    looks_like_bounce = _looks_like_bounce(mail, text + "\n" + quoted[:2000])
    # Exim and others mark their bounces "Auto-Submitted: auto-replied" too, so that header alone only
    # means a vacation reply when nothing else says "bounce".
    auto_submitted = mail.header("Auto-Submitted").lower().startswith("auto-replied")
    if _is_auto_reply(mail) or (auto_submitted and not looks_like_bounce):
        return BounceReport("auto_reply", (), original_ids)
    if not looks_like_bounce:
        return BounceReport("not_a_bounce", (), original_ids)
    if human.still_trying:
        return BounceReport("delayed", (), original_ids)
    failures = _text_failures(mail, human, quoted)
    if not failures:
        return BounceReport("not_a_bounce", (), original_ids)
    return BounceReport("failure", tuple(failures[:_MAX_FAILURES]), original_ids)


def _from_delivery_status(mail: _Mail, human: _HumanText) -> tuple[Category, list[Failure]] | None:
    reports = [p for p in mail.parts if p.ctype in _DELIVERY_STATUS_TYPES]
    # Our notices carry no delivery report, so one inside an attached message is a bounce that a relay
    # or a person forwarded: read it when the outer message has none of its own.
    own = [p for p in reports if not p.in_original] or reports
    blocks = [block for p in own for block in _field_blocks(mail, p.message)]
    if not blocks:
        blocks = _embedded_dsn_blocks(human.text)
    if not blocks:
        return None
    result = _dsn_report(_dsn_records(blocks), human)
    if result is None or result[0] != "failure":
        return result
    return "failure", _with_unnamed_recipients(result[1], human)


# A delivery-status report pasted into the text: the MIME structure was broken, the MTA wrote its
# report as text/plain, or someone forwarded the bounce inline ("> Final-Recipient: ...").
_EMBEDDED_RECIPIENT = re.compile(r"^(?:>[ \t]?)*+[ \t]*+(?:final|original)-recipient[ \t]*:", re.I | re.M)
_EMBEDDED_ACTION = re.compile(r"^(?:>[ \t]?)*+[ \t]*+(?:action|status)[ \t]*:", re.I | re.M)
_QUOTE_PREFIX = re.compile(r"^(?:>[ \t]?)+", re.M)


def _embedded_dsn_blocks(text: str) -> list[list[tuple[str, str]]]:
    if not (_EMBEDDED_RECIPIENT.search(text) and _EMBEDDED_ACTION.search(text)):
        return []
    return _fields_from_text(_QUOTE_PREFIX.sub("", text))


def _with_unnamed_recipients(failures: list[Failure], human: _HumanText) -> list[Failure]:
    """A record without a usable address takes the next recipient the text names and the DSN does not
    (X-Failed-Recipients included)."""
    named = {f.address for f in failures if f.address}
    extra = [a for a in human.blocks if a not in named]
    out: list[Failure] = []
    for failure in failures:
        if failure.address is None and extra:
            out.append(
                Failure(extra.pop(0), failure.kind, failure.status, failure.reply_code, failure.diagnostic)
            )
        else:
            out.append(failure)
    return out
