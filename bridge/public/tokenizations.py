"""Where a tokenization is on its way to the chain (issue 18): ``GET /tokenizations`` (the key's
own, filtered), ``GET /tokenizations/{id}`` naming the batch, leaf indexes, claim proof links and
mint transactions of its leaves, and the public batch list ``GET /batches`` / ``GET /batches/{id}``.

A holder can ``claim`` a leaf from its proof link as soon as its batch is committed, without
waiting for the mint webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, select

from bridge.public.pages import base_url
from bridge.tables import BatchStatus, MintBatch, MintLeaf
from registry.api.auth import PrincipalDep, authorize_account, authorize_organization
from registry.api.deps import SessionDep
from registry.api.pagination import Paged, PageDep, given
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.routes.serial_blocks import blocks_of
from registry.api.schemas.registry import TokenizationPublic
from registry.api.token_ids import TOKEN_ID_DESCRIPTION, class_id_of
from registry.domain.enums import TokenizationStatus
from registry.errors import NotFound
from registry.operations import preconditions as preconditions_ops
from registry.tables.core import Account, CreditClass, SerialBlock, TokenizationRequest

router = APIRouter(tags=["bridge"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["bridge"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})

ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class TokenizationLeafPublic(BaseModel):
    batch_id: int
    batch_status: BatchStatus
    leaf_index: int
    serial_block: str
    amount: int
    minted: bool
    mint_tx: Optional[str] = Field(description="the transaction that minted the leaf, once synced")
    mint_refused: Optional[str] = Field(description="why mintLeaves could not mint it (the holder may claim it)")
    claimable: bool = Field(description="committed on-chain and not minted: ICCToken.claim with the proof")
    proof_url: str = Field(description="leaf and Merkle proof for ICCToken.claim")


class TokenizationDetail(TokenizationPublic):
    organization_id: Optional[int]
    created_at: datetime
    batch_ids: list[int] = Field(description="the batches holding its leaves (none while pending)")
    leaves: list[TokenizationLeafPublic]


class BatchPublic(BaseModel):
    id: int
    chain_id: int
    root: str
    leaf_count: int
    leaves_minted: int
    status: BatchStatus
    commit_tx: Optional[str]
    revoked_tx: Optional[str]
    created_at: datetime
    tree_url: str = Field(description="OpenZeppelin StandardMerkleTree dump (standard-v1)")
    proof_url_template: str = Field(description="replace {leaf_index} for a leaf's claim proof")


def tokenization_detail(session: Session, request: TokenizationRequest, base: str) -> TokenizationDetail:
    credit_class = session.get(CreditClass, request.class_id)
    account = session.get(Account, request.account_id)
    rows = session.exec(select(MintLeaf, MintBatch).join(MintBatch, MintBatch.id == MintLeaf.batch_id)
                        .where(MintLeaf.tokenization_id == request.id)
                        .order_by(MintLeaf.batch_id, MintLeaf.leaf_index)).all()
    leaves = [TokenizationLeafPublic(
        batch_id=leaf.batch_id, batch_status=batch.status, leaf_index=leaf.leaf_index, serial_block=leaf.serial_block,
        amount=leaf.amount, minted=leaf.minted, mint_tx=leaf.mint_tx, mint_refused=leaf.mint_refused,
        claimable=batch.status == BatchStatus.committed and not leaf.minted,
        proof_url=f"{base}/batches/{leaf.batch_id}/leaves/{leaf.leaf_index}/proof") for leaf, batch in rows]
    return TokenizationDetail(
        id=request.id, account_id=request.account_id, organization_id=account.organization_id, wallet=request.wallet,
        token_id=credit_class.token_id, quantity=request.quantity, status=request.status,
        serial_blocks=blocks_of(session, SerialBlock.tokenization_id == request.id), created_at=request.created_at,
        batch_ids=sorted({leaf.batch_id for leaf in leaves}), leaves=leaves)


@auth_router.get("/tokenizations")
def list_tokenizations(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    organization_id: Optional[int] = None,
    account_id: Optional[int] = None,
    wallet: Annotated[Optional[str], Query(pattern=ADDRESS, description="the wallet minted to (any case)")] = None,
    token_id: Annotated[Optional[str], Query(description="the credit class: " + TOKEN_ID_DESCRIPTION)] = None,
    status: Optional[TokenizationStatus] = None,
) -> Paged[TokenizationDetail]:
    """Tokenization requests, newest first: every one for an administrator key, the key's own
    organization's otherwise (naming another organization is 403)."""
    if organization_id is not None:
        authorize_organization(principal, organization_id)
    elif not principal.is_admin:
        organization_id = principal.organization_id
    if account_id is not None:
        authorize_account(session, principal, account_id)
    conditions = given((TokenizationRequest.account_id, account_id), (TokenizationRequest.status, status),
                       (func.lower(TokenizationRequest.wallet), wallet.lower() if wallet else None),
                       (TokenizationRequest.class_id, class_id_of(session, token_id) if token_id else None))
    if organization_id is not None:
        accounts = select(Account.id).where(Account.organization_id == organization_id)
        conditions.append(TokenizationRequest.account_id.in_(accounts))
    total, rows = page.rows(session, TokenizationRequest, conditions, [TokenizationRequest.id.desc()])
    base = base_url(request)
    return page.answer(total, [tokenization_detail(session, r, base) for r in rows])


@auth_router.get("/tokenizations/{tokenization_id}")
def get_tokenization(tokenization_id: int, request: Request, session: SessionDep, principal: PrincipalDep
                     ) -> TokenizationDetail:
    """One tokenization with its batch, leaves, claim proof links and mint transactions."""
    row = preconditions_ops.get_row(session, TokenizationRequest, tokenization_id, "tokenization")
    authorize_account(session, principal, row.account_id, field="tokenization_id")
    return tokenization_detail(session, row, base_url(request))


def _batch_public(session: Session, batch: MintBatch, base: str) -> BatchPublic:
    minted = session.exec(select(func.count()).select_from(MintLeaf)
                          .where(MintLeaf.batch_id == batch.id, MintLeaf.minted.is_(True))).one()
    return BatchPublic(
        id=batch.id, chain_id=batch.chain_id, root=batch.root, leaf_count=batch.leaf_count, leaves_minted=minted,
        status=batch.status, commit_tx=batch.commit_tx, revoked_tx=batch.revoked_tx, created_at=batch.created_at,
        tree_url=f"{base}/batches/{batch.id}/tree",
        proof_url_template=f"{base}/batches/{batch.id}/leaves/{{leaf_index}}/proof")


@router.get("/batches")
def list_batches(request: Request, session: SessionDep, page: PageDep, chain_id: Optional[int] = None,
                 status: Optional[BatchStatus] = None) -> Paged[BatchPublic]:
    """Mint batches, newest first (public: their roots are on-chain)."""
    conditions = given((MintBatch.chain_id, chain_id), (MintBatch.status, status))
    total, rows = page.rows(session, MintBatch, conditions, [MintBatch.id.desc()])
    base = base_url(request)
    return page.answer(total, [_batch_public(session, b, base) for b in rows])


@router.get("/batches/{batch_id}")
def get_batch(batch_id: int, request: Request, session: SessionDep) -> BatchPublic:
    """One batch: root, status, commit transaction, minted leaves and its tree and proof links."""
    return _batch_public(session, batch_or_404(session, batch_id), base_url(request))


def batch_or_404(session: Session, batch_id: int) -> MintBatch:
    batch = session.get(MintBatch, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} does not exist", field="batch_id")
    return batch
