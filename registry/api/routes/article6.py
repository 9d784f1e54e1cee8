"""HTTP API for Article 6.2 (seed 003) and additionality (seed 002).

Reads are public (letters, CA status and the annual report are published by the registry,
§I, §II.2, §III). Writes are registry-administrator operations (letter review, designation,
CA decisions, non-CA events and compensation), except that a project's proponent
organization may submit its letter. Each write is one transaction; a refused rule is a
problem+json response naming the rule and field (422), an illegal transition a 409.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Optional

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from registry.api.auth import AdminDep, PrincipalDep
from registry.api.deps import SessionDep, committing
from registry.api.routes.registry import AUTH_RESPONSES, PROBLEM_RESPONSES, Limit, Offset, Page, Paged
from registry.domain import additionality as ad
from registry.domain.additionality import Level
from registry.domain.article6 import reports as a6_reports
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.article6.letters import AuthorizedUse, LetterContent, LetterStatus
from registry.domain.article6.projects import ProjectStatus
from registry.domain.enums import IssuanceKind
from registry.errors import Forbidden, NotFound, RuleViolation
from registry.operations import additionality as aops
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import compensation as compensation_ops
from registry.operations.article6 import designation as designation_ops
from registry.operations.article6 import letters as letter_ops
from registry.operations.article6 import projects as project_ops
from registry.operations.article6 import reports as report_ops
from registry.operations.article6.designation import DesignationResult
from registry.tables.additionality import AdditionalityClaim, AdditionalityProfile
from registry.tables.article6 import A6CompensationStep, A6Designation, A6Letter, A6NonCAEvent, A6Project
from registry.tables.core import CreditClass, Project

router = APIRouter(responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})

A6 = ["article6"]
ADD = ["additionality"]


def _actor(principal) -> str:
    return f"api-key:{principal.key_id}"


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class HistoryPublic(BaseModel):
    transition: str
    from_status: Optional[str]
    to_status: str
    at: datetime
    actor: str
    note: str = ""
    changes: list[str] = []
    evidence: Optional[str] = None


def _history(entries) -> list[HistoryPublic]:
    return [HistoryPublic(transition=h.transition, from_status=h.from_status, to_status=h.to_status, at=h.at,
                          actor=h.actor, note=h.note, changes=list(h.changes), evidence=h.evidence) for h in entries]


class HostCountryUpdate(BaseModel):
    article6_framework: bool
    reference: str = Field("", max_length=500, description="The national framework's legal reference.")


class HostCountryPublic(HostCountryUpdate):
    country: str


class ProjectArticle6Update(BaseModel):
    adjustment_percentage: Decimal = Field(ge=0, le=100, description="Share of each Article 6.2 issuance "
                                           "deposited into the non-CA adjustment account (seed 003 §II.3.b).")
    risk_assessment: str = Field(min_length=1, max_length=500, description="Reference to ICR's risk assessment.")
    methodology_approved: bool
    proponent_organization_id: Optional[int] = None


class ProjectArticle6Public(BaseModel):
    project_id: int
    project_number: int
    status: ProjectStatus
    letter_number: Optional[int]
    adjustment_percentage: str
    risk_assessment: str
    methodology_approved: bool
    proponent_organization_id: Optional[int]
    outstanding_compensation: int
    history: list[HistoryPublic]


class ProjectNote(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class ReinstateRequest(BaseModel):
    evidence: str = Field(min_length=1, max_length=500)


class LetterCreate(BaseModel):
    project_id: int
    document: str = Field(min_length=1, max_length=500, description="Reference to the uploaded letter (e.g. sha256).")
    content: LetterContent


class AuthorizationLetterPublic(BaseModel):
    number: int = Field(description="Letter number (part of Article 6.2 token ids).")
    project_id: int
    status: LetterStatus
    document: str
    published_ref: Optional[str]
    content: dict[str, Any]
    history: list[HistoryPublic]


class LetterApproval(BaseModel):
    authenticity_confirmed: bool
    published_ref: str = Field(description="Where the registry publishes the letter (§I.8).")


class LetterRejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class LetterChange(BaseModel):
    content: LetterContent
    note: str = Field(min_length=1, max_length=2000)


class DesignationCreate(BaseModel):
    project_id: int
    vintage: int
    quantity: int = Field(description="Whole tonnes.")
    account_id: int = Field(description="The proponent's holding account.")
    monitoring_start: date
    monitoring_end: date
    uses: Optional[list[AuthorizedUse]] = Field(None, description="Uses asked for; all the letter's when omitted.")
    kind: IssuanceKind = IssuanceKind.ex_post
    on: Optional[date] = Field(None, description="Date the letter must be valid on (today when omitted).")


class Article6ConversionCreate(BaseModel):
    project_id: int
    account_id: int
    vintage: int
    monitoring_start: date
    monitoring_end: date
    quantity: Optional[int] = Field(None, description="Tonnes to convert; everything eligible when omitted.")
    on: Optional[date] = None


class DesignationPublic(BaseModel):
    id: int
    kind: str
    project_id: int
    letter_number: int
    token_id: str
    quantity: int
    deposit: int
    deducted: int
    adjustment_percentage: str
    account_id: int
    issuance_id: Optional[int]
    deposit_issuance_id: Optional[int]
    monitoring_start: date
    monitoring_end: date
    created_at: datetime


class DesignationResultPublic(DesignationPublic):
    issued_blocks: list[str]
    deposit_blocks: list[str]
    deducted_blocks: list[str]
    cancelled_blocks: list[str]


EvidenceKindName = Literal["ca_applied", "intention", "no_ca"]


class EvidenceIn(BaseModel):
    kind: EvidenceKindName
    reference: str = Field(min_length=1, max_length=500, description="e.g. BTR table and row naming the project.")
    received_on: date

    def domain(self) -> Evidence:
        return Evidence(EvidenceKind[self.kind], self.reference, self.received_on)


class EvidencePublic(BaseModel):
    kind: str
    reference: str
    received_on: date


class NoCADecision(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    evidence: Optional[EvidenceIn] = None
    suspend: bool = True


class CARecordPublic(BaseModel):
    project_id: int
    project_number: int
    vintage: int
    status: str
    label: str
    evidence: list[EvidencePublic]
    history: list[HistoryPublic]


class RetiredArticle6Public(BaseModel):
    retirement_id: int
    project_number: int
    host_country: str
    vintage: int
    token_id: str
    quantity: int
    purpose: str
    ca_status: str
    ca_label: str
    created_at: datetime


class DetectRequest(BaseModel):
    on: date
    suspend: bool = True


class StepPublic(BaseModel):
    id: int
    seq: int
    kind: str
    quantity: int
    completed: int
    status: str
    from_project_id: Optional[int]
    due_by: Optional[date]
    evidence: str
    completed_at: Optional[datetime]


class NonCAEventPublic(BaseModel):
    id: int
    project_id: int
    vintage: int
    first_transfer_year: int
    quantity: int
    trigger: str
    detected_on: date
    status: str
    notified_on: Optional[date]
    steps: list[StepPublic]


class CompensationRequest(BaseModel):
    notified_on: date = Field(description="Formal ICR notification; starts the 60 business days of step 4.")
    proponent_account_id: Optional[int] = None
    proponent_deposit: int = Field(0, ge=0)
    replacement_purchase: int = Field(0, ge=0)
    replacement_evidence: str = Field("", max_length=500)
    additional_double_claim: bool = False
    holidays: list[date] = []


class StepCompletion(BaseModel):
    evidence: str = Field(min_length=1, max_length=500)


class ReportFormat(str, Enum):
    json = "json"
    csv = "csv"


# --------------------------------------------------------------------------------------------
# Host countries and project status
# --------------------------------------------------------------------------------------------


@router.put("/article6/host-countries/{country}", tags=A6)
def set_host_country(country: str, body: HostCountryUpdate, session: SessionDep, principal: AdminDep
                     ) -> HostCountryPublic:
    """Record whether a host country has a national Article 6.2 framework (§4.1)."""
    with committing(session):
        row = project_ops.set_host_country(session, country, article6_framework=body.article6_framework,
                                           reference=body.reference, actor=_actor(principal))
        return HostCountryPublic(country=row.country, article6_framework=row.article6_framework,
                                 reference=row.reference)


def _project_public(session: Session, project_id: int) -> ProjectArticle6Public:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist", field="project_id")
    row = session.get(A6Project, project_id) or A6Project(project_id=project_id)
    status = project_ops.project_article6(session, project_id)
    return ProjectArticle6Public(
        project_id=project_id, project_number=project.project_number, status=status.status,
        letter_number=row.letter_id, adjustment_percentage=row.adjustment_percentage,
        risk_assessment=row.risk_assessment, methodology_approved=row.methodology_approved,
        proponent_organization_id=row.proponent_organization_id,
        outstanding_compensation=compensation_ops.outstanding_compensation(session, project_id),
        history=_history(status.history))


@router.get("/projects/{project_id}/article6", tags=A6)
def get_project_article6(project_id: int, session: SessionDep) -> ProjectArticle6Public:
    """A project's Article 6.2 status (standard, authorization pending, authorized, suspended) with history."""
    return _project_public(session, project_id)


