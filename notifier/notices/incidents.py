"""Incident facts: the JSON the comms team writes (docs/incidents.md), checked once into a typed ``Incident``.

Facts, not guesses: optional facts may be absent and are then *said* to be unknown in the notice; what
is present must be well-formed (dates, links, known data categories), and every problem is reported at
once, naming the field. Rendering takes the typed object and never re-checks it."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from notifier.errors import InputError

__all__ = [
    "BOOKKEEPING",
    "OCCURRED_KINDS",
    "Contact",
    "Filing",
    "Incident",
    "LawEnforcementHold",
    "Occurrence",
    "Offer",
    "load_incident_file",
]

OCCURRED_KINDS = ("exact", "estimate", "range", "unknown")
REQUIRED = (
    "key",
    "title",
    "company",
    "what_happened",
    "discovered_at",
    "data_categories",
    "notice_url",
    "contact",
)
Localized = Mapping[str, str] | str  # {"en": …, "ru": …}, or (names, hours) one text for every language
# Free texts a person reads: one per language, never one text for all (that would mix languages).
BY_LANGUAGE = frozenset({"what_happened", "consequences", "measures", "what_is_new", "discovered_how"})
# Facts the deadline tracker reads and no notice prints (docs/incidents.md "Deadlines"): recording a filing
# or a hold must not void the approval of what customers read, so ``as_read_in`` leaves them out.
BOOKKEEPING = frozenset({"determined_at", "law_enforcement_hold", "regimes", "filings"})
FILING_KEYS = frozenset({"obligation", "at", "reference", "note"})


@dataclass(frozen=True, slots=True)
class Occurrence:
    kind: str  # exact | estimate | range | unknown
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    kind: str
    provider: str | None
    months: int
    code: str | None
    enrol_url: str | None
    enrol_by: date | None


@dataclass(frozen=True, slots=True)
class LawEnforcementHold:
    """Law enforcement asked to hold the notice from ``start`` until ``end`` (None: still on hold)."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Filing:
    """A notice to a regulator (or other recipient) made outside notifier, recorded by editing the
    incident: which obligation of templates/deadlines.toml it fulfils, when, and the reference it got."""

    obligation: str
    at: datetime
    reference: str | None = None
    note: str | None = None  # e.g. the reasons given for a late filing


@dataclass(frozen=True, slots=True)
class Contact:
    """Whom a reader contacts. ``by_country`` and ``by_language`` hold other contacts for readers in a
    country (``US``) or reading a language (``ru``): a reader gets the first that fits, else this one."""

    phone: str | None
    email: str | None
    url: str | None
    hours: Localized | None
    dpo_name: str | None
    dpo_email: str | None
    languages: str | None = None  # the languages the line serves, in words ("English, Русский")
    by_country: Mapping[str, Contact] = field(default_factory=dict)
    by_language: Mapping[str, Contact] = field(default_factory=dict)

    def for_reader(self, country: str | None, language: str) -> Contact:
        return self.by_country.get((country or "").upper()) or self.by_language.get(language) or self


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident's facts, checked; ``facts`` keeps the JSON as written (stored, hashed, shown)."""

    key: str
    title: str
    legal_name: str
    brand: str
    what_happened: Localized
    occurred: Occurrence
    discovered_at: datetime
    law_enforcement_delay: bool
    data_categories: tuple[str, ...]
    consequences: Localized | None
    measures: Localized | None
    offers: tuple[Offer, ...]
    notice_url: str
    contact: Contact
    notice_date: date | None
    previous_notice_date: date | None
    what_is_new: Localized | None
    discovered_how: Localized | None  # how it was discovered (Vietnam's Decree 356 asks for it)
    facts: Mapping[str, Any]
    # Where letters come from and are returned to (company.return_address), and the company's country
    # (company.country): a letter to the same country carries no country line.
    return_address: tuple[str, ...] = ()
    country: str | None = None
    # Bookkeeping for the deadlines (BOOKKEEPING): never printed in a notice.
    determined_at: datetime | None = None
    law_enforcement_hold: LawEnforcementHold | None = None
    regimes: tuple[str, ...] = ()
    filings: tuple[Filing, ...] = ()

    def texts(self) -> dict[str, Localized]:
        """Every free text of the incident, by field name: what must exist in each language it is read in."""
        fields = {
            "what_happened": self.what_happened,
            "consequences": self.consequences,
            "measures": self.measures,
            "update.what_is_new": self.what_is_new,
            "discovered_how": self.discovered_how,
            "contact.hours": self.contact.hours,
        }
        for kind, contacts in (
            ("by_country", self.contact.by_country),
            ("by_language", self.contact.by_language),
        ):
            for key, contact in contacts.items():
                fields[f"contact.{kind}.{key}.hours"] = contact.hours
        return {name: value for name, value in fields.items() if value is not None}

    def as_read_in(self, locale: str) -> dict[str, Any]:
        """The facts as a reader of the ``locale`` notice reads them: every free text in that language only
        (absent when it has none), and only the contacts that language can get. What an approval of that
        locale covers: editing another language's text leaves it alone, and so does editing the
        bookkeeping facts no notice prints (``BOOKKEEPING``: filings, the hold, determination, regimes)."""
        facts: dict[str, Any] = {
            k: v for k, v in json.loads(json.dumps(self.facts)).items() if k not in BOOKKEEPING
        }
        update, contact = _object(facts, "update"), _object(facts, "contact")
        for container, key in [(facts, k) for k in sorted(BY_LANGUAGE)] + [(update, "what_is_new")]:
            _keep_language(container, key, locale)
        language = locale.split("_", maxsplit=1)[0]
        by_language = {k: v for k, v in _object(contact, "by_language").items() if k in (locale, language)}
        if "by_language" in contact:
            contact["by_language"] = by_language
        for one in (contact, *by_language.values(), *_object(contact, "by_country").values()):
            if isinstance(one, dict):
                _keep_language(one, "hours", locale)
        return facts

    @classmethod
    def parse(
        cls,
        facts: Mapping[str, Any],
        *,
        categories: Collection[str],
        regimes: Collection[str] | None = None,
        obligations: Collection[str] | None = None,
    ) -> Incident:
        """Check ``facts`` against docs/incidents.md; an InputError lists every problem, by field.
        ``regimes`` and ``obligations`` are the names the deadline rules know, when given: a declared
        regime or a filing naming anything else is a problem."""
        reader = _Reader(facts)
        incident = reader.incident(categories)
        if incident is not None:
            incident = reader.bookkeeping(incident, regimes, obligations)
        if reader.problems:
            raise InputError(
                "incident facts: " + "; ".join(reader.problems) + " (see docs/incidents.md)",
                problems=reader.problems,
            )
        assert incident is not None
        return incident


