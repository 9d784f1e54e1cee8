"""merge the registry lifecycle, Article 6.2, webhook and redemption revisions

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
Create Date: 2026-11-23 11:50:00
"""
from typing import Sequence, Union

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = ('0002', '0003', '0004', '0005')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
