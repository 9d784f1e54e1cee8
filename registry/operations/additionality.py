"""Additionality operations (seed 002): register a project's claimed levels with their ex-ante
data, and apply ex-post reports that revise a level's status with history.

Inputs are pydantic models (the API's request bodies); the calculators of
:mod:`registry.domain.additionality` run on them and their results are stored with the input.
Like every registry operation these run in the caller's transaction, never commit, and append
a ledger entry. A failed rule raises :class:`~registry.errors.RuleViolation` naming the rule
and the field; nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Optional

from pydantic import BaseModel, Field, StrictBool, StrictInt
from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain import additionality as ad
from registry.domain.additionality import AdditionalityError, Level, Level3Method, LevelStatus
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.tables.additionality import (
    AdditionalityClaim,
    AdditionalityProfile,
    AdditionalityReport,
    AdditionalityStatusChange,
)
from registry.tables.core import Project, utcnow

# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------

#: A money amount, count or rate as a calculator takes it: at most 24 digits before the point
#: and 12 after, never infinite or NaN. Bounded before any arithmetic, so no input makes a
#: calculator run for minutes (``1e99999999``) or overflow the decimal context (``1e40`` of
#: a 28-digit context); a number past the bound is a 422 naming its field.
Amount = Annotated[Decimal, Field(max_digits=36, decimal_places=12, allow_inf_nan=False)]
#: A count of activities (common practice): a whole number up to a trillion.
Count = Annotated[int, Field(ge=0, le=10**12)]
#: Lifetime of a level 4a investment: 1 to 100 whole years (the cash flows are one per year).
LIFETIME_YEARS_MAX = 100
#: Sensitivity variations in percent: at most 20 of them, each within -100 % .. +100 % (§5.4.4.1 checks more).
Variation = Annotated[int, Field(ge=-100, le=100)]


class SourceIn(BaseModel):
    """A data source: reference, issuing authority, publication date (§5.2, §5.4.3.1)."""

    reference: str
    authority: str = ""
    published_on: Optional[date] = None


class ParameterIn(BaseModel):
    """A disclosed level 4a parameter (§5.4.4.1)."""

    name: str = Field(min_length=1, max_length=100)
    value: Amount
    unit: str = ""
    source: SourceIn
    rationale: str = ""
    benchmark: str = ""


class CommonPracticeIn(BaseModel):
    """Option I inputs: comparable activities and those using a different technology."""

    n_all: Count
    n_diff: Count


class MarketPenetrationIn(BaseModel):
    """Option II inputs: adoption and maximum adoption potential (units, capacity or output)."""

    adoption: Amount
    max_adoption_potential: Amount


class FinancialModelIn(BaseModel):
    """Level 4a model without ICC revenue: CAPEX at year 0, then yearly revenue minus OPEX."""

    capex: Amount
    annual_opex: Amount
    annual_revenue: Amount = Field(description="non-carbon revenue only")
    lifetime_years: StrictInt = Field(ge=1, le=LIFETIME_YEARS_MAX)
    discount_rate: Amount = Field(description="a fraction: 0.08 for 8 %")
    residual_value: Amount = Decimal(0)


class Level4bIn(BaseModel):
    non_carbon_gross_annual_revenue: Amount
    capex: Amount


class ClaimIn(BaseModel):
    """One claimed level with its ex-ante data and sources (§5.4)."""

    level: Level
    justification: str
    sources: list[SourceIn] = Field(default=[], max_length=100)
    parameters: list[ParameterIn] = Field(default=[], max_length=100)
    method: Optional[Level3Method] = None
    common_practice: Optional[CommonPracticeIn] = None
    market_penetration: Optional[MarketPenetrationIn] = None
    financial_model: Optional[FinancialModelIn] = None
    sensitivity_variations: list[StrictInt] = list(ad.DEFAULT_SENSITIVITY)
    applicability_4b: Optional[Level4bIn] = None
    signed_statement: StrictBool = False


class ClaimsIn(BaseModel):
    crediting_start: date
    crediting_end: date
    claims: list[ClaimIn] = Field(max_length=20)


class ExPostReportIn(BaseModel):
    """A level's ex-post report for one monitoring period (§5.5). For level 4a, ``actual`` holds
    the realized value of every ex-ante parameter, ``explanations`` explain deviations above
    15 %, and ``financial_model`` the actual figures for the NPV/IRR recalculation."""

    level: Level
    period_start: date
    period_end: date
    report: str = Field(min_length=1, max_length=500)
    summary: str = ""
    sources: list[SourceIn] = Field(default=[], max_length=100)
    still_met: Optional[StrictBool] = None
    common_practice: Optional[CommonPracticeIn] = None
    market_penetration: Optional[MarketPenetrationIn] = None
    actual: dict[str, Amount] = Field(default={}, max_length=100)
    explanations: dict[str, str] = Field(default={}, max_length=100)
    financial_model: Optional[FinancialModelIn] = None
    applicability_4b: Optional[Level4bIn] = None


# --------------------------------------------------------------------------------------------
# Building domain values (calculators run here)
# --------------------------------------------------------------------------------------------


def violation(exc: AdditionalityError, prefix: str = "") -> RuleViolation:
    """A :class:`RuleViolation` for a failed seed 002 rule; ``prefix`` locates the field."""
    field = f"{prefix}{exc.field}" if exc.field else (prefix.rstrip(".") or None)
    return RuleViolation(str(exc), field=field, rule=exc.rule)


def guard(prefix: str, fn, *args):
    """``fn(*args)``; a seed 002 refusal becomes a :class:`RuleViolation` with ``prefix`` on its field."""
    try:
        return fn(*args)
    except AdditionalityError as exc:
        raise violation(exc, prefix) from exc


def _source(s: SourceIn) -> ad.Source:
    return ad.Source(s.reference, s.authority, s.published_on)


def financial_model(m: FinancialModelIn, prefix: str) -> ad.FinancialModel:
    return guard(prefix, lambda: ad.FinancialModel(m.capex, m.annual_opex, m.annual_revenue, m.lifetime_years,
                                                    m.discount_rate, m.residual_value))


def _period(start: date, end: date, field: str) -> ad.MonitoringPeriod:
    try:
        return ad.MonitoringPeriod(start, end)
    except ValueError as exc:
        raise RuleViolation(str(exc), field=field, rule="period-ordered") from exc


def build_claim(c: ClaimIn, prefix: str = "") -> ad.LevelClaim:
    """The domain claim of ``c`` with every calculator it supplies run."""
    common = market = investment = applicability = None
    sensitivity: tuple[ad.SensitivityRow, ...] = ()
    if c.common_practice is not None:
        common = guard(f"{prefix}common_practice.", ad.common_practice_option_i, c.common_practice.n_all,
                        c.common_practice.n_diff)
    if c.market_penetration is not None:
        market = guard(f"{prefix}market_penetration.", ad.market_penetration_option_ii,
                        c.market_penetration.adoption, c.market_penetration.max_adoption_potential)
    if c.financial_model is not None:
        model = financial_model(c.financial_model, f"{prefix}financial_model.")
        investment = ad.investment_analysis(model)
        sensitivity = guard(prefix, ad.sensitivity_analysis, model, tuple(c.sensitivity_variations))
    if c.applicability_4b is not None:
        applicability = guard(f"{prefix}applicability_4b.", ad.level_4b_applicability,
                               c.applicability_4b.non_carbon_gross_annual_revenue, c.applicability_4b.capex)
    parameters = tuple(ad.Parameter(p.name, p.value, p.unit, _source(p.source), p.rationale, p.benchmark)
                       for p in c.parameters)
    return ad.LevelClaim(level=c.level, justification=c.justification, sources=tuple(_source(s) for s in c.sources),
                         parameters=parameters, method=c.method, common_practice=common, market_penetration=market,
                         investment=investment, sensitivity=sensitivity, applicability_4b=applicability,
                         signed_statement=c.signed_statement)


def _share(result: Any) -> dict[str, Any]:
    return {"share": f"{result.share.numerator}/{result.share.denominator}", "percent": str(result.percent)}


def _investment(result: ad.InvestmentResult | None) -> dict[str, Any] | None:
    return None if result is None else {"npv": result.npv, "irr": result.irr, "additional": result.additional}


def claim_results(claim: ad.LevelClaim) -> dict[str, Any]:
    """What the calculators found for ``claim`` (stored and shown with it)."""
    out: dict[str, Any] = {}
    if claim.common_practice is not None:
        out["common_practice"] = {**_share(claim.common_practice), "passes": claim.common_practice.passes,
                                  "limit_percent": "20"}
    if claim.market_penetration is not None:
        out["market_penetration"] = {**_share(claim.market_penetration), "passes": claim.market_penetration.passes,
                                     "limit_percent": "5"}
    if claim.investment is not None:
        out["investment"] = _investment(claim.investment)
        out["sensitivity"] = [{"parameter": r.parameter, "variation": r.variation, **_investment(r.result)}
                              for r in claim.sensitivity]
        out["sensitivity_robust"] = ad.sensitivity_robust(claim.sensitivity)
    if claim.applicability_4b is not None:
        out["applicability_4b"] = {**_share(claim.applicability_4b), "applicable": claim.applicability_4b.applicable,
                                   "limit_percent": "5"}
    return out


def deviation_rows(rows: tuple[ad.DeviationRow, ...]) -> list[dict[str, Any]]:
    return [{"name": r.name, "ex_ante": str(Decimal(r.ex_ante.numerator) / r.ex_ante.denominator),
             "actual": str(Decimal(r.actual.numerator) / r.actual.denominator),
             "deviation_percent": None if r.deviation_percent is None else str(r.deviation_percent),
             "needs_explanation": r.needs_explanation, "explanation": r.explanation} for r in rows]


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


def _now(at: datetime | None) -> datetime:
    return at or utcnow()


def register_additionality(session: Session, project_id: int, data: ClaimsIn, *, actor: str,
                           at: datetime | None = None) -> ad.ProjectAdditionality:
    """Register the project's claimed levels (§5.4) once; each level starts demonstrated."""
    at = _now(at)
    project = get_row(session, Project, project_id, "project")
    if session.get(AdditionalityProfile, project_id) is not None:
        raise Conflict(f"project {project.project_number} has registered its additionality claims already",
                       field="project_id", rule="claims-registered-once")
    crediting = _period(data.crediting_start, data.crediting_end, "crediting_end")
    claims = [build_claim(c, f"claims[{c.level.value}].") for c in data.claims]  # named as register_claims does
    try:
        registered = ad.register_claims(project.project_number, crediting, claims, at, actor)
    except AdditionalityError as exc:
        raise violation(exc) from exc
    session.add(AdditionalityProfile(project_id=project_id, crediting_start=crediting.start,
                                     crediting_end=crediting.end, registered_at=at, actor=actor))
    for c_in, claim in zip(data.claims, registered.claims):
        row = AdditionalityClaim(project_id=project_id, level=claim.level, status=claim.status,
                                 input=c_in.model_dump_json(), results=json.dumps(claim_results(claim)), created_at=at)
        session.add(row)
        session.flush()
        h = claim.history[0]
        session.add(AdditionalityStatusChange(claim_id=row.id, to_status=h.to_status, reason=h.reason, at=at,
                                              actor=actor))
    session.flush()
    append_entry(session, "additionality.claims_registered", {
        "project_number": project.project_number, "crediting_period": [str(crediting.start), str(crediting.end)],
        "levels": [c.level.value for c in registered.claims], "actor": actor})
    return registered


