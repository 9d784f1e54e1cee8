"""wallet links signed by contract wallets (ERC-1271); retirements found by transaction

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:20:00

``walletlink.signature`` was VARCHAR(200): enough for a 65-byte ECDSA signature, not for a
contract wallet's ERC-1271 signature (several owners' signatures, up to 2 KiB). It becomes TEXT.
Existing rows need no backfill: widening keeps every stored signature as it is.
``retirement.tx_hash`` gets an index of its own (``GET /retirements?tx_hash=`` and
``/retirements/by-transaction/{hash}``; the origin constraint leads with ``chain_id``); building
it indexes the existing rows.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('walletlink') as batch_op:
        batch_op.alter_column('signature', existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
                              type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table('retirement') as batch_op:
        batch_op.create_index(batch_op.f('ix_retirement_tx_hash'), ['tx_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('retirement') as batch_op:
        batch_op.drop_index(batch_op.f('ix_retirement_tx_hash'))
    with op.batch_alter_table('walletlink') as batch_op:
        batch_op.alter_column('signature', existing_type=sa.Text(),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=200), existing_nullable=False)
