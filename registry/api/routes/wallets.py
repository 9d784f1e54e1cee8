"""Wallet links of holding accounts (EIP-712 ``LinkWallet`` signatures): the message to sign
(public) and linking and listing (the account's key)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Optional

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from registry.api.auth import PrincipalDep, authorize_account
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import WalletLinkCreate, WalletLinkPublic
from registry.domain.wallets import LINK_MESSAGE_VALIDITY, wallet_link_digest, wallet_link_typed_data
from registry.errors import RuleViolation
from registry.operations import accounts as accounts_ops
from registry.tables.core import WalletLink

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


class WalletLinkMessage(BaseModel):
    typed_data: dict[str, Any] = Field(description="EIP-712 typed data for eth_signTypedData_v4")
    digest: str = Field(description="its EIP-712 hash: what an ECDSA key signs and ERC-1271 isValidSignature gets")
    signed_at: int
    valid_until: int = Field(description="unix seconds after which the registry refuses the signature")
    link_path: str = Field(description="POST the signature here with the account's key")
    link_body: dict[str, Any] = Field(description="the body to POST, with the signature added as `signature`")


@router.get("/wallet-links/typed-data")
def wallet_link_message(
    session: SessionDep,
    account_id: int,
    wallet: Annotated[str, Query(description="0x address of the wallet (an EOA, an EIP-7702 account or a contract)")],
    signed_at: Annotated[Optional[int], Query(ge=0, description="unix seconds (default: now)")] = None,
) -> WalletLinkMessage:
    """The exact EIP-712 ``LinkWallet`` message a wallet signs to be linked to a holding account."""
    accounts_ops.holding_account(session, account_id)
    if not is_address(wallet):
        raise RuleViolation(f"{wallet!r} is not an Ethereum address", field="wallet")
    wallet = to_checksum_address(wallet)
    signed_at = int(time.time()) if signed_at is None else signed_at
    return WalletLinkMessage(
        typed_data=wallet_link_typed_data(account_id, wallet, signed_at),
        digest="0x" + wallet_link_digest(account_id, wallet, signed_at).hex(), signed_at=signed_at,
        valid_until=signed_at + LINK_MESSAGE_VALIDITY, link_path=f"/accounts/{account_id}/wallets",
        link_body={"wallet": wallet, "signed_at": signed_at})


@auth_router.post("/accounts/{account_id}/wallets", status_code=201)
def link_wallet(account_id: int, body: WalletLinkCreate, request: Request, session: SessionDep,
                principal: PrincipalDep) -> WalletLinkPublic:
    """Link a wallet to a holding account with the wallet's signature of the EIP-712 LinkWallet
    message (``GET /wallet-links/typed-data`` gives it): the wallet key's ECDSA signature (an
    EIP-7702 delegated account's too), or for a contract wallet a signature its
    ``isValidSignature`` accepts (ERC-1271; checked on-chain when the server reads a chain,
    ``serve --rpc-url``)."""
    authorize_account(session, principal, account_id)
    with committing(session):
        link = accounts_ops.link_wallet(session, account_id, body.wallet, body.signed_at, body.signature,
                                        int(time.time()),
                                        getattr(request.app.state, "contract_signature", None))
        return WalletLinkPublic(id=link.id, account_id=link.account_id, wallet=link.address, linked_at=link.linked_at)


@auth_router.get("/accounts/{account_id}/wallets")
def list_wallets(account_id: int, session: SessionDep, principal: PrincipalDep, page: PageDep
                 ) -> Paged[WalletLinkPublic]:
    authorize_account(session, principal, account_id)
    total, rows = page.rows(session, WalletLink, [WalletLink.account_id == account_id], [WalletLink.id])
    return page.answer(total, [
        WalletLinkPublic(id=w.id, account_id=w.account_id, wallet=w.address, linked_at=w.linked_at) for w in rows])
