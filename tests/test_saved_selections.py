"""Saved selection queries (notifier/audience/saved.py, `notifier selections`): checked when saved, run
read-only, chosen by name when planning (the CLI here; the console in test_console.py), every save
audited with what it replaced, and the manifest keeping the query it was planned from."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import customer, import_rows, incident_facts, sign_in
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.config import Settings
from notifier.notices.records import create_incident
from notifier.store import Store
from notifier.store.schema import audit_log, campaigns, customers, manifest

runner = CliRunner()
STORE_QUERY = "SELECT external_id FROM customers WHERE locale LIKE 'ru%'"


def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database-url", settings.database_url])
    return result.exit_code, result.output


def test_a_saved_query_is_checked_audited_and_planned_from_by_name(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_rows(store, tmp_path, [customer(n) for n in range(1, 7)])  # customers 2 and 5 read ru
    create_incident(store, settings, incident_facts(), actor="t")
    comms = sign_in(store, monkeypatch, "comms")
    save = ["selections", "save", "russian-readers", "--description", "everyone who reads Russian"]
    assert _cli(settings, *save, "--query", STORE_QUERY + ";")[0] == 0
    code, out = _cli(settings, *save, "--query", STORE_QUERY + " AND 1 = 1")
    assert code == 0 and "replaced the earlier query" in out
    code, out = _cli(settings, "selections", "list")
    assert code == 0 and "russian-readers" in out and "everyone who reads Russian" in out

    code, out = _cli(
        settings,
        "campaign",
        "plan",
        "from-saved",
        "--incident",
        "2026-11-credential-leak",
        "--saved",
        "russian-readers",
    )
    assert code == 0, out
    with store.connect() as conn:
        selected = sorted(conn.execute(select(manifest.c.external_id)).scalars())
        described = conn.execute(select(campaigns.c.selection)).scalar_one()
        saves = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(audit_log.c.action == "selection.save")
        ).all()
    ru = sorted(c["external_id"] for c in (customer(n) for n in range(1, 7)) if c["locale"].startswith("ru"))
    assert selected == ru and len(ru) >= 1
    assert described["saved_selection"] == "russian-readers" and described["query"].endswith("AND 1 = 1")
    assert [(a, d["replaced"]) for a, d in saves] == [
        (comms, None),
        (comms, STORE_QUERY),  # the trailing ; gone
    ]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELECT locale FROM customers", "returns no column external_id (it returns locale)"),
        ("SELECT name AS external_id FROM customers", "a selection reads only the view customers"),
        ("SELECT external_id FROM nowhere", "the selection query does not run: "),
        ("   ", "the selection query is empty"),
    ],
)
def test_a_query_that_cannot_select_is_refused_when_saved(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch, query: str, says: str
) -> None:
    sign_in(store, monkeypatch, "comms")
    code, out = _cli(settings, "selections", "save", "broken", "--description", "x", "--query", query)
    assert code != 0 and says in " ".join(out.split()) and "Traceback" not in out
    assert _cli(settings, "selections", "list")[1].count("broken") == 0  # nothing kept


def test_only_comms_save_selections(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(store, monkeypatch, "support")
    code, out = _cli(settings, "selections", "save", "x", "--description", "x", "--query", STORE_QUERY)
    assert code != 0 and "may not selection.save" in out


def test_selection_queries_run_on_a_connection_that_cannot_write(store: Store, tmp_path: Path) -> None:
    import_rows(store, tmp_path, [customer(1), customer(2)])
    with store.read_only() as conn, pytest.raises(DBAPIError):
        conn.execute(text("DELETE FROM customers"))
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar_one() == 2
    with store.begin() as conn:  # the pooled connection writes again once handed back
        conn.execute(text("DELETE FROM customers WHERE external_id = 'C00002'"))
    count = select(func.count()).select_from(customers)
    with store.read_only() as conn:
        first = conn.execute(count).scalar_one()
        import_rows(store, tmp_path, [customer(3)])  # committed meanwhile, by another connection
        assert conn.execute(count).scalar_one() == first == 1  # one snapshot: a report's numbers add up


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_query_with_a_side_effect_fails_instead_of_writing(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_rows(store, tmp_path, [customer(1)])
    create_incident(store, settings, incident_facts(), actor="t")
    sign_in(store, monkeypatch, "comms")
    with store.connect() as conn:
        before = conn.execute(text("SELECT last_value FROM customers_id_seq")).scalar_one()
    sneaky = "SELECT external_id FROM customers WHERE nextval('public.customers_id_seq') > 0"
    code, out = _cli(
        settings, "campaign", "plan", "sneaky", "--incident", "2026-11-credential-leak", "--query", sneaky
    )
    assert code != 0 and "permission denied for sequence" in out and "Traceback" not in out
    smuggled = (
        "SELECT external_id FROM customers) x; COMMIT; DELETE FROM customers; "
        "SELECT * FROM (SELECT 'z' AS external_id"
    )
    code, out = _cli(settings, "selections", "save", "smuggled", "--description", "x", "--query", smuggled)
    assert code != 0 and "does not run" in out
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar_one() == 1  # nothing deleted
    with store.connect() as conn:
        assert conn.execute(text("SELECT last_value FROM customers_id_seq")).scalar_one() == before
