"""maintained balance table: tonnes per account, serialization and status

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00

``accountbalance`` holds what ``GET /balances`` used to sum over every serial block per
request; registry/operations/balances.py keeps it in the transaction of every ledger entry with moves.
Backfilled here from the existing serial blocks (one row per non-zero sum). ``status``
reuses the existing ``creditstatus`` type, so it must not be created again on PostgreSQL.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CREDIT_STATUS = sa.Enum('active', 'inactive', 'retired', 'cancelled', name='creditstatus', create_type=False)


def upgrade() -> None:
    op.create_table('accountbalance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('serialization_id', sa.Integer(), nullable=False),
    sa.Column('status', CREDIT_STATUS, nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('quantity >= 0', name='account_balance_not_negative'),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['serialization_id'], ['serialization.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('accountbalance', schema=None) as batch_op:
        batch_op.create_index('uq_account_balance_held', ['account_id', 'serialization_id', 'status'], unique=True,
                              sqlite_where=sa.text('account_id IS NOT NULL'),
                              postgresql_where=sa.text('account_id IS NOT NULL'))
        batch_op.create_index('uq_account_balance_terminal', ['serialization_id', 'status'], unique=True,
                              sqlite_where=sa.text('account_id IS NULL'), postgresql_where=sa.text('account_id IS NULL'))
    # the backfill (the same statement as registry.operations.balances.REBUILD_SQL, frozen here)
    op.execute(
        "INSERT INTO accountbalance (account_id, serialization_id, status, quantity) "
        "SELECT account_id, serialization_id, status, SUM(quantity) FROM serialblock "
        "GROUP BY account_id, serialization_id, status"
    )


def downgrade() -> None:
    with op.batch_alter_table('accountbalance', schema=None) as batch_op:
        batch_op.drop_index('uq_account_balance_terminal')
        batch_op.drop_index('uq_account_balance_held')
    op.drop_table('accountbalance')
