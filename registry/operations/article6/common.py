"""Shared by the Article 6.2 operations: the registry error for a seed 003 refusal, the
default time and a project's Article 6.2 settings row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlmodel import Session, select

from registry.domain.article6.rules import Article6Error, IllegalTransition, Refusal, RulesFailed
from registry.errors import Conflict, RuleViolation
from registry.operations.preconditions import get_row
from registry.tables.article6 import A6Project
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
