"""Balances: tonnes per account, vintage serialization and status (public)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from registry.api.deps import SessionDep
from registry.api.pagination import Paged, PageDep
from registry.api.problems import PROBLEM_RESPONSES
from registry.api.routes.accounts import organization_account_ids
from registry.api.schemas.registry import BalancePublic
from registry.operations import holdings as holdings_ops

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)


@router.get("/balances")
def list_balances(
    session: SessionDep,
    page: PageDep,
    account_id: Optional[int] = None,
    organization_id: Optional[int] = None,
) -> Paged[BalancePublic]:
    """Tonnes per account, vintage serialization and status (retired and cancelled credits are
    terminal and sit under no account)."""
    account_ids = None
    if account_id is not None:
        account_ids = [account_id]
    elif organization_id is not None:
        account_ids = organization_account_ids(session, organization_id)
    total = holdings_ops.balance_count(session, account_ids=account_ids)
    rows = holdings_ops.balances(session, account_ids=account_ids, offset=page.offset, limit=page.limit)
    return page.answer(total, [BalancePublic(**b.__dict__) for b in rows])
