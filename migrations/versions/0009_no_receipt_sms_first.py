"""'no_receipt' outbox state (reconciliation closes the tracking window) and the 'sms-first' policy

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

The value lists are this revision's snapshot of notifier.models (as in 0005).
"""

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OUTBOX_STATES = ("pending", "waiting", "deferred", "claimed", "sending", "uncertain", "accepted", "delivered",
                 "bounced", "undelivered", "failed", "suppressed", "skipped")
NEW_OUTBOX_STATES = (*OUTBOX_STATES, "no_receipt")
CHANNEL_POLICIES = ("all", "email-first")
NEW_CHANNEL_POLICIES = (*CHANNEL_POLICIES, "sms-first")


def _condition(column: str, values: tuple[str, ...], nullable: bool) -> str:
    allowed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({allowed})" + (f" OR {column} IS NULL" if nullable else "")


def _checks(states: tuple[str, ...], policies: tuple[str, ...]) -> None:
    checks = {
        "campaigns": [("policy", policies, False)],
        "outbox": [("state", states, False)],
        "delivery_events": [("from_state", states, True), ("to_state", states, False)],
    }
    for table, columns in checks.items():
        with op.batch_alter_table(table) as batch_op:
            for column, values, nullable in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
                batch_op.create_check_constraint(op.f(f"ck_{table}_{column}"), _condition(column, values, nullable))


def upgrade() -> None:
    _checks(NEW_OUTBOX_STATES, NEW_CHANNEL_POLICIES)


def downgrade() -> None:
    op.execute("UPDATE outbox SET state = 'accepted' WHERE state = 'no_receipt'")
    op.execute("UPDATE delivery_events SET to_state = 'accepted' WHERE to_state = 'no_receipt'")
    op.execute("UPDATE delivery_events SET from_state = 'accepted' WHERE from_state = 'no_receipt'")
    op.execute("UPDATE campaigns SET policy = 'all' WHERE policy = 'sms-first'")
    _checks(OUTBOX_STATES, CHANNEL_POLICIES)
