"""The legal content model, as data: ``templates/content.toml`` loaded and checked once into typed objects.

Data categories (label, likely consequence, steps for the customer) and jurisdiction profiles (title,
section headings, which jurisdictions they are for) are legal content: they live in a data file that
legal can read and a change of which voids exactly what it should (``ContentModel.digest`` hashes the
parsed data, so a comment or a re-wrapped line does not). English strings are gettext message ids;
``extract_messages`` lets Babel extract them (``[tool.babel]`` in pyproject.toml)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from notifier.errors import ConfigurationError

__all__ = ["CONTENT_FILE", "Category", "ContentModel", "Profile", "extract_messages", "load_content"]

CONTENT_FILE = "content.toml"


@dataclass(frozen=True, slots=True)
class Category:
    label: str
    risk: str = ""  # the likely consequence for the customer
    steps: tuple[str, ...] = ()
    sensitive_id: bool = False  # SSN / licence / state id: credit-bureau block, identity-theft offer


@dataclass(frozen=True, slots=True)
class Profile:
    """The section set and headings a jurisdiction requires (legal-requirements.md §2)."""

    name: str
    title: str | None  # a verbatim title, if the law fixes one
    sections: tuple[tuple[str, str], ...]  # (section id, heading msgid), in order
    verbatim_headings: bool  # headings stay in English, as the statute words them
    jurisdictions: tuple[str, ...]  # who gets it; none = the default profile
    sample_jurisdiction: str  # what the linter and proof sheets render it as


@dataclass(frozen=True, slots=True)
class ContentModel:
    categories: Mapping[str, Category]
    always_steps: tuple[str, ...]
    profiles: Mapping[str, Profile]
    default_profile: Profile
    digest: str  # sha256 of the parsed data: what an approval covers

    def profile_for(self, jurisdiction: str | None) -> Profile:
        wanted = (jurisdiction or "").upper()
        for profile in self.profiles.values():
            if wanted in profile.jurisdictions:
                return profile
        return self.default_profile


def load_content(templates_dir: Path) -> ContentModel:
    """The content model of ``templates_dir``, parsed and checked (cached until the file changes)."""
    path = templates_dir / CONTENT_FILE
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the legal content file: {exc.strerror}") from exc
    return _load(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int, size: int) -> ContentModel:
    del mtime_ns, size  # part of the cache key: an edited file is loaded again
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    try:
        return _model(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: {exc} (see the comments at the top of the file)") from exc


def _model(data: dict[str, Any]) -> ContentModel:
    categories = {
        name: Category(
            label=_text(c["label"]),
            risk=_text(c["risk"]) if "risk" in c else "",
            steps=tuple(_text(s) for s in c.get("steps", [])),
            sensitive_id=bool(c.get("sensitive_id")),
        )
        for name, c in data["categories"].items()
    }
    profiles = {name: _profile(name, p) for name, p in data["profiles"].items()}
    defaults = [p for p in profiles.values() if not p.jurisdictions]
    if len(defaults) != 1:
        raise ValueError(
            f"exactly one profile must have no jurisdictions (the default), found {len(defaults)}"
        )
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return ContentModel(
        categories=categories,
        always_steps=tuple(_text(s) for s in data["always_steps"]),
        profiles=profiles,
        default_profile=defaults[0],
        digest=digest,
    )


def _profile(name: str, p: Mapping[str, Any]) -> Profile:
    sections = tuple((str(sid), _text(heading)) for sid, heading in p["sections"])
    if not sections:
        raise ValueError(f"profile {name!r} has no sections")
    return Profile(
        name=name,
        title=p.get("title"),
        sections=sections,
        verbatim_headings=bool(p["verbatim_headings"]),
        jurisdictions=tuple(j.upper() for j in p.get("jurisdictions", [])),
        sample_jurisdiction=str(p["sample_jurisdiction"]),
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
    for profile in model.profiles.values():
        if not profile.verbatim_headings:
            messages += [heading for _sid, heading in profile.sections]
    lines = text.splitlines()
    for message in dict.fromkeys(messages):
        lineno = next((n for n, line in enumerate(lines, start=1) if json.dumps(message)[1:-1] in line), 0)
        yield lineno, "N_", message, []
