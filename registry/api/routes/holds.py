"""Unit holds (registry/operations/holds.py): public reads, administrator writes."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import HoldCreate, HoldPublic, HoldRelease
from registry.domain.enums import HoldStatus
from registry.operations import holds as holds_ops
from registry.operations import preconditions as preconditions_ops
from registry.operations import projects as projects_ops
from registry.tables.core import Serialization, UnitHold

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _hold_public(session: Session, h: UnitHold) -> HoldPublic:
    return HoldPublic(
        id=h.id, account_id=h.account_id, serialization=session.get(Serialization, h.serialization_id).text,
        quantity=h.quantity, status=h.status, origin=h.origin, rule=h.rule, reason=h.reason, reference=h.reference,
        tokenization_id=h.tokenization_id, placed_by=h.placed_by, placed_at=h.placed_at, released_by=h.released_by,
        released_at=h.released_at, release_note=h.release_note,
        serial_blocks=[m.serial_block for m in holds_ops.held_blocks(session, h.id)])


@router.get("/holds")
def list_holds(session: SessionDep, page: PageDep, account_id: Optional[int] = None,
               status: Optional[HoldStatus] = None) -> Paged[HoldPublic]:
    """Unit holds, newest first: what is held, why, by whom, and whether it was released."""
    conditions = []
    if account_id is not None:
        conditions.append(UnitHold.account_id == account_id)
    if status is not None:
        conditions.append(UnitHold.status == status.value)
    total, rows = page.rows(session, UnitHold, conditions, [UnitHold.id.desc()])
    return page.answer(total, [_hold_public(session, h) for h in rows])


@router.get("/holds/{hold_id}")
def get_hold(hold_id: int, session: SessionDep) -> HoldPublic:
    return _hold_public(session, preconditions_ops.get_row(session, UnitHold, hold_id, "hold"))


@auth_router.post("/holds", status_code=201)
def place_hold(body: HoldCreate, session: SessionDep, principal: AdminDep) -> HoldPublic:
    """Hold active units of an account, lowest serials first (administrator): they are not
    transferred, retired, tokenized or cancelled until released (rule ``unit-held``)."""
    with committing(session):
        serialization = projects_ops.serialization_by_text(session, body.serialization)
        hold, _moved = holds_ops.place_hold(session, account_id=body.account_id, serialization_id=serialization.id,
                                            quantity=body.quantity, reason=body.reason, reference=body.reference,
                                            tokenization_id=body.tokenization_id, actor=actor_of(principal))
        return _hold_public(session, hold)


@auth_router.post("/holds/{hold_id}/release")
def release_hold(hold_id: int, body: HoldRelease, session: SessionDep, principal: AdminDep) -> HoldPublic:
    """Release a hold (administrator): its units are active again."""
    with committing(session):
        hold, _moved = holds_ops.release_hold(session, hold_id, note=body.note, actor=actor_of(principal))
        return _hold_public(session, hold)
