"""article 6.2 and additionality: letters, project status, designations, CA records with
evidence and history, non-CA events and compensation steps; additionality claims, ex-post
reports and level status history

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 10:47:31.604540

Only this line of work's tables. New enum types are prefixed (``a6*``, ``add*``);
``addlevelstatus`` is created with ``addclaim`` and reused by ``addstatuschange``, so it must
not be created again there on PostgreSQL. No foreign key points at another line's tables
(cancellations are referenced by ``cancellation.reference``), so the branches apply in any order.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LEVEL_STATUS = sa.Enum('demonstrated', 'revised', name='addlevelstatus', create_type=False)


def upgrade() -> None:
    op.create_table('a6hostcountry',
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('article6_framework', sa.Boolean(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('country')
    )
    op.create_table('a6carecord',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('vintage', sa.Integer(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'vintage', name='uq_a6carecord_project_vintage')
    )
    with op.batch_alter_table('a6carecord', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6carecord_project_id'), ['project_id'], unique=False)

    op.create_table('a6letter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('received', 'under_review', 'approved', 'rejected', 'amended', 'scope_reduced',
                                'withdrawn', name='a6letterstatus'), nullable=False),
    sa.Column('content', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('document', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('published_ref', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint('id > 0 AND id < 4294967296', name='a6letter_number_32_bits'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('a6letter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6letter_project_id'), ['project_id'], unique=False)

    op.create_table('a6noncaevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('vintage', sa.Integer(), nullable=False),
    sa.Column('first_transfer_year', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('trigger', sa.Enum('date_rule', 'decision', name='a6noncatrigger'), nullable=False),
    sa.Column('detected_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('open', 'compensated', name='a6noncaeventstatus'), nullable=False),
    sa.Column('notified_on', sa.Date(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'vintage', 'first_transfer_year', name='uq_a6noncaevent')
    )
    with op.batch_alter_table('a6noncaevent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6noncaevent_project_id'), ['project_id'], unique=False)

    op.create_table('a6projecthistory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('transition', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('a6projecthistory', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6projecthistory_project_id'), ['project_id'], unique=False)

    op.create_table('addclaim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Enum('L1', 'L2A', 'L2B', 'L3', 'L4A', 'L4B', 'L5', name='addlevel'), nullable=False),
    sa.Column('status', sa.Enum('demonstrated', 'revised', name='addlevelstatus'), nullable=False),
    sa.Column('input', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('results', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'level', name='uq_addclaim_project_level')
    )
    with op.batch_alter_table('addclaim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addclaim_project_id'), ['project_id'], unique=False)

    op.create_table('addprofile',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('crediting_start', sa.Date(), nullable=False),
    sa.Column('crediting_end', sa.Date(), nullable=False),
    sa.Column('registered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_table('a6caevidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('added_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['a6carecord.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('a6caevidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6caevidence_record_id'), ['record_id'], unique=False)

    op.create_table('a6compensationstep',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('completed', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('done', 'due', 'outstanding', name='a6stepstatus'), nullable=False),
    sa.Column('from_project_id', sa.Integer(), nullable=True),
    sa.Column('due_by', sa.Date(), nullable=True),
    sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('completed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.CheckConstraint('completed >= 0 AND completed <= quantity', name='a6compensationstep_completed'),
    sa.ForeignKeyConstraint(['event_id'], ['a6noncaevent.id'], ),
    sa.ForeignKeyConstraint(['from_project_id'], ['project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'seq', name='uq_a6compensationstep_seq')
    )
    with op.batch_alter_table('a6compensationstep', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6compensationstep_event_id'), ['event_id'], unique=False)

    op.create_table('a6letterhistory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('transition', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('changes', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('previous_content', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['letter_id'], ['a6letter.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('a6letterhistory', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6letterhistory_letter_id'), ['letter_id'], unique=False)

    op.create_table('a6project',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('standard', 'authorization_pending', 'authorized', 'suspended', name='a6projectstatus'),
              nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=True),
    sa.Column('adjustment_percentage', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('risk_assessment', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('methodology_approved', sa.Boolean(), nullable=False),
    sa.Column('proponent_organization_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['a6letter.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.ForeignKeyConstraint(['proponent_organization_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_table('addreport',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('report', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('input', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('results', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('still_met', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['addclaim.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('claim_id', 'period_start', name='uq_addreport_claim_period')
    )
    with op.batch_alter_table('addreport', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addreport_claim_id'), ['claim_id'], unique=False)

    op.create_table('a6cahistory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('transition', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('from_status', sa.Integer(), nullable=True),
    sa.Column('to_status', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('pushed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('onchain_tx', sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['creditclass.id'], ),
    sa.ForeignKeyConstraint(['record_id'], ['a6carecord.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('a6cahistory', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6cahistory_record_id'), ['record_id'], unique=False)
        batch_op.create_index('ix_a6cahistory_unpushed', ['pushed_at', 'class_id'], unique=False)

    op.create_table('a6designation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('serialization_id', sa.Integer(), nullable=False),
    sa.Column('issuance_id', sa.Integer(), nullable=True),
    sa.Column('deposit_issuance_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('issuance', 'conversion', name='a6designationkind'), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('deposit', sa.BigInteger(), nullable=False),
    sa.Column('deducted', sa.BigInteger(), nullable=False),
    sa.Column('adjustment_percentage', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('monitoring_start', sa.Date(), nullable=False),
    sa.Column('monitoring_end', sa.Date(), nullable=False),
    sa.Column('converted_from', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint('deposit >= 0 AND deducted >= 0 AND deposit + deducted <= quantity', name='a6designation_split'),
    sa.CheckConstraint('quantity > 0', name='a6designation_quantity_positive'),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['deposit_issuance_id'], ['issuance.id'], ),
    sa.ForeignKeyConstraint(['issuance_id'], ['issuance.id'], ),
    sa.ForeignKeyConstraint(['letter_id'], ['a6letter.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
    sa.ForeignKeyConstraint(['serialization_id'], ['serialization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('deposit_issuance_id'),
    sa.UniqueConstraint('issuance_id')
    )
    with op.batch_alter_table('a6designation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_a6designation_letter_id'), ['letter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_a6designation_project_id'), ['project_id'], unique=False)

    op.create_table('addstatuschange',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('from_status', LEVEL_STATUS, nullable=True),
    sa.Column('to_status', LEVEL_STATUS, nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('report', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['addclaim.id'], ),
    sa.ForeignKeyConstraint(['report_id'], ['addreport.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('addstatuschange', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addstatuschange_claim_id'), ['claim_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('addstatuschange', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addstatuschange_claim_id'))

    op.drop_table('addstatuschange')
    with op.batch_alter_table('a6designation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6designation_project_id'))
        batch_op.drop_index(batch_op.f('ix_a6designation_letter_id'))

    op.drop_table('a6designation')
    with op.batch_alter_table('a6cahistory', schema=None) as batch_op:
        batch_op.drop_index('ix_a6cahistory_unpushed')
        batch_op.drop_index(batch_op.f('ix_a6cahistory_record_id'))

    op.drop_table('a6cahistory')
    with op.batch_alter_table('addreport', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addreport_claim_id'))

    op.drop_table('addreport')
    op.drop_table('a6project')
    with op.batch_alter_table('a6letterhistory', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6letterhistory_letter_id'))

    op.drop_table('a6letterhistory')
    with op.batch_alter_table('a6compensationstep', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6compensationstep_event_id'))

    op.drop_table('a6compensationstep')
    with op.batch_alter_table('a6caevidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6caevidence_record_id'))

    op.drop_table('a6caevidence')
    op.drop_table('addprofile')
    with op.batch_alter_table('addclaim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addclaim_project_id'))

    op.drop_table('addclaim')
    with op.batch_alter_table('a6projecthistory', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6projecthistory_project_id'))

    op.drop_table('a6projecthistory')
    with op.batch_alter_table('a6noncaevent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6noncaevent_project_id'))

    op.drop_table('a6noncaevent')
    with op.batch_alter_table('a6letter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6letter_project_id'))

    op.drop_table('a6letter')
    with op.batch_alter_table('a6carecord', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_a6carecord_project_id'))

    op.drop_table('a6carecord')
    op.drop_table('a6hostcountry')
    if op.get_bind().dialect.name == "postgresql":
        for name in ("a6letterstatus", "a6noncatrigger", "a6noncaeventstatus", "addlevel", "addlevelstatus",
                     "a6stepstatus", "a6projectstatus", "a6designationkind"):
            op.execute(f"DROP TYPE IF EXISTS {name}")
