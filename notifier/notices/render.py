"""Rendering of notices: incident facts + one reader → the exact text each channel sends.

Templates run in Jinja2's SandboxedEnvironment with StrictUndefined (a missing variable is an error,
never an empty string) and autoescape for HTML, so customer data is always data. Every part of a
notice is rendered before anything is sent: a notice is complete or it is not sent at all. The
linter, the proof sheets and the delivery engine all render through ``Renderer.render``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from notifier.errors import RenderError
from notifier.models import Channel, RenderedMessage
from notifier.notices.content import ContentModel, Profile, load_content
from notifier.notices.context import Reader, notice_context
from notifier.notices.i18n import available_locales, load_translations, resolve_locale
from notifier.notices.incidents import Incident
from notifier.notices.letters import RECIPIENT_SLOT, REFERENCE_SLOT, load_layouts

__all__ = [
    "CHANNEL_PARTS",
    "NOTICES",
    "PARTS",
    "PART_CHANNEL",
    "UPDATE_NOTICES",
    "NoticeCache",
    "NoticeParts",
    "Renderer",
    "clean_name",
    "renderer_for",
]

PARTS = {
    "subject": "subject.txt.j2",
    "text": "body.txt.j2",
    "html": "body.html.j2",
    "sms": "sms.txt.j2",
    "letter": "letter.html.j2",
}
ALL_PARTS = tuple(PARTS)
CHANNEL_PARTS = {
    Channel.EMAIL: ("subject", "text", "html"),
    Channel.SMS: ("sms",),
    Channel.LETTER: ("subject", "letter"),
}
# The channel each part is sent on (None: more than one, so a problem in it concerns them all).
PART_CHANNEL: dict[str, str | None] = {
    "subject": None,
    "text": "email",
    "html": "email",
    "sms": "sms",
    "letter": "letter",
}
NOTICES = ("breach_notice", "breach_update")
# Notices that follow up on one already sent: a customer may get several; of any other, one per incident.
UPDATE_NOTICES = frozenset({"breach_update"})
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|%\([a-z_]+\)s")


@dataclass(frozen=True, slots=True)
class NoticeParts:
    """One notice, completely rendered for one reader, in the notice locale and jurisdiction profile."""

    locale: str
    profile: str
    subject: str
    text: str
    html: str
    sms: str
    letter: str = ""  # the letter's HTML, with RECIPIENT_SLOT and REFERENCE_SLOT still in it

    def message(self, channel: Channel, *, to: str, name: str) -> RenderedMessage:
        """What ``channel`` sends to ``to`` (an address or an E.164 number); ``name`` is the display name.
        A letter's PDF is made per person by ``sending.pipeline.compose``."""
        if channel is Channel.EMAIL:
            return RenderedMessage(
                channel=channel,
                to=to,
                subject=self.subject,
                body_text=self.text,
                body_html=self.html,
                locale=self.locale,
                headers={"display_name": name},
            )
        if channel is Channel.LETTER:
            return RenderedMessage(
                channel=channel,
                to=to,
                subject=self.subject,
                body_text="",
                body_html=self.letter,
                locale=self.locale,
            )
        return RenderedMessage(channel=channel, to=to, body_text=self.sms, locale=self.locale)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# Stands in for the reader's name when a notice is rendered once for many readers: private-use
# characters, which no cleaned name contains, HTML escaping leaves alone, and str.split() keeps.
NAME_SLOT = "\ue000name\ue001"


def clean_name(name: str) -> str:
    """Control characters (CR/LF included) become spaces: a name is one line of data."""
    return " ".join(_CONTROL.sub(" ", name).split())


def _without_name(rendered: str, name: str) -> str:
    """The output minus the customer's name (raw and HTML-escaped): braces in a name are data."""
    return rendered.replace(str(escape(name)), "").replace(name, "")


