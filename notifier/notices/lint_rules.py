"""The linter's rules on one rendered notice (``notifier.notices.lint`` runs them). Each rule returns
``Problem`` s: the rule, the part it is about, and what is wrong, in words legal can act on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from notifier.notices.content import ContentModel, Profile
from notifier.notices.incidents import Incident
from notifier.notices.letters import RECIPIENT_SLOT, REFERENCE_SLOT
from notifier.notices.render import NoticeParts
from notifier.notices.segments import segment_info

__all__ = ["Problem", "check_parts"]

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')]+", re.IGNORECASE)
_FONT_PX = re.compile(r"font-size:\s*([\d.]+)(px|pt)", re.IGNORECASE)
_FORBIDDEN_HTML = re.compile(r"<img\b|<script\b|<link\b|@import|url\(|<iframe\b|<object\b", re.IGNORECASE)
_BLOCK = re.compile(r'data-block="([a-z0-9_]+)"')
# The letter fonts' @font-face rules (file: URLs that notices/letters.py alone serves to WeasyPrint).
_FONT_FACES = re.compile(r"@font-face\s*\{[^}]*\}", re.IGNORECASE)
_TOLL_FREE = re.compile(r"^\+?1[\s-]?\(?8(00|33|44|55|66|77|88)\)?")


@dataclass(frozen=True, slots=True)
class Problem:
    rule: str
    part: str  # subject | text | html | sms
    message: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class Policy:
    """What ``templates/policy.toml`` says the rules need (a view of ``lint.LintPolicy``)."""

    allowed_domains: tuple[str, ...]
    shorteners: tuple[str, ...]
    subject_max_chars: int
    sms_budget: int
    min_font_px: float
    promotional: tuple[str, ...]


def check_parts(
    parts: NoticeParts,
    *,
    profile: Profile,
    incident: Incident,
    content: ContentModel,
    headings: list[str],
    policy: Policy,
) -> list[Problem]:
    """Every rule on one rendered notice of one profile."""
    return [
        *_sections(parts, profile, headings),
        *_links_and_words(parts, policy),
        *_subject(parts, policy),
        *_sms(parts, profile, policy),
        *_html(parts, policy),
        *_letter(parts, incident),
        *_blocks(parts, profile, incident, content),
        *_profile_rules(parts, profile, incident),
    ]


def _sections(parts: NoticeParts, profile: Profile, headings: list[str]) -> Iterator[Problem]:
    title = profile.sections.title
    if title:
        if not parts.text.startswith(title):
            yield Problem("sections", "text", f"the title {title!r} must open the notice")
        for part in ("html", "letter"):
            if f">{title}<" not in getattr(parts, part):
                yield Problem("sections", part, f"the title {title!r} must be shown")
    for part in ("text", "html", "letter"):
        body = getattr(parts, part)
        marker = "== {}" if part == "text" else ">{}"
        positions = [body.find(marker.format(h)) for h in headings]
        for heading, position in zip(headings, positions, strict=True):
            if position < 0:
                yield Problem("sections", part, f"missing section heading {heading!r}")
        found = [p for p in positions if p >= 0]
        if found != sorted(found):
            yield Problem("sections", part, "section headings are out of order: " + " → ".join(headings))
        for start, end in zip(found, [*found[1:], len(body)], strict=True):
            chunk = body[start:end]
            content = (
                chunk.split("==", 2)[-1]
                if part == "text"
                else re.sub(r"<[^>]+>", "", chunk.split("</h2>", 1)[-1])
            )
            if not content.strip():
                yield Problem("sections", part, f"a section is empty: {chunk[:60]!r}")


def _links_and_words(parts: NoticeParts, policy: Policy) -> Iterator[Problem]:
    for part in ("subject", "text", "html", "sms", "letter"):
        text = getattr(parts, part)
        for found in _URL.findall(_FONT_FACES.sub("", text)):
            url = found.rstrip(".,;:")
            host = (urlsplit(url).hostname or "").lower()
            if not url.lower().startswith("https://"):
                yield Problem("links", part, f"link is not https: {url}")
            elif host in policy.shorteners:
                yield Problem("links", part, f"link shortener not allowed: {url}")
            elif not any(host == d or host.endswith("." + d) for d in policy.allowed_domains):
                yield Problem("links", part, f"link to a domain not on the allow-list: {url}")
        lowered = text.lower()
        for word in policy.promotional:
            if word.lower() in lowered:
                yield Problem("promotional", part, f"promotional wording {word!r}", "warning")


def _subject(parts: NoticeParts, policy: Policy) -> Iterator[Problem]:
    if not parts.subject:
        yield Problem("subject", "subject", "empty subject")
    elif len(parts.subject) > policy.subject_max_chars:
        yield Problem(
            "subject",
            "subject",
            f"{len(parts.subject)} characters > {policy.subject_max_chars}: {parts.subject!r}",
        )


def _sms(parts: NoticeParts, profile: Profile, policy: Policy) -> Iterator[Problem]:
    info = segment_info(parts.sms)
    if info.segments > policy.sms_budget:
        yield Problem(
            "sms-segments",
            "sms",
            f"{info.segments} segments ({info.encoding}, {info.units} units, "
            f"non-GSM {''.join(info.non_gsm[:5])!r}) > budget {policy.sms_budget}",
        )
    if "https://" not in parts.sms:
        yield Problem("sms-content", "sms", "the SMS must point to the full notice (an https link)")
    if "us_opt_out" in profile.rules and "STOP" not in parts.sms:
        yield Problem("sms-content", "sms", "US readers need opt-out wording that says what STOP stops")


def _html(parts: NoticeParts, policy: Policy) -> Iterator[Problem]:
    for part in ("html", "letter"):
        # A letter's only resources are its fonts, named by the layout (notices/letters.py), nothing else.
        html = _FONT_FACES.sub("", getattr(parts, part)) if part == "letter" else parts.html
        if _FORBIDDEN_HTML.search(html):
            yield Problem("html", part, "images, scripts, external resources or frames are not allowed")
        for size, unit in _FONT_PX.findall(html):
            px = float(size) * (4 / 3 if unit.lower() == "pt" else 1)
            if px < policy.min_font_px:
                yield Problem("html", part, f"font-size {size}{unit} is below 10 pt")


def _letter(parts: NoticeParts, incident: Incident) -> Iterator[Problem]:
    """What makes a letter a letter: where it comes back to, whom it goes to, and its reference."""
    if not incident.return_address:
        yield Problem(
            "letter", "letter", "no return address: give the incident's company.return_address (its lines)"
        )
    for slot, what in ((RECIPIENT_SLOT, "the recipient's address"), (REFERENCE_SLOT, "the reference")):
        if parts.letter.count(slot) < 1:
            yield Problem(
                "letter", "letter", f"the letter does not show {what} (letter.recipient / .reference)"
            )


def _blocks(
    parts: NoticeParts, profile: Profile, incident: Incident, content: ContentModel
) -> Iterator[Problem]:
    """Exactly the profile's blocks, where their conditions hold: a US credit-bureau list never reaches a
    Russian reader, New York's agencies only New Yorkers; seen in the HTML's markers and in the text."""
    flags = {"law_enforcement_delay": incident.law_enforcement_delay, "offers": bool(incident.offers)}
    expected = {b.name for b in content.blocks_for(profile, incident.data_categories, flags)}
    for part in ("html", "letter"):
        shown = set(_BLOCK.findall(getattr(parts, part)))
        for name in sorted(expected - shown):
            yield Problem(
                "blocks", part, f"the {profile.name} profile requires the {name} block here; it is missing"
            )
        for name in sorted(shown - expected):
            why = "here: its condition does not hold" if name in profile.blocks else f"{profile.name} readers"
            yield Problem("blocks", part, f"the {name} block must not reach {why}")
    text = parts.text.lower()
    for name, block in content.blocks.items():
        present = [e for e in block.evidence if e.lower() in text]
        if name in expected and len(present) < len(block.evidence):
            missing = [e for e in block.evidence if e not in present]
            yield Problem("blocks", "text", f"the {name} block is incomplete in the text part: no {missing}")
        elif name not in expected and present:
            why = (
                "its condition does not hold for this incident"
                if name in profile.blocks
                else f"not for {profile.name} readers"
            )
            yield Problem("blocks", "text", f"the text part carries the {name} block's {present}: {why}")


def _profile_rules(parts: NoticeParts, profile: Profile, incident: Incident) -> Iterator[Problem]:
    contact = incident.contact
    categories = set(incident.data_categories)
    if "dpo_named" in profile.rules and not (contact.dpo_name or contact.email or contact.phone):
        yield Problem(
            "profile",
            "text",
            "GDPR: name the data protection officer or a contact point with an "
            "email or phone (contact.dpo, contact.email)",
        )
    if (
        "vn_discovery_manner" in profile.rules
        and categories & {"biometric", "location"}
        and not incident.discovered_how
    ):
        yield Problem(
            "profile",
            "text",
            "Decree 356/2025: biometric or location data leaked, so the notice must "
            "say how the incident was discovered (discovered_how)",
        )
    long_offer = any(o.months >= 12 for o in incident.offers)
    if "ca_identity_theft_offer" in profile.rules and "government_id" in categories and not long_offer:
        yield Problem(
            "profile",
            "text",
            "California: an identity number leaked, so offer identity-theft "
            "protection free for at least 12 months (offers)",
        )
    toll_free = bool(contact.phone and _TOLL_FREE.match(contact.phone))
    if "hipaa_contact" in profile.rules and not (toll_free and (contact.email or contact.url)):
        yield Problem(
            "profile",
            "text",
            "HIPAA: give a toll-free number and an email, website or postal "
            "address (contact.phone, contact.email or contact.url)",
        )