@router.put("/projects/{project_id}/article6", tags=A6)
def configure_project(project_id: int, body: ProjectArticle6Update, session: SessionDep, principal: AdminDep
                      ) -> ProjectArticle6Public:
    """Set the adjustment percentage from ICR's risk assessment, methodology approval and proponent."""
    with committing(session):
        project_ops.configure_project(session, project_id, adjustment_percentage=body.adjustment_percentage,
                                      risk_assessment=body.risk_assessment,
                                      methodology_approved=body.methodology_approved,
                                      proponent_organization_id=body.proponent_organization_id, actor=_actor(principal))
        return _project_public(session, project_id)


@router.post("/projects/{project_id}/article6/suspend", tags=A6)
def suspend_project(project_id: int, body: ProjectNote, session: SessionDep, principal: AdminDep
                    ) -> ProjectArticle6Public:
    """Suspend further Article 6.2 issuance of a project exposed to a non-CA event (§V.b)."""
    with committing(session):
        project_ops.suspend_project(session, project_id, note=body.note, actor=_actor(principal))
        return _project_public(session, project_id)


@router.post("/projects/{project_id}/article6/reinstate", tags=A6)
def reinstate_project(project_id: int, body: ReinstateRequest, session: SessionDep, principal: AdminDep
                      ) -> ProjectArticle6Public:
    """Lift a suspension: needs a CA confirmed applied and no outstanding non-CA compensation (§V.b)."""
    with committing(session):
        project_ops.reinstate_project(session, project_id, evidence=body.evidence, actor=_actor(principal))
        return _project_public(session, project_id)