def _history(session: Session, claim_id: int) -> tuple[ad.StatusChange, ...]:
    rows = session.exec(select(AdditionalityStatusChange).where(AdditionalityStatusChange.claim_id == claim_id)
                        .order_by(AdditionalityStatusChange.id)).all()
    return tuple(ad.StatusChange(None if r.period_start is None else ad.MonitoringPeriod(r.period_start, r.period_end),
                                 r.from_status, r.to_status, r.reason, r.report, r.at, r.actor) for r in rows)


def load_additionality(session: Session, project_id: int, *, lock: bool = False) -> ad.ProjectAdditionality:
    """The project's claims with their current status and history (NotFound if none)."""
    project = get_row(session, Project, project_id, "project")
    profile = session.get(AdditionalityProfile, project_id)
    if profile is None:
        raise NotFound(f"project {project.project_number} has no additionality claims", field="project_id")
    stmt = select(AdditionalityClaim).where(AdditionalityClaim.project_id == project_id).order_by(AdditionalityClaim.id)
    rows = session.exec(stmt.with_for_update() if lock else stmt).all()
    claims = []
    for row in rows:
        built = build_claim(ClaimIn.model_validate_json(row.input))
        claims.append(replace(built, status=row.status, history=_history(session, row.id)))
    return ad.ProjectAdditionality(project.project_number, ad.MonitoringPeriod(profile.crediting_start,
                                                                               profile.crediting_end), tuple(claims))


