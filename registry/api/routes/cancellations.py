"""Cancellations for a program reason: public reads, administrator writes."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session

from registry.api.auth import AdminDep
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.routes.serial_blocks import blocks_of
from registry.api.schemas.registry import CancellationCreate, CancellationPublic
from registry.domain.enums import CancellationReason
from registry.operations import cancellations as cancellations_ops
from registry.operations import preconditions as preconditions_ops
from registry.operations import projects as projects_ops
from registry.tables.core import Cancellation, SerialBlock, Serialization

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _cancellation_public(session: Session, c: Cancellation) -> CancellationPublic:
    return CancellationPublic(
        id=c.id, reason=c.reason, note=c.note, reference=c.reference, account_id=c.account_id,
        serialization=session.get(Serialization, c.serialization_id).text, quantity=c.quantity,
        serial_blocks=blocks_of(session, SerialBlock.cancellation_id == c.id), created_at=c.created_at,
    )


@router.get("/cancellations")
def list_cancellations(
    session: SessionDep, page: PageDep, reason: Optional[CancellationReason] = None
) -> Paged[CancellationPublic]:
    conditions = [Cancellation.reason == reason] if reason is not None else []
    total, rows = page.rows(session, Cancellation, conditions, [Cancellation.id.desc()])
    return page.answer(total, [_cancellation_public(session, c) for c in rows])


@router.get("/cancellations/{cancellation_id}")
def get_cancellation(cancellation_id: int, session: SessionDep) -> CancellationPublic:
    return _cancellation_public(session, preconditions_ops.get_row(session, Cancellation, cancellation_id, "cancellation"))


@auth_router.post("/cancellations", status_code=201)
def create_cancellation(body: CancellationCreate, session: SessionDep, _: AdminDep) -> CancellationPublic:
    """Cancel ICCs of an account for a program reason (administrator)."""
    with committing(session):
        serialization = projects_ops.serialization_by_text(session, body.serialization)
        record, _moved = cancellations_ops.cancel(session, account_id=body.account_id, serialization_id=serialization.id,
                                    quantity=body.quantity, reason=body.reason, note=body.note,
                                    reference=body.reference, status=body.status)
        return _cancellation_public(session, record)
