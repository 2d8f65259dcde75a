"""Where selection queries run. A selection is SQL a person wrote, saved once and then run by whoever plans
from it (in the console too), and its result is shown in reports: so it runs where it can read customer ids
and nothing else, and no statement of it runs for long.

On the store, a selection reads the view ``customers`` of ``SELECTABLE_CUSTOMER_COLUMNS`` (no names, no
addresses, no phone numbers) and nothing else:

- PostgreSQL: it logs in as the role ``notifier_selector`` (created by ``notifier db upgrade``, migration
  0014), whose only grants are the schema ``selection`` and its view ``customers``; ``search_path`` is
  that schema, so ``SELECT external_id FROM customers WHERE …`` runs as written. Users, sessions, tokens,
  the audit log, events, the outbox, ``pg_read_file``, ``pg_shadow``, ``lo_import`` are refused by the
  server. It is a login of its own, not ``SET ROLE``: a query could call ``set_config('role', …)`` and
  become the session's user again for the next page.
- SQLite: a connection of its own (never pooled) with a temporary view ``customers`` over the same
  columns and an authorizer that lets a statement read those columns and call the core SQL functions,
  nothing else (no other table, no PRAGMA, no ATTACH).

Everywhere, the company database (``--source-url``) included: a read-only transaction (one snapshot),
``statement_timeout`` and ``lock_timeout`` set again before every statement (a query cannot lift them for
the next page), or on SQLite a progress handler that interrupts a statement past its time."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from notifier.config import SelectionAccess
from notifier.errors import ConfigurationError, SelectionError
from notifier.redact import mask_url
from notifier.store.schema import SELECTABLE_CUSTOMER_COLUMNS

__all__ = [
    "SELECTOR_ROLE",
    "describe_failure",
    "rearm",
    "selecting_source",
    "selecting_store",
    "selector_url",
]

SELECTOR_ROLE = "notifier_selector"
VIEW = "customers"
_LIMITS = "notifier_selection_limits"  # Connection.info key: the SelectionAccess a connection runs under
# The SQLite functions a selection may call (sqlite.org/lang_corefunc.html, lang_datefunc.html,
# lang_aggfunc.html, windowfunctions.html, json1.html): everything but load_extension and friends.
SQLITE_FUNCTIONS = frozenset(
    [
        "abs",
        "changes",
        "char",
        "coalesce",
        "concat",
        "concat_ws",
        "format",
        "glob",
        "hex",
        "ifnull",
        "iif",
        "instr",
        "last_insert_rowid",
        "length",
        "like",
        "likelihood",
        "likely",
        "lower",
        "ltrim",
        "max",
        "min",
        "nullif",
        "octet_length",
        "printf",
        "quote",
        "random",
        "randomblob",
        "replace",
        "round",
        "rtrim",
        "sign",
        "soundex",
        "substr",
        "substring",
        "trim",
        "typeof",
        "unhex",
        "unicode",
        "unlikely",
        "upper",
        "zeroblob",
        "date",
        "time",
        "datetime",
        "julianday",
        "unixepoch",
        "strftime",
        "timediff",
        "avg",
        "count",
        "group_concat",
        "string_agg",
        "sum",
        "total",
        "row_number",
        "rank",
        "dense_rank",
        "percent_rank",
        "cume_dist",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
        "json",
        "json_array",
        "json_array_length",
        "json_extract",
        "json_insert",
        "json_object",
        "json_patch",
        "json_remove",
        "json_replace",
        "json_set",
        "json_type",
        "json_valid",
        "json_quote",
        "json_group_array",
        "json_group_object",
        "json_each",
        "json_tree",
    ]
)
_READABLE = frozenset(SELECTABLE_CUSTOMER_COLUMNS) | {""}  # "": count(*) reads no column
_INSTRUCTIONS_PER_CHECK = 10_000


def selector_url(store_url: str, access: SelectionAccess) -> str:
    """The URL a selection on a PostgreSQL store logs in with: the configured one, else the store's with
    the selector role as its user and no password."""
    if access.database_url:
        return access.database_url
    return (
        make_url(store_url).set(username=SELECTOR_ROLE, password=None).render_as_string(hide_password=False)
    )


@contextmanager
def selecting_store(store_url: str, access: SelectionAccess) -> Iterator[Connection]:
    """A connection to the store that can read the selection view and nothing else (see the module)."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=NullPool)
        event.listen(engine, "connect", lambda dbapi, _record: _sqlite_sandbox(dbapi, access))
    elif url.get_backend_name() == "postgresql":
        engine = create_engine(selector_url(store_url, access), poolclass=NullPool)
    else:
        raise ConfigurationError(f"selections on a {url.get_backend_name()} store are not supported")
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                _refuse_a_powerful_role(conn)
                conn.exec_driver_sql("SET search_path = selection")
                conn.commit()  # the session's settings stay; the selection's own transaction starts next
            with _read_only(conn, access):
                yield conn
    except OperationalError as exc:
        if engine.dialect.name != "postgresql" or _connected(exc):
            raise
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise SelectionError(
            f"selections log in to the store as {SELECTOR_ROLE}, and that failed ({reason}): run "
            "`notifier db upgrade` (it creates the role), and give it a password and "
            "NOTIFIER_SELECTION_DATABASE_URL where the server asks for one (docs/operations.md)"
        ) from None
    finally:
        engine.dispose()


