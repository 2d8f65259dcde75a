"""Realistic demo customers across en / ru / vi (Faker with a fixed seed), with a sprinkling of the
bad records real exports contain: invalid emails, landline-only phones, missing or unknown locales,
names with HTML or CR/LF, opted-out customers, shared family email addresses and a broken CSV row."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
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
    fakers = {m.faker_locale: Faker(m.faker_locale, seed_instance=seed) for m in MARKETS}
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
                ]
            )
        handle.write('CUST-BROKEN,"Unclosed quote,broken@example.com\n')  # a broken row, at the end
    return DemoPopulation(path=path, external_ids=tuple(ids), planted_problems=planted + 1)