class Renderer:
    """Renders one notice (a folder of templates) in any locale that has a catalog."""

    def __init__(self, templates_dir: Path, locales_dir: Path, notice: str = "breach_notice") -> None:
        self.templates_dir = templates_dir
        self.locales_dir = locales_dir
        self.notice = notice
        self._envs: dict[str, tuple[SandboxedEnvironment, Any]] = {}
        if not (templates_dir / notice).is_dir():
            raise RenderError(f"no notice templates at {templates_dir / notice}")

    @property
    def content(self) -> ContentModel:
        """The legal content model (cached by the loader until its file changes)."""
        return load_content(self.templates_dir)

    @cached_property
    def locales(self) -> tuple[str, ...]:
        return available_locales(self.locales_dir)

    def notice_locale(self, customer_locale: str) -> str:
        """The catalog a customer reads: ``ru_RU`` → ``ru``; an unsupported locale → ``en``."""
        return resolve_locale(customer_locale, self.locales)

    def environment(self, locale: str) -> tuple[SandboxedEnvironment, Any]:
        """The sandboxed environment for one notice locale, and its translations for Python-side text."""
        cached = self._envs.get(locale)
        if cached is None:
            env = SandboxedEnvironment(
                loader=FileSystemLoader(self.templates_dir),
                autoescape=lambda name: bool(name and name.endswith(".html.j2")),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                keep_trailing_newline=False,
            )
            env.policies["ext.i18n.trimmed"] = True
            translations = load_translations(self.locales_dir, locale)
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            cached = self._envs[locale] = (env, translations)
        return cached

    def render(
        self,
        incident: Incident,
        *,
        name: str,
        locale: str,
        time_zone: str,
        jurisdiction: str | None = None,
        profile: str | None = None,
        notice_date: date | None = None,
        parts: tuple[str, ...] = ALL_PARTS,
    ) -> NoticeParts:
        """Render the notice for one reader, or raise RenderError naming the template and locale. The
        reader's profile follows from their jurisdiction and what leaked, unless ``profile`` names one
        (the linter and the proof sheets render each profile)."""
        notice_locale = self.notice_locale(locale)
        env, translations = self.environment(notice_locale)
        chosen = self.profile_of(incident, jurisdiction, profile)
        reader = Reader(
            notice_locale=notice_locale,
            format_locale=_format_locale(locale, notice_locale),
            time_zone=time_zone,
            jurisdiction=jurisdiction or chosen.sample,
        )
        try:
            context = notice_context(
                incident,
                self.content,
                reader,
                profile=chosen,
                notice_date=notice_date or incident.notice_date or datetime.now(UTC).date(),
                gettext=translations.gettext,
                ngettext=translations.ngettext,
                is_update=self.notice in UPDATE_NOTICES,
            )
        except RenderError as exc:
            raise RenderError(f"{self.notice} [{notice_locale}]: {exc}") from exc
        except (KeyError, ValueError, TypeError) as exc:  # an unknown time zone or locale
            raise RenderError(f"{self.notice} [{notice_locale}]: cannot build the notice: {exc!r}") from exc
        context["customer_name"] = clean_name(name)  # "" for a nameless reader: the salutation has no name
        context["subject"] = ""
        context["letter"] = self._letter_context(incident, reader.jurisdiction)
        out = dict.fromkeys(PARTS, "")
        for part in ("subject", *[p for p in parts if p != "subject"]):
            out[part] = self._part(env, part, context, notice_locale)
            if part == "subject":
                context["subject"] = " ".join(out[part].split())
        return NoticeParts(
            locale=notice_locale,
            profile=chosen.name,
            subject=" ".join(out["subject"].split()),
            text=out["text"],
            html=out["html"],
            sms=" ".join(out["sms"].split()),
            letter=out["letter"],
        )

    def _letter_context(self, incident: Incident, jurisdiction: str | None) -> dict[str, Any]:
        """What the letter template needs: the layout of the reader's country (paper, envelope window,
        fonts), the return address, and the slots of the recipient's address and the reference."""
        country = (jurisdiction or "").split("-", maxsplit=1)[0]
        return {
            **load_layouts(self.templates_dir).for_country(country).as_context(),
            "return_address": list(incident.return_address),
            "recipient": RECIPIENT_SLOT,
            "reference": REFERENCE_SLOT,
        }

    def profile_of(self, incident: Incident, jurisdiction: str | None, profile: str | None = None) -> Profile:
        """The profile a reader gets: named, or the one their jurisdiction and the leaked data call for."""
        if profile is not None:
            if profile not in self.content.profiles:
                raise RenderError(
                    f"no jurisdiction profile {profile!r}; known: {', '.join(self.content.profiles)}"
                )
            return self.content.profiles[profile]
        return self.content.profile_for(jurisdiction, incident.data_categories)

    def _part(self, env: SandboxedEnvironment, part: str, context: dict[str, Any], notice_locale: str) -> str:
        template_name = f"{self.notice}/{PARTS[part]}"
        try:
            rendered = env.get_template(template_name).render(context).strip()
        except TemplateError as exc:
            raise RenderError(f"{template_name} [{notice_locale}]: {exc}") from exc
        if _LEFTOVER.search(_without_name(rendered, str(context["customer_name"]))):
            raise RenderError(f"{template_name} [{notice_locale}]: unrendered template syntax in output")
        return _BLANK_RUNS.sub("\n\n", rendered) if part == "text" else rendered


