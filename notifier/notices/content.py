"""The notice content model: incident facts → the localized pieces a notice is made of.

Facts, not guesses: any fact left unknown is *said* to be unknown, in words, in the reader's language;
no part of a notice ever renders empty. The controlled vocabulary of data categories decides both what
is listed under "what information was involved" and which concrete steps the customer is given.

All English strings here are gettext message ids (marked with ``N_`` for extraction); they are
translated where they are shown."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_name
from babel.numbers import format_decimal

from notifier.errors import RenderError

__all__ = ["CATEGORIES", "PROFILES", "Category", "Profile", "notice_context", "profile_for", "validate_facts"]


def N_(message: str) -> str:  # noqa: N802 - the gettext convention Babel's extractor looks for
    return message


@dataclass(frozen=True, slots=True)
class Category:
    label: str
    risk: str = ""  # the likely consequence for the customer
    steps: tuple[str, ...] = ()
    sensitive_id: bool = False  # SSN / licence / state id: credit-bureau block, identity-theft offer


CATEGORIES: dict[str, Category] = {
    "name": Category(N_("Your name")),
    "email": Category(
        N_("Your email address"),
        N_("You may receive more spam or phishing emails that use details about you."),
    ),
    "password": Category(
        N_("Your account password (stored in scrambled, hashed form)"),
        N_(
            "Someone could try to sign in to your account, or to other accounts where you use the same password."
        ),
        (
            N_("Change your password now, and on any other site where you used the same password."),
            N_("Turn on two-factor sign-in for your account."),
        ),
    ),
    "phone": Category(N_("Your phone number"), N_("You may receive unwanted calls or text messages.")),
    "postal_address": Category(N_("Your postal address"), N_("You may receive unwanted or misleading post.")),
    "date_of_birth": Category(
        N_("Your date of birth"), N_("Criminals could use it to try to impersonate you.")
    ),
    "payment_card": Category(
        N_("Payment card details (number and expiry date)"),
        N_("Someone could try to make payments with your card."),
        (
            N_("Check your card statements and call your bank if you see a payment you do not recognise."),
            N_("Ask your bank whether it should replace your card."),
        ),
    ),
    "bank_account": Category(
        N_("Bank account details"),
        N_("Someone could try to take money from your account."),
        (N_("Check your bank statements and tell your bank at once about anything unusual."),),
    ),
    "government_id": Category(
        N_("Government identity document number"),
        N_("Criminals could try to open accounts or take loans in your name."),
        (N_("Consider placing a fraud alert or a credit freeze with the credit bureaus."),),
        sensitive_id=True,
    ),
    "health_data": Category(
        N_("Health information"), N_("Information about your health could become known to others.")
    ),
    "order_history": Category(
        N_("Your order history"),
        N_("Fraudsters could mention your real orders to make their messages look genuine."),
    ),
}
ALWAYS_STEPS = (
    N_(
        "Be careful with messages that claim to be from us: we will never ask for your password, card details or "
        "codes by email, text message or phone."
    ),
)


@dataclass(frozen=True, slots=True)
class Profile:
    """The section set and headings a jurisdiction requires (legal-requirements.md §2)."""

    name: str
    title: str | None  # a verbatim title, if the law fixes one
    sections: tuple[tuple[str, str], ...]  # (section id, heading msgid), in order
    verbatim_headings: bool  # headings stay in English, as the statute words them


STANDARD = Profile(
    name="standard",
    title=None,
    sections=(
        ("what_happened", N_("What happened")),
        ("data_involved", N_("What information was involved")),
        ("consequences", N_("What this could mean for you")),
        ("what_we_are_doing", N_("What we are doing")),
        ("what_you_can_do", N_("What you can do")),
        ("contact", N_("For more information")),
    ),
    verbatim_headings=False,
)
CALIFORNIA = Profile(
    name="california",
    title="Notice of Data Breach",
    sections=(
        ("what_happened", "What Happened"),
        ("data_involved", "What Information Was Involved"),
        ("what_we_are_doing", "What We Are Doing"),
        ("what_you_can_do", "What You Can Do"),
        ("contact", "For More Information"),
    ),
    verbatim_headings=True,
)
PROFILES = {p.name: p for p in (STANDARD, CALIFORNIA)}
REQUIRED_FACTS = (
    "key",
    "title",
    "company",
    "what_happened",
    "discovered_at",
    "data_categories",
    "notice_url",
    "contact",
)


def profile_for(jurisdiction: str | None) -> Profile:
    """California residents get the statute's title and headings; everyone else the standard set."""
    return CALIFORNIA if (jurisdiction or "").upper() == "US-CA" else STANDARD


def validate_facts(facts: Mapping[str, Any]) -> list[str]:
    """Problems that make facts unusable; unknown-but-optional facts are fine (they are said to be unknown)."""
    problems = [f"missing {k!r}" for k in REQUIRED_FACTS if k not in facts]
    unknown = [c for c in facts.get("data_categories") or [] if c not in CATEGORIES]
    if unknown:
        problems.append(f"unknown data categories {unknown}; known: {', '.join(CATEGORIES)}")
    if not facts.get("data_categories"):
        problems.append("data_categories must list at least one category")
    occurred = facts.get("occurred") or {}
    kind = occurred.get("kind", "unknown")
    if kind not in ("exact", "estimate", "range", "unknown"):
        problems.append(f"occurred.kind must be exact, estimate, range or unknown, not {kind!r}")
    needs = {"exact": ("start",), "estimate": ("start",), "range": ("start", "end"), "unknown": ()}.get(
        kind, ()
    )
    problems += [
        f"occurred.{k} is needed when occurred.kind is {kind!r}" for k in needs if not occurred.get(k)
    ]
    contact = facts.get("contact") or {}
    if not any(contact.get(k) for k in ("phone", "email", "url")):
        problems.append("contact needs at least one of phone, email, url")
    company = facts.get("company")
    if not isinstance(company, Mapping) or not company.get("legal_name") or not company.get("brand"):
        problems.append("company needs legal_name and brand")
    for key in ("notice_url", "contact.url"):
        value = facts.get("notice_url") if key == "notice_url" else contact.get("url")
        if value and not str(value).startswith("https://"):
            problems.append(f"{key} must be an https:// link")
    return problems


