"""The store: engine lifecycle and migrations. Every SQL statement lives in ``store.queries``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from notifier.config import SelectionAccess
from notifier.errors import ConfigurationError, StoreError
from notifier.redact import mask_url
from notifier.store.selecting import selecting_store

__all__ = ["Store"]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (status, reports) run while a sender writes; busy_timeout waits for the lock
    # instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """Owns the SQLAlchemy engine for one database URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        try:
            parsed = make_url(url)
            self.is_sqlite = parsed.get_backend_name() == "sqlite"
            if self.is_sqlite and parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, echo=echo, future=True)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigurationError(
                f"store URL {mask_url(url)!r}: {exc} (e.g. sqlite:///var/notifier.db or "
                "postgresql+psycopg://user@host/db)"
            ) from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def __repr__(self) -> str:
        return f"Store({mask_url(self.url)!r})"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def read_only(self) -> Iterator[Connection]:
        """A connection that cannot change the store and whose reads all see one snapshot of it: for reports
        whose numbers must add up while sending goes on. (SQL a person wrote runs in ``selecting``.)"""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("PRAGMA query_only = ON")
                conn.exec_driver_sql("BEGIN")  # WAL: the snapshot of the first read holds until the end
                try:
                    yield conn
                finally:
                    conn.rollback()
                    conn.exec_driver_sql("PRAGMA query_only = OFF")  # the connection goes back to the pool
            else:
                # The first statement of the transaction; every later statement reads the same snapshot.
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                try:
                    yield conn
                finally:
                    conn.rollback()

    @contextmanager
    def selecting(self, access: SelectionAccess) -> Iterator[Connection]:
        """A connection for a selection query: it reads the view of selectable customer columns and
        nothing else, read-only, every statement under ``access``'s time limits (store/selecting.py)."""
        with selecting_store(self.url, access) as conn:
            yield conn

    def ping(self) -> None:
        """StoreError unless the store answers (a health check)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the store at {mask_url(self.url)} does not answer: {type(exc).__name__}"
            ) from None

    def require_current(self, migrations_dir: Path) -> None:
        """Refuse, with one line saying what to do, a store that cannot be reached or is not at this
        version's schema (never migrated, or migrated by an older notifier)."""
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        try:
            with self.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise StoreError(
                f"cannot reach the store at {mask_url(self.url)}: {reason}; is the database "
                "running, and is NOTIFIER_DATABASE_URL right?"
            ) from None
        head = ScriptDirectory(str(migrations_dir)).get_current_head()
        if current is None:
            raise StoreError(
                f"the store at {mask_url(self.url)} has no tables yet: run `notifier db upgrade`"
            )
        if current != head:
            raise StoreError(
                f"the store at {mask_url(self.url)} is at schema version {current}, this notifier "
                f"needs {head}: run `notifier db upgrade`"
            )

    def upgrade(self, migrations_dir: Path, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision``."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(migrations_dir))
        try:
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise StoreError(f"cannot reach the store at {mask_url(self.url)}: {reason}") from None

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()
