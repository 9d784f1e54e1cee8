"""monitoring periods and verifications of issuances and ex-ante conversions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:10:00

Every issuance records the monitoring period it issues for (``issuance.monitoring_start``,
``monitoring_end``; predicted for ex-ante) and, ex-post, its verification
(``verification_reference``, ``verification_body``, ``verified_on``); every ex-ante conversion
records the period it verified and the verification body and date (issue 16).

Backfill of existing rows (nothing recorded these facts before):
- an issuance made by an Article 6.2 designation (``a6designation.issuance_id`` or
  ``deposit_issuance_id``) takes the designation's monitoring period, which was recorded;
- every other issuance takes its vintage's whole calendar year (1 January - 31 December). The
  registry cannot tell which part of the year such a row issued for, so it reads the year as
  issued: a new issuance of that project and year is refused as overlapping until an
  administrator corrects the row from the records;
- ex-post issuances get ``verification_reference`` = 'not recorded before migration 0012',
  ``verification_body`` = 'not recorded' and no ``verified_on``; ex-ante issuances no verification;
- an ex-ante conversion takes its issuance's (backfilled) period, ``verification_body`` =
  'not recorded' and ``verified_on`` = the day it was recorded (its ``verification_reference``
  was already stored).
"""
from datetime import date
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NOT_RECORDED = 'not recorded before migration 0012'


def _as_date(value) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def upgrade() -> None:
    # Plain ADD COLUMN (nullable columns; SQLite supports it without rebuilding a table other
    # tables reference, which its batch mode would have to drop).
    op.add_column('issuance', sa.Column('monitoring_start', sa.Date(), nullable=True))
    op.add_column('issuance', sa.Column('monitoring_end', sa.Date(), nullable=True))
    op.add_column('issuance', sa.Column('verification_reference', sqlmodel.sql.sqltypes.AutoString(length=200),
                                        nullable=True))
    op.add_column('issuance', sa.Column('verification_body', sqlmodel.sql.sqltypes.AutoString(length=200),
                                        nullable=True))
    op.add_column('issuance', sa.Column('verified_on', sa.Date(), nullable=True))
    op.add_column('exanteconversion', sa.Column('monitoring_start', sa.Date(), nullable=True))
    op.add_column('exanteconversion', sa.Column('monitoring_end', sa.Date(), nullable=True))
    op.add_column('exanteconversion', sa.Column('verification_body', sqlmodel.sql.sqltypes.AutoString(length=200),
                                                nullable=True))
    op.add_column('exanteconversion', sa.Column('verified_on', sa.Date(), nullable=True))

    bind = op.get_bind()
    designated = {}
    for issuance_id, deposit_id, start, end in bind.execute(sa.text(
            'SELECT issuance_id, deposit_issuance_id, monitoring_start, monitoring_end FROM a6designation')):
        for i in (issuance_id, deposit_id):
            if i is not None:
                designated[i] = (_as_date(start), _as_date(end))
    periods = {}
    for issuance_id, kind, vintage in bind.execute(sa.text(
            'SELECT issuance.id, issuance.kind, serialization.vintage FROM issuance '
            'JOIN serialization ON serialization.id = issuance.serialization_id')):
        start, end = designated.get(issuance_id, (date(vintage, 1, 1), date(vintage, 12, 31)))
        periods[issuance_id] = (start, end)
        ex_post = str(kind).endswith('ex_post')
        bind.execute(sa.text(
            'UPDATE issuance SET monitoring_start = :start, monitoring_end = :end, '
            'verification_reference = :reference, verification_body = :body WHERE id = :id'),
            {'start': start, 'end': end, 'reference': NOT_RECORDED if ex_post else None,
             'body': 'not recorded' if ex_post else None, 'id': issuance_id})
    for conversion_id, issuance_id, created_at in bind.execute(sa.text(
            'SELECT id, issuance_id, created_at FROM exanteconversion')).all():
        start, end = periods[issuance_id]
        bind.execute(sa.text(
            'UPDATE exanteconversion SET monitoring_start = :start, monitoring_end = :end, '
            "verification_body = 'not recorded', verified_on = :on WHERE id = :id"),
            {'start': start, 'end': end, 'on': _as_date(created_at), 'id': conversion_id})


def downgrade() -> None:
    for column in ('verified_on', 'verification_body', 'monitoring_end', 'monitoring_start'):
        op.drop_column('exanteconversion', column)
    for column in ('verified_on', 'verification_body', 'verification_reference', 'monitoring_end', 'monitoring_start'):
        op.drop_column('issuance', column)
