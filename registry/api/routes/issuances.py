"""Issuances (ex-post and ex-ante) and ex-ante conversions: public reads, administrator writes."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session, select

from registry.api.auth import AdminDep
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import (
    ConversionCreate,
    ConversionPublic,
    ConversionResultPublic,
    IssuanceCreate,
    IssuancePublic,
)
from registry.domain.enums import IssuanceKind
from registry.domain.serials import serial_block_text
from registry.errors import RuleViolation
from registry.operations import conversions as conversions_ops
from registry.operations import issuances as issuances_ops
from registry.operations import preconditions as preconditions_ops
from registry.tables.core import ExAnteConversion, Issuance, Serialization

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _serial_text(session: Session, serialization_id: int, first: int, last: int) -> str:
    return serial_block_text(session.get(Serialization, serialization_id).text, first, last)


def _issuance_public(session: Session, i: Issuance) -> IssuancePublic:
    conversions = session.exec(select(ExAnteConversion).where(ExAnteConversion.issuance_id == i.id)).all()
    return IssuancePublic(
        id=i.id, kind=i.kind, project_id=session.get(Serialization, i.serialization_id).project_id,
        vintage=session.get(Serialization, i.serialization_id).vintage, quantity=i.quantity, account_id=i.account_id,
        serialization=session.get(Serialization, i.serialization_id).text,
        serial_block=_serial_text(session, i.serialization_id, i.unit_first, i.unit_last),
        unit_first=i.unit_first, unit_last=i.unit_last, created_at=i.created_at,
        monitoring_start=i.monitoring_start, monitoring_end=i.monitoring_end,
        verification_reference=i.verification_reference, verification_body=i.verification_body,
        verified_on=i.verified_on,
        converted_quantity=sum(c.converted_quantity for c in conversions),
        closed=any(c.final for c in conversions),
    )


@router.get("/issuances")
def list_issuances(
    session: SessionDep, page: PageDep, kind: Optional[IssuanceKind] = None
) -> Paged[IssuancePublic]:
    conditions = [Issuance.kind == kind] if kind is not None else []
    total, rows = page.rows(session, Issuance, conditions, [Issuance.id])
    return page.answer(total, [_issuance_public(session, i) for i in rows])


@router.get("/issuances/{issuance_id}")
def get_issuance(issuance_id: int, session: SessionDep) -> IssuancePublic:
    return _issuance_public(session, preconditions_ops.get_row(session, Issuance, issuance_id, "issuance"))


@router.get("/issuances/{issuance_id}/conversions")
def list_conversions(issuance_id: int, session: SessionDep, page: PageDep
                     ) -> Paged[ConversionPublic]:
    preconditions_ops.get_row(session, Issuance, issuance_id, "issuance")
    total, rows = page.rows(session, ExAnteConversion, [ExAnteConversion.issuance_id == issuance_id],
                            [ExAnteConversion.id])
    return page.answer(total, [ConversionPublic.model_validate(c, from_attributes=True) for c in rows])


@auth_router.post("/issuances", status_code=201)
def issue(body: IssuanceCreate, session: SessionDep, _: AdminDep) -> IssuancePublic:
    """Issue ex-post (active) or ex-ante (inactive) standard ICCs as one serial block (administrator).

    Every issuance is for a monitoring period within its vintage year that no other issuance of
    the project covers (refused `no-double-issuance`, seed 004 criterion 7(a)); ex-post ICCs rest
    on a verification (report, body, date after the period), ex-ante ICCs on a predicted period
    (refused for a project authorized for Article 6.2, seed 003 §4.1)."""
    with committing(session):
        args = dict(project_id=body.project_id, vintage=body.vintage, quantity=body.quantity,
                    account_id=body.account_id, first_unit=body.first_unit, monitoring_start=body.monitoring_start,
                    monitoring_end=body.monitoring_end)
        if body.kind is IssuanceKind.ex_post:
            issuance = issuances_ops.issue_ex_post(session, **args, verification_reference=body.verification_reference,
                                                   verification_body=body.verification_body,
                                                   verified_on=body.verified_on)
        else:
            if body.verification_reference or body.verification_body or body.verified_on:
                raise RuleViolation("ex-ante ICCs are issued on a predicted period, before verification: record the "
                                    "verification with their conversion (ex-ante-unverified, seed 004 criterion 3)",
                                    field="verification_reference", rule="ex-ante-unverified")
            issuance = issuances_ops.issue_ex_ante(session, **args)
        return _issuance_public(session, issuance)


@auth_router.post("/issuances/{issuance_id}/conversions", status_code=201)
def convert(issuance_id: int, body: ConversionCreate, session: SessionDep, _: AdminDep) -> ConversionResultPublic:
    """Convert ex-ante ICCs of an issuance to ex-post on verification (administrator)."""
    with committing(session):
        result = conversions_ops.convert_ex_ante(session, issuance_id=issuance_id, verified_quantity=body.verified_quantity,
                                     final=body.final, verification_reference=body.verification_reference,
                                     verification_body=body.verification_body, verified_on=body.verified_on,
                                     monitoring_start=body.monitoring_start, monitoring_end=body.monitoring_end)
        c = result.conversion
        return ConversionResultPublic(
            **ConversionPublic.model_validate(c, from_attributes=True).model_dump(),
            converted_serial_blocks=[m.serial_block for m in result.converted],
            cancellation_ids=[record.id for record, _ in result.cancellations],
        )
