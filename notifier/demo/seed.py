"""Realistic demo customers across en / ru / vi (Faker with a fixed seed), with a sprinkling of the
bad records real exports contain: invalid emails, landline-only phones, missing or unknown locales,
names with HTML or CR/LF, opted-out customers, shared family email addresses, US addresses without a
ZIP and a broken CSV row. Nine in ten have a postal address; a few US customers agreed to email notices
(E-SIGN consent)."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from faker import Faker

from notifier.audience.importer import COLUMNS

__all__ = ["DemoPopulation", "write_demo_csv"]


@dataclass(frozen=True, slots=True)
class _Market:
    faker_locale: str
    locale: str
    country: str
    time_zones: tuple[str, ...]
    regions: tuple[str, ...]
    weight: float


# Where the demo's Russians and Vietnamese live: (city, region as the post writes it, postal code prefix,
# district or ward). US addresses come from Faker, the ZIP from the state.
PLACES = {
    "RU": (
        ("Москва", "Москва", "12", ""),
        ("Санкт-Петербург", "Санкт-Петербург", "19", ""),
        ("Екатеринбург", "Свердловская область", "620", ""),
        ("Новосибирск", "Новосибирская область", "630", ""),
        ("Казань", "Республика Татарстан", "420", ""),
    ),
    "VN": (
        ("Quận Hoàn Kiếm", "Hà Nội", "100", "Phường Hàng Bạc"),
        ("Quận 1", "Thành phố Hồ Chí Minh", "700", "Phường Bến Nghé"),
        ("Quận Hải Châu", "Đà Nẵng", "550", "Phường Thạch Thang"),
    ),
}
NO_ADDRESS = ["", "", "", "", "", ""]
CONSENT_HOW = (
    "sign-up form, e-delivery box v2",
    "app settings: paperless notices",
    "account page, e-consent v3",
)

MARKETS = (
    _Market(
        "en_US",
        "en_US",
        "US",
        ("America/New_York", "America/Chicago", "America/Los_Angeles"),
        ("CA", "NY", "TX", "WA"),
        0.45,
    ),
    _Market("ru_RU", "ru_RU", "RU", ("Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk"), ("",), 0.30),
    _Market("vi_VN", "vi_VN", "VN", ("Asia/Ho_Chi_Minh",), ("",), 0.25),
)
DOMAINS = ("example.com", "example.net", "example.org")


def _mobile(rng: random.Random, country: str) -> str:
    if country == "US":
        return f"+1{rng.choice(['415', '646', '312', '206'])}{rng.randint(200, 999)}{rng.randint(1000, 9999)}"
    if country == "RU":
        return f"+79{rng.randint(10, 99)}{rng.randint(1000000, 9999999)}"
    return f"+849{rng.choice('1468')}{rng.randint(1000000, 9999999)}"


def _address(fake: Faker, rng: random.Random, country: str, region: str) -> list[str]:
    """address_line1, address_line2, address_city, address_district, address_region, postal_code."""
    if country == "US":
        street, _apt, unit = fake.street_address().partition(" Apt. ")  # Faker's unit on a line of its own
        street, _suite, suite = street.partition(" Suite ")
        second = f"Apt. {unit}" if unit else f"Suite {suite}" if suite else ""
        return [street, second, fake.city(), "", "", fake.zipcode_in_state(region)]
    city, area, prefix, district = rng.choice(PLACES[country])
    code = prefix + "".join(str(rng.randint(0, 9)) for _ in range(6 - len(prefix)))
    line1 = fake.street_address() + (f", кв. {rng.randint(1, 300)}" if country == "RU" else "")
    return [line1, "", city, district, area, code]


def _faker(locale: str, seed: int) -> Faker:
    # Faker(locale, seed_instance=…) is taken as a setting and seeds nothing: the population would change
    # on every run.
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def _postal(fake: Faker, rng: random.Random, country: str, region: str) -> tuple[list[str], list[str], int]:
    """The address columns, the consent columns, and 1 when the address was planted bad."""
    address, bad = NO_ADDRESS, 0
    if rng.random() < 0.9:
        address = _address(fake, rng, country, region)
        if country == "US" and rng.random() < 0.01:
            address, bad = [*address[:5], ""], 1  # a US address without its ZIP
    consent = ["", ""]
    if country == "US" and rng.random() < 0.3:
        day = date(2023, 1, 1) + timedelta(days=rng.randint(0, 900))
        consent = [day.isoformat(), rng.choice(CONSENT_HOW)]
    return address, consent, bad


def _landline(rng: random.Random, country: str) -> str:
    if country == "RU":
        return f"+7495{rng.randint(1000000, 9999999)}"
    if country == "VN":
        return f"+84283{rng.randint(1000000, 9999999)}"
    # US numbers are "fixed line or mobile" to libphonenumber; a toll-free line is certainly not mobile.
    return f"+1800{rng.randint(200, 999)}{rng.randint(1000, 9999)}"


@dataclass(frozen=True, slots=True)
class DemoPopulation:
    path: Path
    external_ids: tuple[str, ...]
    planted_problems: int  # rows we made bad on purpose (the import must report each)


def write_demo_csv(path: Path, count: int, *, seed: int = 20261122) -> DemoPopulation:
    """Write ``count`` customers (plus one broken row) to ``path``; deterministic for a given seed."""
    rng = random.Random(seed)
    fakers = {m.faker_locale: _faker(m.faker_locale, seed) for m in MARKETS}
    # Addresses and consent draw from their own streams: the rest of the population stays as it was.
    places = {m.faker_locale: _faker(m.faker_locale, seed + 1) for m in MARKETS}
    place_rng = random.Random(seed + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    planted = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        family_email: str | None = None
        for n in range(1, count + 1):
            market = rng.choices(MARKETS, weights=[m.weight for m in MARKETS])[0]
            fake = fakers[market.faker_locale]
            name = fake.name()
            email = f"{fake.user_name()}.{n}@{rng.choice(DOMAINS)}"
            phone = _mobile(rng, market.country)
            locale = market.locale
            region = rng.choice(market.regions)
            email_opt_out = sms_opt_out = "no"
            roll = rng.random()
            if roll < 0.01:
                email, planted = email.replace("@", "", 1), planted + 1  # no @ at all
            elif roll < 0.02:
                email, planted = email.split("@")[0] + "@", planted + 1
            elif roll < 0.04:
                phone, planted = _landline(rng, market.country), planted + 1  # landline: no SMS
            elif roll < 0.045:
                locale, planted = "", planted + 1
            elif roll < 0.05:
                locale, planted = "xx_QQ", planted + 1
            elif roll < 0.055:
                name, planted = f"<img src=x onerror=alert(1)> {name}", planted + 1
            elif roll < 0.06:
                name, planted = f"{name}\r\nBcc: attacker@example.net", planted + 1
            elif roll < 0.07:
                sms_opt_out = "yes"
            elif roll < 0.075:
                email, phone = "", ""  # nothing to reach them by
            elif roll < 0.085 and family_email:
                email = family_email  # a family sharing one mailbox: one notice per address
            family_email = email if "@" in email else family_email
            address, consent, bad = _postal(places[market.faker_locale], place_rng, market.country, region)
            planted += bad
            external_id = f"CUST-{n:07d}"
            ids.append(external_id)
            writer.writerow(
                [
                    external_id,
                    name,
                    email,
                    phone,
                    locale,
                    rng.choice(market.time_zones),
                    market.country,
                    region,
                    email_opt_out,
                    sms_opt_out,
                    *address,
                    *consent,
                ]
            )
        handle.write('CUST-BROKEN,"Unclosed quote,broken@example.com\n')  # a broken row, at the end
    return DemoPopulation(path=path, external_ids=tuple(ids), planted_problems=planted + 1)
