"""Selection → frozen manifest: ids files and queries, keyset pages, channel plans, dedupe, reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import LOCALES, customer, import_rows, incident_facts, planned_campaign, write_csv
from sqlalchemy import create_engine, select, text

from notifier.audience.selection import Planning, Selection, freeze_manifest
from notifier.config import Settings
from notifier.errors import CampaignStateError, SelectionError
from notifier.models import Channel, ChannelPolicy
from notifier.notices.records import create_incident
from notifier.sending.campaigns import campaign_status, plan_campaign
from notifier.store import Store
from notifier.store.schema import manifest, outbox


def _manifest(store: Store) -> dict[str, dict]:  # type: ignore[type-arg]
    with store.connect() as conn:
        return {r.external_id: dict(r._mapping) for r in conn.execute(select(manifest))}


def test_channel_plans_and_unreachable_reasons(store: Store, settings: Settings, tmp_path: Path) -> None:
    rows = [
        customer(1),  # both
        customer(2, email="broken@"),  # invalid email → SMS only
        customer(3, phone="+74951234567"),  # landline → email only
        customer(4, email="", phone=""),  # nothing → none
        customer(5, sms_opt_out="yes"),  # opted out of SMS → email only
        customer(6, email="c1@example.com"),  # shares customer 1's mailbox → SMS only
    ]
    planned_campaign(store, settings, tmp_path, rows, extra_ids=("GHOST-1",))
    m = _manifest(store)
    plans = {k: (v["channel_plan"], v["email_reason"], v["sms_reason"]) for k, v in m.items()}
    assert plans == {
        "C00001": ("both", None, None),
        "C00002": ("sms", "invalid_email", None),
        "C00003": ("email", None, "not_mobile"),
        "C00004": ("none", "no_email", "no_phone"),
        "C00005": ("email", None, "sms_opted_out"),
        "C00006": ("sms", "duplicate_email", None),
        "GHOST-1": ("none", "unknown_customer", "unknown_customer"),
    }
    summary = campaign_status(store, "test-campaign").manifest
    assert summary["total"] == 7
    assert summary["unreachable"] == {"no_email / no_phone": 1, "unknown_customer": 1}
    with store.connect() as conn:
        channels = sorted(r.channel for r in conn.execute(select(outbox.c.channel)))
    assert channels.count("email") == 3 and channels.count("sms") == 3


def test_notice_locale_follows_the_fallback_chain(store: Store, settings: Settings, tmp_path: Path) -> None:
    rows = [
        customer(1, locale="ru_RU"),
        customer(2, locale="vi"),
        customer(3, locale="de_DE"),
        customer(4, locale=""),
    ]
    planned_campaign(store, settings, tmp_path, rows)
    assert {k: v["notice_locale"] for k, v in _manifest(store).items()} == {
        "C00001": "ru",
        "C00002": "vi",
        "C00003": "en",
        "C00004": "en",
    }


def test_email_first_policy_and_disabled_channels(store: Store, settings: Settings, tmp_path: Path) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(1), customer(2, email="")], policy=ChannelPolicy.EMAIL_FIRST
    )
    plans = {k: (v["channel_plan"], v["sms_reason"]) for k, v in _manifest(store).items()}
    assert plans == {"C00001": ("email", "policy"), "C00002": ("sms", None)}


def test_query_selection_pages_by_key_and_unions_with_the_ids_file(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    import_rows(store, tmp_path, [customer(n) for n in range(1, 26)])
    facts = incident_facts()
    create_incident(store, settings, facts, actor="t")
    ids = tmp_path / "ids.txt"
    ids.write_text("external_id\nC00001\nC00024\n\n", encoding="utf-8")
    pages: list[int] = []
    store.engine.echo = False
    result = freeze_manifest(
        store,
        _new_campaign(store, "q"),
        Selection(ids_file=ids, query="SELECT external_id FROM customers WHERE locale = 'ru_RU'"),
        Planning(
            channels=frozenset({Channel.EMAIL, Channel.SMS}),
            policy=ChannelPolicy.ALL,
            locales=LOCALES,
            page_size=3,
        ),
        progress=pages.append,
    )
    ru = {f"C{n:05d}" for n in range(1, 26) if n % 3 == 0}
    assert set(_manifest(store)) == ru | {"C00001", "C00024"}
    assert result.selected == len(ru | {"C00001", "C00024"})
    assert pages[0] == 2 and all(p <= 3 for p in pages[1:])  # the file, then pages of at most 3


def _new_campaign(store: Store, name: str) -> int:
    from notifier.clock import utcnow
    from notifier.store import queries as q

    with store.begin() as conn:
        incident = conn.execute(text("SELECT id FROM incidents")).scalar_one()
        return q.insert_campaign(
            conn,
            name=name,
            incident_id=incident,
            notice="breach_notice",
            state="draft",
            channels="email,sms",
            policy="all",
            selection={},
            created_at=utcnow(),
            created_by="t",
        )


def test_selection_from_a_separate_read_only_database(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    source = create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    with source.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE clients (external_id TEXT, name TEXT, email TEXT, phone TEXT, locale TEXT,"
                " time_zone TEXT, country TEXT, breached INTEGER)"
            )
        )
        conn.execute(
            text("INSERT INTO clients VALUES (:e, :n, :m, :p, :l, 'UTC', :c, :b)"),
            [
                {
                    "e": "X1",
                    "n": "Anna",
                    "m": "anna@example.com",
                    "p": "+79161112233",
                    "l": "ru",
                    "c": "RU",
                    "b": 1,
                },
                {"e": "X2", "n": "Binh", "m": "binh@", "p": "+84912223344", "l": "vi", "c": "VN", "b": 1},
                {"e": "X3", "n": "Carl", "m": "carl@example.com", "p": "", "l": "en", "c": "US", "b": 0},
            ],
        )
    source.dispose()
    create_incident(store, settings, incident_facts(), actor="t")
    result = plan_campaign(
        store,
        name="crm",
        incident_key="2026-11-credential-leak",
        selection=Selection(
            query="SELECT * FROM clients WHERE breached = 1", source_url=f"sqlite:///{tmp_path / 'crm.db'}"
        ),
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        policy=ChannelPolicy.ALL,
        locales=LOCALES,
        actor="t",
    )
    m = _manifest(store)
    assert set(m) == {"X1", "X2"}
    assert m["X2"]["channel_plan"] == "sms" and m["X2"]["email_reason"] == "invalid_email"
    assert any("X2" in p and "invalid email" in p for p in result.problems)


def test_bad_queries_say_what_is_wrong(store: Store, settings: Settings, tmp_path: Path) -> None:
    create_incident(store, settings, incident_facts(), actor="t")
    for sql, message in (
        ("SELECT nonsense FROM nowhere", "selection query failed"),
        ("SELECT locale FROM customers", "external_id"),
    ):
        import_rows(store, tmp_path, [customer(1)])
        with pytest.raises(SelectionError, match=message):
            plan_campaign(
                store,
                name=f"bad-{len(message)}",
                incident_key="2026-11-credential-leak",
                selection=Selection(query=sql),
                channels=frozenset({Channel.EMAIL, Channel.SMS}),
                policy=ChannelPolicy.ALL,
                locales=LOCALES,
                actor="t",
            )


def test_a_planned_manifest_is_frozen(store: Store, settings: Settings, tmp_path: Path) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)])
    with pytest.raises(CampaignStateError, match="frozen"):
        plan_campaign(
            store,
            name="test-campaign",
            incident_key="2026-11-credential-leak",
            selection=Selection(query="SELECT external_id FROM customers"),
            channels=frozenset({Channel.EMAIL, Channel.SMS}),
            policy=ChannelPolicy.ALL,
            locales=LOCALES,
            actor="t",
        )
    assert set(_manifest(store)) == {"C00001"}
    write_csv(tmp_path / "unused.csv", [])
