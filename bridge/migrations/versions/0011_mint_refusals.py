"""leaves a mint chunk could not carry: flagged, left for claim

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 19:50:00

``mintleaf.mint_refused`` records why ``mintLeaves`` cannot mint a leaf (its recipient refuses
ERC-1155 tokens, found by splitting a reverting chunk) and ``mint_refused_at`` when; the engine
skips such leaves until the operator clears the flag (``icr-bridge batch retry-refused``).
Written in parallel with another line of work's 0010: it revises 0009, and the two heads are
joined (or this one re-chained) when both land.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('mintleaf') as batch_op:
        batch_op.add_column(sa.Column('mint_refused', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column('mint_refused_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mintleaf') as batch_op:
        batch_op.drop_column('mint_refused_at')
        batch_op.drop_column('mint_refused')