# --------------------------------------------------------------------------------------------
# Letters
# --------------------------------------------------------------------------------------------


def _letter_public(session: Session, row: A6Letter) -> AuthorizationLetterPublic:
    letter = letter_ops.letter_of(session, row)
    return AuthorizationLetterPublic(number=row.id, project_id=row.project_id, status=row.status, document=row.document,
                        published_ref=row.published_ref, content=json.loads(row.content),
                        history=_history(letter.history))


@router.post("/article6/letters", tags=A6, status_code=201)
def submit_letter(body: LetterCreate, session: SessionDep, principal: PrincipalDep) -> AuthorizationLetterPublic:
    """Submit a host country letter (§I.12): an administrator, or the project's proponent organization."""
    if not principal.is_admin:
        a6row = session.get(A6Project, body.project_id)
        if a6row is None or a6row.proponent_organization_id is None or \
                a6row.proponent_organization_id != principal.organization_id:
            raise Forbidden("only the project's proponent organization or an administrator submits its letter",
                            field="project_id", rule="own-projects-only")
    with committing(session):
        row = letter_ops.submit_letter(session, project_id=body.project_id, content=body.content,
                                       document=body.document, actor=_actor(principal))
        return _letter_public(session, row)


@router.get("/article6/letters", tags=A6)
def list_letters(session: SessionDep, project_id: Optional[int] = None, status: Optional[LetterStatus] = None,
                 offset: Offset = 0, limit: Limit = 50) -> Paged[AuthorizationLetterPublic]:
    """Letters are public on the registry (§I)."""
    total, rows = letter_ops.list_letters(session, project_id=project_id, status=status, offset=offset, limit=limit)
    return Paged[AuthorizationLetterPublic](page=Page(offset=offset, limit=limit, total=total),
                               items=[_letter_public(session, r) for r in rows])


@router.get("/article6/letters/{number}", tags=A6)
def get_letter(number: int, session: SessionDep) -> AuthorizationLetterPublic:
    row = session.get(A6Letter, number)
    if row is None:
        raise NotFound(f"letter {number} does not exist", field="number")
    return _letter_public(session, row)


def _letter_write(session: Session, number: int, fn, **kwargs) -> AuthorizationLetterPublic:
    with committing(session):
        fn(session, number, **kwargs)
        return _letter_public(session, session.get(A6Letter, number))


