"""Every SQL statement notifier issues, as named functions over a Connection.

Nothing else in the code base builds SQL. Statements are written for PostgreSQL first (the
production store, where several senders run at once) and kept correct on SQLite (one writer)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from notifier.models import Channel, ChannelPlan, CustomerRecord, OutboxState, UnreachableReason
from notifier.store.schema import (
    approvals,
    audit_log,
    campaigns,
    customers,
    delivery_events,
    incidents,
    manifest,
    outbox,
    rate_limits,
    template_submissions,
)

__all__ = [
    "advance_by_token",
    "audit",
    "campaign_by_name",
    "campaign_pieces",
    "campaign_state",
    "claim_batch",
    "customers_by_external_ids",
    "delivery_report_rows",
    "email_row_by_token",
    "fill_outbox",
    "incident_by_id",
    "incident_by_key",
    "insert_approval",
    "insert_campaign",
    "insert_incident",
    "insert_manifest_rows",
    "insert_submission",
    "last_author",
    "latest_decisions",
    "manifest_summary",
    "mark_duplicate_contacts",
    "mark_email_bounced",
    "mark_expired_leases_uncertain",
    "next_deferred_at",
    "opt_out_email",
    "outbox_counts",
    "record_outcomes",
    "release_fallback",
    "reserve_slots",
    "selection_page",
    "set_campaign_state",
    "settle_uncertain",
    "skip_unsent",
    "suppress_customers_sms",
    "uncertain_rows",
    "upsert_customers",
]

FALLBACK_WAITING = "fallback: sent only if email fails"
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
)


def _dialect_insert(conn: Connection, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect (PostgreSQL or SQLite)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# --- customers -------------------------------------------------------------------------------


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
            "created_at": now,
            "updated_at": now,
        }
        for r in records
    ]
    stmt = _dialect_insert(conn, customers)
    stmt = stmt.on_conflict_do_update(
        index_elements=[customers.c.external_id],
        set_={
            **{f: stmt.excluded[f] for f in _CUSTOMER_FIELDS},
            **_sticky(stmt),
            "updated_at": stmt.excluded.updated_at,
        },
    )
    conn.execute(stmt, rows)
    updated = len(existing)
    return len(set(ids)) - updated, updated


def customers_by_external_ids(conn: Connection, external_ids: Sequence[str]) -> list[Row[Any]]:
    return list(conn.execute(select(customers).where(customers.c.external_id.in_(external_ids))))


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
    return [dict(row._mapping) for row in conn.execute(wrapped, params)]


# --- incidents and campaigns --------------------------------------------------------------------


def insert_incident(
    conn: Connection, *, key: str, title: str, facts: dict[str, Any], actor: str, now: datetime
) -> int:
    result = conn.execute(
        insert(incidents).values(key=key, title=title, facts=facts, created_by=actor, created_at=now)
    )
    return int(result.inserted_primary_key[0])


def incident_by_key(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(select(incidents).where(incidents.c.key == key)).first()


def insert_campaign(conn: Connection, **values: Any) -> int:
    result = conn.execute(insert(campaigns).values(**values))
    return int(result.inserted_primary_key[0])


def campaign_by_name(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(campaigns).where(campaigns.c.name == name)).first()


def campaign_state(conn: Connection, campaign_id: int) -> str:
    return str(conn.scalar(select(campaigns.c.state).where(campaigns.c.id == campaign_id)))


def incident_by_id(conn: Connection, incident_id: int) -> Row[Any]:
    return conn.execute(select(incidents).where(incidents.c.id == incident_id)).one()


def set_campaign_state(
    conn: Connection,
    campaign_id: int,
    state: str,
    *,
    expected: Iterable[str] | None = None,
    **stamps: datetime,
) -> bool:
    """Move a campaign to ``state``; with ``expected``, only from one of those states. True if it moved."""
    stmt = update(campaigns).where(campaigns.c.id == campaign_id).values(state=state, **stamps)
    if expected is not None:
        stmt = stmt.where(campaigns.c.state.in_(list(expected)))
    return conn.execute(stmt).rowcount == 1


# --- manifest -------------------------------------------------------------------------------------


def insert_manifest_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert manifest rows; a customer selected twice (file and query) keeps its first row."""
    if rows:
        stmt = _dialect_insert(conn, manifest).on_conflict_do_nothing(
            index_elements=[manifest.c.campaign_id, manifest.c.external_id]
        )
        conn.execute(stmt, list(rows))


