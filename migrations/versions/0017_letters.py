"""Letters: a third channel, planned per person with its reason, and the envelope's address

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

- ``manifest``: ``letter_reason`` (why no letter, as email_reason and sms_reason), ``postal_address``
  (the envelope's lines as the country's post wants them), ``channel_plan`` long enough for
  ``email+sms+letter`` (the plans with a letter are ``letter``, ``email+letter``, ``sms+letter`` and
  ``email+sms+letter``; ``both`` stays email and SMS). Rows planned before have NULL: no letter was
  considered then.
- The checks of channels (outbox, events, replies, the manifest's legal channel), of plans and of
  reasons gain the letter's values: snapshots of notifier.models, as in 0005.
"""

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

OLD_CHANNELS = ("email", "sms")
CHANNELS = (*OLD_CHANNELS, "letter")
OLD_PLANS = ("email", "sms", "both", "none")
PLANS = (*OLD_PLANS, "letter", "email+letter", "sms+letter", "email+sms+letter")
OLD_REASONS = ("no_email", "invalid_email", "email_bounced", "email_opted_out", "duplicate_email", "no_phone",
               "invalid_phone", "not_mobile", "sms_opted_out", "duplicate_phone", "channel_disabled", "policy",
               "unknown_customer", "already_notified")
REASONS = (*OLD_REASONS, "no_address", "invalid_address")


def _in(column: str, values: tuple[str, ...], nullable: bool = False) -> str:
    allowed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({allowed})" + (f" OR {column} IS NULL" if nullable else "")


def _checks(channels: tuple[str, ...], plans: tuple[str, ...], reasons: tuple[str, ...], letter: bool) -> None:
    for table in ("outbox", "events", "replies"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_channel"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_channel"), _in("channel", channels))
    with op.batch_alter_table("manifest") as batch:
        batch.drop_constraint(op.f("ck_manifest_channel_plan"), type_="check")
        batch.create_check_constraint(op.f("ck_manifest_channel_plan"), _in("channel_plan", plans))
        for column in ("email_reason", "sms_reason"):
            batch.drop_constraint(op.f(f"ck_manifest_{column}"), type_="check")
            batch.create_check_constraint(op.f(f"ck_manifest_{column}"), _in(column, reasons, True))
        batch.drop_constraint(op.f("ck_manifest_legal_channel"), type_="check")
        batch.create_check_constraint(op.f("ck_manifest_legal_channel"), _in("legal_channel", channels, True))
        if letter:
            batch.create_check_constraint(op.f("ck_manifest_letter_reason"), _in("letter_reason", reasons, True))


def upgrade() -> None:
    with op.batch_alter_table("manifest") as batch:
        batch.alter_column("channel_plan", type_=sa.String(length=16), existing_type=sa.String(length=8),
                           existing_nullable=False)
        batch.add_column(sa.Column("letter_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("postal_address", sa.Text(), nullable=True))
    _checks(CHANNELS, PLANS, REASONS, letter=True)


def downgrade() -> None:
    with op.batch_alter_table("manifest") as batch:
        batch.drop_constraint(op.f("ck_manifest_letter_reason"), type_="check")
    _checks(OLD_CHANNELS, OLD_PLANS, OLD_REASONS, letter=False)
    with op.batch_alter_table("manifest") as batch:
        batch.drop_column("postal_address")
        batch.drop_column("letter_reason")
        batch.alter_column("channel_plan", type_=sa.String(length=8), existing_type=sa.String(length=16),
                           existing_nullable=False)
