"""Reading a customer's email reply: who sent it, which of our messages it answers, whether a machine
wrote it (RFC 3834 auto-replies, vacation notices), and the new text without the quoted notice.

Standard library only (``email`` with the default policy); any part that cannot be decoded is skipped,
never fatal. The text stays text: HTML parts are reduced to their words and are never rendered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser

__all__ = ["EmailReply", "is_auto_reply", "read_reply"]

MAX_TEXT_CHARS = 4000
_IDS = re.compile(r"<[^<>\s]{1,300}>")
# Subjects of machine answers, in the languages we write in and a few common others.
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:out\s+of\s+(?:the\s+)?office|auto(?:matic)?[\s_-]*(?:reply|response|answer)|auto:|autoreply"
    r"|vacation|on\s+vacation|away\s+from|abwesenheit|r[ée]ponse\s+automatique"
    r"|автоответ|автоматический\s+ответ|нет\s+на\s+месте|в\s+отпуске|вне\s+офиса"
    r"|trả\s+lời\s+tự\s+động|tự\s+động\s+trả\s+lời|vắng\s+mặt|đang\s+nghỉ\s+phép)",
    re.IGNORECASE,
)
# Where the quoted earlier message starts, in en / ru / vi mail clients.
_QUOTE_START = re.compile(
    r"^(?:On\s.{1,200}\swrote:|-{2,}\s*Original Message\s*-{2,}|-{2,}\s*Исходное сообщение\s*-{2,}"
    r"|.{1,200}\s(?:писал|написал)(?:\(а\))?:|.{1,200}\sđã viết:|Vào\s.{1,200}\sđã viết:"
    r"|From:\s.{1,200}|От:\s.{1,200}|Từ:\s.{1,200})\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class EmailReply:
    message_id: str | None
    sender: str | None  # the From address, lower-cased
    subject: str
    text: str  # the new words, quotes and signature cut
    references: tuple[str, ...]  # In-Reply-To and References, <id> each
    auto: bool  # written by a machine (auto-reply, vacation notice)


class _Words(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.words.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.words.append(data)


def _html_words(html: str) -> str:
    parser = _Words()
    parser.feed(html)
    parser.close()
    return "".join(parser.words)


def is_auto_reply(msg: EmailMessage) -> bool:
    """RFC 3834 ``Auto-Submitted`` other than "no", vendor auto-reply headers, auto precedence, or a subject
    that says so."""
    auto_submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Vacation", "X-Auto-Response-Suppress")):
        return True
    if str(msg.get("Precedence", "")).strip().lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(_AUTO_SUBJECT.search(str(msg.get("Subject", ""))))


def _body_text(msg: EmailMessage) -> str:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is None:
            return ""
        content = part.get_content()
    except (LookupError, ValueError, TypeError, AttributeError):  # unknown charset, broken part
        return ""
    if not isinstance(content, str):
        return ""
    return _html_words(content) if part.get_content_subtype() == "html" else content


def _new_words(text: str) -> str:
    """The reply without the quoted message under it and without the signature."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped == "--" or _QUOTE_START.match(stripped):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    words = "\n".join(kept).strip()
    words = re.sub(r"\n{3,}", "\n\n", words)
    return words if len(words) <= MAX_TEXT_CHARS else words[: MAX_TEXT_CHARS - 1] + "…"


def read_reply(raw: bytes) -> EmailReply:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    try:
        senders = getaddresses([str(msg.get("From", ""))])
    except (TypeError, ValueError):
        senders = []
    sender = next((address.lower() for _, address in senders if "@" in address), None)
    references = tuple(
        dict.fromkeys(_IDS.findall(f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}"))
    )
    message_id = next(iter(_IDS.findall(str(msg.get("Message-ID", "")))), None)
    return EmailReply(
        message_id=message_id,
        sender=sender,
        subject=" ".join(str(msg.get("Subject", "")).split())[:300],
        text=_new_words(_body_text(msg)),
        references=references,
        auto=is_auto_reply(msg),
    )
