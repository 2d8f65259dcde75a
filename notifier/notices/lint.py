"""The template linter: every notice × locale × channel × jurisdiction profile, rendered exactly as it
would be sent, checked against the rules legal relies on. Without an incident it renders the sample
incidents (complete and minimal facts, ``templates/samples/``); with one (``lint --incident KEY``) it
renders that incident, and a text of the incident missing in a language is an error naming both.

Rules (each has a test that breaks it, tests/test_lint.py; the rules on a rendered notice are in
``lint_rules``):

================  ========  =======================================================================
rule              severity  what it checks
================  ========  =======================================================================
catalog           error     every message of the locale is translated and not fuzzy (listed by message)
incident-texts    error     every free text of the incident exists in the language (field, language)
render            error     the part renders under StrictUndefined
sandbox           error     no template reaches for Python internals (``__x__`` attributes)
sections          error     the profile's title/headings are present, in order, each with content
blocks            error     exactly the profile's blocks: required ones there, others nowhere
profile           error     the profile's own rules (DPO named, CA 12-month offer, HIPAA contacts, …)
links             error     every link is https, on the allow-list, and not a shortener
subject           error     the subject is non-empty and within ``subject.max_chars``
sms-segments      error     the SMS fits the locale's segment budget (GSM-7 160/153, UCS-2 70/67)
sms-content       error     the SMS points to the full notice; US readers get opt-out wording
html              error     no images, external resources or scripts; no text smaller than 10 pt
escaping          error     hostile customer data (markup, CR/LF) renders inert in every part
promotional       warning   no marketing wording
================  ========  =======================================================================
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from babel.messages.pofile import read_po

from notifier.errors import RenderError
from notifier.notices.content import ContentModel, Profile, load_content
from notifier.notices.incidents import Incident
from notifier.notices.lint_rules import Policy, check_parts
from notifier.notices.render import NOTICES, PART_CHANNEL, PARTS, Renderer

__all__ = ["Finding", "LintPolicy", "Linter", "missing_texts", "sample_incident"]

HOSTILE_NAME = "<script>alert(1)</script>\r\nBcc: attacker@example.net"
_DUNDER = re.compile(r"\.__\w+__|\[\s*['\"]__\w+__['\"]\s*\]|\b__\w+__\b")


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # "error" or "warning"
    rule: str
    notice: str  # "*": every notice
    locale: str  # "*": every locale
    channel: str | None  # None: every channel
    profile: str | None  # None: every profile
    file: str
    message: str

    def __str__(self) -> str:
        where = "/".join(x for x in (self.notice, self.locale, self.channel, self.profile) if x)
        return f"{self.severity.upper():7} {self.file} [{where}] {self.rule}: {self.message}"

    def concerns(self, notice: str, locale: str, channel: str, profile: str) -> bool:
        """Whether this finding is about that notice piece (the approval of which it then blocks)."""
        return (
            self.notice in (notice, "*")
            and self.locale in (locale, "*")
            and self.channel in (channel, None)
            and self.profile in (profile, None)
        )


@dataclass(frozen=True, slots=True)
class LintPolicy:
    allowed_domains: tuple[str, ...]
    shorteners: tuple[str, ...]
    subject_max_chars: int
    sms_segments: dict[str, int]
    sms_default_segments: int
    min_font_px: float
    promotional: dict[str, tuple[str, ...]]
    samples: dict[str, dict[str, str]]

    @classmethod
    def load(cls, path: Path) -> LintPolicy:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls(
            allowed_domains=tuple(data["links"]["allowed_domains"]),
            shorteners=tuple(data["links"].get("shorteners", [])),
            subject_max_chars=int(data["subject"]["max_chars"]),
            sms_segments={k: int(v) for k, v in data["sms"].get("segments", {}).items()},
            sms_default_segments=int(data["sms"]["default_segments"]),
            min_font_px=float(data["html"]["min_font_px"]),
            promotional={k: tuple(v) for k, v in data.get("promotional", {}).items()},
            samples=data.get("samples", {}),
        )

    def sample(self, locale: str) -> dict[str, str]:
        return (
            self.samples.get(locale)
            or self.samples.get("en")
            or {"name": "Sample Customer", "time_zone": "UTC"}
        )

    def for_locale(self, locale: str) -> Policy:
        language = locale.split("_", maxsplit=1)[0]
        return Policy(
            allowed_domains=self.allowed_domains,
            shorteners=self.shorteners,
            subject_max_chars=self.subject_max_chars,
            sms_budget=self.sms_segments.get(language, self.sms_default_segments),
            min_font_px=self.min_font_px,
            promotional=self.promotional.get(language, ()),
        )


def sample_incident(templates_dir: Path, which: str) -> Incident:
    """The incident the linter and the proof sheets render with: ``complete`` or ``minimal`` facts."""
    facts = json.loads((templates_dir / "samples" / f"{which}.json").read_text(encoding="utf-8"))
    return Incident.parse(facts, categories=load_content(templates_dir).categories)


class Linter:
    def __init__(self, templates_dir: Path, locales_dir: Path, policy: LintPolicy | None = None) -> None:
        self.templates_dir = templates_dir
        self.locales_dir = locales_dir
        self.policy = policy or LintPolicy.load(templates_dir / "policy.toml")

    @property
    def content(self) -> ContentModel:
        return load_content(self.templates_dir)

    @cached_property
    def renderers(self) -> dict[str, Renderer]:
        return {n: Renderer(self.templates_dir, self.locales_dir, n) for n in NOTICES}

    @property
    def locales(self) -> tuple[str, ...]:
        return self.renderers[NOTICES[0]].locales

    def run(
        self, *, notice: str | None = None, locale: str | None = None, incident: Incident | None = None
    ) -> list[Finding]:
        """Every finding, for every notice, locale and profile (or the one asked for); with the sample
        incidents, or with ``incident``."""
        incidents = (
            [incident]
            if incident
            else [sample_incident(self.templates_dir, w) for w in ("complete", "minimal")]
        )
        findings = list(self._sandbox())
        for loc in self.locales:
            if locale and loc != locale:
                continue
            findings += self._catalog(loc)
            if incident is not None:
                findings += [
                    f for f in self._incident_texts(incident, loc) if f.notice in (notice or f.notice, "*")
                ]
            for name in NOTICES:
                if notice and name != notice:
                    continue
                for profile in self.content.profiles.values():
                    findings += self._rendered(name, loc, profile, incidents)
        return _dedupe(findings)

    # --- rules that are not about one rendered notice ------------------------------------------------

    def _catalog(self, locale: str) -> list[Finding]:
        path = self.locales_dir / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle)
        findings = []
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            problem = "fuzzy translation" if message.fuzzy else ("untranslated" if not all(strings) else None)
            if problem:
                findings.append(
                    Finding("error", "catalog", "*", locale, None, None, str(path), f"{problem}: {msgid!r}")
                )
        return findings

    def _incident_texts(self, incident: Incident, locale: str) -> list[Finding]:
        """Every free text of the incident in this language: a gap is named, never filled from another."""
        language = locale.split("_", maxsplit=1)[0]
        return [
            Finding(
                "error",
                "incident-texts",
                "breach_update" if field.startswith("update.") else "*",
                locale,
                None,
                None,
                f"incident {incident.key}",
                f"{field!r} has no {language!r} text; add it to the incident (notifier incident edit)",
            )
            for field in missing_texts(incident, locale)
        ] + [
            Finding(
                "error",
                "incident-texts",
                "breach_update",
                locale,
                None,
                None,
                f"incident {incident.key}",
                f"an update notice needs update.{field}: say what is new since the first notice, and when "
                "that was (notifier incident edit)",
            )
            for field, value in (
                ("what_is_new", incident.what_is_new),
                ("previous_notice_date", incident.previous_notice_date),
            )
            if value is None
        ]

    def _sandbox(self) -> Iterator[Finding]:
        for path in sorted(self.templates_dir.rglob("*.j2")):
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if _DUNDER.search(line):
                    yield Finding(
                        "error",
                        "sandbox",
                        "*",
                        "*",
                        None,
                        None,
                        f"{path}:{lineno}",
                        "refers to a Python internal (__…__ attribute); templates get data only",
                    )

    # --- rules about one rendered notice (lint_rules) ------------------------------------------------

    def _rendered(
        self, notice: str, locale: str, profile: Profile, incidents: list[Incident]
    ) -> list[Finding]:
        renderer = self.renderers[notice]
        sample = self.policy.sample(locale)
        policy = self.policy.for_locale(locale)
        headings = self._headings(profile, locale)
        findings: list[Finding] = []
        for incident in incidents:
            if not profile.applies_to(incident.data_categories):
                continue  # the profile never applies to this incident's readers
            facts = f"incident {incident.key}"
            try:
                parts = renderer.render(
                    incident,
                    name=sample["name"],
                    locale=locale,
                    time_zone=sample["time_zone"],
                    profile=profile.name,
                )
            except RenderError as exc:
                file = str(exc).split(" ")[0]
                channel = next((c for part, c in PART_CHANNEL.items() if PARTS[part] in file), None)
                findings.append(
                    Finding(
                        "error",
                        "render",
                        notice,
                        locale,
                        channel,
                        profile.name,
                        str(self.templates_dir / file),
                        f"with {facts}: {exc}",
                    )
                )
                continue
            problems = check_parts(
                parts,
                profile=profile,
                incident=incident,
                content=self.content,
                headings=headings,
                policy=policy,
            )
            findings += [
                Finding(
                    p.severity,
                    p.rule,
                    notice,
                    locale,
                    PART_CHANNEL[p.part],
                    profile.name,
                    str(self.templates_dir / notice / PARTS[p.part]),
                    f"{p.message} ({facts})",
                )
                for p in problems
            ]
            findings += self._escaping(renderer, notice, locale, profile, incident, sample)
        return _dedupe(findings)

    def _headings(self, profile: Profile, locale: str) -> list[str]:
        """The profile's section headings as the reader sees them: the statute's English words, or the
        reader's language."""
        renderer = self.renderers[NOTICES[0]]
        _env, translations = renderer.environment(renderer.notice_locale(locale))
        return [
            heading if profile.sections.verbatim else translations.gettext(heading)
            for _sid, heading in profile.sections.sections
        ]

    def _escaping(
        self,
        renderer: Renderer,
        notice: str,
        locale: str,
        profile: Profile,
        incident: Incident,
        sample: dict[str, str],
    ) -> list[Finding]:
        """A customer called ``<script>…`` with a line break must come out as text, everywhere."""
        try:
            parts = renderer.render(
                incident,
                name=HOSTILE_NAME,
                locale=locale,
                time_zone=sample["time_zone"],
                profile=profile.name,
            )
        except RenderError:
            return []  # reported by the render rule
        problems = []
        for part in ("html", "letter"):
            if "<script>" in getattr(parts, part):
                problems.append(
                    (part, "a customer's name reaches the HTML unescaped (is autoescape on for it?)")
                )
        if "<script>" in parts.subject or "\n" in parts.subject or "\n" in parts.sms:
            problems.append(
                ("subject", "customer data reaches the subject or SMS with markup or line breaks")
            )
        return [
            Finding(
                "error",
                "escaping",
                notice,
                locale,
                PART_CHANNEL[part],
                profile.name,
                str(self.templates_dir / notice / PARTS[part]),
                message,
            )
            for part, message in problems
        ]


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """The same problem found with complete and minimal facts is reported once."""
    seen: set[tuple[str, ...]] = set()
    unique = []
    for f in findings:
        key = (f.rule, f.notice, f.locale, f.channel or "", f.profile or "", f.message.rsplit(" (", 1)[0])
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def missing_texts(incident: Incident, locale: str) -> list[str]:
    """The incident's free texts (by field name) that readers of ``locale`` read but that have no text in
    its language. A notice never fills such a gap from another language: lint fails, the plan says who."""
    language = locale.split("_", maxsplit=1)[0]
    return [
        field
        for field, value in incident.texts().items()
        if isinstance(value, dict)
        and not (value.get(locale) or value.get(language))
        and _read_in(field, locale)
    ]


def _read_in(field: str, locale: str) -> bool:
    """Whether readers of ``locale`` read ``field``: a contact for another language's readers they do not."""
    parts = field.split(".")
    if parts[:2] == ["contact", "by_language"]:
        return parts[2] in (locale, locale.split("_", maxsplit=1)[0])
    return True
