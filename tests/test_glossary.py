"""The catalogs use the glossary's terms (docs/glossary.md) and none of the wordings it says to avoid.

For every catalog entry whose English message id contains a glossary term, the Russian and Vietnamese
translations must contain that term's pattern; no translation (English included) may contain an entry of
its language's "avoid" list. The sample incidents' free texts are held to the same "avoid" lists."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from notifier.config import PROJECT_ROOT

GLOSSARY = PROJECT_ROOT / "docs" / "glossary.md"
LOCALES_DIR = PROJECT_ROOT / "locales"
LANGUAGES = ("en", "ru", "vi")
TRANSLATED = ("ru", "vi")
SAMPLES = (
    PROJECT_ROOT / "templates" / "samples" / "complete.json",
    PROJECT_ROOT / "templates" / "samples" / "minimal.json",
    PROJECT_ROOT / "notifier" / "demo" / "incident.json",
)
# The terms the notices cannot do without: the table must keep a row for each.
REQUIRED_TERMS = (
    "data breach",
    "personal data",
    "password hash",
    "two-factor authentication",
    "credit bureau",
    "credit freeze",
    "fraud alert",
    "data protection officer",
    "supervisory authority",
    "Roskomnadzor",
    "identity theft",
    "phishing",
    "notice",
)
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
_CODE = re.compile(r"`([^`]+)`")
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


@dataclass(frozen=True)
class Term:
    en: tuple[str, ...]  # alternatives, matched as whole words (plural allowed)
    patterns: dict[str, tuple[re.Pattern[str], ...]]  # language -> alternatives, any one suffices
    line: int

    def in_english(self, msgid: str) -> bool:
        text = _PLACEHOLDER.sub(" ", msgid)
        return any(re.search(rf"\b{re.escape(term)}(?:s|es)?\b", text, re.IGNORECASE) for term in self.en)

    def in_translation(self, language: str, msgstr: str) -> bool:
        text = msgstr.translate(_SPACES)
        return any(pattern.search(text) for pattern in self.patterns[language])


@dataclass(frozen=True)
class Avoid:
    pattern: re.Pattern[str]
    reason: str


@dataclass(frozen=True)
class Glossary:
    columns: tuple[str, ...]
    terms: tuple[Term, ...]
    avoid: dict[str, tuple[Avoid, ...]]


def _cell_patterns(cell: str) -> tuple[re.Pattern[str], ...]:
    """Backticked regular expressions if the cell has any, else its ` / `-separated words, literally."""
    found = _CODE.findall(cell)
    sources = found or [re.escape(word.strip()) for word in cell.split(" / ") if word.strip()]
    return tuple(re.compile(source, re.IGNORECASE) for source in sources)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_glossary(text: str) -> Glossary:
    """The term table (the first markdown table) and the per-language "avoid" lists of docs/glossary.md."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("|"))
    columns = tuple(c.lower() for c in _cells(lines[start]))
    terms: list[Term] = []
    for number, line in enumerate(lines[start + 2 :], start=start + 3):
        if not line.lstrip().startswith("|"):
            break
        row = dict(zip(columns, _cells(line), strict=True))
        terms.append(
            Term(
                en=tuple(t.strip() for t in row["en"].split(" / ") if t.strip()),
                patterns={language: _cell_patterns(row[language]) for language in TRANSLATED},
                line=number,
            )
        )
    avoid: dict[str, list[Avoid]] = {language: [] for language in LANGUAGES}
    section, language = "", ""
    for line in lines:
        if line.startswith("## "):
            section, language = line[3:].strip().lower(), ""
        elif line.startswith("### ") and section == "avoid":
            language = line[4:].strip().lower()
        elif section == "avoid" and language in avoid and line.startswith("- "):
            match = re.match(r"- `([^`]+)`\s*(?:—\s*)?(.*)", line)
            assert match, f"glossary avoid list [{language}]: an entry must start with a `regex`: {line!r}"
            avoid[language].append(Avoid(re.compile(match[1], re.IGNORECASE), match[2].strip()))
    return Glossary(columns, tuple(terms), {k: tuple(v) for k, v in avoid.items()})


def _strings(message_string: str | tuple[str, ...] | list[str]) -> list[str]:
    return [message_string] if isinstance(message_string, str) else list(message_string)


