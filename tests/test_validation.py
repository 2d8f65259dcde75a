"""Customer field validation: emails, phones (E.164 by country), locales, time zones, hostile names."""

from __future__ import annotations

import pytest

from notifier.audience.validation import (
    RowProblems,
    normalize_locale,
    validate_customer,
    validate_email_address,
    validate_phone,
)
from notifier.errors import InputError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ivan.Petrov@Example.COM", "Ivan.Petrov@example.com"),
        ("  nguyen@example.vn ", "nguyen@example.vn"),
        ("", None),
    ],
)
def test_valid_emails_are_normalized(raw: str, expected: str | None) -> None:
    assert validate_email_address(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw", ["bad@", "no-at-sign.example.com", "two@@example.com", "a b@example.com", "x@example..com"]
)
def test_invalid_emails_give_a_reason_without_quoting_the_address(raw: str) -> None:
    address, problem = validate_email_address(raw)
    assert address is None
    assert problem is not None and problem.startswith("invalid email")
    assert raw not in problem


@pytest.mark.parametrize(
    ("raw", "region", "e164", "mobile"),
    [
        ("8 916 123-45-67", "RU", "+79161234567", True),  # national format, region from the country
        ("+7 495 123-45-67", None, "+74951234567", False),  # Moscow landline: no SMS
        ("091 234 5678", "VN", "+84912345678", True),
        ("(415) 555-2671", "US", "+14155552671", True),
        ("+1 800 555 0100", None, "+18005550100", False),  # toll free
    ],
)
def test_phones_become_e164_and_know_if_they_take_sms(
    raw: str, region: str | None, e164: str, mobile: bool
) -> None:
    number, is_mobile, problem = validate_phone(raw, region)
    assert (number, is_mobile) == (e164, mobile)
    assert (problem is None) == mobile


@pytest.mark.parametrize("raw", ["12", "+7 916", "not a phone", "+999 1234567"])
def test_invalid_phones_are_rejected(raw: str) -> None:
    number, _, problem = validate_phone(raw, "RU")
    assert number is None and problem is not None and problem.startswith("invalid phone")


def test_locales_are_normalized_by_cldr_and_unknown_ones_refused() -> None:
    assert normalize_locale("ru-RU") == "ru_RU"
    assert normalize_locale("vi") == "vi"
    with pytest.raises(InputError, match="unknown locale 'xx_QQ'"):
        normalize_locale("xx_QQ")


def test_a_row_with_bad_fields_is_kept_with_the_channel_cleared_and_reasons_recorded() -> None:
    problems = RowProblems()
    record = validate_customer(
        {
            "external_id": "C1",
            "name": "Bob\r\nBcc: attacker@example.net",
            "email": "bob@",
            "phone": "+74951234567",
            "locale": "xx",
            "time_zone": "Mars/Olympus",
            "country": "RU",
            "sms_opt_out": "maybe",
        },
        problems,
    )
    assert record.name == "Bob Bcc: attacker@example.net"
    assert "\r" not in record.name and "\n" not in record.name
    assert record.email is None and record.email_problem is not None
    assert record.phone == "+74951234567" and not record.phone_is_mobile
    assert (record.locale, record.time_zone) == ("en", "UTC")
    assert record.sms_opt_out is True  # an unreadable consent flag is read as "no consent"
    text = "\n".join(problems.warnings)
    for expected in (
        "line breaks",
        "invalid email",
        "not a mobile",
        "unknown locale",
        "unknown time zone",
        "sms_opt_out",
    ):
        assert expected in text


def test_markup_in_names_is_kept_as_data_with_a_warning() -> None:
    problems = RowProblems()
    record = validate_customer({"external_id": "C2", "name": "<script>alert(1)</script> Ann"}, problems)
    assert record.name == "<script>alert(1)</script> Ann"
    assert any("markup" in w for w in problems.warnings)


def test_region_makes_a_sub_national_jurisdiction() -> None:
    record = validate_customer(
        {"external_id": "C3", "name": "A", "country": "us", "region": "ca"}, RowProblems()
    )
    assert (record.country, record.jurisdiction) == ("US", "US-CA")


@pytest.mark.parametrize("external_id", ["", "   ", "a" * 129, "x\ny"])
def test_rows_without_a_usable_identity_are_rejected(external_id: str) -> None:
    with pytest.raises(InputError):
        validate_customer({"external_id": external_id, "name": "A"}, RowProblems())
