"""Notices render completely in every locale, customer data stays inert, and the catalogs are whole."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from helpers import LOCALES, incident, incident_facts

from notifier.config import PROJECT_ROOT
from notifier.errors import InputError, RenderError
from notifier.notices.i18n import fallback_chain
from notifier.notices.incidents import parse_incident
from notifier.notices.render import Renderer

TEMPLATES = PROJECT_ROOT / "templates"
LOCALES_DIR = PROJECT_ROOT / "locales"
HOSTILE = "<script>alert(1)</script> Ivan\r\nBcc: attacker@example.net {{ 7*7 }}"
HEADINGS = {
    "en": ("What happened", "What information was involved", "What we are doing", "What you can do"),
    "ru": ("Что произошло", "Какие данные затронуты", "Что мы делаем", "Что можете сделать Вы"),
    "vi": (
        "Chuyện gì đã xảy ra",
        "Những thông tin nào bị ảnh hưởng",
        "Chúng tôi đang làm gì",
        "Quý khách có thể làm gì",
    ),
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES, LOCALES_DIR)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_part_renders_in_the_readers_language(renderer: Renderer, locale: str) -> None:
    parts = renderer.render(incident(), name="Anna", locale=locale, time_zone="Europe/Moscow")
    assert parts.locale == locale
    for heading in HEADINGS[locale]:
        assert heading in parts.text and heading in parts.html
    for text in (parts.subject, parts.text, parts.html, parts.sms):
        assert text.strip() and not re.search(r"\{\{|\{%|%\(", text)
    assert "https://example.com/security/2026-11" in parts.sms
    if locale != "en":
        assert "What happened" not in parts.text  # nothing left in English


def test_dates_are_in_the_readers_time_zone_and_locale(renderer: Renderer) -> None:
    ru = renderer.render(incident(), name="A", locale="ru_RU", time_zone="Europe/Moscow")
    # 09:30 UTC discovered; CLDR's long date with a narrow no-break space before "г."; the zone as an offset
    assert "5 ноября 2026\u202fг., 12:30 (UTC+3)" in ru.text
    vi = renderer.render(incident(), name="A", locale="vi_VN", time_zone="Asia/Ho_Chi_Minh")
    assert "16:30 ngày 5 tháng 11 năm 2026 (UTC+7)" in vi.text  # Vietnamese order: time, then the day
    en = renderer.render(incident(), name="A", locale="en_US", time_zone="America/New_York")
    assert "November 5, 2026, 4:30\u202fAM (UTC\u22125)" in en.text  # a real minus sign, as CLDR writes it


def test_unknown_dates_are_said_in_words(renderer: Renderer) -> None:
    parts = renderer.render(incident(occurred={}), name="A", locale="en", time_zone="UTC")
    assert "still under investigation" in parts.text


def test_hostile_names_render_inert_in_every_channel(renderer: Renderer) -> None:
    parts = renderer.render(incident(), name=HOSTILE, locale="en", time_zone="UTC")
    assert "<script>" not in parts.html and "&lt;script&gt;" in parts.html
    assert "{{ 7*7 }}" in parts.text and "49" not in parts.text  # data is never evaluated as a template
    assert HOSTILE not in parts.subject and HOSTILE not in parts.sms  # the name is not in headers or SMS


def test_missing_facts_and_unknown_categories_refuse_to_render() -> None:
    facts = incident_facts()
    del facts["contact"]
    with pytest.raises(InputError, match="missing 'contact'"):
        parse_incident(facts, TEMPLATES)
    with pytest.raises(InputError, match="unknown data categories"):
        incident(data_categories=["email", "soul"])


def _template_copy(tmp_path: Path, sms_source: str) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(TEMPLATES, target)
    (target / "breach_notice" / "sms.txt.j2").write_text(sms_source, encoding="utf-8")
    return target


def test_an_undefined_template_variable_is_an_error_not_an_empty_string(tmp_path: Path) -> None:
    renderer = Renderer(_template_copy(tmp_path, "{{ company }} {{ no_such_variable }}"), LOCALES_DIR)
    with pytest.raises(RenderError, match="no_such_variable"):
        renderer.render(incident(), name="A", locale="en", time_zone="UTC")


def test_templates_cannot_reach_python_internals(tmp_path: Path) -> None:
    sneaky = "{{ company.__class__.__mro__[1].__subclasses__() }}"
    renderer = Renderer(_template_copy(tmp_path, sneaky), LOCALES_DIR)
    with pytest.raises(RenderError):
        renderer.render(incident(), name="A", locale="en", time_zone="UTC")


def test_fallback_chain() -> None:
    assert fallback_chain("ru_RU") == ["ru_RU", "ru", "en"]
    assert fallback_chain("en") == ["en"]


def test_catalogs_match_the_sources_and_are_fully_translated() -> None:
    import tomllib

    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["babel"]["mappings"]
    method_map = [(m["pattern"], m["method"]) for m in config]
    options_map = {
        m["pattern"]: {k: v for k, v in m.items() if k not in ("pattern", "method")} for m in config
    }
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    extracted = {
        msg[2] if isinstance(msg[2], str) else msg[2][0]
        for msg in extract_from_dir(PROJECT_ROOT, method_map, options_map, keywords=keywords)
        if "/.venv/" not in str(msg[0])
    }
    for locale in LOCALES:
        with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        assert ids == extracted, f"{locale}: catalog out of date; run the extraction in docs/localization.md"
        untranslated = [
            m.id
            for m in catalog
            if m.id and (not all(m.string if isinstance(m.string, tuple) else [m.string]) or m.fuzzy)
        ]
        assert untranslated == [], f"{locale}: untranslated or fuzzy"
        if locale == "ru":
            assert all(re.search("[а-яА-Я]", str(m.string)) for m in catalog if m.id)
            plural = next(m for m in catalog if isinstance(m.id, tuple))
            assert len(plural.string) == 3  # Russian has three plural forms
        if locale == "vi":
            plural = next(m for m in catalog if isinstance(m.id, tuple))
            assert len(plural.string) == 1  # Vietnamese has none


@pytest.mark.parametrize("jurisdiction", [None, "US-CA"])
def test_rendering_once_per_group_gives_exactly_what_rendering_per_reader_gives(
    renderer: Renderer, jurisdiction: str | None
) -> None:
    from notifier.notices.render import NoticeCache

    cache = NoticeCache(renderer, incident())
    names = ["Anna", "", HOSTILE, "O'Brien & <Sons>", "Nguyễn Thị Lan", "Иван\nПетров", "  spaced   out  "]
    for locale in ("en", "ru_RU", "vi", "de_DE"):
        for name in names:
            direct = renderer.render(
                incident(),
                name=name,
                locale=locale,
                time_zone="Asia/Ho_Chi_Minh",
                jurisdiction=jurisdiction,
            )
            cached = cache.render(
                name=name, locale=locale, time_zone="Asia/Ho_Chi_Minh", jurisdiction=jurisdiction
            )
            assert cached == direct, (locale, name)
    assert len(cache._groups) == 8  # 4 locales, each with and without a name (no-name salutation)
