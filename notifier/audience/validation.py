"""Validation of raw customer fields into a CustomerRecord.

Field problems never lose a customer: an invalid email or a landline number only removes that
channel (the reason is kept and shows up in the manifest as the reason the channel is unusable).
Only a row without an identity (no external id) is rejected.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from notifier.audience.postal import validate_postal_address
from notifier.clock import utcnow
from notifier.errors import InputError
from notifier.models import CustomerRecord

__all__ = [
    "RowProblems",
    "normalize_locale",
    "validate_customer",
    "validate_email_address",
    "validate_external_id",
    "validate_phone",
]

DEFAULT_LOCALE = "en"
DEFAULT_TIME_ZONE = "UTC"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"", "0", "false", "no", "n", "f"}
_TIME_ZONES = frozenset(available_timezones())
_REGION = re.compile(r"[A-Z0-9]{1,3}")
MAX_EXTERNAL_ID = 128  # the store's column
MAX_NAME = 200
MAX_CONSENT_HOW = 200


@dataclass
class RowProblems:
    """Warnings about one row: the row is still imported, with the affected fields cleared."""

    warnings: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.warnings.append(message)


def validate_email_address(raw: str) -> tuple[str | None, str | None]:
    """Return (normalized address, None) or (None, reason). No DNS lookups: offline and fast.

    Reasons never quote the address: they end up in reports and logs."""
    value = raw.strip()
    if not value:
        return None, None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, f"invalid email: {exc}"
    return result.normalized, None


def validate_phone(raw: str, region: str | None) -> tuple[str | None, bool, str | None]:
    """Return (E.164 number, is_mobile, problem). A number without '+' is read in ``region``."""
    value = raw.strip()
    if not value:
        return None, False, None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        return None, False, f"invalid phone: {exc}"
    if not phonenumbers.is_valid_number(number):
        return None, False, "invalid phone: not a valid number for its country"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return e164, False, "phone is not a mobile number; no SMS"
    return e164, True, None


def normalize_locale(raw: str) -> str:
    """``ru-RU`` / ``ru_ru`` → ``ru_RU``. Raises InputError for anything CLDR does not know."""
    value = raw.strip().replace("-", "_")
    if not value:
        raise InputError("empty locale")
    try:
        return str(Locale.parse(value))
    except (UnknownLocaleError, ValueError) as exc:
        raise InputError(f"unknown locale {raw!r}") from exc


def _clean_name(raw: str, problems: RowProblems) -> str:
    name = unicodedata.normalize("NFC", raw)
    cleaned = _CONTROL.sub(" ", name).strip()
    if cleaned != name.strip():
        problems.add("name contained line breaks or control characters; replaced by spaces")
    if "<" in cleaned or ">" in cleaned or "[" in cleaned:
        problems.add("name contains markup characters; it is kept and always shown as plain text")
    cleaned = re.sub(r" {2,}", " ", cleaned)
    if len(cleaned) > MAX_NAME:
        problems.add(f"name is longer than {MAX_NAME} characters; cut there")
        cleaned = cleaned[:MAX_NAME].rstrip()
    return cleaned


def _region(raw: str, problems: RowProblems) -> str | None:
    """An ISO 3166-2 subdivision code (``CA`` of US-CA): 1 to 3 letters or digits."""
    value = raw.strip().upper()
    if not value:
        return None
    if not _REGION.fullmatch(value):
        problems.add(
            f"region {_CONTROL.sub('?', raw)[:20]!r} is not a subdivision code such as CA or NY; ignored"
        )
        return None
    return value


def _flag(raw: str | None, column: str, problems: RowProblems) -> bool:
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        problems.add(f"{column} {raw!r} is not yes/no; treated as opted out to be safe")
        return True
    return False


def _country(raw: str, problems: RowProblems) -> str | None:
    value = raw.strip().upper()
    if not value:
        return None
    if value not in phonenumbers.SUPPORTED_REGIONS:
        problems.add(f"unknown country {raw!r}; ignored")
        return None
    return value


def _esign_consent(
    at_raw: str | None, how_raw: str | None, problems: RowProblems
) -> tuple[datetime | None, str | None]:
    """When (ISO 8601 date or time; a time without a zone is UTC) and how the person agreed to electronic
    notices. Anything doubtful records no consent: then the law's own channel (a letter) is used."""
    at_text, how = (at_raw or "").strip(), _CONTROL.sub(" ", how_raw or "").strip()[:MAX_CONSENT_HOW] or None
    if not at_text:
        if how:
            problems.add("esign_consent_how without esign_consent_at; no e-consent recorded")
        return None, None
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        problems.add(
            f"esign_consent_at {_CONTROL.sub('?', at_text)[:40]!r} is not a date such as 2024-03-01 or "
            "2024-03-01T12:00:00Z; no e-consent recorded"
        )
        return None, None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at > utcnow():
        problems.add("esign_consent_at is in the future; no e-consent recorded")
        return None, None
    if not how:
        problems.add("esign_consent_at without esign_consent_how (how they agreed); kept as 'unspecified'")
        how = "unspecified"
    return at.astimezone(UTC), how


