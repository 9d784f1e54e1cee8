"""index serial blocks by tokenization request

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 14:40:00

Building a batch, minting a leaf and returning a revoked batch's units look up custody
blocks by their tokenization request; without an index each lookup scanned every custody
block (quadratic in the batch size).
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('serialblock') as batch_op:
        batch_op.create_index(batch_op.f('ix_serialblock_tokenization_id'), ['tokenization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('serialblock') as batch_op:
        batch_op.drop_index(batch_op.f('ix_serialblock_tokenization_id'))
