"""webhook secret rotation (Standard Webhooks), retraction events, the ICR lookup contract

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 18:00:00

``webhooksubscription.previous_secret`` / ``previous_secret_expires_at``: the secret a rotation
replaced keeps signing deliveries (a second ``webhook-signature`` entry) until it expires.
``webhookevent.subject`` names what an event is about (``retirement:12``, ``tokenization:5``,
``redemption:31337:4``) so a retraction can name the event it takes back.

``retirement.block_time``: the block time of an on-chain retirement (the sync reads it with the
``Retired`` log), shown on the certificate beside the registry's time.
``deployment.lookup_address``: the ICR-compatible lookup contract (``ICRCarbonContractRegistry``)
``icr-bridge deploy`` deploys beside the token.

Backfill: retirements synced before 0016 keep no block time (NULL: the certificate says it was
not recorded; the chain still has it under ``block_number``); a deployment made before 0016 has no lookup contract (NULL); existing rows get no previous secret (NULL: no rotation in progress). The subject of
existing events is read from their stored JSON (``data.retirement.id``, ``data.tokenization.id``,
``data.redemption.chainId``/``id``); events of other kinds keep NULL. The kind
``retirement.reverted`` is renamed ``retirement.retracted`` in stored events and in the
comma-separated ``events`` of subscriptions.
Written in parallel with other lines of work: it revises 0011 and is re-chained when they land.
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD, NEW = 'retirement.reverted', 'retirement.retracted'


def _subject(kind: str, data: dict):
    family = kind.split('.')[0]
    body = data.get(family)
    if not isinstance(body, dict) or body.get('id') is None:
        return None
    if family == 'redemption':
        return f"redemption:{body.get('chainId')}:{body['id']}"
    return f"{family}:{body['id']}"


def _rename(events: str, old: str, new: str) -> str:
    return ','.join(new if k == old else k for k in events.split(','))


def upgrade() -> None:
    with op.batch_alter_table('retirement') as batch_op:
        batch_op.add_column(sa.Column('block_time', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('deployment') as batch_op:
        batch_op.add_column(sa.Column('lookup_address', sqlmodel.sql.sqltypes.AutoString(length=42), nullable=True))
    with op.batch_alter_table('webhooksubscription') as batch_op:
        batch_op.add_column(sa.Column('previous_secret', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('webhookevent') as batch_op:
        batch_op.add_column(sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
        batch_op.create_index('ix_webhookevent_subject', ['subject'])
    bind = op.get_bind()
    events = sa.table('webhookevent', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('data', sa.Text), sa.column('subject', sa.String))
    for row in bind.execute(sa.select(events.c.id, events.c.kind, events.c.data)).all():
        kind = NEW if row.kind == OLD else row.kind
        subject = _subject(kind, json.loads(row.data))
        bind.execute(events.update().where(events.c.id == row.id).values(kind=kind, subject=subject))
    subscriptions = sa.table('webhooksubscription', sa.column('id', sa.Integer), sa.column('events', sa.String))
    for row in bind.execute(sa.select(subscriptions.c.id, subscriptions.c.events)).all():
        if OLD in row.events.split(','):
            bind.execute(subscriptions.update().where(subscriptions.c.id == row.id)
                         .values(events=_rename(row.events, OLD, NEW)))


def downgrade() -> None:
    bind = op.get_bind()
    events = sa.table('webhookevent', sa.column('kind', sa.String))
    bind.execute(events.update().where(events.c.kind == NEW).values(kind=OLD))
    subscriptions = sa.table('webhooksubscription', sa.column('id', sa.Integer), sa.column('events', sa.String))
    for row in bind.execute(sa.select(subscriptions.c.id, subscriptions.c.events)).all():
        if NEW in row.events.split(','):
            bind.execute(subscriptions.update().where(subscriptions.c.id == row.id)
                         .values(events=_rename(row.events, NEW, OLD)))
    # SQLite (3.35+) drops a column in place; a batch copy of a table would break the foreign
    # keys of the rows that point at it (deliveries at their event and subscription, serial
    # blocks at their retirement).
    op.drop_index('ix_webhookevent_subject', table_name='webhookevent')
    op.drop_column('webhookevent', 'subject')
    op.drop_column('webhooksubscription', 'previous_secret_expires_at')
    op.drop_column('webhooksubscription', 'previous_secret')
    op.drop_column('deployment', 'lookup_address')
    op.drop_column('retirement', 'block_time')