def validate_external_id(raw: str) -> str:
    """The one grammar of customer ids, for the customers file and the affected-ids file alike: trimmed,
    1 to 128 characters, no control characters (NUL, line breaks) and nothing else is changed: ``A,7`` and
    ``#12`` are ids like any other. An InputError says what is wrong, without echoing control bytes."""
    value = raw.strip()
    if not value:
        raise InputError("missing external_id")
    if _CONTROL.search(value):
        raise InputError(
            f"external_id {_CONTROL.sub('?', value)[:40]!r} has control characters (NUL, line breaks)"
        )
    if len(value) > MAX_EXTERNAL_ID:
        raise InputError(f"external_id {value[:40]!r}… is longer than {MAX_EXTERNAL_ID} characters")
    return value


def validate_customer(row: Mapping[str, str | None], problems: RowProblems) -> CustomerRecord:
    """Turn one raw row into a CustomerRecord. Raises InputError only when the row has no identity.

    Every field is checked the same way whatever the store (SQLite accepts what PostgreSQL refuses: NUL
    bytes, over-long values), so a file that imports on one imports on the other."""
    external_id = validate_external_id(row.get("external_id") or "")
    country = _country(row.get("country") or "", problems)
    region = _region(row.get("region") or "", problems)

    email, email_problem = validate_email_address(row.get("email") or "")
    phone, is_mobile, phone_problem = validate_phone(row.get("phone") or "", country)
    for problem in (email_problem, phone_problem):
        if problem:
            problems.add(problem)

    locale = DEFAULT_LOCALE
    raw_locale = (row.get("locale") or "").strip()
    if not raw_locale:
        problems.add(f"no locale; using {DEFAULT_LOCALE!r}")
    else:
        try:
            locale = normalize_locale(raw_locale)
        except InputError as exc:
            problems.add(f"{exc}; using {DEFAULT_LOCALE!r}")

    address, address_problem = validate_postal_address(row, country, region)
    if address_problem:
        problems.add(address_problem)
    esign_at, esign_how = _esign_consent(row.get("esign_consent_at"), row.get("esign_consent_how"), problems)

    time_zone = (row.get("time_zone") or "").strip() or DEFAULT_TIME_ZONE
    if time_zone not in _TIME_ZONES:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(f"unknown time zone {time_zone!r}; using {DEFAULT_TIME_ZONE}")
            time_zone = DEFAULT_TIME_ZONE

    return CustomerRecord(
        external_id=external_id,
        name=_clean_name(row.get("name") or "", problems),
        email=email,
        phone=phone,
        locale=locale,
        time_zone=time_zone,
        country=country,
        region=region,
        jurisdiction=f"{country}-{region}" if country and region else country,
        email_opt_out=_flag(row.get("email_opt_out"), "email_opt_out", problems),
        sms_opt_out=_flag(row.get("sms_opt_out"), "sms_opt_out", problems),
        email_problem=email_problem,
        phone_problem=phone_problem,
        phone_is_mobile=is_mobile,
        address=address,
        address_problem=address_problem,
        esign_consent_at=esign_at,
        esign_consent_how=esign_how,
    )
