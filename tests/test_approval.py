"""Approval by content hash: what voids an approval, four eyes, lint gate, audit, and the launch gate."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po
from helpers import approve_all
from sqlalchemy import select

from notifier.config import PROJECT_ROOT, Settings
from notifier.notices.approval import Piece, approve, content_hash, pieces, statuses, submit
from notifier.store import Store
from notifier.store.schema import audit_log


@pytest.fixture
def own_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings whose templates and catalogs are a private copy the test may edit."""
    shutil.copytree(PROJECT_ROOT / "templates", tmp_path / "templates")
    shutil.copytree(PROJECT_ROOT / "locales", tmp_path / "locales")
    return replace(settings, templates_dir=tmp_path / "templates", locales_dir=tmp_path / "locales")


def _states(store: Store, settings: Settings) -> dict[str, str]:
    return {str(s.piece): s.state for s in statuses(store, settings)}


def _edit_ru_word(locales: Path) -> None:
    path = locales / "ru" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    catalog["What happened"].string = "Что случилось"
    with path.open("wb") as handle:
        write_po(handle, catalog)


def test_editing_one_russian_word_voids_exactly_the_russian_approvals(
    store: Store, own_settings: Settings
) -> None:
    approve_all(store, own_settings)
    assert set(_states(store, own_settings).values()) == {"approved"}
    _edit_ru_word(own_settings.locales_dir)
    states = _states(store, own_settings)
    changed = sorted(k for k, v in states.items() if v != "approved")
    assert changed == [
        "breach_notice/ru/email",
        "breach_notice/ru/sms",
        "breach_update/ru/email",
        "breach_update/ru/sms",
    ]
    assert {states[k] for k in changed} == {"changed since approval"}


def test_a_shared_template_voids_every_locale_of_its_channel_only(own_settings: Settings) -> None:
    before = {
        p: content_hash(own_settings.templates_dir, own_settings.locales_dir, p) for p in pieces(own_settings)
    }
    html = own_settings.templates_dir / "common" / "sections.html.j2"
    html.write_text(
        html.read_text(encoding="utf-8").replace("line-height:1.5", "line-height:1.6"), encoding="utf-8"
    )
    after = {
        p: content_hash(own_settings.templates_dir, own_settings.locales_dir, p) for p in pieces(own_settings)
    }
    changed = {p for p in before if before[p] != after[p]}
    assert changed == {p for p in before if p.channel == "email"}


def test_four_eyes_and_a_recorded_editor(store: Store, settings: Settings) -> None:
    piece = [Piece("breach_notice", "vi", "sms")]
    recorded, refused = approve(store, settings, piece, approver="bob", role="legal", comment="")
    assert recorded == [] and "submit" in refused[0]
    submit(store, settings, piece, author="alice")
    recorded, refused = approve(store, settings, piece, approver="alice", role="legal", comment="")
    assert recorded == [] and "four eyes" in refused[0]
    recorded, refused = approve(store, settings, piece, approver="bob", role="legal", comment="looks right")
    assert refused == [] and "approved by bob" in recorded[0]
    with store.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()
    assert actions == [
        "template.approve_refused",
        "template.submit",
        "template.approve_refused",
        "template.approve",
    ]


def test_a_locale_that_fails_lint_cannot_be_approved(store: Store, own_settings: Settings) -> None:
    path = own_settings.locales_dir / "vi" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    catalog["What you can do"].flags.add("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog)
    selected = pieces(own_settings, notice="breach_notice")
    submit(store, own_settings, selected, author="alice")
    recorded, refused = approve(store, own_settings, selected, approver="bob", role="legal", comment="")
    assert sorted(r.split(":")[0] for r in refused) == ["breach_notice/vi/email", "breach_notice/vi/sms"]
    assert all("fails lint" in r and "fuzzy" in r for r in refused)
    assert len(recorded) == 4
    assert _states(store, own_settings)["breach_notice/vi/email"] == "failing lint"


def test_rejections_are_recorded_and_shown(store: Store, settings: Settings) -> None:
    piece = [Piece("breach_update", "en", "email")]
    submit(store, settings, piece, author="alice")
    recorded, _ = approve(
        store, settings, piece, approver="bob", role="legal", comment="dates unclear", decision="rejected"
    )
    assert recorded and _states(store, settings)["breach_update/en/email"] == "rejected"
