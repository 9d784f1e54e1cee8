"""Wallet links of holding accounts (EIP-712 ``LinkWallet`` signatures); the account's key."""

from __future__ import annotations

import time

from fastapi import APIRouter

from registry.api.auth import PrincipalDep, authorize_account
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import WalletLinkCreate, WalletLinkPublic
from registry.operations import accounts as accounts_ops
from registry.tables.core import WalletLink

auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@auth_router.post("/accounts/{account_id}/wallets", status_code=201)
def link_wallet(account_id: int, body: WalletLinkCreate, session: SessionDep, principal: PrincipalDep
                ) -> WalletLinkPublic:
    """Link a wallet to a holding account with the wallet's EIP-712 LinkWallet signature."""
    authorize_account(session, principal, account_id)
    with committing(session):
        link = accounts_ops.link_wallet(session, account_id, body.wallet, body.signed_at, body.signature, int(time.time()))
        return WalletLinkPublic(id=link.id, account_id=link.account_id, wallet=link.address, linked_at=link.linked_at)


@auth_router.get("/accounts/{account_id}/wallets")
def list_wallets(account_id: int, session: SessionDep, principal: PrincipalDep, page: PageDep
                 ) -> Paged[WalletLinkPublic]:
    authorize_account(session, principal, account_id)
    total, rows = page.rows(session, WalletLink, [WalletLink.account_id == account_id], [WalletLink.id])
    return page.answer(total, [
        WalletLinkPublic(id=w.id, account_id=w.account_id, wallet=w.address, linked_at=w.linked_at) for w in rows])
