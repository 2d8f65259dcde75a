"""Template variables for one reader: an ``Incident`` and the content model, localized and formatted.

Every value is in the notice's language and the reader's time zone (CLDR dates, numbers and plurals
via Babel), and every unknown fact is said in words: no part of a notice ever renders empty."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_name
from babel.numbers import format_decimal

from notifier.notices.content import ContentModel
from notifier.notices.incidents import Incident, Localized, Offer

__all__ = ["format_moment", "localized", "notice_context"]

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def localized(value: Localized | None, locale: str) -> str | None:
    """The reader's text from {"en": …, "ru": …} along the fallback chain; plain strings pass through."""
    if value is None or isinstance(value, str):
        return value
    for candidate in (locale, locale.split("_", maxsplit=1)[0], "en"):
        if value.get(candidate):
            return value[candidate]
    return None


def format_moment(moment: datetime, tz: ZoneInfo, locale: str) -> str:
    """``2 ноября 2026 г., 06:10 (+0300)``: CLDR's order of date and time for the locale, in the
    reader's time zone, with the zone shown so nobody has to guess."""
    local = moment.astimezone(tz)
    pattern = Locale.parse(locale).datetime_formats["long"].replace("'", "")
    text = pattern.format(
        format_time(local, "short", locale=locale), format_date(local, "long", locale=locale)
    )
    return f"{text} ({get_timezone_name(local, 'short', locale=locale)})"


def notice_context(
    incident: Incident,
    content: ContentModel,
    *,
    notice_locale: str,
    format_locale: str,
    time_zone: str,
    jurisdiction: str | None,
    notice_date: date,
    gettext: Gettext,
    ngettext: Ngettext,
    is_update: bool = False,
) -> dict[str, Any]:
    """Template variables for one reader: every value localized, every unknown said in words."""
    _ = gettext
    tz = ZoneInfo(time_zone)

    def when(moment: datetime | None) -> str | None:
        return format_moment(moment, tz, format_locale) if moment else None

    categories = [content.categories[c] for c in incident.data_categories]
    profile = content.profile_for(jurisdiction)
    unknown = _("not yet known; we will tell you as soon as we know")
    contact = incident.contact
    context = {
        "company": incident.brand,
        "company_legal_name": incident.legal_name,
        "notice_date": format_date(notice_date, "long", locale=format_locale),
        "what_happened": localized(incident.what_happened, notice_locale) or unknown,
        "occurred_kind": incident.occurred.kind,
        "occurred_start": when(incident.occurred.start),
        "occurred_end": when(incident.occurred.end),
        "discovered_at": when(incident.discovered_at),
        "law_enforcement_delay": incident.law_enforcement_delay,
        "categories": [_(c.label) for c in categories],
        "consequences": localized(incident.consequences, notice_locale),
        "risks": [_(c.risk) for c in categories if c.risk],
        "measures": localized(incident.measures, notice_locale)
        or _("We are still working out the full set of measures and will publish them at the address below."),
        "steps": [_(s) for c in categories for s in c.steps] + [_(s) for s in content.always_steps],
        "credit_bureaus": any(c.sensitive_id for c in categories),
        "offers": [_offer(o, format_locale, gettext, ngettext) for o in incident.offers],
        "notice_url": incident.notice_url,
        # Unknown contact lines are left out, never filled with a guess; the support page always shows.
        "contact_phone": contact.phone,
        "contact_email": contact.email,
        "contact_url": contact.url or incident.notice_url,
        "contact_hours": localized(contact.hours, notice_locale),
        "dpo_name": contact.dpo_name,
        "dpo_email": contact.dpo_email,
        "update_previous_date": None,
        "update_what_is_new": None,
        "profile": profile.name,
        "title": profile.title,
        "headings": {sid: (h if profile.verbatim_headings else _(h)) for sid, h in profile.sections},
        "heading_translations": _heading_translations(
            content, verbatim=profile.verbatim_headings, locale=notice_locale, gettext=gettext
        ),
        "sections": [sid for sid, _h in profile.sections],
        "html_lang": notice_locale.replace("_", "-"),
        "us_recipient": (jurisdiction or "").upper().startswith("US"),
    }
    if is_update:
        previous = incident.previous_notice_date
        context["update_previous_date"] = (
            format_date(previous, "long", locale=format_locale) if previous else unknown
        )
        context["update_what_is_new"] = localized(incident.what_is_new, notice_locale) or unknown
    return context


def _heading_translations(
    content: ContentModel, *, verbatim: bool, locale: str, gettext: Gettext
) -> Mapping[str, str]:
    """Beside headings the statute fixes in English, the reader's own words for them (by section id)."""
    if not verbatim or locale == "en":
        return {}
    return {sid: gettext(h) for sid, h in content.default_profile.sections}


def _offer(offer: Offer, format_locale: str, gettext: Gettext, ngettext: Ngettext) -> str:
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
    if offer.enrol_url:
        text += " " + gettext("Enrol at %(url)s") % {"url": offer.enrol_url}
    if offer.enrol_by:
        text += " " + gettext("by %(date)s.") % {
            "date": format_date(offer.enrol_by, "long", locale=format_locale)
        }
    return text