@router.post("/article6/letters/{number}/review", tags=A6)
def start_review(number: int, session: SessionDep, principal: AdminDep) -> AuthorizationLetterPublic:
    """received -> under review."""
    return _letter_write(session, number, letter_ops.start_letter_review, actor=_actor(principal))


@router.post("/article6/letters/{number}/approve", tags=A6)
def approve_letter(number: int, body: LetterApproval, session: SessionDep,
                   principal: AdminDep) -> AuthorizationLetterPublic:
    """under review -> approved and published: complete (§I.1-I.11), authentic and published (§I.12)."""
    return _letter_write(session, number, letter_ops.approve_letter, authenticity_confirmed=body.authenticity_confirmed,
                         published_ref=body.published_ref, actor=_actor(principal))


@router.post("/article6/letters/{number}/reject", tags=A6)
def reject_letter(number: int, body: LetterRejection, session: SessionDep,
                  principal: AdminDep) -> AuthorizationLetterPublic:
    return _letter_write(session, number, letter_ops.reject_letter, reason=body.reason, actor=_actor(principal))


@router.post("/article6/letters/{number}/amend", tags=A6)
def amend_letter(number: int, body: LetterChange, session: SessionDep,
                 principal: AdminDep) -> AuthorizationLetterPublic:
    """The host country amended the authorization (§I.10.1)."""
    return _letter_write(session, number, letter_ops.amend_letter, content=body.content, note=body.note,
                         actor=_actor(principal))


@router.post("/article6/letters/{number}/reduce-scope", tags=A6)
def reduce_scope(number: int, body: LetterChange, session: SessionDep,
                 principal: AdminDep) -> AuthorizationLetterPublic:
    """The host country reduced the scope (§I.10.2): the new content may only narrow it."""
    return _letter_write(session, number, letter_ops.reduce_letter_scope, content=body.content, note=body.note,
                         actor=_actor(principal))


@router.post("/article6/letters/{number}/withdraw", tags=A6)
def withdraw_letter(number: int, body: ProjectNote, session: SessionDep,
                    principal: AdminDep) -> AuthorizationLetterPublic:
    """The host country withdrew the authorization (§I.10.3); the project's authorization ends."""
    return _letter_write(session, number, letter_ops.withdraw_letter, note=body.note, actor=_actor(principal))


# --------------------------------------------------------------------------------------------
# Designation and conversion
# --------------------------------------------------------------------------------------------


def _designation_public(session: Session, d: A6Designation) -> DesignationPublic:
    token_id = session.exec(select(CreditClass.token_id)
                            .where(CreditClass.serialization_id == d.serialization_id)).one()
    return DesignationPublic(id=d.id, kind=d.kind.value, project_id=d.project_id, letter_number=d.letter_id,
                             token_id=token_id, quantity=d.quantity, deposit=d.deposit, deducted=d.deducted,
                             adjustment_percentage=d.adjustment_percentage, account_id=d.account_id,
                             issuance_id=d.issuance_id, deposit_issuance_id=d.deposit_issuance_id,
                             monitoring_start=d.monitoring_start, monitoring_end=d.monitoring_end,
                             created_at=d.created_at)


def _result_public(session: Session, r: DesignationResult) -> DesignationResultPublic:
    return DesignationResultPublic(**_designation_public(session, r.designation).model_dump(),
                                   issued_blocks=r.issued_blocks, deposit_blocks=r.deposit_blocks,
                                   deducted_blocks=r.deducted_blocks, cancelled_blocks=r.cancelled_blocks)


@router.post("/article6/issuances", tags=A6, status_code=201)
def issue_article6(body: DesignationCreate, session: SessionDep, principal: AdminDep) -> DesignationResultPublic:
    """Issue ICCs designated as Article 6.2 ICCs (§II.1) within §4.1 and the letter's scope; the
    adjustment deposit goes to the non-CA adjustment account. Each refusal names its rule."""
    with committing(session):
        result = designation_ops.issue_article6(session, project_id=body.project_id, vintage=body.vintage,
                                                quantity=body.quantity, account_id=body.account_id,
                                                monitoring_start=body.monitoring_start,
                                                monitoring_end=body.monitoring_end, uses=body.uses, kind=body.kind,
                                                on=body.on, actor=_actor(principal))
        return _result_public(session, result)


