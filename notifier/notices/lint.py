"""The template linter: every notice × locale × channel × jurisdiction profile, rendered exactly as it
would be sent (with complete and with minimal incident facts), checked against the rules legal relies on.

Rules (each has a test that breaks it, tests/test_lint.py):

==============  ========  ==========================================================================
rule            severity  what it checks
==============  ========  ==========================================================================
catalog         error     every message of the locale is translated and not fuzzy (listed by message)
render          error     the part renders under StrictUndefined with complete and minimal facts
sandbox         error     no template reaches for Python internals (``__x__`` attributes)
sections        error     the profile's title/headings are present, in order, each with content
links           error     every link is https, on the allow-list, and not a shortener
subject         error     the subject is non-empty and within ``subject.max_chars``
sms-segments    error     the SMS fits the locale's segment budget (GSM-7 160/153, UCS-2 70/67)
sms-content     error     the SMS points to the full notice; US readers get opt-out wording
html            error     no images, external resources or scripts; no text smaller than 10 pt
escaping        error     hostile customer data (markup, CR/LF) renders inert in every part
promotional     warning   no marketing wording
==============  ========  ==========================================================================
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.messages.pofile import read_po

from notifier.errors import RenderError
from notifier.notices.content import ContentModel, load_content
from notifier.notices.incidents import Incident
from notifier.notices.render import NOTICES, PARTS, NoticeParts, Renderer
from notifier.notices.segments import segment_info

__all__ = ["Finding", "LintPolicy", "Linter", "sample_incident"]

HOSTILE_NAME = "<script>alert(1)</script>\r\nBcc: attacker@example.net"
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')]+", re.IGNORECASE)
_DUNDER = re.compile(r"\.__\w+__|\[\s*['\"]__\w+__['\"]\s*\]|\b__\w+__\b")
_FONT_PX = re.compile(r"font-size:\s*([\d.]+)(px|pt)", re.IGNORECASE)
_FORBIDDEN_HTML = re.compile(r"<img\b|<script\b|<link\b|@import|url\(|<iframe\b|<object\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # "error" or "warning"
    rule: str
    notice: str
    locale: str
    channel: str | None
    profile: str | None
    file: str
    message: str

    def __str__(self) -> str:
        where = "/".join(x for x in (self.notice, self.locale, self.channel, self.profile) if x)
        return f"{self.severity.upper():7} {self.file} [{where}] {self.rule}: {self.message}"


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

    def run(self, *, notice: str | None = None, locale: str | None = None) -> list[Finding]:
        findings = list(self._sandbox())
        for loc in self.locales:
            if locale and loc != locale:
                continue
            findings += self._catalog(loc)
            for name in NOTICES:
                if notice and name != notice:
                    continue
                for profile in self.content.profiles:
                    findings += self._rendered(name, loc, profile)
        return findings

    # --- rules -------------------------------------------------------------------------------------

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
            if message.fuzzy:
                findings.append(
                    Finding(
                        "error",
                        "catalog",
                        "*",
                        locale,
                        None,
                        None,
                        str(path),
                        f"fuzzy translation: {msgid!r}",
                    )
                )
            elif not all(strings):
                findings.append(
                    Finding(
                        "error", "catalog", "*", locale, None, None, str(path), f"untranslated: {msgid!r}"
                    )
                )
        return findings

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

    def _rendered(self, notice: str, locale: str, profile: str) -> list[Finding]:
        renderer = self.renderers[notice]
        sample = self.policy.sample(locale)
        findings: list[Finding] = []
        for which in ("complete", "minimal"):
            try:
                parts = renderer.render(
                    sample_incident(self.templates_dir, which),
                    name=sample["name"],
                    locale=locale,
                    time_zone=sample["time_zone"],
                    jurisdiction=self.content.profiles[profile].sample_jurisdiction,
                )
            except RenderError as exc:
                file = str(exc).split(" ")[0]
                channel = "sms" if "sms" in file else "email"
                findings.append(
                    Finding(
                        "error",
                        "render",
                        notice,
                        locale,
                        channel,
                        profile,
                        str(self.templates_dir / file),
                        f"with {which} facts: {exc}",
                    )
                )
                continue
            findings += self._check_parts(notice, locale, profile, which, parts)
        findings += self._escaping(renderer, notice, locale, profile, sample)
        return _dedupe(findings)

    def _escaping(
        self, renderer: Renderer, notice: str, locale: str, profile: str, sample: dict[str, str]
    ) -> list[Finding]:
        """A customer called ``<script>…`` with a line break must come out as text, everywhere."""
        try:
            parts = renderer.render(
                sample_incident(self.templates_dir, "complete"),
                name=HOSTILE_NAME,
                locale=locale,
                time_zone=sample["time_zone"],
                jurisdiction=self.content.profiles[profile].sample_jurisdiction,
            )
        except RenderError:
            return []  # reported by the render rule
        problems = []
        if "<script>" in parts.html:
            problems.append(
                ("html", "a customer's name reaches the HTML unescaped (is autoescape on for it?)")
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
                "email" if part != "sms" else "sms",
                profile,
                str(self.templates_dir / notice / PARTS[part]),
                message,
            )
            for part, message in problems
        ]

    def _check_parts(
        self, notice: str, locale: str, profile: str, which: str, parts: NoticeParts
    ) -> list[Finding]:
        out: list[Finding] = []

        def add(severity: str, rule: str, channel: str, part: str, message: str) -> None:
            out.append(
                Finding(
                    severity,
                    rule,
                    notice,
                    locale,
                    channel,
                    profile,
                    str(self.templates_dir / notice / PARTS[part]),
                    f"{message} ({which} facts)",
                )
            )

        self._sections(parts, profile, locale, lambda part, msg: add("error", "sections", "email", part, msg))
        for part in ("subject", "text", "html", "sms"):
            channel = "sms" if part == "sms" else "email"
            text = getattr(parts, part)
            for problem in self._link_problems(text):
                add("error", "links", channel, part, problem)
            lowered = text.lower()
            for word in self.policy.promotional.get(locale.split("_", maxsplit=1)[0], ()):
                if word.lower() in lowered:
                    add("warning", "promotional", channel, part, f"promotional wording {word!r}")
        if not parts.subject:
            add("error", "subject", "email", "subject", "empty subject")
        elif len(parts.subject) > self.policy.subject_max_chars:
            add(
                "error",
                "subject",
                "email",
                "subject",
                f"{len(parts.subject)} characters > {self.policy.subject_max_chars}: {parts.subject!r}",
            )
        info = segment_info(parts.sms)
        budget = self.policy.sms_segments.get(
            locale.split("_", maxsplit=1)[0], self.policy.sms_default_segments
        )
        if info.segments > budget:
            add(
                "error",
                "sms-segments",
                "sms",
                "sms",
                f"{info.segments} segments ({info.encoding}, {info.units} "
                f"units, non-GSM {''.join(info.non_gsm[:5])!r}) > budget {budget}",
            )
        if "https://" not in parts.sms:
            add("error", "sms-content", "sms", "sms", "the SMS must point to the full notice (an https link)")
        if profile == "california" and "STOP" not in parts.sms:
            add("error", "sms-content", "sms", "sms", "US readers need opt-out wording (STOP)")
        if _FORBIDDEN_HTML.search(parts.html):
            add(
                "error",
                "html",
                "email",
                "html",
                "images, scripts, external resources or frames are not allowed",
            )
        for size, unit in _FONT_PX.findall(parts.html):
            px = float(size) * (4 / 3 if unit.lower() == "pt" else 1)
            if px < self.policy.min_font_px:
                add("error", "html", "email", "html", f"font-size {size}{unit} is below 10 pt")
        return out

    def _sections(self, parts: NoticeParts, profile_name: str, locale: str, report: Any) -> None:
        profile = self.content.profiles[profile_name]
        renderer = next(iter(self.renderers.values()))
        _env, translations = renderer.environment(renderer.notice_locale(locale))
        headings = [
            h if profile.verbatim_headings else translations.gettext(h) for _sid, h in profile.sections
        ]
        if profile.title:
            if not parts.text.startswith(profile.title):
                report("text", f"the title {profile.title!r} must open the notice")
            if f">{profile.title}<" not in parts.html:
                report("html", f"the title {profile.title!r} must be shown")
        for part in ("text", "html"):
            body = getattr(parts, part)
            positions = []
            for heading in headings:
                marker = f"== {heading}" if part == "text" else f">{heading}"
                position = body.find(marker)
                if position < 0:
                    report(part, f"missing section heading {heading!r}")
                positions.append(position)
            found = [p for p in positions if p >= 0]
            if found != sorted(found):
                report(part, "section headings are out of order: " + " → ".join(headings))
            bounds = [*found, len(body)]
            for start, end in zip(found, bounds[1:], strict=False):
                chunk = body[start:end]
                content = (
                    chunk.split("==", 2)[-1]
                    if part == "text"
                    else re.sub(r"<[^>]+>", "", chunk.split("</h2>", 1)[-1])
                )
                if not content.strip():
                    report(part, f"a section is empty: {chunk[:60]!r}")

    def _link_problems(self, text: str) -> Iterator[str]:
        for found in _URL.findall(text):
            url = found.rstrip(".,;:")
            if url.lower().startswith("www."):
                continue  # the credit bureaus' names as printed in the statute's model text
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            if parts.scheme != "https":
                yield f"link is not https: {url}"
            if host in self.policy.shorteners:
                yield f"link shortener not allowed: {url}"
            elif not any(host == d or host.endswith("." + d) for d in self.policy.allowed_domains):
                yield f"link to a domain not on the allow-list: {url}"


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
