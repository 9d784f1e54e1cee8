"""API keys: storage operations and the FastAPI dependencies that authenticate a request.

Clients send ``X-API-Key: icr_<key id>_<secret>``. Only the key's SHA-256 is stored; the plain
key is returned once, when it is created (by the API or by ``icr-bridge admin create-key``,
which is how the first administrator key comes to exist). Revoked keys stop working at once.

Use in a router::

    from registry.api.auth import AdminDep, PrincipalDep, authorize_account

    @router.post("/things")
    def make_thing(principal: AdminDep, ...): ...          # administrators only

    @router.post("/accounts/{account_id}/things")
    def act(account_id: int, principal: PrincipalDep, session: SessionDep):
        account = authorize_account(session, principal, account_id)  # 404 / 403 as due

Missing or unknown keys are 401 problems (rule ``api-key-required`` / ``api-key-invalid``);
a valid key outside its scope is a 403 (rule ``administrator-only`` / ``own-accounts-only``).
"""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader
from sqlmodel import Session, select

from registry.api.deps import SessionDep
from registry.domain.access import (
    MalformedApiKey,
    Principal,
    check_key_scope,
    hash_api_key,
    key_id_of,
    key_matches,
    may_act_for_organization,
    new_api_key,
)
from registry.domain.enums import ApiKeyRole
from registry.errors import Forbidden, NotFound, RuleViolation, Unauthorized
from registry.operations.ledger import append_entry
from registry.tables.core import Account, ApiKey, Organization, utcnow

# --------------------------------------------------------------------------------------------
# Storage operations (the caller owns the transaction)
# --------------------------------------------------------------------------------------------


def create_api_key(
    session: Session, *, name: str, role: ApiKeyRole, organization_id: Optional[int] = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plain key (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise RuleViolation("an API key has a name saying who or what uses it", field="name")
    role = ApiKeyRole(role)
    problem = check_key_scope(role, organization_id)
    if problem:
        raise RuleViolation(problem, field="organization_id", rule="key-scope")
    if organization_id is not None and session.get(Organization, organization_id) is None:
        raise NotFound(f"organization {organization_id} does not exist", field="organization_id")
    key_id, key = new_api_key()
    row = ApiKey(key_id=key_id, key_hash=hash_api_key(key), role=role, organization_id=organization_id, name=name)
    session.add(row)
    session.flush()
    append_entry(session, "api_key.created", {"api_key_id": row.id, "key_id": key_id, "role": role.value,
                                              "organization_id": organization_id, "name": name})
    return row, key


def revoke_api_key(session: Session, api_key_id: int) -> ApiKey:
    row = session.get(ApiKey, api_key_id)
    if row is None:
        raise NotFound(f"API key {api_key_id} does not exist", field="api_key_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
        append_entry(session, "api_key.revoked", {"api_key_id": row.id, "key_id": row.key_id})
    return row


def authenticate(session: Session, key: Optional[str]) -> Principal:
    """The principal a key acts as; :class:`Unauthorized` if it is missing, unknown or revoked."""
    if not key:
        raise Unauthorized("this operation needs an API key in the X-API-Key header", field="X-API-Key",
                           rule="api-key-required")
    try:
        key_id = key_id_of(key)
    except MalformedApiKey as exc:
        raise Unauthorized(str(exc), field="X-API-Key", rule="api-key-invalid") from exc
    row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if row is None or not key_matches(key, row.key_hash) or row.revoked_at is not None:
        raise Unauthorized("the API key is unknown or revoked", field="X-API-Key", rule="api-key-invalid")
    return Principal(key_id=row.key_id, role=ApiKeyRole(row.role), organization_id=row.organization_id)


# --------------------------------------------------------------------------------------------
# FastAPI dependencies
# --------------------------------------------------------------------------------------------

api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="An ICR registry API key (`icr_<key id>_<secret>`), scoped to one organization or to the "
    "registry administrator.",
    auto_error=False,
)


def get_principal(session: SessionDep, key: Annotated[Optional[str], Security(api_key_header)]) -> Principal:
    return authenticate(session, key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only a registry administrator key may do this", rule="administrator-only")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def authorize_organization(principal: Principal, organization_id: Optional[int], field: str = "organization_id") -> None:
    if not may_act_for_organization(principal, organization_id):
        raise Forbidden("this key acts only on its own organization's accounts", field=field,
                        rule="own-accounts-only")


def authorize_account(session: Session, principal: Principal, account_id: int, field: str = "account_id") -> Account:
    """The account, if the principal may act on it: 404 if it does not exist, 403 if it belongs
    to another organization (or to the registry, for an organization key)."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} does not exist", field=field)
    authorize_organization(principal, account.organization_id, field=field)
    return account


def actor_of(principal: Principal) -> str:
    """The actor a key's writes are recorded as in Article 6.2 and additionality histories."""
    return f"api-key:{principal.key_id}"