def _drop_duplicate_contact(
    conn: Connection, campaign_id: int, column: str, reason: UnreachableReason, other_channel: ChannelPlan
) -> None:
    """Remove ``column``'s channel from every row whose contact an earlier row of the campaign already has.

    A row planned for both channels keeps ``other_channel``; a single-channel row becomes ``none``.
    Done in SQL (correlated EXISTS on the (campaign_id, contact) index) so that deduplicating a million
    contacts needs no million-entry set in memory."""
    earlier = manifest.alias("earlier")
    contact = manifest.c[column]
    reason_col = "email_reason" if column == "email" else "sms_reason"
    duplicate = (
        select(literal(1))
        .where(
            earlier.c.campaign_id == campaign_id,
            earlier.c[column] == contact,
            earlier.c[reason_col].is_(None),
            earlier.c.id < manifest.c.id,
        )
        .exists()
    )
    conn.execute(
        update(manifest)
        .where(
            manifest.c.campaign_id == campaign_id,
            contact.is_not(None),
            manifest.c[reason_col].is_(None),
            duplicate,
        )
        .values(
            {
                reason_col: reason.value,
                "channel_plan": case(
                    (manifest.c.channel_plan == ChannelPlan.BOTH.value, other_channel.value),
                    else_=ChannelPlan.NONE.value,
                ),
            }
        )
    )


def mark_duplicate_contacts(conn: Connection, campaign_id: int) -> None:
    """One notice per email address and per phone number within a campaign (first customer wins)."""
    _drop_duplicate_contact(conn, campaign_id, "email", UnreachableReason.DUPLICATE_EMAIL, ChannelPlan.SMS)
    _drop_duplicate_contact(conn, campaign_id, "phone", UnreachableReason.DUPLICATE_PHONE, ChannelPlan.EMAIL)


def manifest_summary(conn: Connection, campaign_id: int) -> dict[str, Any]:
    """Counts by locale, channel plan, jurisdiction and unreachable reason, for the pre-launch check."""
    where = manifest.c.campaign_id == campaign_id

    def grouped(column: Any) -> dict[str, int]:
        query = select(column, func.count()).where(where).group_by(column).order_by(func.count().desc())
        return {str(key) if key is not None else "unknown": int(n) for key, n in conn.execute(query)}

    def grouped_where(condition: Any, column: Any) -> dict[str, int]:
        query = (
            select(column, func.count())
            .where(where, condition)
            .group_by(column)
            .order_by(func.count().desc())
        )
        return {str(key): int(n) for key, n in conn.execute(query)}

    return {
        "total": int(conn.scalar(select(func.count()).select_from(manifest).where(where)) or 0),
        "by_locale": grouped(manifest.c.notice_locale),
        "by_channel_plan": grouped(manifest.c.channel_plan),
        "by_jurisdiction": grouped(manifest.c.jurisdiction),
        "email_not_used": grouped_where(manifest.c.email_reason.is_not(None), manifest.c.email_reason),
        "sms_not_used": grouped_where(manifest.c.sms_reason.is_not(None), manifest.c.sms_reason),
        "unreachable": grouped_where(
            manifest.c.channel_plan == ChannelPlan.NONE.value,
            case(
                (manifest.c.email_reason == manifest.c.sms_reason, manifest.c.email_reason),
                else_=func.coalesce(manifest.c.email_reason, "-")
                + " / "
                + func.coalesce(manifest.c.sms_reason, "-"),
            ),
        ),
    }


# --- outbox -----------------------------------------------------------------------------------------


