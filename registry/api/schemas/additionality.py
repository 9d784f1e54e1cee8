"""Request and response models of additionality (seed 002): claimed levels with their status history,
ex-post reports and the calculators' answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from pydantic import BaseModel, Field

from registry.domain import additionality as ad
from registry.operations import additionality as aops


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


class ShareResult(BaseModel):
    share: str = Field(description="Exact fraction, e.g. 1/5.")
    percent: str
    passes: bool
    limit_percent: str


class InvestmentIn(BaseModel):
    model: aops.FinancialModelIn
    sensitivity_variations: list[aops.Variation] = Field(default=list(ad.DEFAULT_SENSITIVITY), max_length=20)


class InvestmentOut(BaseModel):
    npv: float
    irr: Optional[float]
    additional: bool
    sensitivity: list[dict[str, Any]]
    sensitivity_robust: bool


class DeviationsIn(BaseModel):
    ex_ante: dict[str, aops.Amount] = Field(max_length=100)
    actual: dict[str, aops.Amount] = Field(max_length=100)
    explanations: dict[str, str] = Field(default={}, max_length=100)


class DeviationsOut(BaseModel):
    rows: list[dict[str, Any]]
    unexplained: list[str]
