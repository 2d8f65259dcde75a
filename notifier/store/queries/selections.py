"""Selection queries saved under a name (`notifier selections save`), for planning from the console."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from notifier.store.rows import SavedSelectionRow
from notifier.store.schema import saved_selections

__all__ = ["save_selection", "saved_selection", "saved_selections_list"]


def save_selection(
    conn: Connection, *, name: str, description: str, query: str, source: str, actor: str, now: datetime
) -> SavedSelectionRow | None:
    """Keep ``query`` under ``name``, replacing what the name held; returns what it held before (None if
    the name is new)."""
    before = saved_selection(conn, name)
    values = {
        "description": description,
        "query": query,
        "source": source,
        "saved_by": actor,
        "saved_at": now,
    }
    if before is None:
        conn.execute(insert(saved_selections).values(name=name, **values))
    else:
        conn.execute(update(saved_selections).where(saved_selections.c.name == name).values(**values))
    return before


def saved_selection(conn: Connection, name: str) -> SavedSelectionRow | None:
    row = conn.execute(select(saved_selections).where(saved_selections.c.name == name)).first()
    return SavedSelectionRow.from_row(row) if row is not None else None


def saved_selections_list(conn: Connection) -> list[SavedSelectionRow]:
    rows = conn.execute(select(saved_selections).order_by(saved_selections.c.name))
    return [SavedSelectionRow.from_row(row) for row in rows]
