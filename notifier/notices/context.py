"""Template variables for one reader: an ``Incident``, the content model and the reader's profile,
localized and formatted.

Every value is in the notice's language and the reader's time zone (CLDR dates, numbers and plurals via
Babel), every unknown fact is said in words, and no text is ever taken from another language: an
incident text missing in the notice's language is an error naming the field (a Russian notice with an
English paragraph in it is worse than no notice). Which blocks a reader gets is the profile's, as data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from notifier.errors import RenderError
from notifier.notices.content import ContentModel, Profile
from notifier.notices.incidents import Incident, Localized, Offer

__all__ = ["Reader", "format_moment", "localized", "notice_context"]

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


@dataclass(frozen=True, slots=True)
class Reader:
    """Who a notice is rendered for: the notice language, the locale dates follow, zone and jurisdiction."""

    notice_locale: str
    format_locale: str
    time_zone: str
    jurisdiction: str | None

    @property
    def country(self) -> str | None:
        return self.jurisdiction.split("-")[0].upper() if self.jurisdiction else None

    @property
    def language(self) -> str:
        return self.notice_locale.split("_")[0]


def localized(value: Localized | None, locale: str, field: str) -> str | None:
    """The text of ``field`` in the notice's language (``ru_RU`` → ``ru``); None when the fact is absent.
    Never another language's text: a missing translation is a RenderError naming the field."""
    if value is None or isinstance(value, str):
        return value
    for candidate in (locale, locale.split("_", maxsplit=1)[0]):
        if value.get(candidate):
            return value[candidate]
    raise RenderError(
        f"the incident's {field!r} has no {locale.split('_', maxsplit=1)[0]!r} text: add it (a notice never "
        "mixes languages; docs/incidents.md)"
    )


def format_moment(moment: datetime, tz: ZoneInfo, locale: str, content: ContentModel) -> str:
    """``5 ноября 2026, 12:30 (UTC+3)``: the locale's own order of date and time, in the reader's time zone,
    with the zone shown as an offset so nobody has to guess."""
    local = moment.astimezone(tz)
    style = content.date_style(locale)
    text = style.moment.format(
        date=format_date(local, style.date, locale=locale), time=format_time(local, "short", locale=locale)
    )
    return f"{text} ({_offset(local.utcoffset())})"


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "−"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def notice_context(
    incident: Incident,
    content: ContentModel,
    reader: Reader,
    *,
    profile: Profile,
    notice_date: date,
    gettext: Gettext,
    ngettext: Ngettext,
    is_update: bool = False,
) -> dict[str, Any]:
    """Template variables for one reader: every value localized, every unknown said in words."""
    _ = gettext
    tz = ZoneInfo(reader.time_zone)
    lang = reader.notice_locale
    style = content.date_style(reader.format_locale)

    def when(moment: datetime | None) -> str | None:
        return format_moment(moment, tz, reader.format_locale, content) if moment else None

    categories = [content.categories[c] for c in incident.data_categories]
    blocks = content.blocks_for(profile, incident.data_categories, _fact_flags(incident))
    unknown = _("not yet known; we will tell you as soon as we know")
    sections = profile.sections
    context = {
        "company": incident.brand,
        "company_legal_name": incident.legal_name,
        "notice_date": format_date(notice_date, style.date, locale=reader.format_locale),
        "what_happened": localized(incident.what_happened, lang, "what_happened") or unknown,
        "discovered_how": localized(incident.discovered_how, lang, "discovered_how"),
        "occurred_kind": incident.occurred.kind,
        "occurred_start": when(incident.occurred.start),
        "occurred_end": when(incident.occurred.end),
        "discovered_at": when(incident.discovered_at),
        "law_enforcement_delay": incident.law_enforcement_delay,
        "categories": [_(c.label) for c in categories],
        "consequences": localized(incident.consequences, lang, "consequences"),
        "risks": [_(c.risk) for c in categories if c.risk],
        "measures": localized(incident.measures, lang, "measures")
        or _("We are still working out the full set of measures and will publish them at the address below."),
        "steps": [_(s) for c in categories for s in c.steps] + [_(s) for s in content.always_steps],
        "offers": [_offer(o, reader.format_locale, style.date, gettext, ngettext) for o in incident.offers],
        "notice_url": incident.notice_url,
        **_contact_lines(incident, reader),
        "update_previous_date": None,
        "update_what_is_new": None,
        "profile": profile.name,
        "title": sections.title,
        "headings": {sid: (h if sections.verbatim else _(h)) for sid, h in sections.sections},
        "heading_translations": _heading_translations(
            content, verbatim=sections.verbatim, locale=lang, gettext=gettext
        ),
        "sections": [sid for sid, _h in sections.sections],
        "blocks": {sid: [b.name for b in blocks if b.section == sid] for sid, _h in sections.sections},
        "sms_opt_out": "us_opt_out" in profile.rules,
        "html_lang": lang.replace("_", "-"),
    }
    previous, what_is_new = incident.previous_notice_date, incident.what_is_new
    if is_update and previous and what_is_new:
        # Both or nothing: "since our notice of <unknown>" says nothing. Lint requires both of an incident
        # that is sent an update (rule incident-texts).
        context["update_previous_date"] = format_date(previous, style.date, locale=reader.format_locale)
        context["update_what_is_new"] = localized(what_is_new, lang, "update.what_is_new")
    return context


