"""webhooks: subscriptions, the event outbox, deliveries and the delivery log

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23 10:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('webhooksubscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('events', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_webhooksubscription_organization_id'), 'webhooksubscription', ['organization_id'], unique=False)
    op.create_table('webhookevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    op.create_index(op.f('ix_webhookevent_kind'), 'webhookevent', ['kind'], unique=False)
    op.create_index(op.f('ix_webhookevent_organization_id'), 'webhookevent', ['organization_id'], unique=False)
    op.create_table('webhookdelivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', 'failed', name='deliverystatus'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('lease', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('lease_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('delivered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('redelivery_of', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['webhookevent.id'], ),
    sa.ForeignKeyConstraint(['redelivery_of'], ['webhookdelivery.id'], ),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhooksubscription.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id')
    )
    op.create_index(op.f('ix_webhookdelivery_event_id'), 'webhookdelivery', ['event_id'], unique=False)
    op.create_index(op.f('ix_webhookdelivery_next_attempt_at'), 'webhookdelivery', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_webhookdelivery_status'), 'webhookdelivery', ['status'], unique=False)
    op.create_index(op.f('ix_webhookdelivery_subscription_id'), 'webhookdelivery', ['subscription_id'], unique=False)
    op.create_table('webhookattempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('duration_ms', sa.BigInteger(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('response_body', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhookdelivery.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id', 'number', name='uq_webhook_attempt_number')
    )
    op.create_index(op.f('ix_webhookattempt_delivery_id'), 'webhookattempt', ['delivery_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_webhookattempt_delivery_id'), table_name='webhookattempt')
    op.drop_table('webhookattempt')
    op.drop_index(op.f('ix_webhookdelivery_subscription_id'), table_name='webhookdelivery')
    op.drop_index(op.f('ix_webhookdelivery_status'), table_name='webhookdelivery')
    op.drop_index(op.f('ix_webhookdelivery_next_attempt_at'), table_name='webhookdelivery')
    op.drop_index(op.f('ix_webhookdelivery_event_id'), table_name='webhookdelivery')
    op.drop_table('webhookdelivery')
    op.drop_index(op.f('ix_webhookevent_organization_id'), table_name='webhookevent')
    op.drop_index(op.f('ix_webhookevent_kind'), table_name='webhookevent')
    op.drop_table('webhookevent')
    op.drop_index(op.f('ix_webhooksubscription_organization_id'), table_name='webhooksubscription')
    op.drop_table('webhooksubscription')
    sa.Enum(name='deliverystatus').drop(op.get_bind(), checkfirst=True)