@router.post("/article6/conversions", tags=A6, status_code=201)
def convert(body: Article6ConversionCreate, session: SessionDep, principal: AdminDep) -> DesignationResultPublic:
    """Convert standard ICCs to Article 6.2 ICCs (§I.12): originals cancelled, new serials issued.
    Credits in bridge custody cannot be converted."""
    with committing(session):
        result = designation_ops.convert_to_article6(session, project_id=body.project_id, account_id=body.account_id,
                                                     vintage=body.vintage, monitoring_start=body.monitoring_start,
                                                     monitoring_end=body.monitoring_end, quantity=body.quantity,
                                                     on=body.on, actor=_actor(principal))
        return _result_public(session, result)


@router.get("/article6/designations", tags=A6)
def list_designations(session: SessionDep, project_id: Optional[int] = None, offset: Offset = 0,
                      limit: Limit = 50) -> Paged[DesignationPublic]:
    total, rows = designation_ops.list_designations(session, project_id=project_id, offset=offset, limit=limit)
    return Paged[DesignationPublic](page=Page(offset=offset, limit=limit, total=total),
                                    items=[_designation_public(session, d) for d in rows])


# --------------------------------------------------------------------------------------------
# Corresponding adjustments
# --------------------------------------------------------------------------------------------


def _ca_public(session: Session, project_id: int, vintage: int) -> CARecordPublic:
    record = adjustment_ops.ca_status(session, project_id, vintage)
    return CARecordPublic(project_id=project_id, project_number=record.project_number, vintage=vintage,
                          status=record.status.name, label=record.label,
                          evidence=[EvidencePublic(kind=e.kind.name, reference=e.reference, received_on=e.received_on)
                                    for e in record.evidence],
                          history=_history(record.history))


@router.get("/article6/ca", tags=A6)
def list_ca(session: SessionDep, project_id: Optional[int] = None, offset: Offset = 0,
            limit: Limit = 50) -> Paged[CARecordPublic]:
    """CA status per project and vintage (§IV), public (§II.2)."""
    total, rows = adjustment_ops.list_ca_records(session, project_id=project_id, offset=offset, limit=limit)
    return Paged[CARecordPublic](page=Page(offset=offset, limit=limit, total=total),
                                 items=[_ca_public(session, r.project_id, r.vintage) for r in rows])


@router.get("/projects/{project_id}/article6/ca/{vintage}", tags=A6)
def get_ca(project_id: int, vintage: int, session: SessionDep) -> CARecordPublic:
    return _ca_public(session, project_id, vintage)


@router.post("/projects/{project_id}/article6/ca/{vintage}/evidence", tags=A6)
def add_evidence(project_id: int, vintage: int, body: EvidenceIn, session: SessionDep, principal: AdminDep
                 ) -> CARecordPublic:
    """Attach evidence (e.g. of the intention to apply the CA) without changing the status."""
    with committing(session):
        adjustment_ops.add_ca_evidence(session, project_id, vintage, body.domain(), actor=_actor(principal))
        return _ca_public(session, project_id, vintage)


@router.post("/projects/{project_id}/article6/ca/{vintage}/applied", tags=A6)
def confirm_applied(project_id: int, vintage: int, body: EvidenceIn, session: SessionDep, principal: AdminDep
                    ) -> CARecordPublic:
    """Confirm the CA applied, on evidence from the host country's reports (§IV)."""
    with committing(session):
        adjustment_ops.confirm_ca_applied(session, project_id, vintage, body.domain(), actor=_actor(principal))
        return _ca_public(session, project_id, vintage)


@router.post("/projects/{project_id}/article6/ca/{vintage}/not-applied", tags=A6)
def record_no_ca(project_id: int, vintage: int, body: NoCADecision, session: SessionDep, principal: AdminDep
                 ) -> list[NonCAEventPublic]:
    """ICR determines that no CA was applied: No CA applied, and non-CA events by decision (§V)."""
    with committing(session):
        events = adjustment_ops.record_no_ca(session, project_id, vintage, reason=body.reason,
                                             evidence=body.evidence.domain() if body.evidence else None,
                                             suspend=body.suspend, actor=_actor(principal))
        return [_event_public(session, e) for e in events]