def localized(value: Any, locale: str) -> str | None:
    """The reader's text from {"en": …, "ru": …} along the fallback chain; plain strings pass through."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        for candidate in (locale, locale.split("_", maxsplit=1)[0], "en"):
            if value.get(candidate):
                return str(value[candidate])
        return None
    return str(value)


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
    facts: Mapping[str, Any],
    *,
    notice_locale: str,
    format_locale: str,
    time_zone: str,
    jurisdiction: str | None,
    notice_date: date,
    gettext: Callable[[str], str],
    ngettext: Callable[[str, str, int], str],
    is_update: bool = False,
) -> dict[str, Any]:
    """Template variables for one reader: every value localized, every unknown said in words."""
    _ = gettext
    tz = ZoneInfo(time_zone)
    problems = validate_facts(facts)
    if problems:
        raise RenderError("incident facts: " + "; ".join(problems))

    def when(value: str | None) -> str | None:
        return format_moment(datetime.fromisoformat(value), tz, format_locale) if value else None

    occurred = facts.get("occurred") or {}
    categories = [CATEGORIES[c] for c in facts["data_categories"]]
    steps = [s for c in categories for s in c.steps] + list(ALWAYS_STEPS)
    risks = [c.risk for c in categories if c.risk]
    contact = facts["contact"]
    profile = profile_for(jurisdiction)
    unknown = _("not yet known; we will tell you as soon as we know")
    context = {
        "company": facts["company"]["brand"],
        "company_legal_name": facts["company"]["legal_name"],
        "notice_date": format_date(notice_date, "long", locale=format_locale),
        "what_happened": localized(facts["what_happened"], notice_locale) or unknown,
        "occurred_kind": occurred.get("kind", "unknown"),
        "occurred_start": when(occurred.get("start")),
        "occurred_end": when(occurred.get("end")),
        "discovered_at": when(facts["discovered_at"]),
        "law_enforcement_delay": bool(facts.get("law_enforcement_delay")),
        "categories": [_(c.label) for c in categories],
        "consequences": localized(facts.get("consequences"), notice_locale),
        "risks": [_(r) for r in risks],
        "measures": localized(facts.get("measures"), notice_locale)
        or _("We are still working out the full set of measures and will publish them at the address below."),
        "steps": [_(s) for s in steps],
        "credit_bureaus": any(c.sensitive_id for c in categories),
        "offers": [_offer(o, format_locale, gettext, ngettext) for o in facts.get("offers") or []],
        "notice_url": facts["notice_url"],
        # Contact lines that are unknown are left out, never filled with a guess; the support page always shows.
        "contact_phone": contact.get("phone"),
        "contact_email": contact.get("email"),
        "contact_url": contact.get("url") or facts["notice_url"],
        "contact_hours": localized(contact.get("hours"), notice_locale),
        "dpo_name": (contact.get("dpo") or {}).get("name"),
        "dpo_email": (contact.get("dpo") or {}).get("email"),
        "update_previous_date": None,
        "update_what_is_new": None,
        "profile": profile.name,
        "title": profile.title,
        "headings": {sid: (h if profile.verbatim_headings else _(h)) for sid, h in profile.sections},
        "heading_translations": {sid: _(h) for sid, h in STANDARD.sections}
        if profile.verbatim_headings and notice_locale != "en"
        else {},
        "sections": [sid for sid, _h in profile.sections],
        "html_lang": notice_locale.replace("_", "-"),
        "us_recipient": (jurisdiction or "").upper().startswith("US"),
    }
    update = facts.get("update") or {}
    if is_update:
        previous = update.get("previous_notice_date")
        context["update_previous_date"] = (
            format_date(date.fromisoformat(previous), "long", locale=format_locale) if previous else unknown
        )
        context["update_what_is_new"] = localized(update.get("what_is_new"), notice_locale) or unknown
    return context


def _offer(
    offer: Mapping[str, Any],
    format_locale: str,
    gettext: Callable[[str], str],
    ngettext: Callable[[str, str, int], str],
) -> str:
    """An offer (credit monitoring) in words, with CLDR numbers, plural forms and dates."""
    months = int(offer.get("months") or 12)
    period = ngettext("%(num)s month", "%(num)s months", months) % {
        "num": format_decimal(months, locale=format_locale)
    }
    text = gettext("%(provider)s credit monitoring, free of charge for %(period)s.") % {
        "provider": offer.get("provider") or gettext("Independent"),
        "period": period,
    }
    if offer.get("code"):
        text += " " + gettext("Your enrolment code: %(code)s.") % {"code": offer["code"]}
    if offer.get("enrol_url"):
        text += " " + gettext("Enrol at %(url)s") % {"url": offer["enrol_url"]}
    if offer.get("enrol_by"):
        enrol_by = format_date(date.fromisoformat(offer["enrol_by"]), "long", locale=format_locale)
        text += " " + gettext("by %(date)s.") % {"date": enrol_by}
    return text
