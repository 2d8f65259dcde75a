"""Approval of what customers read (templates + catalog + the incident's facts, per language and
jurisdiction profile): what voids an approval, incident revisions, four eyes, the lint gate, the audit
trail, the launch gate, and the content hash each sent message records."""

from __future__ import annotations

import copy
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po, write_po
from helpers import LOCALES, approve_all, customer, import_rows, incident_facts, planned_campaign
from sqlalchemy import select

from notifier.audience.selection import Selection
from notifier.config import PROJECT_ROOT, Settings
from notifier.errors import CampaignStateError, InputError
from notifier.models import Channel, ChannelPolicy
from notifier.notices.approval import Piece, approve, content_hash, pieces, statuses, submit
from notifier.notices.incidents import Incident, parse_incident
from notifier.notices.records import create_incident, edit_incident, incident_by_key, incident_history
from notifier.sending.campaigns import plan_campaign, translation_gaps
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import audit_log, manifest, outbox

KEY = incident_facts()["key"]


@pytest.fixture
def own_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings whose templates and catalogs are a private copy the test may edit."""
    shutil.copytree(PROJECT_ROOT / "templates", tmp_path / "templates")
    shutil.copytree(PROJECT_ROOT / "locales", tmp_path / "locales")
    return replace(settings, templates_dir=tmp_path / "templates", locales_dir=tmp_path / "locales")


def _recorded(store: Store, settings: Settings, facts: dict[str, Any] | None = None) -> Incident:
    create_incident(store, settings, facts or incident_facts(), actor="comms@example.com")
    return incident_by_key(store, settings, KEY)


def _states(store: Store, settings: Settings, notice: str = "breach_notice") -> dict[str, str]:
    incident = incident_by_key(store, settings, KEY)
    selected = pieces(settings, incident, notice=notice)
    return {str(s.piece): s.state for s in statuses(store, settings, incident, selected, with_lint=False)}


def _not_approved(store: Store, settings: Settings) -> list[str]:
    return sorted(k for k, v in _states(store, settings).items() if v != "approved")


def _edit_ru_word(locales: Path) -> None:
    path = locales / "ru" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    message = catalog["What happened"]
    message.string = str(message.string) + " "
    with path.open("wb") as handle:
        write_po(handle, catalog)


def _hashes(settings: Settings, incident: Incident) -> dict[Piece, str]:
    return {
        p: content_hash(settings.templates_dir, settings.locales_dir, incident, p)
        for p in pieces(settings, incident)
    }


def test_the_pieces_are_every_notice_language_channel_and_profile_the_incident_can_reach(
    store: Store, settings: Settings
) -> None:
    incident = _recorded(store, settings)
    found = pieces(settings, incident)
    profiles = {p.profile for p in found}
    # The demo incident leaked no health data: the HIPAA profile can never apply to its readers.
    assert profiles == {"default", "eu_gdpr", "uk", "ru", "vn", "us_other", "us_ca", "us_ny"}
    assert len(found) == 2 * len(LOCALES) * 3 * len(profiles)  # notices × languages × channels × profiles
    health = parse_incident(incident_facts(data_categories=["name", "health_data"]), settings.templates_dir)
    assert "us_hipaa" in {p.profile for p in pieces(settings, health)}


def test_editing_one_russian_catalog_word_voids_exactly_the_russian_approvals(
    store: Store, own_settings: Settings
) -> None:
    _recorded(store, own_settings)
    approve_all(store, own_settings)
    assert _not_approved(store, own_settings) == []
    _edit_ru_word(own_settings.locales_dir)
    changed = _not_approved(store, own_settings)
    assert changed and all(k.split("/")[2] == "ru" for k in changed)
    assert len(changed) == 3 * 8  # every channel, every profile, Russian only
    assert {_states(store, own_settings)[k] for k in changed} == {"changed since approval"}


def test_editing_the_incidents_russian_text_voids_the_russian_pieces_and_launch_names_them(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(n) for n in range(1, 7)])
    assert _not_approved(store, settings) == []
    facts = incident_facts()
    facts["what_happened"] = dict(facts["what_happened"], ru=facts["what_happened"]["ru"] + " Дополнение.")
    edit = edit_incident(store, settings, KEY, facts, actor="comms@example.com", comment="ru wording")
    assert edit.revision == 2 and edit.changed_fields == ["what_happened.ru"]
    assert {p.locale for p in edit.changed_pieces} == {"ru"}
    assert sorted(str(p) for p in edit.changed_pieces if p.notice == "breach_notice") == _not_approved(
        store, settings
    )
    with pytest.raises(CampaignStateError) as refused:
        launch(store, settings, "test-campaign", actor="ops")
    message = str(refused.value)
    assert f"{KEY}/breach_notice/ru/email/ru is changed since approval" in message
    assert "/en/" not in message and "/vi/" not in message
    with store.connect() as conn:
        assert conn.scalar(select(outbox.c.id).where(outbox.c.state != "pending")) is None  # nothing sent
        actions = conn.execute(select(audit_log.c.action)).scalars().all()
    assert "incident.edit" in actions and "campaign.launch_refused" in actions


def test_incident_revisions_are_kept_and_a_shared_fact_voids_every_piece(
    store: Store, settings: Settings
) -> None:
    incident = _recorded(store, settings)
    before = _hashes(settings, incident)
    facts = incident_facts()
    facts["contact"] = dict(facts["contact"], phone="+1 800 555 0199")
    edit_incident(store, settings, KEY, facts, actor="comms@example.com", comment="new hotline")
    after = _hashes(settings, incident_by_key(store, settings, KEY))
    assert all(before[p] != after[p] for p in before)
    history = incident_history(store, KEY)
    assert [r.revision for r in history] == [1, 2]
    assert history[0].facts == incident_facts() and history[1].facts == facts
    assert history[1].created_by == "comms@example.com" and history[1].comment == "new hotline"


def test_an_edit_is_refused_whole_when_it_is_wrong(store: Store, settings: Settings) -> None:
    _recorded(store, settings)
    with pytest.raises(InputError, match="key never changes"):
        edit_incident(store, settings, KEY, incident_facts(key="other"), actor="c")
    with pytest.raises(InputError, match="already has exactly these facts"):
        edit_incident(store, settings, KEY, incident_facts(), actor="c")
    broken = incident_facts(discovered_at="yesterday", notice_url="http://example.com")
    with pytest.raises(InputError, match="discovered_at 'yesterday' is not an ISO-8601 date-time") as refused:
        edit_incident(store, settings, KEY, broken, actor="c")
    assert refused.value.problems == (  # one by one, for a form to show each by its field
        "discovered_at 'yesterday' is not an ISO-8601 date-time with offset",
        "notice_url must be an https:// link",
    )
    assert [r.revision for r in incident_history(store, KEY)] == [1]


def test_an_edit_begun_before_another_landed_goes_on_top_of_it_unless_both_changed_the_same_fact(
    store: Store, settings: Settings
) -> None:
    _recorded(store, settings)
    hotline, hours, clash = incident_facts(), incident_facts(), incident_facts()
    hotline["contact"] = dict(hotline["contact"], phone="+1 800 555 0111")
    hours["contact"] = dict(hours["contact"], hours={"en": "24/7", "ru": "круглосуточно", "vi": "24/7"})
    clash["contact"] = dict(clash["contact"], phone="+1 800 555 0122")
    edit_incident(store, settings, KEY, hotline, actor="casey", comment="hotline", based_on=1)
    # Kim opened revision 1 too, and changed the hours only: made on top of Casey's revision.
    merged = edit_incident(store, settings, KEY, hours, actor="kim", comment="hours", based_on=1)
    assert merged.revision == 3
    assert merged.changed_fields == ["contact.hours.en", "contact.hours.ru", "contact.hours.vi"]
    now = incident_by_key(store, settings, KEY).contact
    assert now.phone == "+1 800 555 0111" and now.hours == {"en": "24/7", "ru": "круглосуточно", "vi": "24/7"}
    # Lee opened revision 1 as well, and changed the phone Casey changed: refused, nothing overwritten.
    with pytest.raises(InputError, match=r"now revision 3\) after you opened revision 1.*: contact\.phone;"):
        edit_incident(store, settings, KEY, clash, actor="lee", comment="theirs", based_on=1)
    assert incident_by_key(store, settings, KEY).contact.phone == "+1 800 555 0111"
    assert [r.revision for r in incident_history(store, KEY)] == [1, 2, 3]


def test_a_shared_template_voids_every_email_piece_and_a_block_only_its_profiles(
    own_settings: Settings,
) -> None:
    incident = parse_incident(incident_facts(), own_settings.templates_dir)
    before = _hashes(own_settings, incident)
    html = own_settings.templates_dir / "common" / "sections.html.j2"
    html.write_text(html.read_text(encoding="utf-8") + "\n{# reviewed #}\n", encoding="utf-8")
    after = _hashes(own_settings, incident)
    # The sections are the email's and the letter's: both are voided, the SMS is not.
    assert {p for p in before if before[p] != after[p]} == {
        p for p in before if p.channel in ("email", "letter")
    }
    block = own_settings.templates_dir / "blocks" / "ny_agencies.txt.j2"
    block.write_text(block.read_text(encoding="utf-8") + "\n{# reviewed #}\n", encoding="utf-8")
    again = _hashes(own_settings, incident)
    assert {p for p in after if after[p] != again[p]} == {
        p for p in after if p.channel == "email" and p.profile == "us_ny"
    }


def test_four_eyes_and_a_recorded_editor(store: Store, settings: Settings) -> None:
    incident = _recorded(store, settings)
    piece = [Piece(KEY, "breach_notice", "vi", "sms", "vn")]
    recorded, refused = approve(
        store, settings, incident, piece, approver="comms@example.com", role="legal", comment=""
    )
    assert recorded == [] and "four eyes" in refused[0]  # recording the incident made them its editor
    submit(store, settings, incident, piece, author="alice")
    recorded, refused = approve(store, settings, incident, piece, approver="alice", role="legal", comment="")
    assert recorded == [] and "four eyes" in refused[0]
    recorded, refused = approve(
        store, settings, incident, piece, approver="bob", role="legal", comment="looks right"
    )
    assert refused == [] and "approved by bob" in recorded[0]
    with store.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()
    assert actions[0] == "incident.create"
    assert actions[-4:] == [
        "template.approve_refused",
        "template.submit",
        "template.approve_refused",
        "template.approve",
    ]


def test_an_approval_never_covers_another_incident(store: Store, settings: Settings) -> None:
    _recorded(store, settings)
    approve_all(store, settings)
    other = copy.deepcopy(incident_facts(key="2026-12-second"))
    create_incident(store, settings, other, actor="comms@example.com")
    second = incident_by_key(store, settings, "2026-12-second")
    assert {s.state for s in statuses(store, settings, second, with_lint=False)} == {"never approved"}


def test_a_locale_that_fails_lint_cannot_be_approved(store: Store, own_settings: Settings) -> None:
    incident = _recorded(store, own_settings)
    path = own_settings.locales_dir / "vi" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    catalog["What you can do"].flags.add("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog)
    selected = pieces(own_settings, incident, notice="breach_notice", profile="default")
    submit(store, own_settings, incident, selected, author="alice")
    recorded, refused = approve(
        store, own_settings, incident, selected, approver="bob", role="legal", comment=""
    )
    assert sorted(r.split(": ")[0] for r in refused) == [
        f"{KEY}/breach_notice/vi/email/default",
        f"{KEY}/breach_notice/vi/letter/default",
        f"{KEY}/breach_notice/vi/sms/default",
    ]
    assert all("fails lint" in r and "fuzzy" in r for r in refused)
    assert len(recorded) == 6  # en and ru, every channel


def test_a_missing_translation_of_the_incident_blocks_exactly_the_customers_who_read_it(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    facts = incident_facts()
    facts["measures"] = {k: v for k, v in facts["measures"].items() if k != "vi"}
    rows = [customer(n) for n in (2, 3, 5, 6)]  # US and Russian readers only (n % 3 == 1 is Vietnamese)
    planned_campaign(store, settings, tmp_path, rows, facts=facts, approved=False)
    incident = incident_by_key(store, settings, KEY)
    states = {
        s.piece: s for s in statuses(store, settings, incident, pieces(settings, incident, locale="vi"))
    }
    assert {s.state for s in states.values()} == {"failing lint"}
    assert all("'measures' has no 'vi' text" in s.detail for s in states.values())
    _recorded, refused = approve(
        store,
        settings,
        incident,
        pieces(settings, incident, notice="breach_notice"),
        approver="legal",
        role="legal",
        comment="",
    )
    assert refused and {r.split("/")[2] for r in refused} == {"vi"}
    assert translation_gaps(store, settings, "test-campaign") == []  # nobody in it reads Vietnamese
    launch(
        store,
        replace(settings, email_url="memory://email", sms_url="memory://sms"),
        "test-campaign",
        actor="o",
    )
    import_rows(store, tmp_path, [customer(1), customer(4)])
    ids = tmp_path / "vi.txt"
    ids.write_text("C00001\nC00004\n", encoding="utf-8")
    plan_campaign(
        store,
        name="vi",
        incident_key=KEY,
        selection=Selection(ids_file=ids),
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        policy=ChannelPolicy.ALL,
        locales=LOCALES,
        actor="comms",
    )
    assert translation_gaps(store, settings, "vi") == [
        f"2 customers read vi, but the incident has no vi text for measures: add it (notifier incident edit "
        f"{KEY} FILE); launch is refused until then"
    ]
    with pytest.raises(
        CampaignStateError, match=f"{KEY}/breach_notice/vi/email/vn is failing lint|never approved"
    ):
        launch(store, settings, "vi", actor="ops")


def test_rejections_are_recorded_and_shown(store: Store, settings: Settings) -> None:
    incident = _recorded(store, settings)
    piece = [Piece(KEY, "breach_update", "en", "email", "uk")]
    recorded, _ = approve(
        store,
        settings,
        incident,
        piece,
        approver="bob",
        role="legal",
        comment="dates unclear",
        decision="rejected",
    )
    assert recorded and _states(store, settings, "breach_update")[str(piece[0])] == "rejected"


def test_each_sent_message_records_the_approved_content_hash_it_was_rendered_from(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = [customer(n) for n in range(1, 7)]
    planned_campaign(store, settings, tmp_path, rows)
    memory = replace(settings, email_url="memory://email", sms_url="memory://sms")
    launch(store, memory, "test-campaign", actor="ops")
    incident = incident_by_key(store, settings, KEY)
    approved = {
        (s.piece.locale, s.piece.channel, s.piece.profile): s.content_hash
        for s in statuses(store, settings, incident, with_lint=False)
        if s.piece.notice == "breach_notice"
    }
    with store.connect() as conn:
        sent = conn.execute(
            select(
                manifest.c.notice_locale, manifest.c.jurisdiction, outbox.c.channel, outbox.c.content_hash
            ).join(manifest, manifest.c.id == outbox.c.manifest_id)
        ).all()
    assert len(sent) == 2 * len(rows)
    by_country = {"RU": "ru", "VN": "vn", "US": "us_other"}
    for locale, jurisdiction, channel, digest in sent:
        profile = by_country[(jurisdiction or "").split("-")[0]]
        assert digest == approved[(locale, channel, profile)], (locale, jurisdiction, channel)
    assert Channel.SMS.value in {row[2] for row in sent}