def fill_outbox(conn: Connection, campaign_id: int, now: datetime) -> dict[str, int]:
    """Create one pending outbox row per (manifest row, planned channel), in one INSERT … SELECT each.

    The message token is derived from the row's identity, so the Message-ID of a resend is the same."""
    created: dict[str, int] = {}
    for channel, plans in (
        (Channel.EMAIL, (ChannelPlan.EMAIL.value, ChannelPlan.BOTH.value)),
        (Channel.SMS, (ChannelPlan.SMS.value, ChannelPlan.BOTH.value)),
    ):
        token = literal(f"c{campaign_id}m") + cast(manifest.c.id, String) + literal(f"{channel.value[0]}")
        source = select(
            manifest.c.campaign_id,
            manifest.c.id,
            literal(channel.value),
            literal(OutboxState.PENDING.value),
            literal(0),
            token,
            literal(now, type_=outbox.c.updated_at.type),
        ).where(manifest.c.campaign_id == campaign_id, manifest.c.channel_plan.in_(plans))
        result = conn.execute(
            insert(outbox).from_select(
                ["campaign_id", "manifest_id", "channel", "state", "attempts", "message_token", "updated_at"],
                source,
            )
        )
        created[channel.value] = int(result.rowcount or 0)
    # Email-first: customers who could take SMS get a waiting SMS row, released if their email fails.
    token = literal(f"c{campaign_id}m") + cast(manifest.c.id, String) + literal("s")
    fallback = select(
        manifest.c.campaign_id,
        manifest.c.id,
        literal(Channel.SMS.value),
        literal(OutboxState.SKIPPED.value),
        literal(0),
        token,
        literal(FALLBACK_WAITING),
        literal(now, type_=outbox.c.updated_at.type),
    ).where(
        manifest.c.campaign_id == campaign_id,
        manifest.c.sms_reason == UnreachableReason.POLICY.value,
        manifest.c.phone.is_not(None),
    )
    result = conn.execute(
        insert(outbox).from_select(
            [
                "campaign_id",
                "manifest_id",
                "channel",
                "state",
                "attempts",
                "message_token",
                "last_error",
                "updated_at",
            ],
            fallback,
        )
    )
    created["sms_fallback"] = int(result.rowcount or 0)
    return created


def _claimable(campaign_id: int, channel: Channel, now: datetime) -> Any:
    return and_(
        outbox.c.campaign_id == campaign_id,
        outbox.c.channel == channel.value,
        or_(
            outbox.c.state == OutboxState.PENDING.value,
            and_(outbox.c.state == OutboxState.DEFERRED.value, outbox.c.next_attempt_at <= now),
        ),
    )


def claim_batch(
    conn: Connection,
    *,
    campaign_id: int,
    channel: Channel,
    limit: int,
    lease_token: str,
    now: datetime,
    lease_until: datetime,
) -> list[Row[Any]]:
    """Claim up to ``limit`` due rows: set them ``sending`` under our lease *before* any provider call.

    On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, so concurrent senders
    take disjoint batches without waiting on each other; SQLite has one writer at a time anyway.
    Returns the claimed rows joined with their manifest data, in id order."""
    candidates = (
        select(outbox.c.id).where(_claimable(campaign_id, channel, now)).order_by(outbox.c.id).limit(limit)
    )
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    # Two statements, deliberately: PostgreSQL may re-run a "WHERE id IN (SELECT … LIMIT n FOR UPDATE
    # SKIP LOCKED)" subquery while updating, skip the rows it has just locked itself, and so claim more
    # than n rows (seen in our tests). Selecting first locks exactly n; the update re-checks the state,
    # so on SQLite a row another sender claimed in between is simply not ours (RETURNING tells).
    candidate_ids = list(conn.scalars(candidates))
    if not candidate_ids:
        return []
    claimed_ids = list(
        conn.scalars(
            update(outbox)
            .where(outbox.c.id.in_(candidate_ids), _claimable(campaign_id, channel, now))
            .values(
                state=OutboxState.SENDING.value,
                attempts=outbox.c.attempts + 1,
                lease_token=lease_token,
                lease_expires_at=lease_until,
                updated_at=now,
            )
            .returning(outbox.c.id)
        )
    )
    if not claimed_ids:
        return []
    rows = list(
        conn.execute(
            select(
                outbox.c.id,
                outbox.c.channel,
                outbox.c.attempts,
                outbox.c.message_token,
                outbox.c.state,
                manifest.c.external_id,
                manifest.c.name,
                manifest.c.email,
                manifest.c.phone,
                manifest.c.locale,
                manifest.c.time_zone,
                manifest.c.jurisdiction,
            )
            .join(manifest, manifest.c.id == outbox.c.manifest_id)
            .where(outbox.c.id.in_(claimed_ids))
            .order_by(outbox.c.id)
        )
    )
    conn.execute(
        insert(delivery_events),
        [
            {
                "outbox_id": i,
                "at": now,
                "from_state": None,
                "to_state": OutboxState.SENDING.value,
                "detail": f"claimed by lease {lease_token}",
            }
            for i in claimed_ids
        ],
    )
    return rows


