"""Non-CA events and their compensation (§V)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.article6 import (
    CompensationRequest,
    DetectRequest,
    NonCAEventPublic,
    StepCompletion,
    StepPublic,
)
from registry.errors import NotFound
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import compensation as compensation_ops
from registry.tables.article6 import A6CompensationStep, A6NonCAEvent
from registry.tables.core import utcnow

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _step_public(s: A6CompensationStep) -> StepPublic:
    return StepPublic(id=s.id, seq=s.seq, kind=s.kind, quantity=s.quantity, completed=s.completed,
                      status=s.status.value, from_project_id=s.from_project_id, due_by=s.due_by, evidence=s.evidence,
                      completed_at=s.completed_at)


def event_public(session: Session, e: A6NonCAEvent) -> NonCAEventPublic:
    return NonCAEventPublic(id=e.id, project_id=e.project_id, vintage=e.vintage,
                            first_transfer_year=e.first_transfer_year, quantity=e.quantity, trigger=e.trigger.name,
                            detected_on=e.detected_on, status=e.status.value, notified_on=e.notified_on,
                            steps=[_step_public(s) for s in compensation_ops.event_steps(session, e.id)])


@router.post("/article6/non-ca-events/detect")
def detect_events(body: DetectRequest, session: SessionDep, principal: AdminDep) -> list[NonCAEventPublic]:
    """Apply the date rule as of the registry's date (server time): no credible evidence within 12 months
    after the 15 April deadline (§V)."""
    with committing(session):
        events = adjustment_ops.detect_non_ca_events(session, suspend=body.suspend, actor=actor_of(principal))
        return [event_public(session, e) for e in events]


@router.get("/article6/non-ca-events")
def list_events(session: SessionDep, page: PageDep, project_id: Optional[int] = None) -> Paged[NonCAEventPublic]:
    total, rows = compensation_ops.list_events(session, project_id=project_id, offset=page.offset, limit=page.limit)
    return page.answer(total, [event_public(session, e) for e in rows])


@router.get("/article6/non-ca-events/{event_id}")
def get_event(event_id: int, session: SessionDep) -> NonCAEventPublic:
    event = session.get(A6NonCAEvent, event_id)
    if event is None:
        raise NotFound(f"non-CA event {event_id} does not exist", field="event_id")
    return event_public(session, event)


@router.post("/article6/non-ca-events/{event_id}/compensation")
def compensate(event_id: int, body: CompensationRequest, session: SessionDep, principal: AdminDep
               ) -> NonCAEventPublic:
    """Compensate the event in the order of §V.b; each step is recorded."""
    with committing(session):
        compensation_ops.compensate_non_ca_event(session, event_id, notified_on=body.notified_on, actor=actor_of(principal),
                                      proponent_account_id=body.proponent_account_id,
                                      proponent_deposit=body.proponent_deposit,
                                      replacement_purchase=body.replacement_purchase,
                                      replacement_evidence=body.replacement_evidence,
                                      additional_double_claim=body.additional_double_claim, holidays=body.holidays)
        return event_public(session, session.get(A6NonCAEvent, event_id))


@router.post("/article6/compensation-steps/{step_id}/complete")
def complete_step(step_id: int, body: StepCompletion, session: SessionDep, principal: AdminDep) -> StepPublic:
    """Evidence that replacement credits were purchased and cancelled (§V.b step 4)."""
    with committing(session):
        return _step_public(compensation_ops.complete_replacement(session, step_id, evidence=body.evidence,
                                                       actor=actor_of(principal)))


@router.post("/article6/compensation-steps/lapse")
def lapse_steps(session: SessionDep, principal: AdminDep) -> list[StepPublic]:
    """Step 4 purchases past their 60 business days (as of the server's date) lapse; what they
    left undone is re-planned into step 5 (§V.b). Returns the new steps; a second call finds none."""
    with committing(session):
        return [_step_public(s) for s in compensation_ops.lapse_replacements(
            session, on=utcnow().date(), actor=actor_of(principal))]
