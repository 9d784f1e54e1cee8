"""unit holds; CA evidence quantities; insurance route; frozen annual report editions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:00:00

- ``unithold`` and ``serialblock.hold_id``: a hold puts units of one account in status ``held``
  (``creditstatus`` gains ``held``; PostgreSQL cannot drop an enum value, so a downgrade leaves
  it in place, unused). No existing block is held: ``hold_id`` is NULL for every existing row.
- ``a6stepstatus`` gains ``lapsed`` (a §V.b step 4 purchase past its 60 business days, re-planned
  into step 5); existing steps keep their status.
- ``a6project``: the §II.3.a insurance or guarantee (insurer, policy, investment grade, loss
  payee) and the §II.3.b non-permanence risk and contribution percentage; backfill: no insurance,
  no non-permanence risk, 0 % (what the projects had). A project left at a 0 % deposit with no
  insurance is refused at its next designation (``compensation-mechanism``) until configured.
  ``a6designation.non_permanence`` (0 for existing rows: nothing was contributed) and its issuance.
- ``a6reportedition``: published editions of the §III annual report (none yet: the first
  ``publish`` publishes every year already due from the data as it is then).
- ``a6caevidence.quantity`` and ``first_transfer_year``: the tonnes a piece of CA evidence
  covers. Backfill: NULL for existing rows, read as "not stated: the whole vintage", which is
  what those confirmations were taken to mean when recorded (their records keep their status).

Written in parallel with other lines of work on issue 16 (their own 0012/0013): it revises
0011, and the lead re-chains it when they land.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TYPE creditstatus ADD VALUE IF NOT EXISTS 'held'")
        op.execute("ALTER TYPE a6stepstatus ADD VALUE IF NOT EXISTS 'lapsed'")
    op.create_table('unithold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('serialization_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('tokenization_id', sa.Integer(), nullable=True),
    sa.Column('placed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('placed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('released_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('released_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('release_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['serialization_id'], ['serialization.id'], ),
    sa.ForeignKeyConstraint(['tokenization_id'], ['tokenizationrequest.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unithold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unithold_account_id'), ['account_id'], unique=False)
    with op.batch_alter_table('serialblock', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_serialblock_hold_id'), ['hold_id'], unique=False)
        batch_op.create_foreign_key('fk_serialblock_hold_id', 'unithold', ['hold_id'], ['id'])
    op.create_table('a6reportedition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('edition', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('supersedes', sa.Integer(), nullable=True),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['supersedes'], ['a6reportedition.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('year', 'edition', name='uq_a6reportedition_year_edition')
    )
    with op.batch_alter_table('a6reportedition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6reportedition_year'), ['year'], unique=False)
    with op.batch_alter_table('a6caevidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quantity', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('first_transfer_year', sa.Integer(), nullable=True))
    with op.batch_alter_table('a6project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('insurer', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('insurance_policy', sqlmodel.sql.sqltypes.AutoString(length=500),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('insurer_investment_grade', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('loss_payee', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('non_permanence_risk', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('non_permanence_percentage', sqlmodel.sql.sqltypes.AutoString(length=20),
                                      nullable=False, server_default='0'))
    with op.batch_alter_table('a6designation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('non_permanence', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('non_permanence_issuance_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_a6designation_non_permanence_issuance_id', 'issuance',
                                    ['non_permanence_issuance_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('a6reportedition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6reportedition_year'))
    op.drop_table('a6reportedition')
    with op.batch_alter_table('a6designation', schema=None) as batch_op:
        batch_op.drop_constraint('fk_a6designation_non_permanence_issuance_id', type_='foreignkey')
        batch_op.drop_column('non_permanence_issuance_id')
        batch_op.drop_column('non_permanence')
    with op.batch_alter_table('a6project', schema=None) as batch_op:
        for column in ('non_permanence_percentage', 'non_permanence_risk', 'loss_payee', 'insurer_investment_grade',
                       'insurance_policy', 'insurer'):
            batch_op.drop_column(column)
    with op.batch_alter_table('a6caevidence', schema=None) as batch_op:
        batch_op.drop_column('first_transfer_year')
        batch_op.drop_column('quantity')
    with op.batch_alter_table('serialblock', schema=None) as batch_op:
        batch_op.drop_constraint('fk_serialblock_hold_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_serialblock_hold_id'))
        batch_op.drop_column('hold_id')
    with op.batch_alter_table('unithold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unithold_account_id'))
    op.drop_table('unithold')
