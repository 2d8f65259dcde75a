"""rate limits as reserved send slots (GCRA) instead of a token count

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# The table only holds pacing state that is meaningless a few seconds later, so it is replaced, not converted.
def upgrade() -> None:
    op.drop_table('rate_limits')
    op.create_table('rate_limits',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('next_slot_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rate_limits'))
    )


def downgrade() -> None:
    op.drop_table('rate_limits')
    op.create_table('rate_limits',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rate_limits'))
    )
