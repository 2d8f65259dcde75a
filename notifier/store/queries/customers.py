"""Customers: upsert from imports (opt-outs and hard bounces are sticky), look-ups, selection pages,
and what bounces and opt-outs change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    or_,
    select,
    text,
    update,
)

from notifier.clock import as_utc
from notifier.models import CustomerRecord, PostalAddress
from notifier.store.queries._dialect import dialect_insert
from notifier.store.schema import customers
from notifier.store.selecting import rearm

HARD_BOUNCE = "hard bounce"  # customers.email_problem of an address that bounced for good
_CUSTOMER_FIELDS = (
    "name",
    "email",
    "email_problem",
    "phone",
    "phone_is_mobile",
    "phone_problem",
    "locale",
    "time_zone",
    "country",
    "region",
    "jurisdiction",
    "email_opt_out",
    "sms_opt_out",
    "address_problem",
    "esign_consent_at",
    "esign_consent_how",
)
# CustomerRecord.address (PostalAddress field) ↔ its column.
_ADDRESS_COLUMNS = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "address_city",
    "district": "address_district",
    "region": "address_region",
    "postal_code": "postal_code",
}


def _address_values(address: PostalAddress | None) -> dict[str, str | None]:
    return {column: getattr(address, f) if address else None for f, column in _ADDRESS_COLUMNS.items()}


def address_of(values: Any) -> PostalAddress | None:
    """The postal address of a customers row (a mapping with its columns), if it has one."""
    if not values["address_line1"] or not values["country"]:
        return None
    return PostalAddress(
        country=values["country"], **{f: values[column] or "" for f, column in _ADDRESS_COLUMNS.items()}
    )


def _sticky(stmt: Any) -> dict[str, Any]:
    """What a re-import must not undo: an opt-out (STOP, a complaint) stays, whatever the file says, and a
    hard bounce stays on an address until the file brings a different one."""
    return {
        "email_opt_out": or_(customers.c.email_opt_out, stmt.excluded.email_opt_out),
        "sms_opt_out": or_(customers.c.sms_opt_out, stmt.excluded.sms_opt_out),
        "email_problem": case(
            (
                and_(
                    customers.c.email == stmt.excluded.email,
                    customers.c.email_problem.like(f"{HARD_BOUNCE}%"),
                ),
                customers.c.email_problem,
            ),
            else_=stmt.excluded.email_problem,
        ),
    }


def upsert_customers(conn: Connection, records: Sequence[CustomerRecord], now: datetime) -> tuple[int, int]:
    """Insert or update customers by external id; returns (inserted, updated)."""
    if not records:
        return 0, 0
    ids = [r.external_id for r in records]
    existing = set(conn.scalars(select(customers.c.external_id).where(customers.c.external_id.in_(ids))))
    rows = [
        {
            "external_id": r.external_id,
            **{f: getattr(r, f) for f in _CUSTOMER_FIELDS},
            **_address_values(r.address),
            "created_at": now,
            "updated_at": now,
        }
        for r in records
    ]
    stmt = dialect_insert(conn, customers)
    stmt = stmt.on_conflict_do_update(
        index_elements=[customers.c.external_id],
        set_={
            **{f: stmt.excluded[f] for f in (*_CUSTOMER_FIELDS, *_ADDRESS_COLUMNS.values())},
            **_sticky(stmt),
            "updated_at": stmt.excluded.updated_at,
        },
    )
    conn.execute(stmt, rows)
    updated = len(existing)
    return len(set(ids)) - updated, updated


def customers_by_external_ids(
    conn: Connection, external_ids: Sequence[str]
) -> dict[str, tuple[int, CustomerRecord]]:
    """The stored customers among ``external_ids``: external id → (store id, record)."""
    found = {}
    for row in conn.execute(select(customers).where(customers.c.external_id.in_(list(external_ids)))):
        values = row._mapping
        record = CustomerRecord(
            external_id=row.external_id,
            address=address_of(values),
            **{f: values[f] for f in _CUSTOMER_FIELDS if f != "esign_consent_at"},
            esign_consent_at=as_utc(values["esign_consent_at"]),
        )
        found[row.external_id] = (int(row.id), record)
    return found


def selection_page(
    conn: Connection, selection_sql: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Keyset page of a user's selection query, ordered by its ``external_id`` column.

    The query is wrapped, not edited: ``SELECT * FROM (<query>) AS sel WHERE external_id > :after
    ORDER BY external_id LIMIT :limit``. No OFFSET, so the last page costs what the first does."""
    key = "CAST(sel.external_id AS VARCHAR(128))"
    where = f"WHERE {key} > :after" if after is not None else ""
    wrapped = text(f"SELECT * FROM ({selection_sql}) AS sel {where} ORDER BY {key} LIMIT :limit")
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params["after"] = after
    rearm(conn)
    return [dict(row._mapping) for row in conn.execute(wrapped, params)]


def selection_columns(conn: Connection, selection_sql: str) -> list[str]:
    """The columns a selection query returns, without reading a row of it. The limit is a bound parameter
    so that the driver sends one prepared statement: a query smuggling in ``; COMMIT; DELETE …`` is
    refused by PostgreSQL instead of run as several statements."""
    wrapped = text(f"SELECT * FROM ({selection_sql}) AS sel LIMIT :none")
    rearm(conn)
    return list(conn.execute(wrapped, {"none": 0}).keys())


def mark_email_bounced(conn: Connection, customer_id: int, email: str, problem: str) -> None:
    """A hard bounce: later campaigns do not use this address (until an import brings another one)."""
    conn.execute(
        update(customers)
        .where(customers.c.id == customer_id, customers.c.email == email)
        .values(email_problem=f"{HARD_BOUNCE}: {problem}"[:500])
    )


def opt_out_email(conn: Connection, customer_id: int) -> None:
    """A spam complaint: the customer gets no more email from later campaigns."""
    conn.execute(update(customers).where(customers.c.id == customer_id).values(email_opt_out=True))
