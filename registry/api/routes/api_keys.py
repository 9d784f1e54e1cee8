"""API keys: created, listed (never their secrets) and revoked with an API key."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.auth import PrincipalDep, authorize_organization, create_api_key, revoke_api_key
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from registry.domain.enums import ApiKeyRole
from registry.errors import Forbidden
from registry.operations import preconditions as preconditions_ops
from registry.tables.core import ApiKey

auth_router = APIRouter(tags=["auth"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _api_key_public(k: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(k, from_attributes=True)


@auth_router.post("/api-keys", status_code=201)
def create_key(body: ApiKeyCreate, session: SessionDep, principal: PrincipalDep) -> ApiKeyCreated:
    """Create an API key. Administrators create any key; an organization key creates further
    keys for its own organization (e.g. to rotate). The key is in this answer only."""
    if not principal.is_admin:
        if body.role is not ApiKeyRole.organization:
            raise Forbidden("only an administrator creates administrator keys", field="role",
                            rule="administrator-only")
        authorize_organization(principal, body.organization_id)
    with committing(session):
        row, key = create_api_key(session, name=body.name, role=body.role, organization_id=body.organization_id)
        return ApiKeyCreated(**_api_key_public(row).model_dump(), key=key)


@auth_router.get("/api-keys")
def list_keys(session: SessionDep, page: PageDep, principal: PrincipalDep
              ) -> Paged[ApiKeyPublic]:
    """Keys (never their secrets): all for an administrator, the organization's own otherwise."""
    conditions = [] if principal.is_admin else [ApiKey.organization_id == principal.organization_id]
    total, rows = page.rows(session, ApiKey, conditions, [ApiKey.id])
    return page.answer(total, [_api_key_public(k) for k in rows])


@auth_router.delete("/api-keys/{api_key_id}")
def revoke_key(api_key_id: int, session: SessionDep, principal: PrincipalDep) -> ApiKeyPublic:
    row = preconditions_ops.get_row(session, ApiKey, api_key_id, "api_key")
    if not principal.is_admin:
        authorize_organization(principal, row.organization_id, field="api_key_id")
    with committing(session):
        return _api_key_public(revoke_api_key(session, api_key_id))
