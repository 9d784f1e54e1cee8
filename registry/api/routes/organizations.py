"""Organizations: public reads; registering one is the administrator's."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.auth import AdminDep
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import OrganizationCreate, OrganizationPublic
from registry.operations import accounts as accounts_ops
from registry.operations import preconditions as preconditions_ops
from registry.tables.core import Organization

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@router.get("/organizations")
def list_organizations(session: SessionDep, page: PageDep) -> Paged[OrganizationPublic]:
    total, rows = page.rows(session, Organization, [], [Organization.id])
    return page.answer(total, [OrganizationPublic(id=o.id, name=o.name) for o in rows])


@router.get("/organizations/{organization_id}")
def get_organization(organization_id: int, session: SessionDep) -> OrganizationPublic:
    o = preconditions_ops.get_row(session, Organization, organization_id, "organization")
    return OrganizationPublic(id=o.id, name=o.name)


@auth_router.post("/organizations", status_code=201)
def create_organization(body: OrganizationCreate, session: SessionDep, _: AdminDep) -> OrganizationPublic:
    """Register an organization (administrator)."""
    with committing(session):
        o = accounts_ops.create_organization(session, body.name)
        return OrganizationPublic(id=o.id, name=o.name)
