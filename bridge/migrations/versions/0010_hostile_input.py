"""hostile chain input: normalisation flags and the quarantine of events that cannot be applied

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:30:00

``retirement.input_flags`` and ``redemption.input_flags`` record what was changed to store an
on-chain retirement or redemption request (JSON list); ``quarantinedevent`` keeps each final
event the sync could not apply, with its raw log and the error, until an operator retries it.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('retirement') as batch_op:
        batch_op.add_column(sa.Column('input_flags', sa.Text(), nullable=True))
    with op.batch_alter_table('redemption') as batch_op:
        batch_op.add_column(sa.Column('input_flags', sa.Text(), nullable=True))
    op.create_table(
        'quarantinedevent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chain_id', sa.BigInteger(), nullable=False),
        sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column('log_index', sa.Integer(), nullable=False),
        sa.Column('block_number', sa.BigInteger(), nullable=False),
        sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('amount', sa.BigInteger(), nullable=True),
        sa.Column('raw_log', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('retry_requested', sa.Boolean(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('chain_id', 'tx_hash', 'log_index', name='uq_quarantined_event_origin'),
    )
    with op.batch_alter_table('quarantinedevent') as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantinedevent_block_number'), ['block_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('quarantinedevent') as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantinedevent_block_number'))
    op.drop_table('quarantinedevent')
    for table in ('redemption', 'retirement'):
        # SQLite (3.35+) drops a column in place; a batch copy of the table would break the
        # foreign keys of the rows that point at it (serial blocks at their retirement).
        op.drop_column(table, 'input_flags')