def _format_locale(locale: str, notice_locale: str) -> str:
    """Dates and numbers follow the reader's own locale when it speaks the notice's language (``ru_RU`` for
    a Russian notice), else the notice's."""
    try:
        same_language = Locale.parse(locale).language == notice_locale.split("_", maxsplit=1)[0]
    except (ValueError, TypeError):
        same_language = False
    return locale if same_language else notice_locale


@lru_cache(maxsize=8)
def renderer_for(templates_dir: Path, locales_dir: Path, notice: str) -> Renderer:
    """One renderer per notice and process: compiled templates and catalogs are reused across windows."""
    return Renderer(templates_dir, locales_dir, notice)


class NoticeCache:
    """Renders each distinct (locale, time zone, jurisdiction, named or not) group once and personalizes
    per reader.

    Only the name differs between readers of a group, so the notice is rendered with ``NAME_SLOT`` and
    the name is put in afterwards: raw in text, HTML-escaped in HTML, exactly as the templates' own
    ``{% trans name=customer_name %}`` would (tests/test_render.py compares both paths). A group whose
    rendering fails fails every reader in it with the same error, without rendering again."""

    def __init__(self, renderer: Renderer, incident: Incident) -> None:
        self.renderer = renderer
        self.incident = incident
        self._groups: dict[tuple[Any, ...], NoticeParts | RenderError] = {}

    def reset(self, incident: Incident) -> None:
        """Render from now on with ``incident`` (a new revision) and current templates: forget every group."""
        self.incident = incident
        self._groups.clear()

    def render(
        self,
        *,
        name: str,
        locale: str,
        time_zone: str,
        jurisdiction: str | None = None,
        parts: tuple[str, ...] = ALL_PARTS,
    ) -> NoticeParts:
        named = bool(clean_name(name))  # a nameless reader gets a salutation without a name: its own group
        key = (locale, time_zone, jurisdiction, parts, named)
        group = self._groups.get(key)
        if group is None:
            try:
                group = self.renderer.render(
                    self.incident,
                    name=NAME_SLOT if named else "",
                    locale=locale,
                    time_zone=time_zone,
                    jurisdiction=jurisdiction,
                    parts=parts,
                )
            except RenderError as exc:
                group = exc
            self._groups[key] = group
        if isinstance(group, RenderError):
            raise group
        reader = clean_name(name)
        escaped = str(escape(reader))
        return NoticeParts(
            locale=group.locale,
            profile=group.profile,
            subject=group.subject.replace(NAME_SLOT, reader),
            text=group.text.replace(NAME_SLOT, reader),
            html=group.html.replace(NAME_SLOT, escaped),
            sms=group.sms.replace(NAME_SLOT, reader),
            letter=group.letter.replace(NAME_SLOT, escaped),
        )