def demonstrated_levels(session: Session, project_id: int) -> frozenset[Level]:
    """Claimed levels still demonstrated (not revised by an ex-post report), for the §4.1 gate."""
    rows = session.exec(select(AdditionalityClaim.level).where(
        AdditionalityClaim.project_id == project_id, AdditionalityClaim.status == LevelStatus.demonstrated)).all()
    return frozenset(Level(r) for r in rows)


def additionality_levels(session: Session, project_id: int) -> frozenset[Level]:
    """Claimed levels (empty when none are registered), e.g. for the §4.1 level 2b check."""
    rows = session.exec(select(AdditionalityClaim.level).where(AdditionalityClaim.project_id == project_id)).all()
    return frozenset(Level(r) for r in rows)


def build_report(claim: ad.LevelClaim, r: ExPostReportIn) -> tuple[ad.ExPostReport, dict[str, Any]]:
    """The domain report of ``r`` for ``claim``: recreated analyses, the 4a deviation table
    (ex-ante values from the claim's parameters) and the recalculated NPV/IRR."""
    period = _period(r.period_start, r.period_end, "period_end")
    results: dict[str, Any] = {}
    common = market = investment = applicability = None
    deviations: tuple[ad.DeviationRow, ...] = ()
    if r.common_practice is not None:
        common = guard("common_practice.", ad.common_practice_option_i, r.common_practice.n_all,
                        r.common_practice.n_diff)
        results["common_practice"] = {**_share(common), "passes": common.passes}
    if r.market_penetration is not None:
        market = guard("market_penetration.", ad.market_penetration_option_ii, r.market_penetration.adoption,
                        r.market_penetration.max_adoption_potential)
        results["market_penetration"] = {**_share(market), "passes": market.passes}
    if r.level is Level.L4A:
        ex_ante = {p.name: p.value for p in claim.parameters}
        deviations = guard("", ad.deviation_table, ex_ante, {k: v for k, v in r.actual.items() if k in ex_ante},
                            r.explanations)
        results["deviations"] = deviation_rows(deviations)
    if r.financial_model is not None:
        investment = ad.investment_analysis(financial_model(r.financial_model, "financial_model."))
        results["investment"] = _investment(investment)
    if r.applicability_4b is not None:
        applicability = guard("applicability_4b.", ad.level_4b_applicability,
                               r.applicability_4b.non_carbon_gross_annual_revenue, r.applicability_4b.capex)
        results["applicability_4b"] = {**_share(applicability), "applicable": applicability.applicable}
    report = ad.ExPostReport(level=r.level, period=period, report=r.report, summary=r.summary,
                             sources=tuple(_source(s) for s in r.sources), still_met=r.still_met,
                             common_practice=common, market_penetration=market, deviations=deviations,
                             investment=investment, applicability_4b=applicability)
    return report, results


