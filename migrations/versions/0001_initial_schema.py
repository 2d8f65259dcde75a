"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('customers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('email_problem', sa.Text(), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('phone_is_mobile', sa.Boolean(), nullable=False),
    sa.Column('phone_problem', sa.Text(), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('region', sa.String(length=8), nullable=True),
    sa.Column('jurisdiction', sa.String(length=16), nullable=True),
    sa.Column('email_opt_out', sa.Boolean(), nullable=False),
    sa.Column('sms_opt_out', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('external_id', name=op.f('uq_customers_external_id'))
    )
    op.create_table('incidents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('key', name=op.f('uq_incidents_key'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('notice', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('channels', sa.String(length=32), nullable=False),
    sa.Column('policy', sa.String(length=16), nullable=False),
    sa.Column('selection', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_campaigns_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('manifest',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('notice_locale', sa.String(length=35), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), nullable=True),
    sa.Column('channel_plan', sa.String(length=8), nullable=False),
    sa.Column('email_reason', sa.String(length=32), nullable=True),
    sa.Column('sms_reason', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_manifest_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_manifest_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifest')),
    sa.UniqueConstraint('campaign_id', 'external_id', name=op.f('uq_manifest_campaign_id_external_id'))
    )
    with op.batch_alter_table('manifest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_manifest_campaign_id_email'), ['campaign_id', 'email'], unique=False)
        batch_op.create_index(batch_op.f('ix_manifest_campaign_id_phone'), ['campaign_id', 'phone'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('manifest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_token', sa.String(length=36), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('message_token', sa.String(length=64), nullable=False),
    sa.Column('provider_message_id', sa.String(length=255), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_outbox_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['manifest_id'], ['manifest.id'], name=op.f('fk_outbox_manifest_id_manifest')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('campaign_id', 'manifest_id', 'channel', name=op.f('uq_outbox_campaign_id_manifest_id_channel')),
    sa.UniqueConstraint('message_token', name=op.f('uq_outbox_message_token'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_campaign_id_channel_state_id'), ['campaign_id', 'channel', 'state', 'id'], unique=False)

    op.create_table('delivery_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('outbox_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_delivery_events_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_events'))
    )
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_events_outbox_id'), ['outbox_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_events_outbox_id'))

    op.drop_table('delivery_events')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_campaign_id_channel_state_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('manifest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_manifest_campaign_id_phone'))
        batch_op.drop_index(batch_op.f('ix_manifest_campaign_id_email'))

    op.drop_table('manifest')
    op.drop_table('campaigns')
    op.drop_table('incidents')
    op.drop_table('customers')
    op.drop_table('audit_log')