def record_outcomes(
    conn: Connection, outcomes: Sequence[dict[str, Any]], *, lease_token: str, now: datetime
) -> int:
    """Write the providers' answers for claimed rows; each dict has ``id``, ``state``, and optionally
    ``provider_message_id``, ``error`` and ``next_attempt_at``.

    Guarded by our lease token and the ``sending`` state: if the lease expired and the row was already
    marked ``uncertain`` or taken by another sender, our late answer does not overwrite it."""
    if not outcomes:
        return 0
    params = [
        {
            "b_id": o["id"],
            "b_state": o["state"],
            "b_provider_id": o.get("provider_message_id"),
            "b_error": o.get("error"),
            "b_next": o.get("next_attempt_at"),
            "b_undo": o.get("undo_attempt", 0),
        }
        for o in outcomes
    ]
    stmt = (
        update(outbox)
        .where(
            outbox.c.id == bindparam("b_id"),
            outbox.c.lease_token == lease_token,
            outbox.c.state == OutboxState.SENDING.value,
        )
        .values(
            state=bindparam("b_state"),
            attempts=outbox.c.attempts - bindparam("b_undo", type_=Integer),
            provider_message_id=func.coalesce(
                bindparam("b_provider_id", type_=String), outbox.c.provider_message_id
            ),
            last_error=bindparam("b_error", type_=String),
            next_attempt_at=bindparam("b_next", type_=outbox.c.next_attempt_at.type),
            lease_token=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    result = conn.execute(stmt, params)
    # A status callback may have overtaken our own record (the row is already "delivered"): keep the
    # provider's id anyway, it is what support and crash recovery look messages up by.
    late = [{"b_id": p["b_id"], "b_pid": p["b_provider_id"]} for p in params if p["b_provider_id"]]
    if late and (result.rowcount or 0) < len(params):
        conn.execute(
            update(outbox)
            .where(outbox.c.id == bindparam("b_id"), outbox.c.provider_message_id.is_(None))
            .values(provider_message_id=bindparam("b_pid")),
            late,
        )
    conn.execute(
        insert(delivery_events),
        [
            {
                "outbox_id": o["id"],
                "at": now,
                "from_state": OutboxState.SENDING.value,
                "to_state": o["state"],
                "detail": o.get("error") or o.get("provider_message_id"),
            }
            for o in outcomes
        ],
    )
    return int(result.rowcount or 0)


def release_fallback(conn: Connection, failed_email_ids: Sequence[int], now: datetime) -> int:
    """An email that failed for good releases the customer's waiting SMS row (email-first policy)."""
    manifest_ids = (
        select(outbox.c.manifest_id).where(outbox.c.id.in_(list(failed_email_ids))).scalar_subquery()
    )
    released = list(
        conn.scalars(
            update(outbox)
            .where(
                outbox.c.manifest_id.in_(manifest_ids),
                outbox.c.channel == Channel.SMS.value,
                outbox.c.state == OutboxState.SKIPPED.value,
                outbox.c.last_error == FALLBACK_WAITING,
            )
            .values(state=OutboxState.PENDING.value, last_error="fallback: email failed", updated_at=now)
            .returning(outbox.c.id)
        )
    )
    if released:
        conn.execute(
            insert(delivery_events),
            [
                {
                    "outbox_id": i,
                    "at": now,
                    "from_state": OutboxState.SKIPPED.value,
                    "to_state": OutboxState.PENDING.value,
                    "detail": "fallback: email failed",
                }
                for i in released
            ],
        )
    return len(released)


def suppress_customers_sms(conn: Connection, outbox_ids: Sequence[int]) -> None:
    """Customers who told the provider STOP are opted out of SMS for every later campaign too."""
    customer_ids = (
        select(manifest.c.customer_id)
        .join(outbox, outbox.c.manifest_id == manifest.c.id)
        .where(outbox.c.id.in_(list(outbox_ids)), manifest.c.customer_id.is_not(None))
        .scalar_subquery()
    )
    conn.execute(update(customers).where(customers.c.id.in_(customer_ids)).values(sms_opt_out=True))


def mark_expired_leases_uncertain(conn: Connection, campaign_id: int, now: datetime) -> int:
    """Rows left ``sending`` past their lease were in flight when a sender died: their fate is unknown.

    They become ``uncertain`` (never silently re-sent); resolving them is a policy decision."""
    expired = list(
        conn.scalars(
            update(outbox)
            .where(
                outbox.c.campaign_id == campaign_id,
                outbox.c.state == OutboxState.SENDING.value,
                outbox.c.lease_expires_at < now,
            )
            .values(state=OutboxState.UNCERTAIN.value, lease_token=None, updated_at=now)
            .returning(outbox.c.id)
        )
    )
    if expired:
        conn.execute(
            insert(delivery_events),
            [
                {
                    "outbox_id": i,
                    "at": now,
                    "from_state": OutboxState.SENDING.value,
                    "to_state": OutboxState.UNCERTAIN.value,
                    "detail": "lease expired while sending",
                }
                for i in expired
            ],
        )
    return len(expired)


def next_deferred_at(conn: Connection, campaign_id: int) -> datetime | None:
    """When the earliest deferred row of the campaign is due again (None: nothing deferred)."""
    return conn.scalar(
        select(func.min(outbox.c.next_attempt_at)).where(
            outbox.c.campaign_id == campaign_id, outbox.c.state == OutboxState.DEFERRED.value
        )
    )


def advance_by_token(
    conn: Connection, *, token: str, to_state: str, from_states: Sequence[str], detail: str, now: datetime
) -> int | None:
    """Move the row with ``token`` to ``to_state`` only from an earlier state; returns its id if it moved."""
    row = conn.execute(
        update(outbox)
        .where(outbox.c.message_token == token, outbox.c.state.in_(list(from_states)))
        .values(state=to_state, updated_at=now)
        .returning(outbox.c.id, outbox.c.state)
    ).first()
    if row is None:
        return None
    conn.execute(
        insert(delivery_events).values(
            outbox_id=row.id, at=now, from_state=None, to_state=to_state, detail=detail
        )
    )
    return int(row.id)


def uncertain_rows(conn: Connection, campaign_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(outbox.c.id, outbox.c.channel, outbox.c.message_token, manifest.c.phone, manifest.c.email)
            .join(manifest, manifest.c.id == outbox.c.manifest_id)
            .where(outbox.c.campaign_id == campaign_id, outbox.c.state == OutboxState.UNCERTAIN.value)
            .order_by(outbox.c.id)
        )
    )


def settle_uncertain(
    conn: Connection, row_id: int, *, state: str, provider_message_id: str | None, detail: str, now: datetime
) -> None:
    changed = conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.state == OutboxState.UNCERTAIN.value)
        .values(
            state=state,
            provider_message_id=func.coalesce(provider_message_id, outbox.c.provider_message_id),
            last_error=detail,
            updated_at=now,
        )
    ).rowcount
    if changed:
        conn.execute(
            insert(delivery_events).values(
                outbox_id=row_id,
                at=now,
                from_state=OutboxState.UNCERTAIN.value,
                to_state=state,
                detail=detail,
            )
        )


