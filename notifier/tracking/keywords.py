"""Inbound SMS keywords (STOP / START / HELP in every language we write in) and the answers to them,
loaded once from ``templates/sms_keywords.toml``.

A message is a keyword when it is exactly one of the words after folding: Unicode compatibility form,
accents and tone marks removed (Vietnamese đ as d, Russian ё as е), case folded, and everything that is
not a letter or digit dropped, so "Stop!", " stop ", "СТОП." and "Dừng" all match and "please stop"
does not. Matching never depends on the customer's language: a Russian customer may text
STOP, and a number we do not know may text anything."""

from __future__ import annotations

import enum
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from notifier.errors import ConfigurationError

__all__ = ["KEYWORDS_FILE", "Keyword", "KeywordAction", "KeywordTable", "fold"]

KEYWORDS_FILE = "sms_keywords.toml"
_NOT_WORD = re.compile(r"[\W_]+")
_MAX_KEYWORD_MESSAGE = 40  # longer messages are never keywords (and are not folded for nothing)


class KeywordAction(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Keyword:
    action: KeywordAction
    language: str  # the language whose keyword list matched
    word: str  # as the table writes it


def fold(text: str) -> str:
    """The form keywords are compared in: no case, no accents or tone marks, letters and digits only."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORD.sub("", bare.casefold())


@dataclass(frozen=True, slots=True)
class KeywordTable:
    keywords: Mapping[str, Keyword]  # folded word → what it means
    replies: Mapping[str, Mapping[str, str]]  # language → action or "contact" → text

    @classmethod
    def load(cls, templates_dir: Path) -> KeywordTable:
        path = templates_dir / KEYWORDS_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"{path}: {exc} (see the comments at the top of the file)") from None
        keywords: dict[str, Keyword] = {}
        replies: dict[str, dict[str, str]] = {}
        for language, section in data.items():
            if not isinstance(section, dict):
                raise ConfigurationError(f"{path}: [{language}] must be a table of keyword lists and replies")
            texts = section.get("replies")
            wanted = {a.value for a in KeywordAction} | {"contact"}
            if not isinstance(texts, dict) or set(texts) != wanted:
                raise ConfigurationError(
                    f"{path}: [{language}.replies] must give exactly {', '.join(sorted(wanted))}"
                )
            replies[language] = {k: str(v) for k, v in texts.items()}
            for action in KeywordAction:
                for word in section.get(action.value, []):
                    folded = fold(str(word))
                    earlier = keywords.get(folded)
                    if not folded:
                        raise ConfigurationError(
                            f"{path}: [{language}] {action.value}: {word!r} has no letters"
                        )
                    if earlier is not None and earlier.action is not action:
                        raise ConfigurationError(
                            f"{path}: [{language}] {action.value} keyword {word!r} reads as "
                            f"[{earlier.language}] {earlier.action.value} keyword {earlier.word!r}"
                        )
                    keywords.setdefault(folded, Keyword(action, language, str(word)))
        if "en" not in replies:
            raise ConfigurationError(f"{path}: [en] is required (the answer when no language is known)")
        return cls(keywords, replies)

    def match(self, body: str) -> Keyword | None:
        if len(body) > _MAX_KEYWORD_MESSAGE:
            return None
        return self.keywords.get(fold(body))

    def reply(self, action: KeywordAction, language: str, *, brand: str, contact: str | None) -> str:
        """The answer to ``action`` in ``language`` (English when the table has no such language)."""
        texts = self.replies.get(language) or self.replies["en"]
        contact_line = texts["contact"].format(contact=contact) if contact else ""
        text = texts[action.value].format(brand=brand, contact_line=contact_line)
        return " ".join(text.split())  # an empty contact line leaves no double space