def submit_ex_post_report(session: Session, project_id: int, data: ExPostReportIn, *, actor: str,
                          at: datetime | None = None) -> tuple[AdditionalityReport, ad.LevelClaim]:
    """Apply an ex-post report (§5.5): the level's status is revised (or confirmed) and the
    change appended to its history. Issuance is never stopped by it (§5.5)."""
    at = _now(at)
    project = load_additionality(session, project_id, lock=True)
    try:
        claim = project.claim(data.level)
    except AdditionalityError as exc:
        raise violation(exc) from exc
    report, results = build_report(claim, data)
    try:
        updated = ad.apply_ex_post_report(project, report, at, actor).claim(data.level)
    except AdditionalityError as exc:
        raise violation(exc) from exc
    change = updated.history[-1]
    row = session.exec(select(AdditionalityClaim).where(AdditionalityClaim.project_id == project_id,
                                                        AdditionalityClaim.level == data.level)).one()
    report_row = AdditionalityReport(claim_id=row.id, period_start=report.period.start, period_end=report.period.end,
                                     report=report.report, input=data.model_dump_json(), results=json.dumps(results),
                                     still_met=change.to_status is LevelStatus.demonstrated, created_at=at,
                                     actor=actor)
    session.add(report_row)
    session.flush()
    session.add(AdditionalityStatusChange(claim_id=row.id, report_id=report_row.id, period_start=report.period.start,
                                          period_end=report.period.end, from_status=change.from_status,
                                          to_status=change.to_status, reason=change.reason, report=change.report,
                                          at=at, actor=actor))
    row.status = change.to_status
    session.add(row)
    session.flush()
    append_entry(session, "additionality.ex_post_report", {
        "project_number": project.project_number, "level": data.level.value, "report_id": report_row.id,
        "period": [str(report.period.start), str(report.period.end)], "report": report.report,
        "from_status": change.from_status.value if change.from_status else None,
        "to_status": change.to_status.value, "reason": change.reason, "actor": actor})
    return report_row, updated


def list_reports(session: Session, project_id: int, level: Level | None = None, *, offset: int = 0,
                 limit: int = 50) -> tuple[int, list[tuple[AdditionalityReport, Level]]]:
    get_row(session, Project, project_id, "project")
    conditions = [AdditionalityClaim.project_id == project_id]
    if level is not None:
        conditions.append(AdditionalityClaim.level == level)
    stmt = (select(AdditionalityReport, AdditionalityClaim.level)
            .join(AdditionalityClaim, AdditionalityClaim.id == AdditionalityReport.claim_id).where(*conditions))
    total = session.exec(select(func.count()).select_from(AdditionalityReport)
                         .join(AdditionalityClaim, AdditionalityClaim.id == AdditionalityReport.claim_id)
                         .where(*conditions)).one()
    rows = session.exec(stmt.order_by(AdditionalityReport.period_start, AdditionalityReport.id)
                        .offset(offset).limit(limit)).all()
    return total, [(r, Level(lvl)) for r, lvl in rows]