def skip_unsent(conn: Connection, campaign_id: int, now: datetime) -> int:
    """A cancelled campaign: every row not yet handed to a provider becomes ``skipped``."""
    ids = list(
        conn.scalars(
            update(outbox)
            .where(
                outbox.c.campaign_id == campaign_id,
                outbox.c.state.in_(
                    [OutboxState.PENDING.value, OutboxState.DEFERRED.value, OutboxState.SKIPPED.value]
                ),
            )
            .values(state=OutboxState.SKIPPED.value, last_error="campaign cancelled", updated_at=now)
            .returning(outbox.c.id)
        )
    )
    if ids:
        conn.execute(
            insert(delivery_events),
            [
                {
                    "outbox_id": i,
                    "at": now,
                    "from_state": None,
                    "to_state": OutboxState.SKIPPED.value,
                    "detail": "campaign cancelled",
                }
                for i in ids
            ],
        )
    return len(ids)


def outbox_counts(conn: Connection, campaign_id: int) -> dict[str, dict[str, int]]:
    """{channel: {state: count}} for one campaign."""
    query = (
        select(outbox.c.channel, outbox.c.state, func.count())
        .where(outbox.c.campaign_id == campaign_id)
        .group_by(outbox.c.channel, outbox.c.state)
    )
    counts: dict[str, dict[str, int]] = {}
    for channel, state, n in conn.execute(query):
        counts.setdefault(channel, {})[state] = int(n)
    return counts


# --- audit -----------------------------------------------------------------------------------------------


def audit(
    conn: Connection, *, actor: str, action: str, subject: str, detail: dict[str, Any], now: datetime
) -> None:
    """Append one entry to the audit log (who did what to which campaign/incident, when)."""
    conn.execute(insert(audit_log).values(at=now, actor=actor, action=action, subject=subject, detail=detail))


