"""revoked batches: unminted units returned to the requesting accounts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:00:00

``mintbatch.revoked_tx`` records the synced ``BatchRevoked`` transaction (a reorganization of
it is undone by that key); ``batchstatus`` gains ``revoked`` and ``tokenizationstatus`` gains
``returned`` and ``partially_returned``. PostgreSQL cannot drop an enum value, so a downgrade
leaves the values in place (unused) and drops only the column.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BATCH_STATUS = ('built', 'committed', 'minted', 'revoked')
TOKENIZATION_STATUS = ('pending', 'batched', 'minted', 'returned', 'partially_returned')


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("ALTER TYPE batchstatus ADD VALUE IF NOT EXISTS 'revoked'")
        op.execute("ALTER TYPE tokenizationstatus ADD VALUE IF NOT EXISTS 'returned'")
        op.execute("ALTER TYPE tokenizationstatus ADD VALUE IF NOT EXISTS 'partially_returned'")
        op.add_column('mintbatch', sa.Column('revoked_tx', sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True))
        return
    # SQLite stores an enum as VARCHAR sized to its longest value: widen it with the values.
    with op.batch_alter_table('mintbatch') as batch_op:
        batch_op.add_column(sa.Column('revoked_tx', sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True))
        batch_op.alter_column('status', existing_type=sa.Enum(*BATCH_STATUS[:3], name='batchstatus'),
                              type_=sa.Enum(*BATCH_STATUS, name='batchstatus'), existing_nullable=False)
    with op.batch_alter_table('tokenizationrequest') as batch_op:
        batch_op.alter_column('status', existing_type=sa.Enum(*TOKENIZATION_STATUS[:3], name='tokenizationstatus'),
                              type_=sa.Enum(*TOKENIZATION_STATUS, name='tokenizationstatus'), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('mintbatch') as batch_op:
        batch_op.drop_column('revoked_tx')
