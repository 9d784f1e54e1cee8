"""Letters of authorization from host countries (§I): submitted, reviewed, approved or rejected,
amended, narrowed and withdrawn; public reads."""

from __future__ import annotations

import json
from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session

from registry.api.auth import AdminDep, PrincipalDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.article6 import (
    AuthorizationLetterPublic,
    LetterApproval,
    LetterChange,
    LetterCreate,
    LetterRejection,
    ProjectNote,
    history_public,
)
from registry.domain.article6.letters import LetterStatus
from registry.errors import Forbidden, NotFound
from registry.operations.article6 import letters as letter_ops
from registry.tables.article6 import A6Letter, A6Project

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _letter_public(session: Session, row: A6Letter) -> AuthorizationLetterPublic:
    letter = letter_ops.letter_of(session, row)
    return AuthorizationLetterPublic(number=row.id, project_id=row.project_id, status=row.status, document=row.document,
                        published_ref=row.published_ref, content=json.loads(row.content),
                        history=history_public(letter.history))


@router.post("/article6/letters", status_code=201)
def submit_letter(body: LetterCreate, session: SessionDep, principal: PrincipalDep) -> AuthorizationLetterPublic:
    """Submit a host country letter (§I.12): an administrator, or the project's proponent organization."""
    if not principal.is_admin:
        a6row = session.get(A6Project, body.project_id)
        if a6row is None or a6row.proponent_organization_id is None or \
                a6row.proponent_organization_id != principal.organization_id:
            raise Forbidden("only the project's proponent organization or an administrator submits its letter",
                            field="project_id", rule="own-projects-only")
    with committing(session):
        row = letter_ops.submit_letter(session, project_id=body.project_id, content=body.content, document=body.document,
                                  actor=actor_of(principal))
        return _letter_public(session, row)


@router.get("/article6/letters")
def list_letters(session: SessionDep, page: PageDep, project_id: Optional[int] = None,
                 status: Optional[LetterStatus] = None) -> Paged[AuthorizationLetterPublic]:
    """Letters are public on the registry (§I)."""
    total, rows = letter_ops.list_letters(session, project_id=project_id, status=status, offset=page.offset,
                                          limit=page.limit)
    return page.answer(total, [_letter_public(session, r) for r in rows])


@router.get("/article6/letters/{number}")
def get_letter(number: int, session: SessionDep) -> AuthorizationLetterPublic:
    row = session.get(A6Letter, number)
    if row is None:
        raise NotFound(f"letter {number} does not exist", field="number")
    return _letter_public(session, row)


def _letter_write(session: Session, number: int, fn, **kwargs) -> AuthorizationLetterPublic:
    with committing(session):
        fn(session, number, **kwargs)
        return _letter_public(session, session.get(A6Letter, number))


@router.post("/article6/letters/{number}/review")
def start_review(number: int, session: SessionDep, principal: AdminDep) -> AuthorizationLetterPublic:
    """received -> under review."""
    return _letter_write(session, number, letter_ops.start_letter_review, actor=actor_of(principal))


@router.post("/article6/letters/{number}/approve")
def approve_letter(number: int, body: LetterApproval, session: SessionDep,
                   principal: AdminDep) -> AuthorizationLetterPublic:
    """under review -> approved and published: complete (§I.1-I.11), authentic and published (§I.12)."""
    return _letter_write(session, number, letter_ops.approve_letter, authenticity_confirmed=body.authenticity_confirmed,
                         published_ref=body.published_ref, actor=actor_of(principal))


@router.post("/article6/letters/{number}/reject")
def reject_letter(number: int, body: LetterRejection, session: SessionDep,
                  principal: AdminDep) -> AuthorizationLetterPublic:
    return _letter_write(session, number, letter_ops.reject_letter, reason=body.reason, actor=actor_of(principal))


@router.post("/article6/letters/{number}/amend")
def amend_letter(number: int, body: LetterChange, session: SessionDep,
                 principal: AdminDep) -> AuthorizationLetterPublic:
    """The host country amended the authorization (§I.10.1)."""
    return _letter_write(session, number, letter_ops.amend_letter, content=body.content, note=body.note,
                         actor=actor_of(principal))


@router.post("/article6/letters/{number}/reduce-scope")
def reduce_scope(number: int, body: LetterChange, session: SessionDep,
                 principal: AdminDep) -> AuthorizationLetterPublic:
    """The host country reduced the scope (§I.10.2): the new content may only narrow it."""
    return _letter_write(session, number, letter_ops.reduce_letter_scope, content=body.content, note=body.note,
                         actor=actor_of(principal))


@router.post("/article6/letters/{number}/withdraw")
def withdraw_letter(number: int, body: ProjectNote, session: SessionDep,
                    principal: AdminDep) -> AuthorizationLetterPublic:
    """The host country withdrew the authorization (§I.10.3); the project's authorization ends."""
    return _letter_write(session, number, letter_ops.withdraw_letter, note=body.note, actor=actor_of(principal))
