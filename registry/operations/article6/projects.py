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
from registry.domain.article6.projects import ProjectArticle6, ProjectStatus
from registry.domain.article6.rules import Article6Error, HistoryEntry
from registry.domain.classes import CAStatus
from registry.errors import RuleViolation
from registry.operations.article6 import uses as uses_ops
from registry.operations.article6.common import _a6project, _now, violation
from registry.operations.article6.compensation import outstanding_compensation
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.tables.article6 import A6CARecord, A6HostCountry, A6Project, A6ProjectHistory
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
                      proponent_organization_id: int | None = None, actor: str,
                      at: datetime | None = None) -> A6Project:
    """Set the project's adjustment-deposit percentage from ICR's risk assessment (§II.3.b),
    whether its methodology is approved (§4.1) and the proponent organization (§V.b)."""
    at = _now(at)
    project = get_row(session, Project, project_id, "project")
    try:
        a6_designation.adjustment_deposit(0, adjustment_percentage)
        pct = Decimal(str(adjustment_percentage))
    except (ValueError, ArithmeticError) as exc:
        raise RuleViolation(f"adjustment percentage: {exc}", field="adjustment_percentage",
                            rule="adjustment-percentage") from exc
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
    row.updated_at = at
    session.add(row)
    session.flush()
    append_entry(session, "article6.project.configured", {
        "project_number": project.project_number, "adjustment_percentage": str(pct),
        "risk_assessment": row.risk_assessment, "methodology_approved": methodology_approved,
        "proponent_organization_id": proponent_organization_id, "actor": actor})
    return row


def project_article6(session: Session, project_id: int) -> ProjectArticle6:
    """The project's Article 6.2 status with its history (standard if never touched)."""
    project = get_row(session, Project, project_id, "project")
    row = session.exec(select(A6Project).where(A6Project.project_id == project_id)).first()
    history = session.exec(select(A6ProjectHistory).where(A6ProjectHistory.project_id == project_id)
                           .order_by(A6ProjectHistory.id)).all()
    return ProjectArticle6(
        project.project_number, row.status if row else ProjectStatus.standard,
        tuple(HistoryEntry(h.transition, h.from_status, h.to_status, h.at, h.actor, h.note, evidence=h.evidence)
              for h in history))


def _store_project(session: Session, project: Project, row: A6Project, new: ProjectArticle6) -> None:
    entry = new.history[-1]
    row.status = new.status
    row.updated_at = entry.at
    session.add(row)
    session.add(A6ProjectHistory(project_id=project.id, transition=entry.transition, from_status=entry.from_status,
                                 to_status=entry.to_status, at=entry.at, actor=entry.actor, note=entry.note,
                                 evidence=entry.evidence))
    session.flush()
    append_entry(session, f"article6.project.{entry.transition}", {
        "project_number": project.project_number, "from": entry.from_status, "to": entry.to_status,
        "note": entry.note, "evidence": entry.evidence, "actor": entry.actor})
    uses_ops.refresh_class_uses(session, project_id=project.id, actor=entry.actor, at=entry.at,
                                reason=f"project {entry.transition}")


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
