"""The legal content model, as data: ``templates/content.toml`` loaded and checked once into typed objects.

Data categories (label, likely consequence, steps for the customer), section sets (the headings a
notice is made of), blocks (content only some readers get: US credit bureaus, New York's agencies,
Russia's credit ban, a regulator's contacts) and jurisdiction profiles (which section set and which
blocks a reader gets) are legal content: they live in a data file that legal can read, and a change of
which voids exactly what it should (``ContentModel.digest`` hashes the parsed data, so a comment or a
re-wrapped line does not). English strings are gettext message ids; ``extract_messages`` lets Babel
extract them (``[tool.babel]`` in pyproject.toml)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from notifier.notices.datafile import load_data_file

__all__ = [
    "CONTENT_FILE",
    "Block",
    "Category",
    "ContentModel",
    "DateStyle",
    "Profile",
    "SectionSet",
    "extract_messages",
    "load_content",
]

CONTENT_FILE = "content.toml"
KNOWN_RULES = frozenset(
    {"dpo_named", "vn_discovery_manner", "us_opt_out", "ca_identity_theft_offer", "hipaa_contact"}
)


@dataclass(frozen=True, slots=True)
class Category:
    label: str
    risk: str = ""  # the likely consequence for the customer
    steps: tuple[str, ...] = ()
    sensitive_id: bool = False


@dataclass(frozen=True, slots=True)
class SectionSet:
    name: str
    title: str | None  # a verbatim title, if the law fixes one
    verbatim: bool  # headings stay in English, as the statute words them
    sections: tuple[tuple[str, str], ...]  # (section id, heading msgid), in order


@dataclass(frozen=True, slots=True)
class Block:
    name: str
    section: str
    when_categories: frozenset[str]  # empty: whenever the profile has the block
    when_fact: str | None  # an incident fact that must be true (e.g. law_enforcement_delay)
    evidence: tuple[str, ...]  # words the text part carries exactly when the block is there


@dataclass(frozen=True, slots=True)
class Profile:
    """What a jurisdiction's readers get (legal-requirements.md §2)."""

    name: str
    priority: int
    countries: frozenset[str]
    jurisdictions: frozenset[str]
    when_categories: frozenset[str]
    sample: str  # the jurisdiction the linter and proof sheets render this profile as
    sections: SectionSet
    blocks: tuple[str, ...]
    rules: frozenset[str]

    def applies_to(self, categories: Collection[str]) -> bool:
        """Whether any reader of an incident that leaked ``categories`` can get this profile."""
        return not self.when_categories or bool(self.when_categories & set(categories))

    def matches(self, jurisdiction: str, categories: Collection[str]) -> bool:
        if not self.applies_to(categories):
            return False
        if not self.countries and not self.jurisdictions:
            return True
        return jurisdiction in self.jurisdictions or jurisdiction.split("-", maxsplit=1)[0] in self.countries


@dataclass(frozen=True, slots=True)
class DateStyle:
    date: str  # a CLDR date pattern
    moment: str  # "{date}, {time}"


@dataclass(frozen=True, slots=True)
class ContentModel:
    categories: Mapping[str, Category]
    always_steps: tuple[str, ...]
    section_sets: Mapping[str, SectionSet]
    blocks: Mapping[str, Block]
    profiles: Mapping[str, Profile]
    dates: Mapping[str, DateStyle]
    digest: str  # sha256 of the parsed data: what an approval covers

    def profile_for(self, jurisdiction: str | None, categories: Collection[str] = ()) -> Profile:
        """The most specific profile that matches the reader's jurisdiction and what leaked."""
        wanted = (jurisdiction or "").upper()
        matching = [p for p in self.profiles.values() if p.matches(wanted, categories)]
        return max(matching, key=lambda p: (p.priority, bool(p.jurisdictions & {wanted})))

    def blocks_for(
        self, profile: Profile, categories: Collection[str], facts: Mapping[str, bool]
    ) -> list[Block]:
        """The blocks a reader of ``profile`` gets for an incident: the profile's whose conditions hold."""
        chosen = []
        for name in profile.blocks:
            block = self.blocks[name]
            if block.when_categories and not block.when_categories & set(categories):
                continue
            if block.when_fact and not facts.get(block.when_fact):
                continue
            chosen.append(block)
        return chosen

    def date_style(self, locale: str) -> DateStyle:
        return self.dates.get(locale.split("_", maxsplit=1)[0]) or self.dates["en"]


