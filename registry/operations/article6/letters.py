"""Letters of Authorization (LoA, §I): submission, review, approval and publication,
rejection, amendment, scope reduction and withdrawal, each moving the project's Article 6.2
status where it has to.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain.article6 import letters as a6_letters
from registry.domain.article6 import projects as a6_projects
from registry.domain.article6.letters import LETTER_IN_FORCE, Letter, LetterContent, LetterStatus
from registry.domain.article6.projects import ProjectStatus
from registry.domain.article6.rules import R_LETTER_PROJECT, Article6Error, HistoryEntry
from registry.errors import NotFound, RuleViolation
from registry.operations.article6 import uses as uses_ops
from registry.operations.article6.common import _a6project, _now, violation
from registry.operations.article6.projects import _store_project, project_article6
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.tables.article6 import A6Letter, A6LetterHistory, content_from_json, content_to_json
from registry.tables.core import Project


def _letter_row(session: Session, letter_id: int, *, lock: bool = False) -> A6Letter:
    stmt = select(A6Letter).where(A6Letter.id == letter_id)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"letter {letter_id} does not exist", field="letter_id")
    return row


def letter_of(session: Session, row: A6Letter) -> Letter:
    """The domain letter of a stored one, with its history."""
    history = session.exec(select(A6LetterHistory).where(A6LetterHistory.letter_id == row.id)
                           .order_by(A6LetterHistory.id)).all()
    return Letter(number=row.id, content=content_from_json(row.content), document=row.document, status=row.status,
                  published_ref=row.published_ref,
                  history=tuple(HistoryEntry(h.transition, h.from_status, h.to_status, h.at, h.actor, h.note,
                                             tuple(json.loads(h.changes))) for h in history))


def get_letter(session: Session, letter_id: int) -> Letter:
    return letter_of(session, _letter_row(session, letter_id))


def _store_letter(session: Session, row: A6Letter, new: Letter, previous: LetterContent | None = None) -> None:
    entry = new.history[-1]
    changed = content_to_json(new.content) != row.content
    row.status = new.status
    row.content = content_to_json(new.content)
    row.published_ref = new.published_ref
    row.updated_at = entry.at
    session.add(row)
    session.add(A6LetterHistory(letter_id=row.id, transition=entry.transition, from_status=entry.from_status,
                                to_status=entry.to_status, at=entry.at, actor=entry.actor, note=entry.note,
                                changes=json.dumps(list(entry.changes)),
                                previous_content=content_to_json(previous) if previous and changed else None))
    session.flush()
    project = session.get(Project, row.project_id)
    append_entry(session, f"article6.letter.{entry.transition}", {
        "letter_number": row.id, "project_number": project.project_number, "from": entry.from_status,
        "to": entry.to_status, "note": entry.note, "changes": list(entry.changes),
        "content_sha256": hashlib.sha256(row.content.encode()).hexdigest(), "document": row.document,
        "published_ref": row.published_ref, "actor": entry.actor})
    uses_ops.refresh_class_uses(session, letter_number=row.id, actor=entry.actor, at=entry.at,
                                reason=f"letter {row.id}: {entry.transition}")


def submit_letter(session: Session, *, project_id: int, content: LetterContent, document: str, actor: str,
                  at: datetime | None = None) -> A6Letter:
    """Record a letter as received (§I.12); the project shows "Article 6.2 authorization
    pending" until a letter is approved and published. Content is checked at approval."""
    at = _now(at)
    project = get_row(session, Project, project_id, "project")
    act = content.activity
    if act.project_number != project.project_number or act.location_country != project.country:
        raise RuleViolation(f"the letter authorizes project {act.project_number} in {act.location_country}, not "
                            f"project {project.project_number} in {project.country}",
                            field="content.activity.project_number", rule=R_LETTER_PROJECT.id)
    if not document.strip():
        raise RuleViolation("reference the uploaded letter document", field="document", rule="letter-document")
    row = A6Letter(project_id=project_id, status=LetterStatus.received, content=content_to_json(content),
                   document=document.strip(), created_at=at, updated_at=at)
    session.add(row)
    session.flush()
    letter = a6_letters.receive_letter(row.id, content, row.document, at, actor)
    _store_letter(session, row, letter)
    a6row = _a6project(session, project_id, lock=True)
    if a6row.status is ProjectStatus.standard:
        _store_project(session, project, a6row, a6_projects.request_authorization(
            project_article6(session, project_id), at, actor, f"letter {row.id} received"))
    return row


def _letter_step(session: Session, letter_id: int, step, *args, **kwargs) -> tuple[A6Letter, Letter]:
    row = _letter_row(session, letter_id, lock=True)
    before = letter_of(session, row)
    try:
        new = step(before, *args, **kwargs)
    except Article6Error as exc:
        raise violation(exc) from exc
    _store_letter(session, row, new, before.content)
    return row, new


