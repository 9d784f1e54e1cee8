"""Request and response models of Article 6.2 (seed 003): host countries, project status, letters of
authorization, designations, corresponding adjustments, non-CA events and the annual report."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from registry.api.token_ids import WithTokenIdHex
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.article6.designation import Insurance, LossPayee
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


class InsuranceIn(BaseModel):
    """§II.3.a: a guarantee or insurance policy of a third party."""

    insurer: str = Field(min_length=1, max_length=200)
    policy: str = Field(min_length=1, max_length=500, description="Reference to the legally binding policy.")
    investment_grade: StrictBool = Field(description="The third party has an investment-grade credit rating.")
    loss_payee: Literal["proponent", "partner", "icr"] = "proponent"

    def domain(self) -> Insurance:
        return Insurance(self.insurer, self.policy, self.investment_grade, LossPayee[self.loss_payee])


class ProjectArticle6Update(BaseModel):
    adjustment_percentage: Decimal = Field(ge=0, le=100, description="Share of each Article 6.2 issuance "
                                           "deposited into the non-CA adjustment account (seed 003 §II.3.b); "
                                           "0 only with insurance (§II.3.a).")
    risk_assessment: str = Field(min_length=1, max_length=500, description="Reference to ICR's risk assessment.")
    methodology_approved: StrictBool
    proponent_organization_id: Optional[StrictInt] = None
    insurance: Optional[InsuranceIn] = None
    non_permanence_risk: StrictBool = False
    non_permanence_percentage: Decimal = Field(0, ge=0, le=100, description=(
        "Share contributed to the Article 6.2 non-permanence risk adjustment account (§II.3.b)."))


class ProjectArticle6Public(BaseModel):
    project_id: int
    project_number: int
    status: ProjectStatus
    letter_number: Optional[int]
    adjustment_percentage: str
    risk_assessment: str
    methodology_approved: bool
    proponent_organization_id: Optional[int]
    insurer: str = ""
    insurance_policy: str = ""
    non_permanence_risk: bool = False
    non_permanence_percentage: str = "0"
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


AS_OF = ("The date the letter's validity is checked on. The registry's own date (server time) when omitted; an "
         "earlier date needs as_of_reason, may not precede the letter's approval, and the letter must still be "
         "valid today. Recorded in the ledger entry with the reason.")


class DesignationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: StrictInt
    vintage: StrictInt = Field(description="The year of the monitoring period (from 2021 for Article 6.2).")
    quantity: StrictInt = Field(description="Whole tonnes.")
    account_id: StrictInt = Field(description="The proponent's holding account.")
    monitoring_start: date = Field(description="First day of the monitoring period issued for (within the vintage "
                                               "year; no other issuance of the project may cover any of it).")
    monitoring_end: date = Field(description="Last day of the monitoring period (same calendar year).")
    verification_reference: Optional[str] = Field(None, min_length=1, max_length=200,
                                                  description="The verification report the issuance rests on.")
    verification_body: Optional[str] = Field(None, min_length=1, max_length=200,
                                             description="The verification body that verified the period.")
    verified_on: Optional[date] = Field(None, description="Date of the verification: after the period ended, "
                                                          "not after today.")
    uses: Optional[list[AuthorizedUse]] = Field(None, description="Uses asked for; all the letter's when omitted.")
    kind: IssuanceKind = Field(IssuanceKind.ex_post, description="ex_ante is refused (seed 003 §4.1).")
    as_of: Optional[date] = Field(None, description=AS_OF)
    as_of_reason: Optional[str] = Field(None, min_length=1, max_length=500,
                                        description="Why the decision is back-dated (required with an earlier as_of).")


class Article6ConversionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: StrictInt
    account_id: StrictInt
    vintage: StrictInt
    monitoring_start: date = Field(description="The monitoring period of the standard ICCs converted: exactly the "
                                               "period of their issuance.")
    monitoring_end: date
    quantity: Optional[StrictInt] = Field(None, description="Tonnes to convert; everything eligible when omitted.")
    as_of: Optional[date] = Field(None, description=AS_OF)
    as_of_reason: Optional[str] = Field(None, min_length=1, max_length=500,
                                        description="Why the decision is back-dated (required with an earlier as_of).")


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
    requested_uses: list[str] = Field(description="retirement purposes the designation requested (§I.5)")
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


EvidenceKindName = Literal["ca_applied", "intention", "no_ca", "correction"]


class EvidenceIn(BaseModel):
    kind: EvidenceKindName
    reference: str = Field(min_length=1, max_length=500, description="e.g. BTR table and row naming the project.")
    received_on: Optional[date] = Field(None, description=(
        "The day the registry received the evidence: today (server time) when omitted; an earlier day needs "
        "received_on_reason and may not precede the vintage's CA record. The date rule (§V) counts evidence by it."))
    received_on_reason: Optional[str] = Field(None, min_length=1, max_length=500,
                                              description="Why received_on is before today (recorded in the ledger).")
    quantity: Optional[StrictInt] = Field(default=None, ge=1, le=10**15, description=(
        "Tonnes first transferred in first_transfer_year that the evidence covers (required to confirm a CA)."))
    first_transfer_year: Optional[StrictInt] = Field(default=None, ge=2021, le=9999,
                                                     description="Year of first transfer (§I.7.1) covered.")

    def domain(self) -> Evidence:
        return Evidence(EvidenceKind[self.kind], self.reference, self.received_on, self.quantity,
                        self.first_transfer_year)


class EvidencePublic(BaseModel):
    kind: str
    reference: str
    received_on: date
    quantity: Optional[int] = None
    first_transfer_year: Optional[int] = None


class CALabelPublic(BaseModel):
    first_transfer_year: int
    label: str = Field(description="Pending CA, CA applied or No CA applied (§II.2).")
    quantity: int


class CACorrection(BaseModel):
    status: Literal["pending", "not_applied"] = Field(description="The status the record should have had.")
    reason: str = Field(min_length=1, max_length=2000)
    evidence: Optional[EvidenceIn] = Field(default=None, description="Evidence of kind correction (required).")


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
    labels: list[CALabelPublic] = Field(default_factory=list, description=(
        "Tonnes first transferred per year and label: the labels follow the quantities the evidence covers."))
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
    ca_status: str = Field(description="Of the tonnes not covered by CA evidence (CA applied when all are).")
    ca_label: str
    ca_applied_quantity: int = Field(0, description="Tonnes of this retirement covered by CA evidence (§II.2).")
    created_at: datetime


class DetectRequest(BaseModel):
    """The date rule is applied as of the registry's date (server time); no date is taken from the request."""

    model_config = ConfigDict(extra="forbid")

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
    transferred: int = 0
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


class ReportEditionPublic(BaseModel):
    """A published edition of a year's §III report (frozen; ``sha256`` of its JSON body)."""

    year: int
    edition: int
    kind: str = Field(description="original, or correction (superseding the edition before).")
    sha256: str
    published_at: datetime
    supersedes_edition: Optional[int]