def delivery_report_rows(conn: Connection, campaign_id: int) -> Iterator[Row[Any]]:
    """Every manifest row with its outbox rows (LEFT JOIN: the unreachable appear with NULL channel)."""
    query = (
        select(
            manifest.c.external_id,
            manifest.c.name,
            manifest.c.email,
            manifest.c.phone,
            manifest.c.channel_plan,
            manifest.c.email_reason,
            manifest.c.sms_reason,
            outbox.c.channel,
            outbox.c.state,
            outbox.c.attempts,
            outbox.c.provider_message_id,
            outbox.c.last_error,
            outbox.c.updated_at,
        )
        .select_from(manifest.outerjoin(outbox, outbox.c.manifest_id == manifest.c.id))
        .where(manifest.c.campaign_id == campaign_id)
        .order_by(manifest.c.id, outbox.c.channel)
        .execution_options(yield_per=1000)
    )
    yield from conn.execute(query)


# --- template approvals ----------------------------------------------------------------------------------


def insert_submission(conn: Connection, **values: Any) -> None:
    conn.execute(insert(template_submissions).values(**values))


def insert_approval(conn: Connection, **values: Any) -> None:
    conn.execute(insert(approvals).values(**values))


def last_author(conn: Connection, notice: str, locale: str, channel: str, content_hash: str) -> str | None:
    """Who last submitted (edited) this piece at exactly this content hash."""
    query = (
        select(template_submissions.c.author)
        .where(
            template_submissions.c.notice == notice,
            template_submissions.c.locale == locale,
            template_submissions.c.channel == channel,
            template_submissions.c.content_hash == content_hash,
        )
        .order_by(template_submissions.c.id.desc())
        .limit(1)
    )
    return conn.scalar(query)


def latest_decisions(conn: Connection) -> dict[tuple[str, str, str], Row[Any]]:
    """The latest approval decision per (notice, locale, channel), whatever its hash."""
    latest: dict[tuple[str, str, str], Row[Any]] = {}
    for row in conn.execute(select(approvals).order_by(approvals.c.id)):
        latest[(row.notice, row.locale, row.channel)] = row
    return latest


def campaign_pieces(conn: Connection, campaign_id: int) -> list[tuple[str, str]]:
    """The (notice locale, channel) pairs a campaign still has to send."""
    query = (
        select(manifest.c.notice_locale, outbox.c.channel)
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .where(
            outbox.c.campaign_id == campaign_id,
            or_(
                outbox.c.state.in_([OutboxState.PENDING.value, OutboxState.DEFERRED.value]),
                and_(outbox.c.state == OutboxState.SKIPPED.value, outbox.c.last_error == FALLBACK_WAITING),
            ),
        )
        .distinct()
    )
    return sorted((str(locale), str(channel)) for locale, channel in conn.execute(query))


# --- shared rate limits ------------------------------------------------------------------------------------


def reserve_slots(
    conn: Connection, *, name: str, interval: float, count: int, tolerance: float, now: float
) -> float:
    """Reserve the next ``count`` send slots, ``interval`` seconds apart, of the named account; returns
    the first slot's time (epoch seconds). GCRA: slots never start earlier than ``now - tolerance``, so
    an idle account catches up at most ``tolerance`` seconds' worth at once.

    One UPDATE with RETURNING: it holds the row lock (PostgreSQL) or the write lock (SQLite) while it
    reads and moves the account's next free slot, so two senders can never get the same slot."""
    floor = literal(now - tolerance)
    start = (func.max if conn.dialect.name == "sqlite" else func.greatest)(rate_limits.c.next_slot_at, floor)
    reserve = (
        update(rate_limits)
        .where(rate_limits.c.name == name)
        .values(next_slot_at=start + count * interval)
        .returning(rate_limits.c.next_slot_at)
    )
    end = conn.scalar(reserve)
    if end is None:
        conn.execute(
            _dialect_insert(conn, rate_limits)
            .values(name=name, next_slot_at=now - tolerance)
            .on_conflict_do_nothing(index_elements=[rate_limits.c.name])
        )
        end = conn.scalar(reserve)
    return float(end) - count * interval


# --- bounces ---------------------------------------------------------------------------------


def email_row_by_token(conn: Connection, token: str) -> Row[Any] | None:
    """The email outbox row a bounce names (by the token in its VERP address or Message-ID), with its
    campaign's settings (the key its tokens were signed with)."""
    return conn.execute(
        select(
            outbox.c.id,
            outbox.c.state,
            outbox.c.message_token,
            manifest.c.email,
            manifest.c.customer_id,
            campaigns.c.settings,
        )
        .join(manifest, manifest.c.id == outbox.c.manifest_id)
        .join(campaigns, campaigns.c.id == outbox.c.campaign_id)
        .where(outbox.c.message_token == token, outbox.c.channel == Channel.EMAIL.value)
    ).first()


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
