"""The notice in law per person: legal channels as data per jurisdiction profile, settled after dedupe,
counted and worded before launch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import customer, incident_facts, planned_campaign
from sqlalchemy import select

from notifier.config import PROJECT_ROOT, Settings
from notifier.errors import ConfigurationError
from notifier.models import Channel
from notifier.notices.content import load_content
from notifier.notices.legal_channels import load_legal_channels
from notifier.sending.campaigns import campaign_status, legal_notice_gaps
from notifier.store import Store
from notifier.store.schema import manifest

ADDRESS_US = {
    "address_line1": "1600 Amphitheatre Pkwy",
    "address_city": "Mountain View",
    "region": "CA",
    "postal_code": "94043",
}
ADDRESS_RU = {
    "address_line1": "ул. Тверская, д. 7, кв. 5",
    "address_city": "Москва",
    "address_region": "Москва",
    "postal_code": "125009",
}


def _legal(store: Store) -> dict[str, tuple[str | None, str | None, str | None, str | None]]:
    with store.connect() as conn:
        rows = conn.execute(
            select(
                manifest.c.external_id,
                manifest.c.profile,
                manifest.c.legal_options,
                manifest.c.legal_channel,
                manifest.c.legal_gap,
            )
        )
        return {r.external_id: (r.profile, r.legal_options, r.legal_channel, r.legal_gap) for r in rows}


def test_every_person_gets_the_channel_the_law_accepts_or_a_reason(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        customer(2, **ADDRESS_US),  # US, email and SMS, no e-consent: only a letter is notice
        customer(5, **ADDRESS_US, esign_consent_at="2024-03-01", esign_consent_how="signup form"),
        customer(8),  # US, no address, no consent: nothing notifier sends is notice
        customer(3),  # RU: email is notice
        customer(6, email=""),  # RU without email: the SMS is
        customer(9, email="", phone="", **ADDRESS_RU),  # RU, only an address: a letter would be
        customer(12, email="c3@example.com"),  # RU, shares C00003's mailbox: dedupe leaves the SMS
        customer(15, email="", phone=""),  # RU, nothing at all
    ]
    planned_campaign(store, settings, tmp_path, rows, extra_ids=("GHOST-1",))
    assert _legal(store) == {
        "C00002": ("us_ca", "letter", None, "needs_letter"),
        "C00005": ("us_ca", "email,letter", "email", None),
        "C00008": ("us_other", "", None, "no_legal_contact"),
        "C00003": ("ru", "email,sms", "email", None),
        "C00006": ("ru", "email,sms", "sms", None),
        "C00009": ("ru", "email,sms,letter", None, "needs_letter"),
        "C00012": ("ru", "email,sms", "sms", None),
        "C00015": ("ru", "email,sms", None, "no_legal_contact"),
        "GHOST-1": (None, None, None, "unknown_customer"),
    }
    summary = campaign_status(store, "test-campaign").manifest
    assert summary["by_legal_channel"] == {"email": 2, "sms": 2}
    assert summary["no_legal_notice"] == {"needs_letter": 2, "no_legal_contact": 2, "unknown_customer": 1}
    lines = legal_notice_gaps(summary, settings.templates_dir)
    assert lines[0].startswith("5 of 9 people would get no notice the law accepts")
    us_ca = next(line for line in lines if "us_ca readers" in line)
    assert "1798.82" in us_ca and "only a postal letter counts" in us_ca and "sends no letters" in us_ca
    ru = next(
        line for line in lines if "ru readers" in line and "needs" not in line and "letter would" in line
    )
    assert ru.strip().startswith("1 ru readers")
    assert any("not in the store" in line for line in lines)


def test_the_e_sign_rule_follows_hipaa_when_health_data_leaked(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    facts = incident_facts(data_categories=[*incident_facts()["data_categories"], "health_data"])
    rows = [customer(2, **ADDRESS_US), customer(5, esign_consent_at="2024-03-01")]
    planned_campaign(store, settings, tmp_path, rows, facts=facts, approved=False)
    legal = _legal(store)
    assert legal["C00002"] == ("us_hipaa", "letter", None, "needs_letter")
    assert legal["C00005"] == ("us_hipaa", "email", "email", None)
    hipaa = legal_notice_gaps(campaign_status(store, "test-campaign").manifest, settings.templates_dir)
    assert "164.404(d)" in hipaa[1]


def test_a_campaign_without_email_leaves_consenting_us_readers_without_notice(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = [customer(5, esign_consent_at="2024-03-01")]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.SMS}))
    assert _legal(store)["C00005"] == ("us_other", "email", None, "channel_not_used")
    lines = legal_notice_gaps(campaign_status(store, "test-campaign").manifest, settings.templates_dir)
    assert "leaves out" in lines[1]


def test_every_profile_has_its_legal_channels_and_a_rule() -> None:
    templates = PROJECT_ROOT / "templates"
    legal = load_legal_channels(templates)
    assert set(legal.rules) == set(load_content(templates).profiles)
    assert all(r.rule and r.options for r in legal.rules.values())
    us = [name for name, r in legal.rules.items() if name.startswith("us_")]
    assert us and all(
        [(o.channel, o.when) for o in legal.rules[n].options]
        == [("email", "esign_consent"), ("letter", None)]
        for n in us
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("[profiles.vn]", "[profiles.vietnam]", "profiles.vietnam: no such profile in content.toml"),
        (
            '{ channel = "sms" }, { channel = "letter" }]\n\n[profiles.vn]',
            '{ channel = "fax" }]\n\n[profiles.vn]',
            "profiles.ru.notice[1].channel 'fax': expected one of email, sms, letter",
        ),
        (
            'when = "esign_consent" }, { channel = "letter" }]\n\n[profiles.us_ca]',
            'when = "signed" }, { channel = "letter" }]\n\n[profiles.us_ca]',
            "profiles.us_other.notice[0].when 'signed': expected one of esign_consent",
        ),
        (
            'rule = "Decree 356/2025: a direct notice to the person (email, SMS or letter)"',
            'rule = ""',
            "profiles.vn.rule: say in words",
        ),
        (
            'notice = [{ channel = "email" }, { channel = "sms" }, { channel = "letter" }]\n\n'
            "[profiles.eu_gdpr]",
            "notice = []\n\n[profiles.eu_gdpr]",
            "profiles.default.notice: list at least one channel",
        ),
    ],
)
def test_a_broken_legal_channels_file_names_what_is_wrong(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    path = templates / "legal_channels.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_legal_channels(templates)
    assert str(path) in str(caught.value) and expected in str(caught.value)
