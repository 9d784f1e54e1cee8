"""bridged redemptions: requests seen on-chain, the registry's decisions, moved serials

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23 11:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'redemption',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chain_id', sa.BigInteger(), nullable=False),
        sa.Column('redemption_id', sa.BigInteger(), nullable=False),
        sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column('class_id', sa.Integer(), nullable=False),
        sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('account_reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('reclaimable_at', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.Enum('requested', 'finalized', 'rejected', 'reclaimed', name='redemptionstatus'),
                  nullable=False),
        sa.Column('request_tx', sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column('decided_account_id', sa.Integer(), nullable=True),
        sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('answer_tx', sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('moved_ranges', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('answered_tx', sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id']),
        sa.ForeignKeyConstraint(['class_id'], ['creditclass.id']),
        sa.ForeignKeyConstraint(['decided_account_id'], ['account.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('chain_id', 'redemption_id', name='uq_redemption_onchain_id'),
    )
    op.create_index(op.f('ix_redemption_status'), 'redemption', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_redemption_status'), table_name='redemption')
    op.drop_table('redemption')
    sa.Enum(name='redemptionstatus').drop(op.get_bind(), checkfirst=True)
