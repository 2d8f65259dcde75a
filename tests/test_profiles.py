"""Content by jurisdiction, driven by data (templates/content.toml): each reader gets exactly their
profile's blocks and contact, the linter enforces each profile's required and forbidden elements (a
breaking case per rule), and the SMS carries its anti-smishing line in the reader's language."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import incident, incident_facts

from notifier.config import PROJECT_ROOT
from notifier.errors import InputError, RenderError
from notifier.notices.incidents import Incident, parse_incident
from notifier.notices.lint import Finding, Linter
from notifier.notices.render import Renderer

TEMPLATES = PROJECT_ROOT / "templates"
LOCALES_DIR = PROJECT_ROOT / "locales"
BLOCK = re.compile(r'data-block="([a-z0-9_]+)"')

# Readers whose government ID number leaked, by jurisdiction: the profile each must get, and exactly the
# blocks that profile shows for this incident (law-enforcement delay and an offer are both facts here).
READERS = {
    "RU": ("ru", "ru_RU", "Europe/Moscow", {"ru_credit_ban", "authority_ru"}),
    "VN": ("vn", "vi_VN", "Asia/Ho_Chi_Minh", set()),
    "US-CA": (
        "us_ca",
        "en_US",
        "America/Los_Angeles",
        {"us_credit_bureaus", "us_offer", "ca_law_enforcement"},
    ),
    "US-NY": (
        "us_ny",
        "en_US",
        "America/New_York",
        {"us_credit_bureaus", "us_offer", "law_enforcement_delay", "ny_agencies"},
    ),
    "DE": ("eu_gdpr", "en", "Europe/Berlin", {"authority_eu"}),
    "US-TX": (
        "us_other",
        "en_US",
        "America/Chicago",
        {"us_credit_bureaus", "us_offer", "law_enforcement_delay"},
    ),
    "SG": ("default", "en", "Asia/Singapore", set()),
}
US_WORDS = ("Equifax", "Experian", "TransUnion", "1-800", "identitytheft.gov", "Federal Trade Commission")


def _id_leak(**changes: Any) -> Incident:
    offer = {
        "kind": "credit_monitoring",
        "provider": "Kroll",
        "months": 24,
        "enrol_url": "https://example.com/m",
    }
    facts = incident_facts(
        data_categories=["name", "email", "government_id"], law_enforcement_delay=True, offers=[offer]
    )
    facts.update(changes)
    return parse_incident(facts, TEMPLATES)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES, LOCALES_DIR)


@pytest.mark.parametrize("jurisdiction", sorted(READERS))
def test_each_reader_gets_exactly_their_profiles_blocks(renderer: Renderer, jurisdiction: str) -> None:
    profile, locale, zone, blocks = READERS[jurisdiction]
    parts = renderer.render(
        _id_leak(), name="Reader", locale=locale, time_zone=zone, jurisdiction=jurisdiction
    )
    assert parts.profile == profile
    assert set(BLOCK.findall(parts.html)) == blocks
    if jurisdiction.startswith("US-"):
        assert all(word in parts.text for word in ("Equifax", "Experian", "TransUnion", "identitytheft.gov"))
    else:
        leaked = [word for word in US_WORDS if word in parts.text or word in parts.html]
        assert leaked == [], (jurisdiction, leaked)


@pytest.mark.parametrize("jurisdiction", sorted(READERS))
def test_law_enforcement_statements_reach_only_us_readers(renderer: Renderer, jurisdiction: str) -> None:
    """California's "this notice was not delayed" is California's alone (to anyone else it suggests there
    is a police investigation); a delay is stated only where US law asks for it."""
    _profile, locale, zone, _blocks = READERS[jurisdiction]
    for delayed in (False, True):
        facts = _id_leak(law_enforcement_delay=delayed)
        text = renderer.render(facts, name="R", locale=locale, time_zone=zone, jurisdiction=jurisdiction).text
        english = renderer.render(
            facts, name="R", locale="en", time_zone=zone, jurisdiction=jurisdiction
        ).text
        assert ("was not delayed" in english) == (jurisdiction == "US-CA" and not delayed)
        assert ("law enforcement agency" in english) == (jurisdiction.startswith("US-") and delayed)
        assert text.strip()


def test_russian_readers_get_the_self_imposed_credit_ban_and_roskomnadzor(renderer: Renderer) -> None:
    parts = renderer.render(
        _id_leak(), name="Анна", locale="ru_RU", time_zone="Europe/Moscow", jurisdiction="RU"
    )
    assert "gosuslugi.ru" in parts.text and "самозапрет" in parts.text.lower()
    assert "rkn.gov.ru" in parts.text and "Роскомнадзор" in parts.text
    assert "Equifax" not in parts.text


def test_vietnamese_readers_get_decree_356_only_for_biometric_or_location_data(renderer: Renderer) -> None:
    plain = renderer.render(
        _id_leak(), name="Lan", locale="vi_VN", time_zone="Asia/Ho_Chi_Minh", jurisdiction="VN"
    )
    assert "356/2025" not in plain.text
    how = {
        "en": "Monitoring flagged it.",
        "ru": "Это заметил мониторинг.",
        "vi": "Hệ thống giám sát phát hiện.",
    }
    located = _id_leak(data_categories=["name", "location"], discovered_how=how)
    parts = renderer.render(
        located, name="Lan", locale="vi_VN", time_zone="Asia/Ho_Chi_Minh", jurisdiction="VN"
    )
    assert "356/2025" in parts.text and "Hệ thống giám sát phát hiện." in parts.text
    assert set(BLOCK.findall(parts.html)) == {"vn_decree_356"}


def test_health_data_gives_us_readers_the_hipaa_profile(renderer: Renderer) -> None:
    facts = _id_leak(data_categories=["name", "health_data"])
    parts = renderer.render(
        facts, name="Pat", locale="en_US", time_zone="America/Chicago", jurisdiction="US-TX"
    )
    assert parts.profile == "us_hipaa" and "hhs.gov/ocr" in parts.text
    russian = renderer.render(facts, name="Pat", locale="ru", time_zone="Europe/Moscow", jurisdiction="RU")
    assert russian.profile == "ru" and "hhs.gov" not in russian.text


def test_contact_details_follow_the_readers_country_then_language(renderer: Renderer) -> None:
    contact = incident_facts()["contact"] | {
        "by_country": {"RU": {"phone": "+7 495 555-01-00", "languages": "Русский"}},
        "by_language": {"vi": {"phone": "+84 24 5555 0100", "email": "hotro@example.com"}},
    }
    facts = _id_leak(contact=contact)
    russian = renderer.render(facts, name="A", locale="ru_RU", time_zone="Europe/Moscow", jurisdiction="RU")
    assert "+7 495 555-01-00" in russian.text and "Русский" in russian.text
    assert incident_facts()["contact"]["phone"] not in russian.text
    vietnamese_in_us = renderer.render(
        facts, name="A", locale="vi", time_zone="America/Chicago", jurisdiction="US-TX"
    )
    assert "+84 24 5555 0100" in vietnamese_in_us.text and "hotro@example.com" in vietnamese_in_us.text
    american = renderer.render(
        facts, name="A", locale="en_US", time_zone="America/Chicago", jurisdiction="US-TX"
    )
    assert incident_facts()["contact"]["phone"] in american.text


@pytest.mark.parametrize(
    ("locale", "warning", "stop"),
    [
        ("en", "We never ask for passwords or codes.", "Reply STOP to stop texts."),
        ("ru", "Мы не просим пароли и коды.", "STOP"),
        ("vi", "Chúng tôi không hỏi mật khẩu, mã.", "STOP"),
    ],
)
def test_every_sms_warns_against_smishing_and_only_us_readers_get_the_stop_line(
    renderer: Renderer, locale: str, warning: str, stop: str
) -> None:
    facts = _id_leak()
    for jurisdiction, profile in (("US-TX", "us_other"), ("DE", "eu_gdpr")):
        sms = renderer.render(
            facts, name="A", locale=locale, time_zone="UTC", jurisdiction=jurisdiction, parts=("sms",)
        ).sms
        assert warning in sms, (locale, sms)
        assert facts.notice_url in sms and "bit.ly" not in sms
        assert (stop in sms) == (profile == "us_other"), (locale, profile, sms)


def test_a_missing_translation_of_any_incident_text_is_named_never_filled() -> None:
    facts = incident_facts()
    facts["measures"] = {k: v for k, v in facts["measures"].items() if k != "vi"}
    parsed = parse_incident(facts, TEMPLATES)
    with pytest.raises(RenderError, match="'measures' has no 'vi' text"):
        Renderer(TEMPLATES, LOCALES_DIR).render(parsed, name="A", locale="vi", time_zone="UTC")
    findings = Linter(TEMPLATES, LOCALES_DIR).run(incident=parsed)
    texts = [f for f in findings if f.rule == "incident-texts"]
    assert [(f.locale, f.message.split(";")[0]) for f in texts if f.notice == "*"] == [
        ("vi", "'measures' has no 'vi' text")
    ]
    with pytest.raises(InputError, match="must be an object of texts by language"):
        incident(what_happened="One text for every language.")


# --- the linter's profile rules, each with a case that breaks it ------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    templates, locales = tmp_path / "templates", tmp_path / "locales"
    shutil.copytree(TEMPLATES, templates)
    shutil.copytree(LOCALES_DIR, locales)
    return templates, locales


def _edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text(encoding="utf-8")
    after = change(before)
    assert after != before, f"the test's edit did not apply to {path}"
    path.write_text(after, encoding="utf-8")


def _found(findings: list[Finding], rule: str) -> set[tuple[str | None, str]]:
    return {(f.profile, f.message.split(" (")[0]) for f in findings if f.rule == rule}


def test_the_demo_and_sample_incidents_pass_every_profile_rule() -> None:
    linter = Linter(TEMPLATES, LOCALES_DIR)
    assert [str(f) for f in linter.run(incident=_id_leak(), notice="breach_notice")] == []


def test_blocks_a_required_block_missing_from_the_html_is_an_error(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "common" / "sections.html.j2",
        lambda s: s.replace(
            "{% for block in blocks[sid] %}", '{% for block in blocks[sid] if block != "ny_agencies" %}'
        ),
    )
    findings = Linter(*workspace).run(notice="breach_notice")
    assert _found(findings, "blocks") == {
        ("us_ny", "the us_ny profile requires the ny_agencies block here; it is missing")
    }


def test_blocks_one_countrys_block_leaking_to_everyone_is_an_error(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "breach_notice" / "body.txt.j2",
        lambda s: s + '\n{% include "blocks/us_credit_bureaus.txt.j2" %}\n',
    )
    findings = [f for f in Linter(*workspace).run(notice="breach_notice") if f.rule == "blocks"]
    # Outside the US never; US readers only when an ID number leaked (not with the minimal facts).
    assert {f.profile for f in findings} == {
        "default",
        "eu_gdpr",
        "uk",
        "ru",
        "vn",
        "us_other",
        "us_ca",
        "us_ny",
    }
    assert all("us_credit_bureaus" in f.message and f.channel == "email" for f in findings)
    assert any("not for ru readers" in f.message for f in findings)
    assert any("does not hold for this incident" in f.message for f in findings if f.profile == "us_ca")


@pytest.mark.parametrize(
    ("changes", "profiles", "expected"),
    [
        (
            {"contact": {"url": "https://example.com/help"}},
            {"eu_gdpr", "uk"},
            "GDPR: name the data protection officer",
        ),
        (
            {"data_categories": ["name", "location"]},
            {"vn"},
            "Decree 356/2025: biometric or location data leaked",
        ),
        (
            {"data_categories": ["name", "government_id"], "offers": []},
            {"us_ca"},
            "California: an identity number leaked",
        ),
        (
            {"data_categories": ["name", "health_data"], "contact": {"phone": "+1 415 555 0100"}},
            {"us_hipaa"},
            "HIPAA: give a toll-free number",
        ),
    ],
)
def test_each_profile_rule_breaks_on_the_fact_it_requires(
    changes: dict[str, Any], profiles: set[str], expected: str
) -> None:
    facts = incident_facts(**changes)
    findings = Linter(TEMPLATES, LOCALES_DIR).run(
        incident=parse_incident(facts, TEMPLATES), notice="breach_notice"
    )
    rules = [f for f in findings if f.rule == "profile"]
    assert rules and {f.profile for f in rules} == profiles, [str(f) for f in rules]
    assert all(f.message.startswith(expected) for f in rules)


def test_an_update_notice_needs_the_incidents_update_facts() -> None:
    findings = Linter(TEMPLATES, LOCALES_DIR).run(incident=incident(), notice="breach_update")
    texts = {(f.notice, f.locale, f.message.split(":")[0]) for f in findings if f.rule == "incident-texts"}
    assert texts == {
        ("breach_update", locale, f"an update notice needs update.{field}")
        for locale in ("en", "ru", "vi")
        for field in ("what_is_new", "previous_notice_date")
    }
