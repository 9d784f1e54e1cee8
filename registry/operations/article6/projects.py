"""Article 6.2 host countries (§4.1), project settings (§II.3.b, §4.1, §V.b) and a
project's Article 6.2 status: read, stored, suspended and reinstated (§I.12, §V.b).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain.article6 import designation as a6_designation
from registry.domain.article6 import projects as a6_projects
from registry.domain.article6.designation import Insurance, Mechanism
from registry.domain.article6.projects import ProjectArticle6
from registry.domain.article6.rules import Article6Error
from registry.domain.classes import CAStatus
from registry.errors import RuleViolation
from registry.operations.article6.common import (
    _a6project,
    _now,
    _refuse,
    _store_project,
    project_article6,
    violation,
)
from registry.operations.article6.compensation import outstanding_compensation
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.tables.article6 import A6CARecord, A6HostCountry, A6Project
from registry.tables.core import Organization, Project


def set_host_country(session: Session, country: str, *, article6_framework: bool, reference: str, actor: str,
                     at: datetime | None = None) -> A6HostCountry:
    """Record whether ``country`` has a national framework for Article 6.2 (§4.1)."""
    at = _now(at)
    country = country.strip()
    if len(country) != 3 or not country.isalpha() or not country.isupper():
        raise RuleViolation(f"{country!r} is not an ISO 3166-1 alpha-3 code", field="country", rule="iso3-country")
    row = session.get(A6HostCountry, country) or A6HostCountry(country=country)
    row.article6_framework = article6_framework
    row.reference = reference
    row.updated_at = at
    session.add(row)
    session.flush()
    append_entry(session, "article6.host_country", {"country": country, "article6_framework": article6_framework,
                                                    "reference": reference, "actor": actor})
    return row


def configure_project(session: Session, project_id: int, *, adjustment_percentage: Decimal | str | int,
                      risk_assessment: str, methodology_approved: bool,
                      proponent_organization_id: int | None = None, insurance: Insurance | None = None,
                      non_permanence_risk: bool = False, non_permanence_percentage: Decimal | str | int = 0,
                      actor: str, at: datetime | None = None) -> A6Project:
    """Set the project's compensation mechanism (§II.3): the adjustment-deposit percentage from
    ICR's risk assessment (§II.3.b), an insurance or guarantee (§II.3.a), the non-permanence
    risk and contribution (§II.3.b); whether its methodology is approved (§4.1) and the
    proponent organization (§V.b). A 0 % deposit with no insurance is refused
    (``compensation-mechanism``)."""
    at = _now(at)
    project = get_row(session, Project, project_id, "project")
    try:
        a6_designation.adjustment_deposit(0, adjustment_percentage)
        pct = Decimal(str(adjustment_percentage))
        np_pct = Decimal(str(non_permanence_percentage))
        mechanism = Mechanism(pct, insurance, bool(non_permanence_risk), np_pct)
        refusals = a6_designation.mechanism_refusals(mechanism)
    except (ValueError, ArithmeticError) as exc:
        raise RuleViolation(f"adjustment percentage: {exc}", field="adjustment_percentage",
                            rule="adjustment-percentage") from exc
    _refuse(refusals)
    if not risk_assessment.strip():
        raise RuleViolation("the percentage is set by ICR's risk assessment: reference it", field="risk_assessment",
                            rule="risk-assessment")
    if proponent_organization_id is not None:
        get_row(session, Organization, proponent_organization_id, "proponent_organization")
    row = _a6project(session, project_id, lock=True)
    row.adjustment_percentage = str(pct)
    row.risk_assessment = risk_assessment.strip()
    row.methodology_approved = methodology_approved
    row.proponent_organization_id = proponent_organization_id
    row.insurer = insurance.insurer.strip() if insurance else ""
    row.insurance_policy = insurance.policy.strip() if insurance else ""
    row.insurer_investment_grade = bool(insurance and insurance.investment_grade)
    row.loss_payee = insurance.loss_payee.name if insurance else None
    row.non_permanence_risk = bool(non_permanence_risk)
    row.non_permanence_percentage = str(np_pct)
    row.updated_at = at
    session.add(row)
    session.flush()
    append_entry(session, "article6.project.configured", {
        "project_number": project.project_number, "adjustment_percentage": str(pct),
        "risk_assessment": row.risk_assessment, "methodology_approved": methodology_approved,
        "proponent_organization_id": proponent_organization_id,
        "insurance": None if insurance is None else {"insurer": row.insurer, "policy": row.insurance_policy,
                                                     "investment_grade": row.insurer_investment_grade,
                                                     "loss_payee": row.loss_payee},
        "non_permanence_risk": row.non_permanence_risk, "non_permanence_percentage": row.non_permanence_percentage,
        "actor": actor})
    return row


def _project_step(session: Session, project_id: int, step, *args, **kwargs) -> ProjectArticle6:
    project = get_row(session, Project, project_id, "project")
    row = _a6project(session, project_id, lock=True)
    try:
        new = step(project_article6(session, project_id), *args, **kwargs)
    except Article6Error as exc:
        raise violation(exc) from exc
    _store_project(session, project, row, new)
    return new


def suspend_project(session: Session, project_id: int, *, note: str, actor: str,
                    at: datetime | None = None) -> ProjectArticle6:
    """authorized -> suspended: no further Article 6.2 issuance until rectified (§V.b)."""
    return _project_step(session, project_id, a6_projects.suspend_project, _now(at), actor, note)


def reinstate_project(session: Session, project_id: int, *, evidence: str, actor: str,
                      at: datetime | None = None) -> ProjectArticle6:
    """suspended -> authorized once a CA of the project is confirmed applied and every non-CA
    event of the project is fully compensated (§V.b)."""
    applied = session.exec(select(func.count()).select_from(A6CARecord).where(
        A6CARecord.project_id == project_id, A6CARecord.status == int(CAStatus.applied))).one()
    return _project_step(session, project_id, a6_projects.reinstate_project, _now(at), actor,
                         ca_applied_confirmed=applied > 0,
                         outstanding_compensation=outstanding_compensation(session, project_id), evidence=evidence)
