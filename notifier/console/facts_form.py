"""The incident facts as a form a person fills in: one field per fact, one text box per language for every
free text (an empty box beside filled ones flagged as a missing translation), the data categories as
checkboxes, and what the form has no field for (offers, filings, the hold, contacts by country or
language) as JSON under the fields.

The form is a view of the facts, nothing more: ``form_values`` turns facts into the form's values and
``facts_from_form`` turns posted values back into facts, which are then checked exactly as the CLI checks
an incident file (notices.incidents). Posting the form unchanged gives back the same facts: a value that
means what the stored one means keeps the stored spelling, so nothing is recorded as changed and no
approval is voided by a round trip through the browser."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from babel import Locale, UnknownLocaleError

from notifier.errors import InputError
from notifier.notices.incidents import BY_LANGUAGE, OCCURRED_KINDS

__all__ = [
    "EVERY_LANGUAGE",
    "OTHER",
    "SECTIONS",
    "FactField",
    "FieldView",
    "SectionView",
    "facts_from_form",
    "form_sections",
    "form_values",
    "problem_links",
]

Kind = Literal[
    "text", "moment", "day", "link", "email", "phone", "flag", "choice", "texts", "categories", "lines"
]
Values = Mapping[str, Sequence[str]]  # a posted form: every name with its values

OTHER = "other_facts"  # the form's name for the facts it has no field for, as JSON
IN_OTHER_FACTS = ("other", "filings", "offers", "regimes", "law_enforcement_hold", "contact.by_")
EVERY_LANGUAGE = "*"  # a text box whose text every language reads (contact hours may be one text for all)
MOMENT_HINT = "Date and time with its UTC offset, e.g. 2026-11-05T09:30:00+00:00"
DAY_HINT = "A date, e.g. 2026-11-09"


@dataclass(frozen=True, slots=True)
class FactField:
    """One fact the form has a field for: where it lives in the facts, and how a person enters it."""

    path: tuple[str, ...]
    label: str
    kind: Kind
    hint: str = ""
    required: bool = False

    @property
    def name(self) -> str:
        return "fact." + ".".join(self.path)

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def _fact(path: str, label: str, kind: Kind, hint: str = "", *, required: bool = False) -> FactField:
    return FactField(tuple(path.split(".")), label, kind, hint, required)


# The form, as data: sections in the order a person tells what happened (docs/incidents.md has each fact).
SECTIONS: tuple[tuple[str, tuple[FactField, ...]], ...] = (
    (
        "The incident",
        (
            _fact("key", "Incident key (letters, digits, dashes; never changes)", "text", required=True),
            _fact("title", "Title (internal: customers never read it)", "text", required=True),
            _fact("company.legal_name", "Company: legal name", "text", required=True),
            _fact("company.brand", "Company: the brand customers know", "text", required=True),
            _fact(
                "company.return_address",
                "Company: return address on letters",
                "lines",
                "One line per row, as the post writes it (up to six lines)",
            ),
            _fact("company.country", "Company: country letters are posted from", "text", "e.g. US"),
            _fact("notice_url", "Web page about the incident (https://)", "link", required=True),
        ),
    ),
    (
        "What happened, in every language customers read",
        (
            _fact("what_happened", "What happened", "texts", required=True),
            _fact("discovered_how", "How it was discovered", "texts"),
            _fact("consequences", "What it may mean for the customer", "texts"),
            _fact("measures", "What the company has done", "texts"),
        ),
    ),
    (
        "When",
        (
            _fact("occurred.kind", "When it happened is known", "choice"),
            _fact("occurred.start", "It happened at (or from)", "moment", MOMENT_HINT),
            _fact("occurred.end", "Until (for a range)", "moment", MOMENT_HINT),
            _fact("discovered_at", "Discovered at", "moment", MOMENT_HINT, required=True),
            _fact("determined_at", "Determined to be a breach at (starts deadlines)", "moment", MOMENT_HINT),
            _fact("notice_date", "Date of the notice", "day", DAY_HINT),
            _fact("law_enforcement_delay", "Law enforcement delayed the notice", "flag"),
        ),
    ),
    (
        "What information was involved",
        (_fact("data_categories", "Data categories", "categories", required=True),),
    ),
    (
        "Whom to contact",
        (
            _fact("contact.phone", "Phone", "phone"),
            _fact("contact.email", "Email address", "email"),
            _fact("contact.url", "Web page for questions (https://)", "link"),
            _fact("contact.hours", "Opening hours", "texts"),
            _fact("contact.languages", "Languages the line serves, in words (English, Русский)", "text"),
            _fact("contact.dpo.name", "Data protection officer: name", "text"),
            _fact("contact.dpo.email", "Data protection officer: email address", "email"),
        ),
    ),
    (
        "An update to an earlier notice (for the update notice only)",
        (
            _fact("update.previous_notice_date", "Date of the earlier notice", "day", DAY_HINT),
            _fact("update.what_is_new", "What is new", "texts"),
        ),
    ),
)
FIELDS: tuple[FactField, ...] = tuple(f for _title, fields in SECTIONS for f in fields)


@dataclass(frozen=True, slots=True)
class TextBox:
    """One language's box of a free text."""

    language: str  # a locale code, or EVERY_LANGUAGE
    label: str
    value: str
    missing: bool  # other languages have this text and this one has none


