"""What a selection query can reach (store/selecting.py): customer ids and the selectable columns, nothing
else, and no statement for long. The attacks are the ones an independent check ran as a comms user: read
the users' password hashes or the customers' addresses through a saved selection, call PostgreSQL's file
and role functions, sleep forever; each is refused where it runs, and nothing of it is kept or shown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import LOCALES, customer, import_rows, incident_facts, sign_in
from sqlalchemy import select, text
from typer.testing import CliRunner

from notifier.accounts.users import add_user
from notifier.audience.selection import Selection
from notifier.cli.app import app
from notifier.config import SelectionAccess, Settings
from notifier.errors import SelectionError
from notifier.models import Channel, ChannelPolicy
from notifier.notices.records import create_incident
from notifier.sending.campaigns import plan_campaign
from notifier.store import Store
from notifier.store.schema import SELECTABLE_CUSTOMER_COLUMNS, audit_log, manifest, saved_selections
from notifier.store.selecting import SELECTOR_ROLE

runner = CliRunner()
INCIDENT = "2026-11-credential-leak"

# Each reads something a selection must not: the people's password hashes, the customers' contacts and
# names, the schema, or (on PostgreSQL) the server's files and roles.
READS_TOO_MUCH = [
    "SELECT username || ':' || password_hash AS external_id FROM users",
    "SELECT email AS external_id FROM customers",
    # an oracle on the address, one letter at a time
    "SELECT external_id FROM customers WHERE email LIKE 'c1%'",
    "SELECT name AS external_id FROM customers",
    "SELECT address_line1 AS external_id FROM customers",
    "SELECT external_id FROM customers WHERE postal_code LIKE '9%'",
    "SELECT token_hash AS external_id FROM api_tokens",
    "SELECT detail AS external_id FROM audit_log",
    "WITH customers AS (SELECT phone AS external_id FROM main.customers) SELECT external_id FROM customers",
]
READS_TOO_MUCH_PG = [
    "SELECT username AS external_id FROM public.users",
    "SELECT email AS external_id FROM public.customers",
    "SELECT pg_read_file('/etc/passwd') AS external_id",
    "SELECT passwd AS external_id FROM pg_shadow",
    "SELECT lo_import('/etc/passwd')::text AS external_id",
]


def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database-url", settings.database_url])
    return result.exit_code, result.output


def _plan(store: Store, name: str, query: str, access: SelectionAccess | None = None) -> None:
    plan_campaign(
        store,
        name=name,
        incident_key=INCIDENT,
        selection=Selection(query=query, access=access or SelectionAccess()),
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        policy=ChannelPolicy.ALL,
        locales=LOCALES,
        actor="t",
    )


def _setup(store: Store, settings: Settings, tmp_path: Path) -> None:
    import_rows(store, tmp_path, [customer(n) for n in range(1, 5)])
    create_incident(store, settings, incident_facts(), actor="t")
    add_user(
        store, "victim", display_name="v", roles=["legal"], password="a long enough password 1", actor="t"
    )


def test_a_selection_cannot_read_past_customer_ids(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(store, settings, tmp_path)
    sign_in(store, monkeypatch, "comms")
    hostile = READS_TOO_MUCH + (READS_TOO_MUCH_PG if not store.is_sqlite else [])
    for n, query in enumerate(hostile):
        code, out = _cli(settings, "selections", "save", f"s{n}", "--description", "x", "--query", query)
        flat = " ".join(out.split())
        assert code == 1 and "the selection query does not run" in flat, (query, out)
        assert "reads only the view customers" in flat and "Traceback" not in out, (query, out)
        code, out = _cli(settings, "campaign", "plan", f"p{n}", "--incident", INCIDENT, "--query", query)
        assert code == 1 and "selection query failed" in " ".join(out.split()), (query, out)
    with store.connect() as conn:
        assert conn.execute(select(manifest.c.external_id)).all() == []  # nothing kept of any attempt
        assert conn.execute(select(saved_selections.c.name)).all() == []
        hash_ = conn.execute(text("SELECT password_hash FROM users WHERE username = 'victim'")).scalar_one()
        logged = " ".join(str(d) for d in conn.execute(select(audit_log.c.detail)).scalars())
    assert hash_ not in logged and "c1@example.com" not in logged


def test_a_selection_reads_the_selectable_columns_as_before(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    _setup(store, settings, tmp_path)
    _plan(
        store,
        "by-columns",
        "SELECT external_id FROM customers WHERE country = 'RU' AND NOT sms_opt_out AND locale LIKE 'ru%' "
        "AND jurisdiction IS NOT NULL AND created_at IS NOT NULL",
    )
    with store.connect() as conn:
        selected = sorted(conn.execute(select(manifest.c.external_id)).scalars())
    ru = sorted(c["external_id"] for c in (customer(n) for n in range(1, 5)) if c["country"] == "RU")
    assert selected == ru and ru


def test_values_that_are_no_customer_id_are_counted_and_never_kept(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(store, settings, tmp_path)
    sign_in(store, monkeypatch, "comms")
    query = (
        "SELECT external_id FROM customers WHERE external_id = 'C00001' "
        "UNION SELECT 'secret-' || locale || '-' || time_zone AS external_id FROM customers"
    )
    code, out = _cli(settings, "campaign", "plan", "mixed", "--incident", INCIDENT, "--query", query)
    assert code == 0, out
    assert "3 value(s) the selection query returned are no customer's external_id: not kept" in " ".join(
        out.split()
    )
    assert "secret-" not in out
    with store.connect() as conn:
        kept = conn.execute(select(manifest.c.external_id)).scalars().all()
        logged = " ".join(str(d) for d in conn.execute(select(audit_log.c.detail)).scalars())
    assert kept == ["C00001"]
    assert "'not_customers': 3" in logged or '"not_customers": 3' in logged
    # Ids an affected-ids file hands over stay: forensics said so, and the manifest says unknown_customer.
    ids = tmp_path / "ids.txt"
    ids.write_text("C00002\nNOT-A-CUSTOMER\n", encoding="utf-8")
    code, out = _cli(settings, "campaign", "plan", "file", "--incident", INCIDENT, "--affected-ids", str(ids))
    assert code == 0, out
    with store.connect() as conn:
        reasons = dict(
            conn.execute(
                select(manifest.c.external_id, manifest.c.email_reason).where(
                    manifest.c.external_id != "C00001"
                )
            ).all()
        )
    assert reasons["NOT-A-CUSTOMER"] == "unknown_customer"


def test_a_selection_that_runs_too_long_is_stopped(store: Store, settings: Settings, tmp_path: Path) -> None:
    _setup(store, settings, tmp_path)
    forever = (
        "SELECT external_id FROM customers WHERE pg_sleep(30) IS NOT NULL"
        if not store.is_sqlite
        else "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
        "SELECT external_id FROM customers, (SELECT max(x) AS m FROM r) AS endless"
    )
    started = time.monotonic()
    with pytest.raises(
        SelectionError, match=r"ran longer than 1 s and was stopped \(NOTIFIER_SELECTION_TIMEOUT\)"
    ):
        _plan(store, "slow", forever, SelectionAccess(timeout_s=1))
    assert time.monotonic() - started < 10
    with store.connect() as conn:
        assert conn.execute(select(manifest.c.id)).all() == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgresql_selections_log_in_as_a_role_that_reads_one_view(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    _setup(store, settings, tmp_path)
    with store.connect() as conn:
        grants = conn.execute(
            text(
                "SELECT table_schema, table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = :role ORDER BY 1, 2, 3"
            ),
            {"role": SELECTOR_ROLE},
        ).all()
        columns = conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'selection' "
                "AND table_name = 'customers' ORDER BY ordinal_position"
            )
        ).scalars()
        powers = conn.execute(
            text(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = :r"
            ),
            {"r": SELECTOR_ROLE},
        ).one()
        assert tuple(columns) == SELECTABLE_CUSTOMER_COLUMNS
    assert [tuple(g) for g in grants] == [("selection", "customers", "SELECT")]
    assert tuple(powers) == (False, False, False, False)
    # Page 1 of a query that turns the role back into the session's user cannot make page 2 a superuser's.
    two_pages = (
        "SELECT external_id FROM customers WHERE set_config('role', 'postgres', false) IS NOT NULL "
        "UNION ALL SELECT pg_read_file('/etc/hostname') AS external_id"
    )
    with pytest.raises(SelectionError, match="permission denied"):
        _plan(store, "escalate", two_pages)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_the_company_database_runs_under_the_same_limits(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """``--source-url`` runs with that URL's own rights (here a superuser's, the worst case): read-only,
    and cut at the timeout all the same."""
    _setup(store, settings, tmp_path)
    columns = "external_id, name, email, phone, locale, time_zone, country"
    slow = f"SELECT {columns} FROM public.customers WHERE pg_sleep(30) IS NOT NULL"
    writes = f"SELECT {columns} FROM public.customers WHERE nextval('public.customers_id_seq') > 0"
    started = time.monotonic()
    with pytest.raises(SelectionError, match="ran longer than 1 s"):
        plan_campaign(
            store,
            name="source-slow",
            incident_key=INCIDENT,
            selection=Selection(query=slow, source_url=store.url, access=SelectionAccess(timeout_s=1)),
            channels=frozenset({Channel.EMAIL, Channel.SMS}),
            policy=ChannelPolicy.ALL,
            locales=LOCALES,
            actor="t",
        )
    assert time.monotonic() - started < 10
    with pytest.raises(SelectionError, match="read-only transaction"):
        plan_campaign(
            store,
            name="source-writes",
            incident_key=INCIDENT,
            selection=Selection(query=writes, source_url=store.url),
            channels=frozenset({Channel.EMAIL, Channel.SMS}),
            policy=ChannelPolicy.ALL,
            locales=LOCALES,
            actor="t",
        )
