"""Projects: public reads; registering one is the administrator's."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.auth import AdminDep
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import ProjectCreate, ProjectPublic
from registry.operations import projects as projects_ops
from registry.tables.core import Project

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@router.get("/projects")
def list_projects(session: SessionDep, page: PageDep) -> Paged[ProjectPublic]:
    total, rows = page.rows(session, Project, [], [Project.id])
    return page.answer(total, [ProjectPublic.model_validate(p, from_attributes=True) for p in rows])


@auth_router.post("/projects", status_code=201)
def register_project(body: ProjectCreate, session: SessionDep, _: AdminDep) -> ProjectPublic:
    with committing(session):
        return ProjectPublic.model_validate(projects_ops.register_project(session, **body.model_dump()), from_attributes=True)
