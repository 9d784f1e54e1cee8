"""Corresponding adjustments per project and vintage (§IV) and the CA status of retired Article 6.2
ICCs (§II.2)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.routes.non_ca_events import event_public
from registry.api.schemas.article6 import (
    CACorrection,
    CALabelPublic,
    CARecordPublic,
    EvidenceIn,
    EvidencePublic,
    NoCADecision,
    NonCAEventPublic,
    RetiredArticle6Public,
    history_public,
)
from registry.domain.classes import CAStatus
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import reports as report_ops

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _ca_public(session: Session, project_id: int, vintage: int) -> CARecordPublic:
    record = adjustment_ops.ca_status(session, project_id, vintage)
    labels = [CALabelPublic(first_transfer_year=y, label=label, quantity=q)
              for y, label, q in adjustment_ops.ca_labels(session, project_id, vintage)]
    return CARecordPublic(project_id=project_id, project_number=record.project_number, vintage=vintage,
                          status=record.status.name, label=record.label, labels=labels,
                          evidence=[EvidencePublic(kind=e.kind.name, reference=e.reference, received_on=e.received_on,
                                                   quantity=e.quantity, first_transfer_year=e.first_transfer_year)
                                    for e in record.evidence],
                          history=history_public(record.history))


@router.get("/article6/ca")
def list_ca(session: SessionDep, page: PageDep, project_id: Optional[int] = None) -> Paged[CARecordPublic]:
    """CA status per project and vintage (§IV), public (§II.2)."""
    total, rows = adjustment_ops.list_ca_records(session, project_id=project_id, offset=page.offset, limit=page.limit)
    return page.answer(total, [_ca_public(session, r.project_id, r.vintage) for r in rows])


@router.get("/projects/{project_id}/article6/ca/{vintage}")
def get_ca(project_id: int, vintage: int, session: SessionDep) -> CARecordPublic:
    return _ca_public(session, project_id, vintage)


@router.post("/projects/{project_id}/article6/ca/{vintage}/evidence")
def add_evidence(project_id: int, vintage: int, body: EvidenceIn, session: SessionDep, principal: AdminDep
                 ) -> CARecordPublic:
    """Attach evidence (e.g. of the intention to apply the CA) without changing the status."""
    with committing(session):
        adjustment_ops.add_ca_evidence(session, project_id, vintage, body.domain(), actor=actor_of(principal),
                                       received_on_reason=body.received_on_reason)
        return _ca_public(session, project_id, vintage)


@router.post("/projects/{project_id}/article6/ca/{vintage}/applied")
def confirm_applied(project_id: int, vintage: int, body: EvidenceIn, session: SessionDep, principal: AdminDep
                    ) -> CARecordPublic:
    """Confirm the CA applied for ``quantity`` t first transferred in ``first_transfer_year``, on
    evidence from the host country's reports (§IV): CA applied once every tonne first
    transferred is covered, else recorded in part (the labels follow the quantities)."""
    with committing(session):
        adjustment_ops.confirm_ca_applied(session, project_id, vintage, body.domain(), actor=actor_of(principal),
                                          received_on_reason=body.received_on_reason)
        return _ca_public(session, project_id, vintage)


@router.post("/projects/{project_id}/article6/ca/{vintage}/correction")
def correct_status(project_id: int, vintage: int, body: CACorrection, session: SessionDep, principal: AdminDep
                   ) -> CARecordPublic:
    """Reverse a CA status recorded in error (e.g. a wrong "CA applied") to pending or No CA
    applied, on evidence of kind ``correction`` with the reason (§II.2, §IV): a recorded
    transition, pushed on-chain like any CA change."""
    with committing(session):
        adjustment_ops.correct_ca_status(session, project_id, vintage, status=CAStatus[body.status],
                                         evidence=body.evidence.domain() if body.evidence else None,
                                         reason=body.reason, actor=actor_of(principal))
        return _ca_public(session, project_id, vintage)


@router.post("/projects/{project_id}/article6/ca/{vintage}/not-applied")
def record_no_ca(project_id: int, vintage: int, body: NoCADecision, session: SessionDep, principal: AdminDep
                 ) -> list[NonCAEventPublic]:
    """ICR determines that no CA was applied: No CA applied, and non-CA events by decision (§V)."""
    with committing(session):
        events = adjustment_ops.record_no_ca(session, project_id, vintage, reason=body.reason,
                                    evidence=body.evidence.domain() if body.evidence else None,
                                    received_on_reason=body.evidence.received_on_reason if body.evidence else None,
                                    suspend=body.suspend, actor=actor_of(principal))
        return [event_public(session, e) for e in events]


@router.get("/article6/retirements")
def retired_article6(session: SessionDep, page: PageDep, project_id: Optional[int] = None
                     ) -> Paged[RetiredArticle6Public]:
    """Retired Article 6.2 ICCs with their CA status: Pending CA, CA applied or No CA applied (§II.2)."""
    total, rows = report_ops.retired_article6(session, project_id=project_id, offset=page.offset, limit=page.limit)
    items = [RetiredArticle6Public(retirement_id=r.retirement.id, project_number=r.project_number,
                                   host_country=r.host_country, vintage=r.vintage, token_id=r.token_id,
                                   quantity=r.retirement.quantity, purpose=r.retirement.purpose,
                                   ca_status=r.ca_status.name, ca_label=r.ca_label, ca_applied_quantity=r.ca_applied,
                                   created_at=r.retirement.created_at) for r in rows]
    return page.answer(total, items)