def _fact_flags(incident: Incident) -> dict[str, bool]:
    """The incident facts blocks can be conditional on."""
    return {
        "law_enforcement_delay": incident.law_enforcement_delay,
        "offers": bool(incident.offers),
        "discovered_how": incident.discovered_how is not None,
    }


def _contact_lines(incident: Incident, reader: Reader) -> dict[str, Any]:
    """The reader's contact: for their country, else their language, else the incident's default. Unknown
    lines are left out, never filled with a guess; the support page always shows."""
    contact = incident.contact.for_reader(reader.country, reader.language)
    return {
        "contact_phone": contact.phone,
        "contact_email": contact.email,
        "contact_url": contact.url or incident.notice_url,
        "contact_hours": localized(contact.hours, reader.notice_locale, "contact.hours"),
        "contact_languages": contact.languages,
        "dpo_name": contact.dpo_name or incident.contact.dpo_name,
        "dpo_email": contact.dpo_email or incident.contact.dpo_email,
    }


def _heading_translations(
    content: ContentModel, *, verbatim: bool, locale: str, gettext: Gettext
) -> Mapping[str, str]:
    """Beside headings the statute fixes in English, the reader's own words for them (by section id)."""
    if not verbatim or locale.split("_", maxsplit=1)[0] == "en":
        return {}
    return {sid: gettext(h) for sid, h in content.section_sets["standard"].sections}


def _offer(offer: Offer, format_locale: str, date_pattern: str, gettext: Gettext, ngettext: Ngettext) -> str:
    """An offer (credit monitoring) in words, with CLDR numbers, plural forms and dates."""
    period = ngettext("%(num)s month", "%(num)s months", offer.months) % {
        "num": format_decimal(offer.months, locale=format_locale)
    }
    text = gettext("%(provider)s credit monitoring, free of charge for %(period)s.") % {
        "provider": offer.provider or gettext("Independent"),
        "period": period,
    }
    if offer.code:
        text += " " + gettext("Your enrolment code: %(code)s.") % {"code": offer.code}
    if offer.enrol_url and offer.enrol_by:
        enrol_by = format_date(offer.enrol_by, date_pattern, locale=format_locale)
        text += " " + gettext("Enrol at %(url)s by %(date)s.") % {"url": offer.enrol_url, "date": enrol_by}
    elif offer.enrol_url:
        text += " " + gettext("Enrol at %(url)s") % {"url": offer.enrol_url}
    return text