@router.get("/article6/retirements", tags=A6)
def retired_article6(session: SessionDep, project_id: Optional[int] = None, offset: Offset = 0,
                     limit: Limit = 50) -> Paged[RetiredArticle6Public]:
    """Retired Article 6.2 ICCs with their CA status: Pending CA, CA applied or No CA applied (§II.2)."""
    total, rows = report_ops.retired_article6(session, project_id=project_id, offset=offset, limit=limit)
    items = [RetiredArticle6Public(retirement_id=r.retirement.id, project_number=r.project_number,
                                   host_country=r.host_country, vintage=r.vintage, token_id=r.token_id,
                                   quantity=r.retirement.quantity, purpose=r.retirement.purpose,
                                   ca_status=r.ca_status.name, ca_label=r.ca_label,
                                   created_at=r.retirement.created_at) for r in rows]
    return Paged[RetiredArticle6Public](page=Page(offset=offset, limit=limit, total=total), items=items)


# --------------------------------------------------------------------------------------------
# Non-CA events and compensation
# --------------------------------------------------------------------------------------------


def _step_public(s: A6CompensationStep) -> StepPublic:
    return StepPublic(id=s.id, seq=s.seq, kind=s.kind, quantity=s.quantity, completed=s.completed,
                      status=s.status.value, from_project_id=s.from_project_id, due_by=s.due_by, evidence=s.evidence,
                      completed_at=s.completed_at)


def _event_public(session: Session, e: A6NonCAEvent) -> NonCAEventPublic:
    return NonCAEventPublic(id=e.id, project_id=e.project_id, vintage=e.vintage,
                            first_transfer_year=e.first_transfer_year, quantity=e.quantity, trigger=e.trigger.name,
                            detected_on=e.detected_on, status=e.status.value, notified_on=e.notified_on,
                            steps=[_step_public(s) for s in compensation_ops.event_steps(session, e.id)])


@router.post("/article6/non-ca-events/detect", tags=A6)
def detect_events(body: DetectRequest, session: SessionDep, principal: AdminDep) -> list[NonCAEventPublic]:
    """Apply the date rule: no credible evidence within 12 months after the 15 April deadline (§V)."""
    with committing(session):
        events = adjustment_ops.detect_non_ca_events(session, on=body.on, suspend=body.suspend, actor=_actor(principal))
        return [_event_public(session, e) for e in events]


@router.get("/article6/non-ca-events", tags=A6)
def list_events(session: SessionDep, project_id: Optional[int] = None, offset: Offset = 0,
                limit: Limit = 50) -> Paged[NonCAEventPublic]:
    total, rows = compensation_ops.list_events(session, project_id=project_id, offset=offset, limit=limit)
    return Paged[NonCAEventPublic](page=Page(offset=offset, limit=limit, total=total),
                                   items=[_event_public(session, e) for e in rows])


@router.get("/article6/non-ca-events/{event_id}", tags=A6)
def get_event(event_id: int, session: SessionDep) -> NonCAEventPublic:
    event = session.get(A6NonCAEvent, event_id)
    if event is None:
        raise NotFound(f"non-CA event {event_id} does not exist", field="event_id")
    return _event_public(session, event)


@router.post("/article6/non-ca-events/{event_id}/compensation", tags=A6)
def compensate(event_id: int, body: CompensationRequest, session: SessionDep, principal: AdminDep
               ) -> NonCAEventPublic:
    """Compensate the event in the order of §V.b; each step is recorded."""
    with committing(session):
        compensation_ops.compensate_non_ca_event(session, event_id, notified_on=body.notified_on,
                                                 actor=_actor(principal),
                                                 proponent_account_id=body.proponent_account_id,
                                                 proponent_deposit=body.proponent_deposit,
                                                 replacement_purchase=body.replacement_purchase,
                                                 replacement_evidence=body.replacement_evidence,
                                                 additional_double_claim=body.additional_double_claim,
                                                 holidays=body.holidays)
        return _event_public(session, session.get(A6NonCAEvent, event_id))


@router.post("/article6/compensation-steps/{step_id}/complete", tags=A6)
def complete_step(step_id: int, body: StepCompletion, session: SessionDep, principal: AdminDep) -> StepPublic:
    """Evidence that replacement credits were purchased and cancelled (§V.b step 4)."""
    with committing(session):
        return _step_public(compensation_ops.complete_replacement(session, step_id, evidence=body.evidence,
                                                                  actor=_actor(principal)))


# --------------------------------------------------------------------------------------------
# Annual report
# --------------------------------------------------------------------------------------------


