"""The store: engine lifecycle and migrations. Every SQL statement lives in ``store.queries``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError, SQLAlchemyError

from notifier.config import SelectionAccess
from notifier.errors import ConfigurationError, StoreError
from notifier.redact import mask_url
from notifier.store.outage import StoreHealth, grace_seconds, is_outage, is_transient
from notifier.store.selecting import selecting_store

__all__ = ["Store"]

# A sender's PostgreSQL sessions. Cut off from the server in the middle of a transaction (the network gone
# rather than the server), a sender leaves a backend behind that holds its row locks (the send slots of
# its provider account) until the server notices: the server ends such a transaction after 10 s idle, no
# statement waits more than 30 s for a lock, and the client notices a silent server within ~25 s.
SENDER_SESSION: dict[str, Any] = {
    "options": "-c idle_in_transaction_session_timeout=10000 -c lock_timeout=30000",
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
P = ParamSpec("P")
T = TypeVar("T")


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

    def __init__(self, url: str, *, echo: bool = False, sending: bool = False) -> None:
        """``sending``: the store of a sender, whose transactions are all short (see ``SENDER_SESSION``)."""
        self.url = url
        try:
            parsed = make_url(url)
            self.is_sqlite = parsed.get_backend_name() == "sqlite"
            if self.is_sqlite and parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            connect_args = SENDER_SESSION if sending and parsed.get_backend_name() == "postgresql" else {}
            # pool_pre_ping: a pooled connection the server dropped (a restart) is replaced, not used.
            self.engine: Engine = create_engine(
                url, echo=echo, future=True, pool_pre_ping=not self.is_sqlite, connect_args=connect_args
            )
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigurationError(
                f"store URL {mask_url(url)!r}: {exc} (e.g. sqlite:///var/notifier.db or "
                "postgresql+psycopg://user@host/db)"
            ) from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.health = StoreHealth(mask_url(url))

    def __repr__(self) -> str:
        return f"Store({mask_url(self.url)!r})"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on error."""
        with self._connection() as conn, conn.begin():
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._connection() as conn:
            yield conn

    def _connection(self) -> Connection:
        """A connection; while riding out outages (store/outage.py), one the store gives once it answers."""
        grace = grace_seconds()
        while True:
            try:
                conn = self.engine.connect()
            except DBAPIError as exc:
                if not grace or not is_outage(exc):
                    raise
                self.health.pause(self.health.went_down(exc), grace)
                continue
            self.health.came_back()
            return conn

    def retrying(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work``, whole transactions of its own that are safe to run again (claims, hand-overs and
        answers are guarded by lease and state), and, if the store went away in the middle of it while
        riding out outages, run it again once the store answers."""
        grace = grace_seconds()
        while True:
            try:
                return work(*args, **kwargs)
            except DBAPIError as exc:
                if not grace or not is_transient(exc):
                    raise
                self.health.pause(self.health.went_down(exc), grace)

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