@contextmanager
def selecting_source(source_url: str, access: SelectionAccess) -> Iterator[Connection]:
    """A connection to the company's own database, with that URL's rights (give it a read-only user),
    in a read-only transaction under the same time limits."""
    try:
        engine = create_engine(source_url, poolclass=NullPool)
    except (SQLAlchemyError, ValueError) as exc:
        raise ConfigurationError(f"the source database URL {mask_url(source_url)!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda dbapi, _record: _sqlite_read_only(dbapi, access))
    try:
        with engine.connect() as conn, _read_only(conn, access):
            yield conn
    finally:
        engine.dispose()


def rearm(conn: Connection) -> None:
    """Before each statement of a selection: its time starts now, whatever an earlier one set."""
    access: SelectionAccess | None = conn.info.get(_LIMITS)
    if access is None:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT set_config('statement_timeout', :s, true), set_config('lock_timeout', :l, true)"),
            {"s": f"{round(access.timeout_s * 1000)}ms", "l": f"{round(access.lock_timeout_s * 1000)}ms"},
        )
    elif conn.dialect.name == "sqlite":
        deadline = time.monotonic() + access.timeout_s
        raw: Any = conn.connection.dbapi_connection  # sqlite3.Connection
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _INSTRUCTIONS_PER_CHECK)


def describe_failure(exc: SQLAlchemyError, access: SelectionAccess) -> str:
    """What a failed selection statement means, in one line naming the limit or the rule it ran into."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    reason = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else type(exc).__name__
    if sqlstate == "57014" or reason == "interrupted":
        return (
            f"it ran longer than {access.timeout_s:g} s and was stopped (NOTIFIER_SELECTION_TIMEOUT): "
            "narrow it, or give it more time"
        )
    if sqlstate == "55P03":
        return (
            f"it waited longer than {access.lock_timeout_s:g} s for a lock (NOTIFIER_SELECTION_LOCK_TIMEOUT)"
        )
    refused = ("not authorized", "permission denied", "prohibited", "no such column", "no such table")
    if sqlstate in ("42501", "42703", "42P01") or any(word in reason for word in refused):
        return (
            f"{reason}: a selection reads only the view {VIEW} ({', '.join(SELECTABLE_CUSTOMER_COLUMNS)}) "
            "and calls only plain SQL functions"
        )
    return reason


@contextmanager
def _read_only(conn: Connection, access: SelectionAccess) -> Iterator[None]:
    conn.info[_LIMITS] = access
    try:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # WAL: the first read's snapshot holds until the end
        yield
    finally:
        conn.info.pop(_LIMITS, None)
        conn.rollback()


def _connected(exc: OperationalError) -> bool:
    """True if the failure came after the login (a statement failed, not the connection)."""
    return getattr(exc.orig, "sqlstate", None) not in (None, "28000", "28P01", "08001", "08006")


def _refuse_a_powerful_role(conn: Connection) -> None:
    row = conn.execute(
        text("SELECT rolsuper OR rolcreaterole OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).first()
    if row is None or row[0]:
        raise SelectionError(
            "the role selections log in as may do more than read the selection view (a superuser, or one "
            f"that creates roles): point NOTIFIER_SELECTION_DATABASE_URL at {SELECTOR_ROLE} "
            "(docs/operations.md)"
        )


def _sqlite_read_only(dbapi_connection: Any, access: SelectionAccess) -> None:
    dbapi_connection.execute(f"PRAGMA busy_timeout = {round(access.lock_timeout_s * 1000)}")
    dbapi_connection.execute("PRAGMA query_only = ON")


def _sqlite_sandbox(dbapi_connection: Any, access: SelectionAccess) -> None:
    """The selection view, then the authorizer that lets statements read nothing else."""
    columns = ", ".join(SELECTABLE_CUSTOMER_COLUMNS)
    dbapi_connection.execute(f"CREATE TEMP VIEW {VIEW} AS SELECT {columns} FROM main.customers")
    _sqlite_read_only(dbapi_connection, access)
    dbapi_connection.set_authorizer(_authorize)


def _authorize(
    action: int, arg1: str | None, arg2: str | None, database: str | None, _inner: str | None
) -> int:
    """SQLite asks this for every table column a statement reads and every function it calls. Reads
    of the selectable columns are allowed wherever they come from (a CTE may take the view's name, so the
    name of the view a read comes through proves nothing); any other column, of any table, is refused."""
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ:
        allowed = arg1 == VIEW and database in ("main", "temp") and (arg2 or "") in _READABLE
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_OK if (arg2 or "").lower() in SQLITE_FUNCTIONS else sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_DENY
