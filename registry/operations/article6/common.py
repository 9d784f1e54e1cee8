"""Shared by the Article 6.2 operations: the registry error for a seed 003 refusal, the
default time, a project's Article 6.2 settings row and its status with history (read and stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlmodel import Session, select

from registry.domain.article6.designation import Insurance, LossPayee, Mechanism
from registry.domain.article6.projects import ProjectArticle6, ProjectStatus
from registry.domain.article6.rules import Article6Error, HistoryEntry, IllegalTransition, Refusal, RulesFailed
from registry.errors import Conflict, RuleViolation
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.tables.article6 import A6Project, A6ProjectHistory
from registry.tables.core import Project, utcnow


def violation(exc: Article6Error) -> RuleViolation | Conflict:
    """The registry error for a seed 003 refusal: an illegal transition is a conflict with the
    current state; a failed rule is a rule violation naming the (first) rule and field."""
    if isinstance(exc, IllegalTransition):
        return Conflict(str(exc), field="status", rule=exc.rule.id)
    return RuleViolation(str(exc), field=exc.field, rule=exc.rule.id)


def _refuse(refusals: Iterable[Refusal]) -> None:
    refusals = tuple(refusals)
    if refusals:
        raise violation(RulesFailed(refusals))


def _now(at: datetime | None) -> datetime:
    return at or utcnow()


def _a6project(session: Session, project_id: int, *, lock: bool = False) -> A6Project:
    stmt = select(A6Project).where(A6Project.project_id == project_id)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        get_row(session, Project, project_id, "project")
        row = A6Project(project_id=project_id)
        session.add(row)
        session.flush()
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
    # a project's status holds or releases its classes' compliance uses (uses imports this module)
    from registry.operations.article6 import uses as uses_ops

    uses_ops.refresh_class_uses(session, project_id=project.id, actor=entry.actor, at=entry.at,
                                reason=f"project {entry.transition}")


def mechanism_of(row: A6Project) -> Mechanism:
    """The project's compensation mechanism (§II.3) as stored."""
    insurance = None
    if row.insurer or row.insurance_policy:
        insurance = Insurance(row.insurer, row.insurance_policy, row.insurer_investment_grade,
                              LossPayee[row.loss_payee] if row.loss_payee else LossPayee.proponent)
    return Mechanism(row.adjustment_percentage, insurance, row.non_permanence_risk, row.non_permanence_percentage)
