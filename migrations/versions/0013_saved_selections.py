"""Selection queries saved under a name, for planning from the console

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

The source list is this revision's snapshot of notifier.models.SelectionSource.
"""

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SOURCES = ("store", "source")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    allowed = ", ".join(f"'{s}'" for s in SOURCES)
    op.create_table(
        "saved_selections",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("saved_by", sa.String(length=128), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"source IN ({allowed})", name=op.f("ck_saved_selections_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_selections")),
        sa.UniqueConstraint("name", name=op.f("uq_saved_selections_name")),
    )


def downgrade() -> None:
    op.drop_table("saved_selections")
