"""uses requested at designation, kept on the designation and the credit class

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 18:10:00

``creditclass.requested_uses`` and ``a6designation.requested_uses`` (bit ``1 << purpose`` per
use, registry.domain.article6.uses). Backfill: the uses a designation requested were checked
but not stored, so every existing class is taken to have requested what it was created with
(``requested_uses = authorized_uses``, the letter's uses at its first designation; for standard
classes the voluntary bit they always carry) and every designation what its class carries.
Then ``authorized_uses`` of every Article 6.2 class is recomputed from its letter's current
scope and status, the project's status and the class's CA status
(registry.domain.article6.uses.class_uses), so a letter narrowed or withdrawn before this
migration holds its classes at once; the bridge's next cycle pushes the result on-chain. Written in parallel with other lines of work (0012): it revises
0011, and the heads are joined (or this one re-chained) when they land.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # NOT NULL with a server default, so SQLite adds the columns in place (ALTER TABLE ADD COLUMN):
    # recreating creditclass would break the foreign keys pointing at it.
    op.add_column('creditclass', sa.Column('requested_uses', sa.Integer(), nullable=False, server_default='1'))
    op.execute("UPDATE creditclass SET requested_uses = authorized_uses")
    op.add_column('a6designation', sa.Column('requested_uses', sa.Integer(), nullable=False, server_default='0'))
    op.execute("UPDATE a6designation SET requested_uses = COALESCE((SELECT c.requested_uses FROM creditclass c "
               "WHERE c.serialization_id = a6designation.serialization_id), 0)")
    _recompute_article6_uses()


def _recompute_article6_uses() -> None:
    from registry.domain.article6.letters import Letter, LetterStatus, authorized_purposes
    from registry.domain.article6.projects import ProjectStatus
    from registry.domain.article6.uses import ClassUseFacts, class_uses
    from registry.domain.classes import CAStatus, purposes_in, uses_mask
    from registry.tables.article6 import content_from_json

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT c.id, c.requested_uses, c.authorized_uses, c.ca_status, l.id, l.status, l.content, p.status "
        "FROM creditclass c JOIN serialization s ON s.id = c.serialization_id "
        "JOIN a6letter l ON l.id = c.letter_number LEFT JOIN a6project p ON p.project_id = s.project_id "
        "WHERE s.article6 AND c.letter_number > 0")).all()
    for class_id, requested, current, ca_status, number, letter_status, content, project_status in rows:
        letter = Letter(number=number, content=content_from_json(content), document="",
                        status=LetterStatus[letter_status])
        facts = ClassUseFacts(requested=purposes_in(requested), letter_uses=authorized_purposes(letter),
                              letter_status=letter.status, first_transfer=letter.content.first_transfer,
                              project_suspended=project_status == ProjectStatus.suspended.name,
                              ca_status=CAStatus(ca_status))
        mask = uses_mask(class_uses(facts))
        if mask != current:
            bind.execute(sa.text("UPDATE creditclass SET authorized_uses = :mask WHERE id = :id"),
                         {"mask": mask, "id": class_id})


def downgrade() -> None:
    op.drop_column('a6designation', 'requested_uses')
    op.drop_column('creditclass', 'requested_uses')