def load_content(templates_dir: Path) -> ContentModel:
    """The content model of ``templates_dir``, parsed and checked (cached until the file changes)."""
    return load_data_file(templates_dir / CONTENT_FILE, "the legal content file", _model)


def _model(data: dict[str, Any]) -> ContentModel:
    categories = {name: _category(c) for name, c in data["categories"].items()}
    sets = {name: _section_set(name, s) for name, s in data["section_sets"].items()}
    blocks = {name: _block(name, b, categories) for name, b in data["blocks"].items()}
    profiles = {name: _profile(name, p, sets, blocks, categories) for name, p in data["profiles"].items()}
    if not any(not p.countries and not p.jurisdictions and not p.when_categories for p in profiles.values()):
        raise ValueError("one profile must match everyone (no countries, jurisdictions or when_categories)")
    dates = {
        lang: DateStyle(date=str(d["date"]), moment=str(d["moment"])) for lang, d in data["dates"].items()
    }
    if "en" not in dates:
        raise ValueError("dates.en is needed: the style of any language without its own")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return ContentModel(
        categories=categories,
        always_steps=tuple(_text(s) for s in data["always_steps"]),
        section_sets=sets,
        blocks=blocks,
        profiles=profiles,
        dates=dates,
        digest=digest,
    )


def _category(c: Mapping[str, Any]) -> Category:
    return Category(
        label=_text(c["label"]),
        risk=_text(c["risk"]) if "risk" in c else "",
        steps=tuple(_text(s) for s in c.get("steps", [])),
        sensitive_id=bool(c.get("sensitive_id")),
    )


def _section_set(name: str, s: Mapping[str, Any]) -> SectionSet:
    sections = tuple((str(sid), _text(heading)) for sid, heading in s["sections"])
    if not sections:
        raise ValueError(f"section set {name!r} has no sections")
    return SectionSet(name=name, title=s.get("title"), verbatim=bool(s["verbatim"]), sections=sections)


def _block(name: str, b: Mapping[str, Any], categories: Mapping[str, Category]) -> Block:
    when = frozenset(b.get("when_categories", []))
    if when - set(categories):
        raise ValueError(f"block {name!r}: unknown categories {sorted(when - set(categories))}")
    return Block(
        name=name,
        section=str(b["section"]),
        when_categories=when,
        when_fact=b.get("when_fact"),
        evidence=tuple(str(e) for e in b.get("evidence", [])),
    )


def _profile(
    name: str,
    p: Mapping[str, Any],
    sets: Mapping[str, SectionSet],
    blocks: Mapping[str, Block],
    categories: Mapping[str, Category],
) -> Profile:
    unknown = [b for b in p.get("blocks", []) if b not in blocks]
    if unknown:
        raise ValueError(f"profile {name!r}: unknown blocks {unknown}")
    rules = frozenset(p.get("rules", []))
    if rules - KNOWN_RULES:
        raise ValueError(f"profile {name!r}: unknown rules {sorted(rules - KNOWN_RULES)}")
    when = frozenset(p.get("when_categories", []))
    if when - set(categories):
        raise ValueError(f"profile {name!r}: unknown categories {sorted(when - set(categories))}")
    section_set = sets[str(p["sections"])]
    for block in p.get("blocks", []):
        if blocks[block].section not in {sid for sid, _h in section_set.sections}:
            raise ValueError(f"profile {name!r}: block {block!r} goes in a section its section set lacks")
    return Profile(
        name=name,
        priority=int(p["priority"]),
        countries=frozenset(p.get("countries", [])),
        jurisdictions=frozenset(j.upper() for j in p.get("jurisdictions", [])),
        when_categories=when,
        sample=str(p["sample"]),
        sections=section_set,
        blocks=tuple(p.get("blocks", [])),
        rules=rules,
    )


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected non-empty text, got {value!r}")
    return value


def extract_messages(
    fileobj: IO[bytes], keywords: object, comment_tags: object, options: object
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extraction method for ``content.toml``: every translatable string, with its line number."""
    del keywords, comment_tags, options
    text = fileobj.read().decode("utf-8")
    model = _model(tomllib.loads(text))
    messages = [*model.always_steps]
    for category in model.categories.values():
        messages += [category.label, *([category.risk] if category.risk else []), *category.steps]
    for section_set in model.section_sets.values():
        if not section_set.verbatim:
            messages += [heading for _sid, heading in section_set.sections]
    lines = text.splitlines()
    for message in dict.fromkeys(messages):
        lineno = next((n for n, line in enumerate(lines, start=1) if json.dumps(message)[1:-1] in line), 0)
        yield lineno, "N_", message, []
