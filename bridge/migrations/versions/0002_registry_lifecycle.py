"""registry lifecycle: cancellations, transfers, ex-ante conversions, API keys, retirement details

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:40:04.149811

Adds tables (new enum types ``cancellationreason`` and ``apikeyrole``; ``transfer.status``
reuses the existing ``creditstatus`` type, so it must not be created again on PostgreSQL),
``serialblock.cancellation_id`` and the retirement purpose details. No existing enum gains a
value, so no ``ALTER TYPE ... ADD VALUE`` is needed.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CREDIT_STATUS = sa.Enum('active', 'inactive', 'retired', 'cancelled', name='creditstatus', create_type=False)


def upgrade() -> None:
    op.create_table('apikey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sa.Enum('organization', 'administrator', name='apikeyrole'), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_id')
    )
    with op.batch_alter_table('apikey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apikey_organization_id'), ['organization_id'], unique=False)

    op.create_table('cancellation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serialization_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Enum('conversion_article6', 'non_ca_compensation', 'correction', 'buffer_use',
                                'ex_ante_shortfall', name='cancellationreason'), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['serialization_id'], ['serialization.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cancellation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cancellation_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cancellation_serialization_id'), ['serialization_id'], unique=False)

    op.create_table('transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serialization_id', sa.Integer(), nullable=False),
    sa.Column('from_account_id', sa.Integer(), nullable=False),
    sa.Column('to_account_id', sa.Integer(), nullable=False),
    sa.Column('status', CREDIT_STATUS, nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['from_account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['serialization_id'], ['serialization.id'], ),
    sa.ForeignKeyConstraint(['to_account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_from_account_id'), ['from_account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfer_to_account_id'), ['to_account_id'], unique=False)

    op.create_table('exanteconversion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuance_id', sa.Integer(), nullable=False),
    sa.Column('verified_quantity', sa.BigInteger(), nullable=False),
    sa.Column('converted_quantity', sa.BigInteger(), nullable=False),
    sa.Column('shortfall_cancelled', sa.BigInteger(), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.Column('verification_reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['issuance_id'], ['issuance.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('exanteconversion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exanteconversion_issuance_id'), ['issuance_id'], unique=False)

    with op.batch_alter_table('retirement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose_detail', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('corsia_operator', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('corsia_state', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True))
        batch_op.add_column(sa.Column('compliance_period_start', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('compliance_period_end', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ndc_party', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True))
        batch_op.add_column(sa.Column('consumption_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('consumption_end', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))

    with op.batch_alter_table('serialblock', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancellation_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_serialblock_cancellation_id'), ['cancellation_id'], unique=False)
        batch_op.create_foreign_key('fk_serialblock_cancellation_id', 'cancellation', ['cancellation_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('serialblock', schema=None) as batch_op:
        batch_op.drop_constraint('fk_serialblock_cancellation_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_serialblock_cancellation_id'))
        batch_op.drop_column('cancellation_id')

    with op.batch_alter_table('retirement', schema=None) as batch_op:
        for column in ('jurisdiction', 'consumption_end', 'consumption_start', 'ndc_party', 'compliance_period_end',
                       'compliance_period_start', 'corsia_state', 'corsia_operator', 'purpose_detail'):
            batch_op.drop_column(column)

    with op.batch_alter_table('exanteconversion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exanteconversion_issuance_id'))
    op.drop_table('exanteconversion')
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_to_account_id'))
        batch_op.drop_index(batch_op.f('ix_transfer_from_account_id'))
    op.drop_table('transfer')
    with op.batch_alter_table('cancellation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cancellation_serialization_id'))
        batch_op.drop_index(batch_op.f('ix_cancellation_account_id'))
    op.drop_table('cancellation')
    with op.batch_alter_table('apikey', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apikey_organization_id'))
    op.drop_table('apikey')
    sa.Enum(name='cancellationreason').drop(op.get_bind(), checkfirst=True)
    sa.Enum(name='apikeyrole').drop(op.get_bind(), checkfirst=True)
