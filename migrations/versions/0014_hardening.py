"""Hardening: selections read a view under their own role; inbound messages once; tokens expire

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

- PostgreSQL: the schema ``selection`` with the view ``customers`` (this revision's snapshot of
  notifier.store.schema.SELECTABLE_CUSTOMER_COLUMNS), and the login role ``notifier_selector`` whose only
  grants are that schema and that view (docs/operations.md). Roles belong to the whole server: the role
  is created once and shared by every notifier database on it; its grants are per database. SQLite has
  no roles: each selection connection builds the same view for itself (store/selecting.py).
- ``inbound_messages``: one row per provider message id, so a replayed inbound webhook changes nothing.
- ``api_tokens``: an expiry (live tokens get 90 days from now), who revoked a token and why.
"""

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SELECTOR = "notifier_selector"
COLUMNS = (
    "external_id", "locale", "time_zone", "country", "region", "jurisdiction", "phone_is_mobile",
    "email_opt_out", "sms_opt_out", "created_at", "updated_at",
)


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_inbound_messages_event_id_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint(
            "provider", "provider_message_id", name=op.f("uq_inbound_messages_provider_provider_message_id")
        ),
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("revoke_reason", sa.String(length=64), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at"), sa.column("revoked_at"))
    op.execute(
        tokens.update()
        .where(tokens.c.revoked_at.is_(None))
        .values(expires_at=datetime.now(timezone.utc) + timedelta(days=90))
    )
    if op.get_bind().dialect.name == "postgresql":
        _selection_role()


def _selection_role() -> None:
    columns = ", ".join(COLUMNS)
    op.execute("CREATE SCHEMA IF NOT EXISTS selection")
    op.execute(f"CREATE OR REPLACE VIEW selection.customers AS SELECT {columns} FROM customers")
    # Two databases migrated at once both see no role: the second CREATE ROLE fails, and that is fine.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{SELECTOR}') THEN
                CREATE ROLE {SELECTOR} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
                    NOBYPASSRLS CONNECTION LIMIT 20;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO {SELECTOR}', current_database());
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON SCHEMA selection FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA selection TO {SELECTOR}")
    op.execute(f"GRANT SELECT ON selection.customers TO {SELECTOR}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SCHEMA IF EXISTS selection CASCADE")  # the role stays: other databases may use it
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoke_reason")
        batch.drop_column("revoked_by")
        batch.drop_column("expires_at")
    op.drop_table("inbound_messages")
