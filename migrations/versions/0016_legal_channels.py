"""The notice in law per person: each manifest row's jurisdiction profile, the channels the law accepts
for that person, the one the campaign sends, or why there is none

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

- ``manifest``: ``profile`` (content.toml's jurisdiction profile), ``legal_options`` (the channels
  templates/legal_channels.toml accepts for this person, comma-separated), ``legal_channel`` (the one of
  them the campaign sends) and ``legal_gap`` (why there is none). Rows planned before stay NULL: nobody
  decided their notice in law then, and no report pretends otherwise. The checks are snapshots of
  notifier.models' Channel and LegalGap, as in 0005.
"""

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

CHANNELS = ("email", "sms")
GAPS = ("channel_not_used", "needs_letter", "no_legal_contact", "unknown_customer")


def _check(column: str, values: tuple[str, ...]) -> str:
    allowed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({allowed}) OR {column} IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("manifest") as batch:
        batch.add_column(sa.Column("profile", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("legal_options", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("legal_channel", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("legal_gap", sa.String(length=32), nullable=True))
        batch.create_check_constraint(op.f("ck_manifest_legal_channel"), _check("legal_channel", CHANNELS))
        batch.create_check_constraint(op.f("ck_manifest_legal_gap"), _check("legal_gap", GAPS))


def downgrade() -> None:
    with op.batch_alter_table("manifest") as batch:
        batch.drop_constraint(op.f("ck_manifest_legal_gap"), type_="check")
        batch.drop_constraint(op.f("ck_manifest_legal_channel"), type_="check")
        for column in ("legal_gap", "legal_channel", "legal_options", "profile"):
            batch.drop_column(column)
