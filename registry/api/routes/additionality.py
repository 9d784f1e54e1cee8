"""Additionality (seed 002): claimed levels, ex-post reports and the stateless calculators."""

from __future__ import annotations

import json
from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session, select

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.additionality import (
    AdditionalityPublic,
    ClaimPublic,
    DeviationsIn,
    DeviationsOut,
    InvestmentIn,
    InvestmentOut,
    ReportPublic,
    ShareResult,
    StatusChangePublic,
)
from registry.domain import additionality as ad
from registry.domain.additionality import Level
from registry.operations import additionality as aops
from registry.tables.additionality import AdditionalityClaim, AdditionalityProfile

router = APIRouter(tags=["additionality"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


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


@router.post("/projects/{project_id}/additionality", status_code=201)
def register_additionality(project_id: int, body: aops.ClaimsIn, session: SessionDep, principal: AdminDep
                           ) -> AdditionalityPublic:
    """Register the project's claimed levels with ex-ante data and sources (seed 002 §5.4)."""
    with committing(session):
        aops.register_additionality(session, project_id, body, actor=actor_of(principal))
        return _additionality_public(session, project_id)


@router.get("/projects/{project_id}/additionality")
def get_additionality(project_id: int, session: SessionDep) -> AdditionalityPublic:
    """Claimed levels, calculator results and each level's status history (shown transparently, §5.5)."""
    return _additionality_public(session, project_id)


@router.post("/projects/{project_id}/additionality/reports", status_code=201)
def submit_report(project_id: int, body: aops.ExPostReportIn, session: SessionDep, principal: AdminDep
                  ) -> ReportPublic:
    """An ex-post report for one level and monitoring period (§5.5); it revises the level's
    status and never stops issuance within the crediting period."""
    with committing(session):
        row, _ = aops.submit_ex_post_report(session, project_id, body, actor=actor_of(principal))
        return _report_public(row, body.level)


@router.get("/projects/{project_id}/additionality/reports")
def list_reports(project_id: int, session: SessionDep, page: PageDep, level: Optional[Level] = None
                 ) -> Paged[ReportPublic]:
    total, rows = aops.list_reports(session, project_id, level, offset=page.offset, limit=page.limit)
    return page.answer(total, [_report_public(r, lvl) for r, lvl in rows])


# Calculators (stateless) ---------------------------------------------------------------------


def _share(result, passes: bool, limit: str) -> ShareResult:
    return ShareResult(share=f"{result.share.numerator}/{result.share.denominator}", percent=str(result.percent),
                       passes=passes, limit_percent=limit)


@router.post("/additionality/calculators/common-practice")
def common_practice(body: aops.CommonPracticeIn) -> ShareResult:
    """Option I: F = 1 - N_diff / N_all; passes below 20 % (§5.4.3.1)."""
    r = aops.guard("", ad.common_practice_option_i, body.n_all, body.n_diff)
    return _share(r, r.passes, "20")


@router.post("/additionality/calculators/market-penetration")
def market_penetration(body: aops.MarketPenetrationIn) -> ShareResult:
    """Option II: adoption / maximum adoption potential; passes below 5 % (§5.4.3.1)."""
    r = aops.guard("", ad.market_penetration_option_ii, body.adoption, body.max_adoption_potential)
    return _share(r, r.passes, "5")


@router.post("/additionality/calculators/level-4b")
def level_4b(body: aops.Level4bIn) -> ShareResult:
    """Level 4b applies when non-carbon gross annual revenue is at most 5 % of CAPEX (§5.4.4.2)."""
    r = aops.guard("", ad.level_4b_applicability, body.non_carbon_gross_annual_revenue, body.capex)
    return _share(r, r.applicable, "5")


@router.post("/additionality/calculators/investment")
def investment(body: InvestmentIn) -> InvestmentOut:
    """Level 4a NPV and IRR without ICC revenue (numpy-financial) with the sensitivity analysis (§5.4.4.1)."""
    model = aops.financial_model(body.model, "model.")
    result = ad.investment_analysis(model)
    rows = aops.guard("", ad.sensitivity_analysis, model, tuple(body.sensitivity_variations))
    return InvestmentOut(npv=result.npv, irr=result.irr, additional=result.additional,
                         sensitivity=[{"parameter": r.parameter, "variation": r.variation, "npv": r.result.npv,
                                       "irr": r.result.irr, "additional": r.result.additional} for r in rows],
                         sensitivity_robust=ad.sensitivity_robust(rows))


@router.post("/additionality/calculators/deviations")
def deviations(body: DeviationsIn) -> DeviationsOut:
    """Level 4a ex-post deviation table; deviations above 15 % need an explanation (§5.5.4.1)."""
    rows = aops.guard("", ad.deviation_table, body.ex_ante, body.actual, body.explanations)
    return DeviationsOut(rows=aops.deviation_rows(rows), unexplained=[p.field for p in ad.unexplained_deviations(rows)])
