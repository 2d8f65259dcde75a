"""Customer contacts and secrets are masked before they reach logs, reprs and reports."""

from __future__ import annotations

import pytest

from notifier.channels import channel_from_url
from notifier.errors import ConfigurationError
from notifier.redact import mask_email, mask_phone, mask_text, mask_url


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


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("550 5.1.1 <ivan.petrov@mail.example.ru>: no such user", "ivan.petrov", "550 5.1.1"),
        ("to ivan@localhost failed", "ivan@", "failed"),
        ("call 415-555-0100 or (415) 555 0100", "555", "call"),
        ("from +7 916 123-45-67 and 0044 20 7946 0958", "916 123", "and"),
        ("twilio 30003 at 2026-11-29 12:00:01 SM0123456789abcdef", "***", "2026-11-29 12:00:01"),
    ],
)
def test_contacts_inside_free_text_are_masked_and_the_rest_is_kept(text: str, hidden: str, kept: str) -> None:
    masked = mask_text(text)
    if hidden == "***":
        assert masked == text  # nothing in it is a contact
    else:
        assert hidden not in masked
    assert kept in masked
