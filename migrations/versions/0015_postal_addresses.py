"""Postal addresses and e-consent: the letter's address, and when and how a person agreed to email notices

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

- ``customers``: the postal address as the country's post wants it (notifier/audience/postal.py) and
  why a row has none (``address_problem``); when and how the person agreed to electronic notices
  (``esign_consent_at``, ``esign_consent_how``: the US E-SIGN Act's consent, without which a US notice
  by email is no notice in law).
"""

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ADDRESS = ("address_line1", "address_line2", "address_city", "address_district", "address_region", "postal_code")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        for column in ADDRESS:
            batch.add_column(sa.Column(column, sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("address_problem", sa.Text(), nullable=True))
        batch.add_column(sa.Column("esign_consent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("esign_consent_how", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        for column in ("esign_consent_how", "esign_consent_at", "address_problem", *reversed(ADDRESS)):
            batch.drop_column(column)