def start_letter_review(session: Session, letter_id: int, *, actor: str, at: datetime | None = None) -> Letter:
    return _letter_step(session, letter_id, a6_letters.start_review, _now(at), actor)[1]


def approve_letter(session: Session, letter_id: int, *, authenticity_confirmed: bool, published_ref: str,
                   actor: str, at: datetime | None = None) -> Letter:
    """under review -> approved and published (§I.12, §II.1); a project awaiting authorization
    becomes authorized under this letter."""
    at = _now(at)
    row, letter = _letter_step(session, letter_id, a6_letters.approve_and_publish, at, actor,
                               authenticity_confirmed=authenticity_confirmed, published_ref=published_ref)
    project = session.get(Project, row.project_id)
    a6row = _a6project(session, row.project_id, lock=True)
    if a6row.status is ProjectStatus.authorization_pending:
        try:
            new = a6_projects.authorize_project(project_article6(session, row.project_id), letter, at, actor)
        except Article6Error as exc:
            raise violation(exc) from exc
        a6row.letter_id = row.id
        _store_project(session, project, a6row, new)
    return letter


def _letters_pending(session: Session, project_id: int, excluding: int) -> bool:
    open_states = (LetterStatus.received, LetterStatus.under_review) + tuple(LETTER_IN_FORCE)
    return session.exec(select(func.count()).select_from(A6Letter).where(
        A6Letter.project_id == project_id, A6Letter.id != excluding, A6Letter.status.in_(open_states))).one() > 0


def reject_letter(session: Session, letter_id: int, *, reason: str, actor: str,
                  at: datetime | None = None) -> Letter:
    """under review -> rejected; a project with no other letter goes back to standard."""
    at = _now(at)
    row, letter = _letter_step(session, letter_id, a6_letters.reject_letter, at, actor, reason)
    a6row = _a6project(session, row.project_id, lock=True)
    if a6row.status is ProjectStatus.authorization_pending and not _letters_pending(session, row.project_id, row.id):
        _store_project(session, session.get(Project, row.project_id), a6row, a6_projects.decline_authorization(
            project_article6(session, row.project_id), at, actor, f"letter {row.id} rejected: {reason}"))
    return letter


def amend_letter(session: Session, letter_id: int, *, content: LetterContent, note: str, actor: str,
                 at: datetime | None = None) -> Letter:
    """In force -> amended (§I.10.1). A class's uses follow the amended scope but never exceed what
    its designations requested (:mod:`registry.domain.article6.uses`)."""
    return _letter_step(session, letter_id, a6_letters.amend_letter, content, _now(at), actor, note)[1]


def reduce_letter_scope(session: Session, letter_id: int, *, content: LetterContent, note: str, actor: str,
                        at: datetime | None = None) -> Letter:
    """In force -> scope reduced (§I.10.2): the new content must narrow the scope; the uses of the
    letter's classes shrink with it unless their ICCs were first transferred (§I.7.1)."""
    return _letter_step(session, letter_id, a6_letters.reduce_letter_scope, content, _now(at), actor, note)[1]


def withdraw_letter(session: Session, letter_id: int, *, note: str, actor: str,
                    at: datetime | None = None) -> Letter:
    """In force -> withdrawn (§I.10.3); the project's authorization under it is revoked and the
    compliance uses of ICCs not yet first transferred are on hold (§I.7.1)."""
    at = _now(at)
    row, letter = _letter_step(session, letter_id, a6_letters.withdraw_letter, at, actor, note)
    a6row = _a6project(session, row.project_id, lock=True)
    if a6row.letter_id == row.id and a6row.status in (ProjectStatus.authorized, ProjectStatus.suspended):
        a6row.letter_id = None
        _store_project(session, session.get(Project, row.project_id), a6row, a6_projects.revoke_authorization(
            project_article6(session, row.project_id), at, actor, f"letter {row.id} withdrawn: {note}"))
    return letter


def list_letters(session: Session, *, project_id: int | None = None, status: LetterStatus | None = None,
                 offset: int = 0, limit: int = 50) -> tuple[int, list[A6Letter]]:
    conditions = []
    if project_id is not None:
        conditions.append(A6Letter.project_id == project_id)
    if status is not None:
        conditions.append(A6Letter.status == status)
    total = session.exec(select(func.count()).select_from(A6Letter).where(*conditions)).one()
    rows = session.exec(select(A6Letter).where(*conditions).order_by(A6Letter.id).offset(offset).limit(limit)).all()
    return total, list(rows)
