"""The template linter: the shipped notices pass, and every rule has a case that breaks it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.config import PROJECT_ROOT
from notifier.notices.lint import Finding, Linter


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    templates, locales = tmp_path / "templates", tmp_path / "locales"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    shutil.copytree(PROJECT_ROOT / "locales", locales)
    return templates, locales


def _lint(workspace: tuple[Path, Path], **kwargs: str) -> list[Finding]:
    return Linter(*workspace).run(**kwargs)


def _edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text(encoding="utf-8")
    after = change(before)
    assert after != before, f"the test's edit did not apply to {path}"
    path.write_text(after, encoding="utf-8")


def _rules(findings: list[Finding], severity: str = "error") -> set[str]:
    return {f.rule for f in findings if f.severity == severity}


def test_the_shipped_notices_pass_every_rule() -> None:
    findings = Linter(PROJECT_ROOT / "templates", PROJECT_ROOT / "locales").run()
    assert [str(f) for f in findings] == []


def _catalog_edit(
    locales: Path, locale: str, msgid: str, *, fuzzy: bool = False, blank: bool = False
) -> None:
    path = locales / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    message = catalog[msgid]
    assert message is not None
    if fuzzy:
        message.flags.add("fuzzy")
    if blank:
        message.string = ""
    with path.open("wb") as handle:
        write_po(handle, catalog)


def test_catalog_untranslated_and_fuzzy_messages_are_listed_by_message(workspace: tuple[Path, Path]) -> None:
    _catalog_edit(workspace[1], "ru", "What happened", fuzzy=True)
    _catalog_edit(workspace[1], "vi", "What we are doing", blank=True)
    catalog = [f for f in _lint(workspace) if f.rule == "catalog"]
    assert {(f.locale, f.message) for f in catalog} == {
        ("ru", "fuzzy translation: 'What happened'"),
        ("vi", "untranslated: 'What we are doing'"),
    }
    assert all(f.file.endswith("messages.po") for f in catalog)


def test_render_an_undefined_variable_names_file_and_locale(workspace: tuple[Path, Path]) -> None:
    _edit(workspace[0] / "breach_update" / "sms.txt.j2", lambda s: s + "{{ refund_amount }}")
    render = [f for f in _lint(workspace) if f.rule == "render"]
    assert render and all(f.notice == "breach_update" and f.channel == "sms" for f in render)
    assert {f.locale for f in render} == {"en", "ru", "vi"}
    assert "refund_amount" in render[0].message and render[0].file.endswith("breach_update/sms.txt.j2")


def test_sandbox_templates_cannot_reach_python_internals(workspace: tuple[Path, Path]) -> None:
    _edit(workspace[0] / "breach_notice" / "subject.txt.j2", lambda s: s + "{{ company.__class__.__mro__ }}")
    findings = _lint(workspace)
    assert {"sandbox", "render"} <= _rules(findings)
    assert any(f.rule == "sandbox" and f.file.endswith("subject.txt.j2:2") for f in findings)


def test_sections_an_empty_section_is_an_error(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "common" / "sections.txt.j2",
        lambda s: s.replace("{% for label in categories %}- {{ label }}\n{% endfor %}", ""),
    )
    sections = [f for f in _lint(workspace) if f.rule == "sections"]
    assert sections and all("empty" in f.message for f in sections)
    assert {f.profile for f in sections} == set(Linter(*workspace).content.profiles)  # every profile


def test_sections_california_needs_the_title_and_verbatim_headings(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "breach_notice" / "body.txt.j2",
        lambda s: s.replace("{% if title %}{{ title }}\n{% endif %}", ""),
    )
    sections = [f for f in _lint(workspace, notice="breach_notice") if f.rule == "sections"]
    assert sections and {f.profile for f in sections} == {"us_ca"}
    assert "Notice of Data Breach" in sections[0].message


def test_sections_out_of_order_headings(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "breach_notice" / "body.txt.j2",
        lambda s: s.replace("{% for sid in sections %}", "{% for sid in sections|reverse %}"),
    )
    assert any(
        "out of order" in f.message for f in _lint(workspace, notice="breach_notice") if f.rule == "sections"
    )


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("http://example.com/notice", "not https"),
        ("https://bit.ly/3xYz", "shortener"),
        ("https://example-security.net/login", "not on the allow-list"),
    ],
)
def test_links_must_be_https_on_the_allow_list(
    workspace: tuple[Path, Path], link: str, expected: str
) -> None:
    _edit(
        workspace[0] / "breach_notice" / "body.html.j2",
        lambda s: s.replace("{{ page(intro) }}", f"{{{{ page(intro) }}}} {link}"),
    )
    links = [f for f in _lint(workspace, notice="breach_notice") if f.rule == "links"]
    assert links and all(expected in f.message and f.channel == "email" for f in links)


def test_subject_length(workspace: tuple[Path, Path]) -> None:
    _edit(workspace[0] / "policy.toml", lambda s: s.replace("max_chars = 100", "max_chars = 30"))
    subjects = [f for f in _lint(workspace) if f.rule == "subject"]
    assert subjects and "> 30" in subjects[0].message


def test_sms_segments_over_the_locale_budget(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "breach_notice" / "sms.txt.j2",
        lambda s: s + " {{ _('What happened') }} {{ _('What you can do') }}",
    )
    segments = [f for f in _lint(workspace, notice="breach_notice") if f.rule == "sms-segments"]
    locales = {f.locale for f in segments}
    assert {"ru", "vi"} <= locales  # Cyrillic and Vietnamese force UCS-2: 67 characters a segment
    assert any("UCS-2" in f.message for f in segments if f.locale == "ru")


def test_sms_content_needs_the_link_and_us_opt_out(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "breach_notice" / "sms.txt.j2",
        lambda s: s.replace('{% if sms_opt_out %} {{ _("Reply STOP to stop texts.") }}{% endif %}', ""),
    )
    content = [f for f in _lint(workspace, notice="breach_notice") if f.rule == "sms-content"]
    assert {f.profile for f in content} == {"us_other", "us_ca", "us_ny", "us_hipaa"}  # US readers only
    assert all("STOP" in f.message for f in content)


def test_html_no_images_and_no_small_print(workspace: tuple[Path, Path]) -> None:
    _edit(
        workspace[0] / "common" / "sections.html.j2",
        lambda s: s.replace("font-size:16px", "font-size:9pt").replace(
            "</body>", '<img src="https://example.com/pixel.gif" width="1" height="1"></body>'
        ),
    )
    messages = {
        f.message.split(" (")[0] for f in _lint(workspace, notice="breach_notice") if f.rule == "html"
    }
    assert messages == {
        "images, scripts, external resources or frames are not allowed",
        "font-size 9pt is below 10 pt",
    }


def test_promotional_wording_is_a_warning(workspace: tuple[Path, Path]) -> None:
    _edit(workspace[0] / "breach_notice" / "body.txt.j2", lambda s: s + "\nBlack Friday sale: 20% off!\n")
    findings = _lint(workspace, notice="breach_notice")
    promo = [f for f in findings if f.rule == "promotional"]
    assert promo and all(f.severity == "warning" for f in promo)
    assert "promotional" not in _rules(findings)


def test_the_cli_exits_non_zero_on_errors(
    workspace: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_TEMPLATES_DIR", str(workspace[0]))
    monkeypatch.setenv("NOTIFIER_LOCALES_DIR", str(workspace[1]))
    clean = CliRunner().invoke(app, ["templates", "lint"])
    assert clean.exit_code == 0 and "0 errors" in clean.output
    _catalog_edit(workspace[1], "ru", "What happened", blank=True)
    broken = CliRunner().invoke(app, ["templates", "lint"])
    assert broken.exit_code == 1 and "untranslated: 'What happened'" in broken.output


def test_escaping_a_template_outside_autoescape_is_caught(workspace: tuple[Path, Path]) -> None:
    # Autoescape follows the file name (*.html.j2): an HTML macro file named otherwise would print markup raw.
    templates = workspace[0]
    (templates / "common" / "sections.html.j2").rename(templates / "common" / "sections.j2")
    for path in [templates / n / "body.html.j2" for n in ("breach_notice", "breach_update")] + [
        templates / "common" / "letter.html.j2"
    ]:
        _edit(path, lambda s: s.replace("common/sections.html.j2", "common/sections.j2"))
    escaping = [f for f in _lint(workspace) if f.rule == "escaping"]
    # The email's name is printed by the macro file; the letter prints it itself (still escaped).
    assert escaping and all(f.channel == "email" and "unescaped" in f.message for f in escaping)
