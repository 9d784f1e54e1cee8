"""Accounts: public reads; opening holding accounts (an organization's key) and registry system
accounts (administrator)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlmodel import Session, select

from registry.api.auth import AdminDep, PrincipalDep, authorize_organization
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import AccountCreate, AccountPublic, SystemAccountCreate
from registry.domain.enums import AccountType
from registry.operations import accounts as accounts_ops
from registry.operations import preconditions as preconditions_ops
from registry.tables.core import Account, Organization

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def organization_account_ids(session: Session, organization_id: Optional[int]) -> list[int]:
    return list(session.exec(select(Account.id).where(Account.organization_id == organization_id)))


@router.get("/accounts")
def list_accounts(
    session: SessionDep,
    page: PageDep,
    organization_id: Optional[int] = None,
    type: Optional[AccountType] = None,
) -> Paged[AccountPublic]:
    conditions = []
    if organization_id is not None:
        conditions.append(Account.organization_id == organization_id)
    if type is not None:
        conditions.append(Account.type == type)
    total, rows = page.rows(session, Account, conditions, [Account.id])
    return page.answer(total, [AccountPublic.model_validate(a, from_attributes=True) for a in rows])


@router.get("/accounts/{account_id}")
def get_account(account_id: int, session: SessionDep) -> AccountPublic:
    return AccountPublic.model_validate(preconditions_ops.get_row(session, Account, account_id, "account"), from_attributes=True)


@auth_router.post("/organizations/{organization_id}/accounts", status_code=201)
def open_account(organization_id: int, body: AccountCreate, session: SessionDep, principal: PrincipalDep
                 ) -> AccountPublic:
    """Open another holding account for an organization (its own key, or an administrator)."""
    preconditions_ops.get_row(session, Organization, organization_id, "organization")
    authorize_organization(principal, organization_id)
    with committing(session):
        return AccountPublic.model_validate(accounts_ops.open_account(session, organization_id, body.name), from_attributes=True)


@auth_router.post("/system-accounts", status_code=201)
def open_system_account(body: SystemAccountCreate, session: SessionDep, _: AdminDep) -> AccountPublic:
    """Open a registry-owned bridge custody, buffer or Article 6.2 non-CA adjustment account."""
    with committing(session):
        return AccountPublic.model_validate(accounts_ops.open_system_account(session, body.type, body.name),
                                            from_attributes=True)