class _Reader:
    """Reads fields out of the facts, collecting problems instead of stopping at the first."""

    def __init__(self, facts: Mapping[str, Any]) -> None:
        self.facts = facts
        self.problems: list[str] = [f"missing {k!r}" for k in REQUIRED if k not in facts]

    def incident(self, categories: Collection[str]) -> Incident | None:
        f = self.facts
        company = _mapping(f.get("company"))
        if not company.get("legal_name") or not company.get("brand"):
            self.problems.append("company needs legal_name and brand")
        update = _mapping(f.get("update"))
        incident = Incident(
            key=str(f.get("key", "")),
            title=str(f.get("title", "")),
            legal_name=str(company.get("legal_name", "")),
            brand=str(company.get("brand", "")),
            what_happened=self.localized("what_happened") or "",
            occurred=self.occurrence(),
            discovered_at=self.moment("discovered_at", f.get("discovered_at")),
            law_enforcement_delay=bool(f.get("law_enforcement_delay")),
            data_categories=self.categories(categories),
            consequences=self.localized("consequences"),
            measures=self.localized("measures"),
            offers=self.offers(),
            notice_url=self.link("notice_url", f.get("notice_url")),
            contact=self.contact(),
            notice_date=self.day("notice_date", f.get("notice_date")),
            previous_notice_date=self.day("update.previous_notice_date", update.get("previous_notice_date")),
            what_is_new=self.localized("what_is_new", update),
            discovered_how=self.localized("discovered_how"),
            facts=dict(f),
            return_address=self.return_address(company),
            country=self.country(company),
        )
        return incident

    def return_address(self, company: Mapping[str, Any]) -> tuple[str, ...]:
        lines = company.get("return_address")
        if lines is None:
            return ()
        if (
            not isinstance(lines, list)
            or not 1 <= len(lines) <= 6
            or not all(isinstance(x, str) and x.strip() and len(x) <= 80 for x in lines)
        ):
            self.problems.append("company.return_address: 1 to 6 lines of text (each at most 80 characters)")
            return ()
        return tuple(" ".join(x.split()) for x in lines)

    def country(self, company: Mapping[str, Any]) -> str | None:
        value = company.get("country")
        if value is None:
            return None
        if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{2}", value):
            self.problems.append(f"company.country {str(value)[:20]!r}: an ISO 3166 country code such as US")
            return None
        return value

    def bookkeeping(
        self, incident: Incident, regimes: Collection[str] | None, obligations: Collection[str] | None
    ) -> Incident:
        """The facts the deadlines read: determination, law-enforcement hold, regimes, filings."""
        f = self.facts
        determined = self.moment("determined_at", f["determined_at"]) if "determined_at" in f else None
        if (
            determined
            and determined.tzinfo
            and incident.discovered_at.tzinfo
            and determined < incident.discovered_at
        ):
            self.problems.append("determined_at is before discovered_at")
        return replace(
            incident,
            determined_at=determined,
            law_enforcement_hold=self.hold(incident.law_enforcement_delay),
            regimes=self.names("regimes", regimes),
            filings=self.filings(obligations),
        )

    def hold(self, delay_stated: bool) -> LawEnforcementHold | None:
        if "law_enforcement_hold" not in self.facts:
            return None
        hold = self.facts["law_enforcement_hold"]
        if not isinstance(hold, Mapping) or "from" not in hold or set(hold) - {"from", "until"}:
            self.problems.append(
                'law_enforcement_hold must be {"from": …, "until": …} (until: absent while on hold)'
            )
            return None
        start = self.moment("law_enforcement_hold.from", hold["from"])
        end = self.moment("law_enforcement_hold.until", hold["until"]) if hold.get("until") else None
        if end is not None and start.tzinfo and end.tzinfo and end < start:
            self.problems.append("law_enforcement_hold.until is before law_enforcement_hold.from")
        if not delay_stated:
            self.problems.append(
                "law_enforcement_hold is recorded but law_enforcement_delay is not true: the notice must "
                "say that law enforcement delayed it"
            )
        return LawEnforcementHold(start, end)

    def names(self, key: str, known: Collection[str] | None) -> tuple[str, ...]:
        listed = self.facts.get(key, [])
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            self.problems.append(f"{key} must be a list of names")
            return ()
        unknown = [n for n in listed if known is not None and n not in known]
        if unknown:
            self.problems.append(f"unknown {key} {unknown}; known: {', '.join(sorted(known or ()))}")
        return tuple(listed)

    def filings(self, known: Collection[str] | None) -> tuple[Filing, ...]:
        listed = self.facts.get("filings", [])
        if not isinstance(listed, list):
            self.problems.append("filings must be a list of {obligation, at, reference}")
            return ()
        filings = []
        for n, filing in enumerate(listed):
            where = f"filings[{n}]"
            if not isinstance(filing, Mapping) or not {"obligation", "at"} <= set(filing):
                self.problems.append(f"{where} needs obligation and at")
                continue
            if set(filing) - FILING_KEYS:
                self.problems.append(f"{where}: unknown keys {sorted(set(filing) - FILING_KEYS)}")
            obligation = str(filing["obligation"])
            if known is not None and obligation not in known:
                self.problems.append(
                    f"{where}.obligation {obligation!r} is not a rule of templates/deadlines.toml"
                )
            texts = {k: filing.get(k) for k in ("reference", "note")}
            for key, value in texts.items():
                if value is not None and not isinstance(value, str):
                    self.problems.append(f"{where}.{key} must be text")
            filings.append(
                Filing(
                    obligation=obligation,
                    at=self.moment(f"{where}.at", filing["at"]),
                    reference=texts["reference"] if isinstance(texts["reference"], str) else None,
                    note=texts["note"] if isinstance(texts["note"], str) else None,
                )
            )
        return tuple(filings)

    def localized(self, key: str, within: Mapping[str, Any] | None = None) -> Localized | None:
        value = (self.facts if within is None else within).get(key)
        if value is None:
            return None
        if isinstance(value, str):
            if key in BY_LANGUAGE:
                self.problems.append(f'{key} must be an object of texts by language ({{"en": …, "ru": …}})')
            return value
        if isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
        self.problems.append(f"{key} must be text or an object of texts by language")
        return None

    def moment(self, key: str, value: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.problems.append(f"{key} {value!r} is not an ISO-8601 date-time with offset")
            return datetime.min
        if moment.tzinfo is None:
            self.problems.append(f"{key} {value!r} needs a UTC offset (e.g. +00:00)")
        return moment

    def day(self, key: str, value: Any) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.problems.append(f"{key} {value!r} is not an ISO-8601 date (YYYY-MM-DD)")
            return None

    def link(self, key: str, value: Any) -> str:
        if value and not str(value).startswith("https://"):
            self.problems.append(f"{key} must be an https:// link")
        return str(value or "")

    def occurrence(self) -> Occurrence:
        occurred = _mapping(self.facts.get("occurred"))
        kind = occurred.get("kind", "unknown")
        if kind not in OCCURRED_KINDS:
            self.problems.append(f"occurred.kind must be exact, estimate, range or unknown, not {kind!r}")
            return Occurrence("unknown")
        needs = {"exact": ("start",), "estimate": ("start",), "range": ("start", "end")}.get(kind, ())
        self.problems += [
            f"occurred.{k} is needed when occurred.kind is {kind!r}" for k in needs if not occurred.get(k)
        ]
        start, end = (occurred.get(k) for k in ("start", "end"))
        return Occurrence(
            kind,
            start=self.moment("occurred.start", start) if start else None,
            end=self.moment("occurred.end", end) if end else None,
        )

    def categories(self, known: Collection[str]) -> tuple[str, ...]:
        listed = self.facts.get("data_categories") or []
        if not isinstance(listed, list) or not listed:
            self.problems.append("data_categories must list at least one category")
            return ()
        unknown = [c for c in listed if c not in known]
        if unknown:
            self.problems.append(f"unknown data categories {unknown}; known: {', '.join(known)}")
        return tuple(c for c in listed if c in known)

    def offers(self) -> tuple[Offer, ...]:
        offers = []
        for n, o in enumerate(self.facts.get("offers") or []):
            try:
                months = int(o.get("months") or 12)
            except (TypeError, ValueError):
                self.problems.append(f"offers[{n}].months must be a whole number")
                months = 12
            offers.append(
                Offer(
                    kind=str(o.get("kind", "")),
                    provider=o.get("provider"),
                    months=months,
                    code=o.get("code"),
                    enrol_url=o.get("enrol_url"),
                    enrol_by=self.day(f"offers[{n}].enrol_by", o.get("enrol_by")),
                )
            )
        return tuple(offers)

    def contact(self) -> Contact:
        contact = _mapping(self.facts.get("contact"))
        by_country = {
            key.upper(): self.one_contact(_mapping(value), f"contact.by_country.{key}")
            for key, value in _mapping(contact.get("by_country")).items()
        }
        by_language = {
            key: self.one_contact(_mapping(value), f"contact.by_language.{key}")
            for key, value in _mapping(contact.get("by_language")).items()
        }
        return replace(self.one_contact(contact, "contact"), by_country=by_country, by_language=by_language)

    def one_contact(self, contact: Mapping[str, Any], where: str) -> Contact:
        if not any(contact.get(k) for k in ("phone", "email", "url")):
            self.problems.append(f"{where} needs at least one of phone, email, url")
        dpo = _mapping(contact.get("dpo"))
        return Contact(
            phone=contact.get("phone"),
            email=contact.get("email"),
            url=self.link(f"{where}.url", contact.get("url")) or None,
            hours=self.localized("hours", contact),
            dpo_name=dpo.get("name"),
            dpo_email=dpo.get("email"),
            languages=contact.get("languages"),
        )


def _mapping(value: object) -> Mapping[str, Any]:
    """A JSON object of the facts, or an empty one when the field is absent or not an object."""
    return value if isinstance(value, Mapping) else {}


def load_incident_file(path: Path) -> dict[str, Any]:
    """The JSON object of an incident file, or an InputError saying where it is broken."""
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    if not isinstance(facts, dict):
        raise InputError(f"{path}: expected a JSON object of incident facts")
    return facts


def parse_incident(facts: Mapping[str, Any], templates_dir: Path) -> Incident:
    """The one way facts become an ``Incident``: ``Incident.parse`` with the data categories of the legal
    content model in ``templates_dir``, and the regimes and obligations of its deadline rules when the
    facts declare regimes or filings. A revision's facts never change, so each is parsed once and the
    typed incident kept (a sender asks before every claim, a legal page several times)."""
    canonical = json.dumps(facts, sort_keys=True, ensure_ascii=False, default=str)
    # The legal content and deadline rules it is read with: a changed file is a different incident.
    versions = tuple(_mtime(templates_dir / name) for name in ("content.toml", "deadlines.toml"))
    key = (str(templates_dir), *versions, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    with _PARSED_LOCK:
        found = _PARSED.get(key)
        if found is not None:
            _PARSED.move_to_end(key)
            return found
    incident = _parse_incident(facts, templates_dir)
    with _PARSED_LOCK:
        _PARSED[key] = incident
        while len(_PARSED) > _PARSED_KEPT:
            _PARSED.popitem(last=False)
    return incident


_PARSED: OrderedDict[tuple[object, ...], Incident] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_KEPT = 64  # revisions kept parsed (a few incidents, a few revisions each)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _parse_incident(facts: Mapping[str, Any], templates_dir: Path) -> Incident:
    from notifier.notices.content import load_content

    categories = load_content(templates_dir).categories
    if "regimes" not in facts and "filings" not in facts:
        return Incident.parse(facts, categories=categories)
    from notifier.notices.deadline_rules import load_deadline_rules

    rules = load_deadline_rules(templates_dir)
    return Incident.parse(facts, categories=categories, regimes=rules.regimes, obligations=rules.ids)


def _object(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def _keep_language(container: dict[str, Any], key: str, locale: str) -> None:
    """Reduce ``container[key]``, a text by language, to the ``locale`` text (``ru_RU`` → ``ru``)."""
    value = container.get(key)
    if isinstance(value, dict):
        language = locale.split("_", maxsplit=1)[0]
        container[key] = value.get(locale) or value.get(language)
