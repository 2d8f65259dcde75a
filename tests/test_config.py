"""Configuration is read once, at the edge, from declared variables that the documentation lists."""

from __future__ import annotations

import re

import pytest

from notifier.config import ENVIRONMENT, PROJECT_ROOT, Settings
from notifier.errors import ConfigurationError
from notifier.models import Channel, QuietHours

OPTION_FALLBACKS = {
    "NOTIFIER_TEST_PG_URL",
    "NOTIFIER_PROJECT_DIR",
    "NOTIFIER_TOKEN",
}  # option, tests, prefect.yaml, the CLI's credential (a person's, not the process's setting)


def test_every_variable_the_code_reads_is_declared_once_and_documented() -> None:
    documented = set(
        re.findall(r"`(NOTIFIER_[A-Z_]+)`", (PROJECT_ROOT / "docs" / "operations.md").read_text())
    )
    mentioned = set()
    for path in [*(PROJECT_ROOT / "notifier").rglob("*.py"), *(PROJECT_ROOT / "flows").rglob("*.py")]:
        mentioned |= set(re.findall(r"\bNOTIFIER_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert set(ENVIRONMENT) | OPTION_FALLBACKS == documented
    assert (
        mentioned - set(ENVIRONMENT) - OPTION_FALLBACKS - {"NOTIFIER_EMAIL_URL", "NOTIFIER_SMS_URL"} == set()
    )


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("NOTIFIER_BATCH_SIZE", "5k", "NOTIFIER_BATCH_SIZE '5k' is not a whole number"),
        ("NOTIFIER_LEASE_SECONDS", "0", "NOTIFIER_LEASE_SECONDS '0' must be at least 1"),
        ("NOTIFIER_EMAIL_URL", "smtp://h:25?rate=fast", "NOTIFIER_EMAIL_URL rate= 'fast' is not a number"),
        ("NOTIFIER_SMS_URL", "twilio://a:b@api?concurrency=-2", "NOTIFIER_SMS_URL concurrency= '-2' must be"),
        ("NOTIFIER_EMAIL_URL", "localhost:25", "is not a URL"),
    ],
)
def test_a_bad_value_is_one_clear_error_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(says)):
        Settings.from_env({variable: value})


def test_pacing_is_parsed_from_the_channel_url_at_the_edge() -> None:
    settings = Settings.from_env(
        {"NOTIFIER_SMS_URL": "twilio://AC1:tok@api?from=%2B1&rate=20&burst=3&concurrency=4"}
    )
    sms = settings.channel(Channel.SMS)
    assert (sms.rate_per_s, sms.burst, sms.concurrency, sms.account, sms.password) == (
        20.0,
        3,
        4,
        "sms:AC1@api:",
        "tok",
    )
    with pytest.raises(ConfigurationError, match="NOTIFIER_EMAIL_URL"):
        settings.channel(Channel.EMAIL)
    assert (
        Settings.from_env(settings.as_env()) == settings
    )  # a worker given as_env() builds the same settings


@pytest.mark.parametrize(
    ("text", "hours"), [("09-20", (9, 20)), ("09:00-20:00", (9, 20)), (" 0 - 24 ", (0, 24))]
)
def test_quiet_hours_are_parsed_one_way_everywhere(text: str, hours: tuple[int, int]) -> None:
    assert (QuietHours.parse(text).start, QuietHours.parse(text).end) == hours


@pytest.mark.parametrize("text", ["9am-8pm", "20-09", "09:30-20:00", "25-26", ""])
def test_quiet_hours_that_make_no_sense_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        QuietHours.parse(text)


def test_the_email_url_is_parsed_once_and_its_bounce_domain_is_the_one_the_channel_uses() -> None:
    from notifier.channels import channel_from_settings

    for url, domain in (
        (
            "smtp://u:p@mail.example:2525?starttls=1&bounce_domain=b.example&pool=2&from=n%40example.com",
            "b.example",
        ),
        ("smtp://mail.example", "localhost"),  # the one default, for the channel and for bounce intake
    ):
        settings = Settings.from_env({"NOTIFIER_EMAIL_URL": url})
        channel = channel_from_settings(settings.channel(Channel.EMAIL))
        assert settings.bounce_domain == channel.bounce_domain == domain  # type: ignore[attr-defined]
    smtp = Settings.from_env({"NOTIFIER_EMAIL_URL": url}).channel(Channel.EMAIL).smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.pool) == ("mail.example", 25, 4)
    assert Settings.from_env({}).bounce_domain is None
    with pytest.raises(ConfigurationError, match="NOTIFIER_EMAIL_URL pool="):
        Settings.from_env({"NOTIFIER_EMAIL_URL": "smtp://h?pool=many"})


def test_each_revision_of_an_incident_is_parsed_once() -> None:
    import json

    from notifier.notices.incidents import parse_incident

    facts = json.loads((PROJECT_ROOT / "notifier" / "demo" / "incident.json").read_text(encoding="utf-8"))
    first = parse_incident(facts, PROJECT_ROOT / "templates")
    assert parse_incident(dict(facts), PROJECT_ROOT / "templates") is first  # equal facts: the same object
    edited = parse_incident({**facts, "title": facts["title"] + " (revised)"}, PROJECT_ROOT / "templates")
    assert edited is not first and edited.title != first.title