@dataclass(frozen=True, slots=True)
class FieldView:
    """A field as the template shows it."""

    spec: FactField
    id: str
    value: str = ""
    checked: bool = False
    options: tuple[tuple[str, str, bool], ...] = ()  # (value, label, selected)
    boxes: tuple[TextBox, ...] = ()
    missing: tuple[str, ...] = ()  # the languages flagged

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class SectionView:
    title: str
    fields: tuple[FieldView, ...] = field(default_factory=tuple)


def field_id(spec: FactField) -> str:
    return "fact-" + "-".join(spec.path).replace("_", "-")


# --- facts → form ------------------------------------------------------------------------------------------


def form_values(facts: Mapping[str, Any]) -> dict[str, list[str]]:
    """The form's values for ``facts``: a field's value where it has a field (and the value has the shape
    that field shows), everything else as the JSON of the other facts."""
    other: Any = json.loads(json.dumps(facts))  # a deep copy; what is left of it is the other facts
    values: dict[str, list[str]] = {}
    for spec in FIELDS:
        value = _get(facts, spec.path)
        shown = _as_values(spec, value)
        if shown is None:
            continue  # absent, or a shape the field cannot show: left in the other facts, as written
        values.update(shown)
        _pop(other, spec.path)
    values[OTHER] = [json.dumps(other, indent=2, ensure_ascii=False) if other else ""]
    return values


def _as_values(spec: FactField, value: Any) -> dict[str, list[str]] | None:
    if value is None:
        return None
    if spec.kind == "texts":
        if isinstance(value, str) and spec.path[-1] not in BY_LANGUAGE:
            return {f"{spec.name}.{EVERY_LANGUAGE}": [value]}
        if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
            return {f"{spec.name}.{language}": [text] for language, text in value.items()}
        return None
    if spec.kind == "flag":
        return {spec.name: ["on"] if value is True else []} if isinstance(value, bool) else None
    if spec.kind == "categories":
        if isinstance(value, list) and all(isinstance(c, str) for c in value):
            return {spec.name: list(value)}
        return None
    if spec.kind == "lines":
        if isinstance(value, list) and all(isinstance(line, str) for line in value):
            return {spec.name: ["\n".join(value)]}
        return None
    return {spec.name: [value]} if isinstance(value, str) else None


# --- form → facts ------------------------------------------------------------------------------------------


def facts_from_form(values: Values, *, key: str | None, original: Mapping[str, Any] | None) -> dict[str, Any]:
    """The facts the posted form says: the other facts (JSON) with every filled field set on them. ``key``
    is the incident's when revising (it never changes); ``original`` its facts as they were, whose
    spelling is kept wherever a field means the same as before."""
    facts = _other_facts(_one(values, OTHER))
    for spec in FIELDS:
        value = _from_values(spec, values)
        if value is not None:
            _put(facts, spec.path, value)
        if original is not None and _meaning(spec, _get(facts, spec.path)) == _meaning(
            spec, _get(original, spec.path)
        ):
            _put(facts, spec.path, _get(original, spec.path))
    if key is not None:
        facts["key"] = key
    return facts


def _other_facts(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        facts = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"other facts: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg} "
            '(it holds one JSON object, e.g. {"offers": […]}, or nothing)'
        ) from None
    if not isinstance(facts, dict):
        raise InputError('other facts: must be one JSON object (e.g. {"offers": […]}), or nothing')
    return facts


def _from_values(spec: FactField, values: Values) -> Any:
    """The fact a field's posted values say, or None for an empty field (then the fact is absent)."""
    if spec.kind == "texts":
        prefix = spec.name + "."
        texts = {
            name[len(prefix) :]: _clean(_one(values, name)) for name in values if name.startswith(prefix)
        }
        every = texts.pop(EVERY_LANGUAGE, "")
        if every:
            return every
        filled = {language: text for language, text in texts.items() if text}
        return filled or None
    if spec.kind == "flag":
        return True if _one(values, spec.name) else None
    if spec.kind == "categories":
        return [c for c in values.get(spec.name, ()) if c] or None
    if spec.kind == "lines":
        return [line.strip() for line in _clean(_one(values, spec.name)).split("\n") if line.strip()] or None
    return _clean(_one(values, spec.name)) or None


def _meaning(spec: FactField, value: Any) -> Any:
    """What a fact means, whatever its spelling: a flag that is false means what an absent one does."""
    if spec.kind == "flag":
        return value is True
    if spec.kind == "choice":
        return value or "unknown"  # the form always posts a choice; an absent kind means "unknown"
    if spec.kind == "categories" and isinstance(value, list):
        return frozenset(value) or None  # a browser posts the boxes in the form's order, not the facts'
    if spec.kind == "texts" and isinstance(value, Mapping):
        return {k: v.strip() for k, v in value.items() if isinstance(v, str) and v.strip()} or None
    if spec.kind == "lines" and isinstance(value, list):
        return tuple(line.strip() for line in value if isinstance(line, str) and line.strip()) or None
    if isinstance(value, str):
        return value.strip() or None
    return value or None


