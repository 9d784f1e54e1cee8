"""Article 6.2 designations: issuing Article 6.2 ICCs and converting standard ICCs (§I.12, §II.1)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session, select

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.article6 import (
    Article6ConversionCreate,
    DesignationCreate,
    DesignationPublic,
    DesignationResultPublic,
)
from registry.domain.classes import purposes_in
from registry.operations.article6 import designation as designation_ops
from registry.operations.article6.designation import DesignationResult
from registry.tables.article6 import A6Designation
from registry.tables.core import CreditClass

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _designation_public(session: Session, d: A6Designation) -> DesignationPublic:
    token_id = session.exec(select(CreditClass.token_id)
                            .where(CreditClass.serialization_id == d.serialization_id)).one()
    return DesignationPublic(id=d.id, kind=d.kind.value, project_id=d.project_id, letter_number=d.letter_id,
                             token_id=token_id, quantity=d.quantity, deposit=d.deposit, deducted=d.deducted,
                             adjustment_percentage=d.adjustment_percentage,
                             requested_uses=[p.name for p in sorted(purposes_in(d.requested_uses))], account_id=d.account_id,
                             issuance_id=d.issuance_id, deposit_issuance_id=d.deposit_issuance_id,
                             monitoring_start=d.monitoring_start, monitoring_end=d.monitoring_end,
                             created_at=d.created_at)


def _result_public(session: Session, r: DesignationResult) -> DesignationResultPublic:
    return DesignationResultPublic(**_designation_public(session, r.designation).model_dump(),
                                   issued_blocks=r.issued_blocks, deposit_blocks=r.deposit_blocks,
                                   deducted_blocks=r.deducted_blocks, cancelled_blocks=r.cancelled_blocks)


@router.post("/article6/issuances", status_code=201)
def issue_article6(body: DesignationCreate, session: SessionDep, principal: AdminDep) -> DesignationResultPublic:
    """Issue ICCs designated as Article 6.2 ICCs (§II.1) within §4.1 and the letter's scope; the
    adjustment deposit goes to the non-CA adjustment account. Each refusal names its rule and section.
    The monitoring period must overlap no issuance of the project (standard ICCs of the period are
    converted with `POST /article6/conversions` instead, §I.12); the letter is checked on the
    registry's date, or on a back-dated `as_of` with its reason (both recorded in the ledger)."""
    with committing(session):
        result = designation_ops.issue_article6(session, project_id=body.project_id, vintage=body.vintage,
                                      quantity=body.quantity, account_id=body.account_id,
                                      monitoring_start=body.monitoring_start, monitoring_end=body.monitoring_end,
                                      verification_reference=body.verification_reference,
                                      verification_body=body.verification_body, verified_on=body.verified_on,
                                      uses=body.uses, kind=body.kind, as_of=body.as_of,
                                      as_of_reason=body.as_of_reason, actor=actor_of(principal))
        return _result_public(session, result)


@router.post("/article6/conversions", status_code=201)
def convert(body: Article6ConversionCreate, session: SessionDep, principal: AdminDep) -> DesignationResultPublic:
    """Convert standard ICCs to Article 6.2 ICCs (§I.12): originals cancelled, new serials issued for
    the same monitoring period (that of their issuance). Credits in bridge custody cannot be converted."""
    with committing(session):
        result = designation_ops.convert_to_article6(session, project_id=body.project_id, account_id=body.account_id,
                                           vintage=body.vintage, monitoring_start=body.monitoring_start,
                                           monitoring_end=body.monitoring_end, quantity=body.quantity,
                                           as_of=body.as_of, as_of_reason=body.as_of_reason,
                                           actor=actor_of(principal))
        return _result_public(session, result)


@router.get("/article6/designations")
def list_designations(session: SessionDep, page: PageDep, project_id: Optional[int] = None) -> Paged[DesignationPublic]:
    total, rows = designation_ops.list_designations(session, project_id=project_id, offset=page.offset,
                                                    limit=page.limit)
    return page.answer(total, [_designation_public(session, d) for d in rows])