def _english(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else " ".join(message_id)


def check_catalogs(glossary: Glossary, catalogs: dict[str, Catalog]) -> list[str]:
    """Every violation, one line each, naming the language and the msgid."""
    problems: list[str] = []
    for language, catalog in catalogs.items():
        for message in catalog:
            if not message.id:
                continue
            msgid = _english(message.id)
            forms = [form for form in _strings(message.string) if form]
            if language in TRANSLATED:
                for term in glossary.terms:
                    if term.in_english(msgid) and not all(term.in_translation(language, f) for f in forms):
                        wanted = " or ".join(p.pattern for p in term.patterns[language])
                        problems.append(
                            f"[{language}] msgid {msgid!r}: the translation {forms!r} lacks the glossary "
                            f"term for {' / '.join(term.en)!r} (docs/glossary.md line {term.line}: {wanted})"
                        )
            for avoid in glossary.avoid.get(language, ()):
                for form in forms:
                    if avoid.pattern.search(form.translate(_SPACES)):
                        problems.append(
                            f"[{language}] msgid {msgid!r}: the translation {form!r} uses the avoided "
                            f"wording {avoid.pattern.pattern!r} ({avoid.reason})"
                        )
    return problems


def _catalog(language: str) -> Catalog:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return parse_glossary(GLOSSARY.read_text(encoding="utf-8"))


def test_glossary_table_is_well_formed(glossary: Glossary) -> None:
    assert glossary.columns == ("en", "ru", "vi", "note"), f"glossary columns: {glossary.columns}"
    listed = {term.lower() for t in glossary.terms for term in t.en}
    for required in REQUIRED_TERMS:
        assert any(required.lower() in term for term in listed), f"glossary: no row for {required!r}"
    for term in glossary.terms:
        for language in TRANSLATED:
            assert term.patterns[language], f"glossary line {term.line}: no {language} term for {term.en}"
    for language in LANGUAGES:
        assert glossary.avoid[language], f"glossary: no avoid list for {language}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_glossary_terms_and_avoid_lists_hold_in_the_catalog(glossary: Glossary, language: str) -> None:
    problems = check_catalogs(glossary, {language: _catalog(language)})
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_glossary_avoid_lists_hold_in_the_sample_texts(glossary: Glossary, sample: Path) -> None:
    problems: list[str] = []

    def walk(value: object, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in glossary.avoid and isinstance(item, str):
                    for avoid in glossary.avoid[key]:
                        if avoid.pattern.search(item.translate(_SPACES)):
                            problems.append(
                                f"[{key}] {sample.name} {where}: {item!r} uses the avoided wording "
                                f"{avoid.pattern.pattern!r} ({avoid.reason})"
                            )
                else:
                    walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    walk(json.loads(sample.read_text(encoding="utf-8")), "")
    assert not problems, "\n".join(problems)


_SYNTHETIC = """\
msgid ""
msgstr ""
"Language: {language}\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgid "Turn on two-factor authentication for your account."
msgstr "{two_factor}"

msgid "Your account password, stored as a hash (not the password itself)"
msgstr "{hash}"
"""


def _synthetic(language: str, two_factor: str, hash_: str) -> Catalog:
    text = _SYNTHETIC.format(language=language, two_factor=two_factor, hash=hash_)
    return read_po(io.BytesIO(text.encode("utf-8")), locale=language)


def test_glossary_checker_reports_a_wrong_term_and_an_avoided_wording(glossary: Glossary) -> None:
    wrong = _synthetic(
        "ru",
        "Включите двухфакторный вход в свою учётную запись.",
        "Пароль от учётной записи (хранился в зашифрованном виде, как хеш)",
    )
    problems = check_catalogs(glossary, {"ru": wrong})
    missing = [p for p in problems if "lacks the glossary term for 'two-factor authentication'" in p]
    assert missing and missing[0].startswith("[ru] msgid 'Turn on two-factor authentication"), problems
    assert any("двухфакторн" in p and "avoided wording" in p for p in problems), problems
    assert any(p.startswith("[ru] msgid 'Your account password") and "шифр" in p for p in problems), problems


def test_glossary_checker_passes_a_catalog_that_follows_it(glossary: Glossary) -> None:
    right = _synthetic(
        "vi",
        "Hãy bật xác thực hai yếu tố cho tài khoản của Quý khách.",
        "Mật khẩu tài khoản, được lưu dưới dạng mã băm (không phải mật khẩu gốc)",
    )
    assert check_catalogs(glossary, {"vi": right}) == []
    wrong = _synthetic("vi", "Hãy bật xác thực hai lớp cho tài khoản của bạn.", "Mật khẩu (dạng mã hóa băm)")
    problems = check_catalogs(glossary, {"vi": wrong})
    assert any(p.startswith("[vi] msgid 'Turn on") and "lacks the glossary term" in p for p in problems)
    assert any(
        p.startswith("[vi] msgid 'Turn on") and "avoided wording" in p and "bạn" in p for p in problems
    )
    assert any("mã hóa" in p for p in problems), problems
