"""Hash chains over the audit log, delivery events and events; pseudonym keys for evidence packs; an index
for a customer's notices across campaigns

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

Rows that exist already are left unsealed: the first `notifier audit seal` (or any write to the audit
log) chains them in id order.
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

CHAINED = ("audit_log", "delivery_events", "events")


def upgrade() -> None:
    for table in CHAINED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
            batch_op.create_unique_constraint(op.f(f"uq_{table}_seq"), ["seq"])
    chain_heads = op.create_table(
        "chain_heads",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_chain_heads")),
    )
    # Every chain starts at seq 0 with the all-zero hash, so a sealer always finds a head row to lock.
    op.bulk_insert(
        chain_heads,
        [{"chain": name, "seq": 0, "row_hash": "0" * 64, "updated_at": datetime.now(timezone.utc)} for name in CHAINED],
    )
    op.create_table(
        "pseudonym_keys",
        sa.Column("incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_pseudonym_keys_incident_id_incidents")),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_pseudonym_keys")),
    )
    op.create_index(op.f("ix_manifest_customer_id"), "manifest", ["customer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_manifest_customer_id"), table_name="manifest")
    op.drop_table("pseudonym_keys")
    op.drop_table("chain_heads")
    for table in CHAINED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(f"uq_{table}_seq"), type_="unique")
            batch_op.drop_column("row_hash")
            batch_op.drop_column("prev_hash")
            batch_op.drop_column("seq")
