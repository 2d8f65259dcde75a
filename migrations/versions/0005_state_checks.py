"""one outbox state machine: 'waiting' (fallback) and 'claimed' states, CHECK constraints on every
state, channel, plan, reason and decision column

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

The value lists are this revision's snapshot of notifier.models; a later change to an enum gets its own
migration. On SQLite the tables are recreated (batch mode), on PostgreSQL the constraints are added.
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OUTBOX_STATES = ("pending", "waiting", "deferred", "claimed", "sending", "uncertain", "accepted", "delivered",
                 "bounced", "undelivered", "failed", "suppressed", "skipped")
CAMPAIGN_STATES = ("draft", "planned", "running", "paused", "completed", "cancelled")
CHANNELS = ("email", "sms")
CHANNEL_PLANS = ("email", "sms", "both", "none")
CHANNEL_POLICIES = ("all", "email-first")
REASONS = ("no_email", "invalid_email", "email_bounced", "email_opted_out", "duplicate_email", "no_phone",
           "invalid_phone", "not_mobile", "sms_opted_out", "duplicate_phone", "channel_disabled", "policy",
           "unknown_customer")
DECISIONS = ("approved", "rejected")
OLD_FALLBACK_MARK = "fallback: sent only if email fails"

CHECKS = {
    "campaigns": [("state", CAMPAIGN_STATES, False), ("policy", CHANNEL_POLICIES, False)],
    "manifest": [("channel_plan", CHANNEL_PLANS, False), ("email_reason", REASONS, True),
                 ("sms_reason", REASONS, True)],
    "outbox": [("channel", CHANNELS, False), ("state", OUTBOX_STATES, False)],
    "delivery_events": [("from_state", OUTBOX_STATES, True), ("to_state", OUTBOX_STATES, False)],
    "approvals": [("decision", DECISIONS, False)],
}


def _condition(column: str, values: tuple[str, ...], nullable: bool) -> str:
    allowed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({allowed})" + (f" OR {column} IS NULL" if nullable else "")


def upgrade() -> None:
    # The email-first fallback used to wait as "skipped" with a marker in last_error: now a state of its own.
    outbox = sa.table("outbox", sa.column("state", sa.String), sa.column("last_error", sa.Text))
    op.execute(outbox.update().where(outbox.c.state == "skipped", outbox.c.last_error == OLD_FALLBACK_MARK)
               .values(state="waiting", last_error=None))
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch_op:
            for column, values, nullable in checks:
                batch_op.create_check_constraint(op.f(f"ck_{table}_{column}"), _condition(column, values, nullable))


def downgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch_op:
            for column, _values, _nullable in checks:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
    outbox = sa.table("outbox", sa.column("state", sa.String), sa.column("last_error", sa.Text))
    op.execute(outbox.update().where(outbox.c.state == "waiting")
               .values(state="skipped", last_error=OLD_FALLBACK_MARK))
    op.execute(outbox.update().where(outbox.c.state == "claimed").values(state="pending"))
