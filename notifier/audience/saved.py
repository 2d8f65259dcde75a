"""Selection queries saved under a name: written once by someone who knows the data (`notifier selections
save`, checked when saved), then chosen by name when planning, in the console too. Nobody types SQL into a
web page: the console offers the saved queries and shows what each one says.

A saved query runs on the store, read-only (``Store.read_only``), or on the company's own read-only
database (``NOTIFIER_SOURCE_URL``), where it must return the customer columns as well (docs/selection.md).
Every save is audited with the query it replaced; a campaign's manifest keeps the query it was planned
from (``Selection.describe``), so changing a saved query later never blurs who was selected and how."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from notifier.audience.importer import REQUIRED_COLUMNS
from notifier.audience.selection import Selection
from notifier.clock import utcnow
from notifier.config import SelectionAccess
from notifier.errors import InputError, SelectionError
from notifier.models import SelectionSource
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import SavedSelectionRow
from notifier.store.selecting import describe_failure, selecting_source

__all__ = ["check_query", "save_selection", "saved_selection", "saved_selections", "selection_of"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def save_selection(
    store: Store,
    *,
    name: str,
    query: str,
    description: str,
    source: SelectionSource,
    actor: str,
    source_url: str | None = None,
    access: SelectionAccess | None = None,
) -> SavedSelectionRow | None:
    """Check ``query`` and keep it under ``name``; returns what the name held before (None if new)."""
    if not NAME.fullmatch(name):
        raise InputError(f"selection name {name[:70]!r}: 1-64 letters, digits, dots, dashes or underscores")
    query = query.strip().rstrip(";").strip()
    if not query:
        raise InputError("the selection query is empty: give the SQL that returns the affected external_id")
    if not description.strip():
        raise InputError("say what the query selects (--description): comms choose it by that")
    check_query(store, query, source, source_url, access or SelectionAccess())
    now = utcnow()
    try:
        return _save(
            store, name=name, query=query, description=description, source=source, actor=actor, now=now
        )
    except IntegrityError:  # the same new name saved by someone else at the same moment
        raise InputError(
            f"selection {name!r} was just saved by someone else: look, then save again"
        ) from None


def _save(
    store: Store,
    *,
    name: str,
    query: str,
    description: str,
    source: SelectionSource,
    actor: str,
    now: datetime,
) -> SavedSelectionRow | None:
    with store.begin() as conn:
        before = q.save_selection(
            conn,
            name=name,
            description=description.strip(),
            query=query,
            source=source.value,
            actor=actor,
            now=now,
        )
        q.audit(
            conn,
            actor=actor,
            action="selection.save",
            subject=f"selection:{name}",
            detail={
                "source": source.value,
                "query": query,
                "description": description.strip(),
                "replaced": before.query if before is not None else None,
            },
            now=now,
        )
    return before


def check_query(
    store: Store, query: str, source: SelectionSource, source_url: str | None, access: SelectionAccess
) -> None:
    """Refuse a query that cannot select: broken SQL, a statement that writes, one that reads anything but
    the selection view (on the store), or missing columns (an ``external_id``; on the company database
    the customer columns too). Reads no row."""
    needed = {"external_id"} if source is SelectionSource.STORE else REQUIRED_COLUMNS
    try:
        if source is SelectionSource.STORE:
            with store.selecting(access) as conn:
                columns = q.selection_columns(conn, query)
        else:
            if not source_url:
                raise SelectionError(
                    "this query runs on the company database: set NOTIFIER_SOURCE_URL to its read-only URL"
                )
            with selecting_source(source_url, access) as conn:
                columns = q.selection_columns(conn, query)
    except SQLAlchemyError as exc:
        raise SelectionError(f"the selection query does not run: {describe_failure(exc, access)}") from None
    missing = sorted(needed - {c.lower() for c in columns})
    if missing:
        raise SelectionError(
            f"the selection query returns no column {', '.join(missing)} (it returns {', '.join(columns)})"
        )


def saved_selections(store: Store) -> list[SavedSelectionRow]:
    with store.connect() as conn:
        return q.saved_selections_list(conn)


def saved_selection(store: Store, name: str) -> SavedSelectionRow:
    with store.connect() as conn:
        found = q.saved_selection(conn, name)
    if found is None:
        raise InputError(f"no saved selection {name[:70]!r}; `notifier selections list` shows them")
    return found


def selection_of(
    saved: SavedSelectionRow, *, source_url: str | None, access: SelectionAccess | None = None
) -> Selection:
    """What planning from ``saved`` selects (the company database's URL comes from the configuration)."""
    if saved.source == SelectionSource.SOURCE and not source_url:
        raise SelectionError(
            f"saved selection {saved.name!r} runs on the company database, and NOTIFIER_SOURCE_URL is not "
            "set where this runs"
        )
    return Selection(
        query=saved.query,
        source_url=source_url if saved.source == SelectionSource.SOURCE else None,
        saved_as=saved.name,
        access=access or SelectionAccess(),
    )