def _clean(text: str) -> str:
    """A browser posts a textarea's line ends as CRLF; the facts keep LF."""
    return text.replace("\r\n", "\n").strip()


def _one(values: Values, name: str) -> str:
    found = values.get(name, ())
    return found[0] if found else ""


def _get(facts: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(facts, Mapping):
            return None
        facts = facts.get(part)
    return facts


def _put(facts: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Set (or, for None, remove) the fact at ``path``, making or pruning the objects on the way."""
    if value is None:
        _pop(facts, path)
        return
    here = facts
    for part in path[:-1]:
        inner = here.get(part)
        if not isinstance(inner, dict):
            inner = here[part] = {}
        here = inner
    here[path[-1]] = value


def _pop(facts: Any, path: Sequence[str]) -> None:
    if not isinstance(facts, dict):
        return
    if len(path) == 1:
        facts.pop(path[0], None)
        return
    inner = facts.get(path[0])
    _pop(inner, path[1:])
    if isinstance(inner, dict) and not inner:
        del facts[path[0]]


# --- the form, for the template ----------------------------------------------------------------------------


def form_sections(
    values: Values, *, locales: Sequence[str], categories: Mapping[str, str], new: bool
) -> list[SectionView]:
    """The sections of the form showing ``values``: a text box per notice language (and per other
    language a text already has), missing translations flagged; the key editable only for a new one."""
    sections = []
    for title, specs in SECTIONS:
        views = [_view(spec, values, locales, categories) for spec in specs if new or spec.path != ("key",)]
        sections.append(SectionView(title, tuple(views)))
    return sections


def _view(
    spec: FactField, values: Values, locales: Sequence[str], categories: Mapping[str, str]
) -> FieldView:
    ident = field_id(spec)
    if spec.kind == "texts":
        prefix = spec.name + "."
        posted = {name[len(prefix) :]: _one(values, name) for name in values if name.startswith(prefix)}
        if EVERY_LANGUAGE in posted:
            box = TextBox(EVERY_LANGUAGE, "Every language (one text for all)", posted[EVERY_LANGUAGE], False)
            return FieldView(spec, ident, boxes=(box,))
        languages = list(dict.fromkeys([*locales, *posted]))
        filled = {language for language, text in posted.items() if text.strip()}
        missing = tuple(language for language in languages if filled and language not in filled)
        boxes = tuple(
            TextBox(language, _language_label(language), posted.get(language, ""), language in missing)
            for language in languages
        )
        return FieldView(spec, ident, boxes=boxes, missing=missing)
    if spec.kind == "flag":
        return FieldView(spec, ident, checked=bool(_one(values, spec.name)))
    if spec.kind == "choice":
        chosen = _one(values, spec.name) or "unknown"
        return FieldView(spec, ident, options=tuple((k, k, k == chosen) for k in OCCURRED_KINDS))
    if spec.kind == "categories":
        ticked = set(values.get(spec.name, ()))
        known = [(name, label, name in ticked) for name, label in categories.items()]
        unknown = [(name, name, True) for name in sorted(ticked - set(categories)) if name]
        return FieldView(spec, ident, options=tuple(known + unknown))
    return FieldView(spec, ident, value=_one(values, spec.name))


def _language_label(code: str) -> str:
    """``Русский (ru)``: the language named in itself, so a translator finds theirs."""
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return f"{name[:1].upper()}{name[1:]} ({code})"


def problem_links(problems: Iterable[str]) -> list[tuple[str, str]]:
    """Each problem with the id of the field it is about (``""`` if none): the summary of problems links
    to the field, as GOV.UK's error summary does. The checks name the fact first (``discovered_at '…'
    is not…``, ``missing 'title'``, ``filings[0]: …``); facts without a field of their own lead to the JSON
    of the other facts."""
    return [(problem, _target(problem)) for problem in problems]


def _target(problem: str) -> str:
    words = problem.replace("'", " ").replace(":", " ").split()
    if not words:
        return ""
    name = words[1] if words[0] in ("missing", "unknown") and len(words) > 1 else words[0]
    name = {"data": "data_categories", "say": "comment"}.get(name, name)
    if name == "comment":
        return "comment"
    if name.startswith(IN_OTHER_FACTS):
        return OTHER
    found = (
        next((s for s in FIELDS if s.dotted == name), None)  # discovered_at, occurred.start
        or next((s for s in FIELDS if s.dotted.startswith(name + ".")), None)  # company, contact, occurred
        or next((s for s in FIELDS if s.path[-1] == name), None)  # what_is_new, hours
    )
    return field_id(found) if found else ""