class CountryYearPublic(BaseModel):
    """One host country's line of the annual report (§III.1, §III.3, §III.4)."""

    host_country: str
    issued: int
    retired_corsia: int
    retired_ndc: int
    retired_voluntary: int
    retired_other_international: int
    cancelled_double_claim: int
    max_authorized: int
    uncapped_letters: int
    ca_pending: int
    ca_applied: int
    ca_not_applied: int


class CorsiaPeriodPublic(BaseModel):
    host_country: str
    compliance_period: str
    quantity: int


class Article6AnnualReport(BaseModel):
    """The §III annual report; ``?format=csv`` gives the same figures in long format
    (columns ``year, host_country, metric, compliance_period, quantity``)."""

    year: int
    due_by: date
    countries: list[CountryYearPublic]
    corsia_by_compliance_period: list[CorsiaPeriodPublic]


@router.get("/article6/annual-reports/{year}", tags=A6, response_model=Article6AnnualReport,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "The §III report as JSON, or as long-format CSV with ?format=csv"}})
def annual_report(year: int, session: SessionDep, format: ReportFormat = ReportFormat.json) -> Response:
    """Annual report for a calendar year (§III), computed from the registry's data."""
    if not 1000 <= year <= 9999:
        raise RuleViolation(f"{year} is not a four-digit year", field="year")
    report = report_ops.annual_report_for(session, year)
    if format is ReportFormat.csv:
        return Response(a6_reports.report_to_csv(report), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="icr-article6-{year}.csv"'})
    return Response(a6_reports.report_to_json(report), media_type="application/json")


# --------------------------------------------------------------------------------------------
# Additionality
# --------------------------------------------------------------------------------------------


class StatusChangePublic(BaseModel):
    period_start: Optional[date]
    period_end: Optional[date]
    from_status: Optional[str]
    to_status: str
    reason: str
    report: str
    at: datetime
    actor: str


class ClaimPublic(BaseModel):
    level: str
    status: str
    input: dict[str, Any]
    results: dict[str, Any]
    history: list[StatusChangePublic]


class AdditionalityPublic(BaseModel):
    project_id: int
    crediting_start: date
    crediting_end: date
    claims: list[ClaimPublic]


class ReportPublic(BaseModel):
    id: int
    level: str
    period_start: date
    period_end: date
    report: str
    still_met: bool
    input: dict[str, Any]
    results: dict[str, Any]
    created_at: datetime


def _additionality_public(session: Session, project_id: int) -> AdditionalityPublic:
    project = aops.load_additionality(session, project_id)
    profile = session.get(AdditionalityProfile, project_id)
    rows = {r.level: r for r in session.exec(select(AdditionalityClaim)
                                             .where(AdditionalityClaim.project_id == project_id)).all()}
    claims = []
    for c in project.claims:
        row = rows[c.level]
        claims.append(ClaimPublic(
            level=c.level.value, status=c.status.value, input=json.loads(row.input), results=json.loads(row.results),
            history=[StatusChangePublic(
                period_start=h.period.start if h.period else None, period_end=h.period.end if h.period else None,
                from_status=h.from_status.value if h.from_status else None, to_status=h.to_status.value,
                reason=h.reason, report=h.report, at=h.at, actor=h.actor) for h in c.history]))
    return AdditionalityPublic(project_id=project_id, crediting_start=profile.crediting_start,
                               crediting_end=profile.crediting_end, claims=claims)


def _report_public(row, level: Level) -> ReportPublic:
    return ReportPublic(id=row.id, level=level.value, period_start=row.period_start, period_end=row.period_end,
                        report=row.report, still_met=row.still_met, input=json.loads(row.input),
                        results=json.loads(row.results), created_at=row.created_at)


@router.post("/projects/{project_id}/additionality", tags=ADD, status_code=201)
def register_additionality(project_id: int, body: aops.ClaimsIn, session: SessionDep, principal: AdminDep
                           ) -> AdditionalityPublic:
    """Register the project's claimed levels with ex-ante data and sources (seed 002 §5.4)."""
    with committing(session):
        aops.register_additionality(session, project_id, body, actor=_actor(principal))
        return _additionality_public(session, project_id)


@router.get("/projects/{project_id}/additionality", tags=ADD)
def get_additionality(project_id: int, session: SessionDep) -> AdditionalityPublic:
    """Claimed levels, calculator results and each level's status history (shown transparently, §5.5)."""
    return _additionality_public(session, project_id)


@router.post("/projects/{project_id}/additionality/reports", tags=ADD, status_code=201)
def submit_report(project_id: int, body: aops.ExPostReportIn, session: SessionDep, principal: AdminDep
                  ) -> ReportPublic:
    """An ex-post report for one level and monitoring period (§5.5); it revises the level's
    status and never stops issuance within the crediting period."""
    with committing(session):
        row, _ = aops.submit_ex_post_report(session, project_id, body, actor=_actor(principal))
        return _report_public(row, body.level)


@router.get("/projects/{project_id}/additionality/reports", tags=ADD)
def list_reports(project_id: int, session: SessionDep, level: Optional[Level] = None, offset: Offset = 0,
                 limit: Limit = 50) -> Paged[ReportPublic]:
    total, rows = aops.list_reports(session, project_id, level, offset=offset, limit=limit)
    return Paged[ReportPublic](page=Page(offset=offset, limit=limit, total=total),
                               items=[_report_public(r, lvl) for r, lvl in rows])


# Calculators (stateless) ---------------------------------------------------------------------


class ShareResult(BaseModel):
    share: str = Field(description="Exact fraction, e.g. 1/5.")
    percent: str
    passes: bool
    limit_percent: str


class InvestmentIn(BaseModel):
    model: aops.FinancialModelIn
    sensitivity_variations: list[int] = list(ad.DEFAULT_SENSITIVITY)


class InvestmentOut(BaseModel):
    npv: float
    irr: Optional[float]
    additional: bool
    sensitivity: list[dict[str, Any]]
    sensitivity_robust: bool


class DeviationsIn(BaseModel):
    ex_ante: dict[str, Decimal]
    actual: dict[str, Decimal]
    explanations: dict[str, str] = {}


class DeviationsOut(BaseModel):
    rows: list[dict[str, Any]]
    unexplained: list[str]


def _share(result, passes: bool, limit: str) -> ShareResult:
    return ShareResult(share=f"{result.share.numerator}/{result.share.denominator}", percent=str(result.percent),
                       passes=passes, limit_percent=limit)


@router.post("/additionality/calculators/common-practice", tags=ADD)
def common_practice(body: aops.CommonPracticeIn) -> ShareResult:
    """Option I: F = 1 - N_diff / N_all; passes below 20 % (§5.4.3.1)."""
    r = aops.guard("", ad.common_practice_option_i, body.n_all, body.n_diff)
    return _share(r, r.passes, "20")


@router.post("/additionality/calculators/market-penetration", tags=ADD)
def market_penetration(body: aops.MarketPenetrationIn) -> ShareResult:
    """Option II: adoption / maximum adoption potential; passes below 5 % (§5.4.3.1)."""
    r = aops.guard("", ad.market_penetration_option_ii, body.adoption, body.max_adoption_potential)
    return _share(r, r.passes, "5")


@router.post("/additionality/calculators/level-4b", tags=ADD)
def level_4b(body: aops.Level4bIn) -> ShareResult:
    """Level 4b applies when non-carbon gross annual revenue is at most 5 % of CAPEX (§5.4.4.2)."""
    r = aops.guard("", ad.level_4b_applicability, body.non_carbon_gross_annual_revenue, body.capex)
    return _share(r, r.applicable, "5")


@router.post("/additionality/calculators/investment", tags=ADD)
def investment(body: InvestmentIn) -> InvestmentOut:
    """Level 4a NPV and IRR without ICC revenue (numpy-financial) with the sensitivity analysis (§5.4.4.1)."""
    model = aops.financial_model(body.model, "model.")
    result = ad.investment_analysis(model)
    rows = aops.guard("", ad.sensitivity_analysis, model, tuple(body.sensitivity_variations))
    return InvestmentOut(npv=result.npv, irr=result.irr, additional=result.additional,
                         sensitivity=[{"parameter": r.parameter, "variation": r.variation, "npv": r.result.npv,
                                       "irr": r.result.irr, "additional": r.result.additional} for r in rows],
                         sensitivity_robust=ad.sensitivity_robust(rows))


@router.post("/additionality/calculators/deviations", tags=ADD)
def deviations(body: DeviationsIn) -> DeviationsOut:
    """Level 4a ex-post deviation table; deviations above 15 % need an explanation (§5.5.4.1)."""
    rows = aops.guard("", ad.deviation_table, body.ex_ante, body.actual, body.explanations)
    return DeviationsOut(rows=aops.deviation_rows(rows), unexplained=[p.field for p in ad.unexplained_deviations(rows)])

