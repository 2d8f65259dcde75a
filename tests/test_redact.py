"""Customer contacts and secrets are masked before they reach logs, reprs and reports."""

from __future__ import annotations

import pytest

from notifier.channels import channel_from_url
from notifier.errors import ConfigurationError
from notifier.redact import mask_email, mask_phone, mask_url


def test_emails_keep_only_first_letter_and_domain() -> None:
    assert mask_email("ivan.petrov@example.com") == "i***@example.com"
    assert mask_email("") == ""
    assert mask_email("garbage") == "***"


def test_phones_keep_country_digit_and_last_four() -> None:
    assert mask_phone("+79161234567") == "+7******4567"
    assert "1234567" not in mask_phone("+79161234567")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "smtp://user:s3cret@mail.example.com:587?starttls=1",
            "smtp://user:***@mail.example.com:587?starttls=1",
        ),
        ("postgresql+psycopg://app:pw@db/notifier", "postgresql+psycopg://app:***@db/notifier"),
        ("sqlite:///var/notifier.db", "sqlite:///var/notifier.db"),
    ],
)
def test_passwords_in_urls_are_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_channel_reprs_never_show_secrets() -> None:
    email = channel_from_url("smtp://user:s3cret@mail.example.com:587?starttls=1")
    sms = channel_from_url("twilio://AC123:tok3n@api?from=+15005550006")
    assert "s3cret" not in repr(email) and "tok3n" not in repr(sms)
    assert "***" in repr(email) and "***" in repr(sms)


def test_a_misspelt_scheme_gets_a_suggestion() -> None:
    with pytest.raises(ConfigurationError, match="Did you mean 'smtp'"):
        channel_from_url("smpt://mail.example.com")
