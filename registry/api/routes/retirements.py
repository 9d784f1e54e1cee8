"""Retirements: public reads; retiring from one of the key's holding accounts."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import Session, select

from registry.api.auth import PrincipalDep, authorize_account
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Page
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import RetirementCreate, RetirementDetailsBase, RetirementPage, RetirementPublic
from registry.domain.classes import Purpose
from registry.domain.lifecycle import RetirementDetails
from registry.errors import NotFound
from registry.operations import projects as projects_ops
from registry.operations import retirements as retirements_ops
from registry.tables.core import Retirement

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _retirement_public(session: Session, r: Retirement) -> RetirementPublic:
    return RetirementPublic(
        **r.model_dump(include=set(RetirementPublic.model_fields) - {"serial_blocks", "input_flags"}),
        serial_blocks=[b.serial_block for b in retirements_ops.retirement_blocks(session, r.id)],
        input_flags=json.loads(r.input_flags) if r.input_flags else [],
    )


@router.get("/retirements")
def list_retirements(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RetirementPage:
    total = session.exec(select(func.count()).select_from(Retirement)).one()
    rows = session.exec(select(Retirement).order_by(Retirement.id.desc()).offset(offset).limit(limit)).all()
    return RetirementPage(
        page=Page(offset=offset, limit=limit, total=total), items=[_retirement_public(session, r) for r in rows]
    )


@router.get("/retirements/{retirement_id}")
def get_retirement(retirement_id: int, session: SessionDep) -> RetirementPublic:
    r = session.get(Retirement, retirement_id)
    if r is None:
        raise NotFound(f"retirement {retirement_id} does not exist", field="retirement_id")
    return _retirement_public(session, r)


@auth_router.post("/retirements", status_code=201)
def create_retirement(body: RetirementCreate, session: SessionDep, principal: PrincipalDep) -> RetirementPublic:
    """Retire active ICCs from one of the key's holding accounts (lowest serials first)."""
    authorize_account(session, principal, body.account_id)
    details = RetirementDetails(
        purpose=Purpose[body.purpose.value],
        **body.model_dump(include=set(RetirementDetailsBase.model_fields)),
    )
    with committing(session):
        serialization = projects_ops.serialization_by_text(session, body.serialization)
        retirement, _moved = retirements_ops.retire(session, account_id=body.account_id, serialization_id=serialization.id,
                                        quantity=body.quantity, details=details)
        return _retirement_public(session, retirement)
