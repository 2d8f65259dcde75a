"""Rendering of notices: incident facts + one manifest row → the exact text each channel sends.

Templates run in Jinja2's SandboxedEnvironment with StrictUndefined (a missing variable is an error,
never an empty string) and autoescape for HTML, so customer data is always data. Every part of a
notice is rendered before anything is sent: a notice is complete or it is not sent at all."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_name
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from notifier.errors import RenderError
from notifier.i18n import available_locales, load_translations, resolve_locale

__all__ = ["CATEGORY_LABELS", "NoticeParts", "Renderer", "incident_context"]


def N_(message: str) -> str:  # noqa: N802 - the gettext convention Babel's extractor looks for
    """Mark a string for extraction; it is translated where it is shown."""
    return message


# Controlled vocabulary of data categories (issue 3 extends it); labels are translated per locale.
CATEGORY_LABELS: dict[str, str] = {
    "name": N_("Your name"),
    "email": N_("Your email address"),
    "password": N_("Your account password (stored in hashed form)"),
    "phone": N_("Your phone number"),
    "postal_address": N_("Your postal address"),
    "payment_card": N_("Payment card details"),
    "bank_account": N_("Bank account details"),
    "government_id": N_("Government identity document number"),
    "date_of_birth": N_("Your date of birth"),
    "health_data": N_("Health information"),
    "order_history": N_("Your order history"),
}
# What the customer should do, chosen by the categories involved; phishing advice always applies.
CATEGORY_STEPS: dict[str, tuple[str, ...]] = {
    "password": (
        N_("Change your password now, and anywhere else you used the same password."),
        N_("Turn on two-factor sign-in for your account."),
    ),
    "payment_card": (N_("Watch your card statements and call your bank if you see a payment you do not recognise."),),
    "bank_account": (N_("Watch your bank statements and tell your bank about anything unusual."),),
    "government_id": (N_("Consider placing a fraud alert or credit freeze with the credit bureaus."),),
}
ALWAYS_STEPS = (
    N_("Be careful with messages that claim to be from us: we will never ask for your password or card details."),
)
PARTS = {"subject": "subject.txt.j2", "text": "body.txt.j2", "html": "body.html.j2", "sms": "sms.txt.j2"}
_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}")


@dataclass(frozen=True, slots=True)
class NoticeParts:
    """One notice, completely rendered for one customer, in the notice locale."""

    locale: str
    subject: str
    text: str
    html: str
    sms: str


def _without_name(rendered: str, name: str) -> str:
    """The output minus the customer's name (raw and HTML-escaped): braces in a name are data."""
    return rendered.replace(str(escape(name)), "").replace(name, "")


def _localized(value: Any, locale: str) -> str:
    """Pick the locale's text from {"en": ..., "ru": ...} along the fallback chain; plain strings pass."""
    if isinstance(value, Mapping):
        for candidate in (locale, locale.split("_")[0], "en"):
            if value.get(candidate):
                return str(value[candidate])
        raise RenderError(f"no text for locale {locale!r} or English in {sorted(value)}")
    return str(value)


def _parse_when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def format_moment(moment: datetime, tz: ZoneInfo, locale: str) -> str:
    """``2 ноября 2026 г., 06:10 (+0300)``: CLDR's own order of date and time for the locale, in the
    reader's time zone, with the zone shown so nobody has to guess."""
    local = moment.astimezone(tz)
    pattern = Locale.parse(locale).datetime_formats["long"].replace("'", "")
    text = pattern.format(format_time(local, "short", locale=locale), format_date(local, "long", locale=locale))
    return f"{text} ({get_timezone_name(local, 'short', locale=locale)})"


def incident_context(facts: Mapping[str, Any], notice_locale: str, format_locale: str, time_zone: str,
                     gettext: Any) -> dict[str, Any]:  # fmt: skip
    """Template variables from the incident's facts, in the reader's language and time zone."""
    tz = ZoneInfo(time_zone)
    occurred = facts.get("occurred") or {}

    def when(value: str | None) -> str | None:
        moment = _parse_when(value)
        return format_moment(moment, tz, format_locale) if moment else None

    categories = list(facts.get("data_categories") or [])
    unknown = [c for c in categories if c not in CATEGORY_LABELS]
    if unknown:
        raise RenderError(f"unknown data categories {unknown}; known: {sorted(CATEGORY_LABELS)}")
    steps = [s for c in categories for s in CATEGORY_STEPS.get(c, ())] + list(ALWAYS_STEPS)
    contact = facts["contact"]
    return {
        "company": _localized(facts["company"], notice_locale),
        "what_happened": _localized(facts["what_happened"], notice_locale),
        "measures": _localized(facts["measures"], notice_locale),
        "occurred_start": when(occurred.get("start")),
        "occurred_end": when(occurred.get("end")),
        "discovered_at": when(facts["discovered_at"]),
        "categories": [gettext(CATEGORY_LABELS[c]) for c in categories],
        "steps": [gettext(s) for s in steps],
        "notice_url": facts["notice_url"],
        "contact_phone": contact["phone"],
        "contact_email": contact["email"],
        "contact_hours": _localized(contact["hours"], notice_locale),
        "html_lang": notice_locale.replace("_", "-"),
    }


class Renderer:
    """Renders one notice (a folder of templates) in any locale that has a catalog."""

    def __init__(self, templates_dir: Path, locales_dir: Path, notice: str = "breach_notice") -> None:
        self.templates_dir = templates_dir
        self.locales_dir = locales_dir
        self.notice = notice
        self._envs: dict[str, tuple[SandboxedEnvironment, Any]] = {}
        if not (templates_dir / notice).is_dir():
            raise RenderError(f"no notice templates at {templates_dir / notice}")

    @cached_property
    def locales(self) -> tuple[str, ...]:
        return available_locales(self.locales_dir)

    def notice_locale(self, customer_locale: str) -> str:
        """The catalog a customer reads: ``ru_RU`` → ``ru``; an unsupported locale → ``en``."""
        return resolve_locale(customer_locale, self.locales)

    def _env(self, locale: str) -> tuple[SandboxedEnvironment, Any]:
        """The sandboxed environment for one notice locale, and its ``gettext`` for Python-side labels."""
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
            cached = self._envs[locale] = (env, translations.gettext)
        return cached

    def render(self, facts: Mapping[str, Any], *, name: str, locale: str, time_zone: str) -> NoticeParts:
        """Render every part of the notice for one customer, or raise RenderError naming the part."""
        notice_locale = self.notice_locale(locale)
        format_locale = locale if Locale.parse(locale).language == notice_locale.split("_")[0] else notice_locale
        env, gettext = self._env(notice_locale)
        context = incident_context(facts, notice_locale, format_locale, time_zone, gettext)
        context["customer_name"] = name or gettext("Customer")
        out: dict[str, str] = {}
        for part in ("subject", "text", "sms", "html"):
            template_name = f"{self.notice}/{PARTS[part]}"
            try:
                rendered = env.get_template(template_name).render(context).strip()
            except TemplateError as exc:
                raise RenderError(f"{template_name} [{notice_locale}]: {exc}") from exc
            if _LEFTOVER.search(_without_name(rendered, str(context["customer_name"]))):
                raise RenderError(f"{template_name} [{notice_locale}]: unrendered template syntax in output")
            out[part] = rendered
            if part == "subject":
                context["subject"] = rendered
        return NoticeParts(locale=notice_locale, subject=" ".join(out["subject"].split()), text=out["text"],
                           html=out["html"], sms=" ".join(out["sms"].split()))  # fmt: skip
