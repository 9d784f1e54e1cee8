"""Request and response models of Article 6.2 (seed 003): host countries, project status, letters of
authorization, designations, corresponding adjustments, non-CA events and the annual report."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field, StrictBool, StrictInt

from registry.api.token_ids import WithTokenIdHex
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.article6.letters import AuthorizedUse, LetterContent, LetterStatus
from registry.domain.article6.projects import ProjectStatus
from registry.domain.enums import IssuanceKind


class HistoryPublic(BaseModel):
    transition: str
    from_status: Optional[str]
    to_status: str
    at: datetime
    actor: str
    note: str = ""
    changes: list[str] = []
    evidence: Optional[str] = None


def history_public(entries) -> list[HistoryPublic]:
    return [HistoryPublic(transition=h.transition, from_status=h.from_status, to_status=h.to_status, at=h.at,
                          actor=h.actor, note=h.note, changes=list(h.changes), evidence=h.evidence) for h in entries]


class HostCountryUpdate(BaseModel):
    article6_framework: StrictBool
    reference: str = Field("", max_length=500, description="The national framework's legal reference.")


class HostCountryPublic(HostCountryUpdate):
    country: str


class ProjectArticle6Update(BaseModel):
    adjustment_percentage: Decimal = Field(ge=0, le=100, description="Share of each Article 6.2 issuance "
                                           "deposited into the non-CA adjustment account (seed 003 §II.3.b).")
    risk_assessment: str = Field(min_length=1, max_length=500, description="Reference to ICR's risk assessment.")
    methodology_approved: StrictBool
    proponent_organization_id: Optional[StrictInt] = None


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
    project_id: StrictInt
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
    project_id: StrictInt
    vintage: StrictInt
    quantity: StrictInt = Field(description="Whole tonnes.")
    account_id: StrictInt = Field(description="The proponent's holding account.")
    monitoring_start: date
    monitoring_end: date
    uses: Optional[list[AuthorizedUse]] = Field(None, description="Uses asked for; all the letter's when omitted.")
    kind: IssuanceKind = IssuanceKind.ex_post
    on: Optional[date] = Field(None, description="Date the letter must be valid on (today when omitted).")


class Article6ConversionCreate(BaseModel):
    project_id: StrictInt
    account_id: StrictInt
    vintage: StrictInt
    monitoring_start: date
    monitoring_end: date
    quantity: Optional[StrictInt] = Field(None, description="Tonnes to convert; everything eligible when omitted.")
    on: Optional[date] = None


class DesignationPublic(WithTokenIdHex):
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


class RetiredArticle6Public(WithTokenIdHex):
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
