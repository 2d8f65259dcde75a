"""Shared fixtures: a migrated store on SQLite *and* PostgreSQL, the SMTP and Twilio stand-ins on
loopback, and one Prefect test harness per session (only for tests that ask for it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.config import PROJECT_ROOT, Settings
from notifier.orchestration import apply_prefect_defaults
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

PG_ADMIN_URL = os.environ.get("NOTIFIER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DATA = Path(__file__).parent / "data"
MIGRATIONS = PROJECT_ROOT / "migrations"


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is needed for the store tests and is not reachable at {PG_ADMIN_URL}: {exc}\n"
            "Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test gets a fresh copy of it (CREATE DATABASE … TEMPLATE)."""
    name = f"notifier_tpl_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    store = Store(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    store.upgrade(MIGRATIONS)
    store.dispose()
    yield name
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty store: once on SQLite, once on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'notifier.db'}"
        store = Store(url)
        store.upgrade(MIGRATIONS)
        store.dispose()
        yield url
        return
    template = request.getfixturevalue("pg_template")
    name = f"notifier_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpStandin]:
    with SmtpStandin(save_dir=tmp_path / "outbox") as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[TwilioStandin]:
    with TwilioStandin() as server:
        yield server


@pytest.fixture
def settings(db_url: str, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, email_url=smtp.url, sms_url=twilio.url, var_dir=tmp_path / "var")


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The data the suite carries with it (tests/data, each set with its license)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One Prefect test server for the whole session, heartbeats and telemetry off (see prefect-notes)."""
    apply_prefect_defaults(tmp_path_factory.mktemp("prefect-var"))
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=300),
    ):
        yield
