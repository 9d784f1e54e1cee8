"""A project's Article 6.2 status and configuration: adjustment percentage, suspension and
reinstatement."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.article6 import (
    ProjectArticle6Public,
    ProjectArticle6Update,
    ProjectNote,
    ReinstateRequest,
    history_public,
)
from registry.errors import NotFound
from registry.operations.article6 import compensation as compensation_ops
from registry.operations.article6 import projects as project_ops
from registry.tables.article6 import A6Project
from registry.tables.core import Project

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


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
        proponent_organization_id=row.proponent_organization_id, insurer=row.insurer,
        insurance_policy=row.insurance_policy, non_permanence_risk=row.non_permanence_risk,
        non_permanence_percentage=row.non_permanence_percentage,
        outstanding_compensation=compensation_ops.outstanding_compensation(session, project_id),
        history=history_public(status.history))


@router.get("/projects/{project_id}/article6")
def get_project_article6(project_id: int, session: SessionDep) -> ProjectArticle6Public:
    """A project's Article 6.2 status (standard, authorization pending, authorized, suspended) with history."""
    return _project_public(session, project_id)


@router.put("/projects/{project_id}/article6")
def configure_project(project_id: int, body: ProjectArticle6Update, session: SessionDep, principal: AdminDep
                      ) -> ProjectArticle6Public:
    """Set the compensation mechanism (§II.3: adjustment percentage from ICR's risk assessment,
    insurance or guarantee, non-permanence contribution), methodology approval and proponent."""
    with committing(session):
        project_ops.configure_project(session, project_id, adjustment_percentage=body.adjustment_percentage,
                                risk_assessment=body.risk_assessment, methodology_approved=body.methodology_approved,
                                proponent_organization_id=body.proponent_organization_id,
                                insurance=body.insurance.domain() if body.insurance else None,
                                non_permanence_risk=body.non_permanence_risk,
                                non_permanence_percentage=body.non_permanence_percentage, actor=actor_of(principal))
        return _project_public(session, project_id)


@router.post("/projects/{project_id}/article6/suspend")
def suspend_project(project_id: int, body: ProjectNote, session: SessionDep, principal: AdminDep
                    ) -> ProjectArticle6Public:
    """Suspend further Article 6.2 issuance of a project exposed to a non-CA event (§V.b)."""
    with committing(session):
        project_ops.suspend_project(session, project_id, note=body.note, actor=actor_of(principal))
        return _project_public(session, project_id)


@router.post("/projects/{project_id}/article6/reinstate")
def reinstate_project(project_id: int, body: ReinstateRequest, session: SessionDep, principal: AdminDep
                      ) -> ProjectArticle6Public:
    """Lift a suspension: needs a CA confirmed applied and no outstanding non-CA compensation (§V.b)."""
    with committing(session):
        project_ops.reinstate_project(session, project_id, evidence=body.evidence, actor=actor_of(principal))
        return _project_public(session, project_id)
