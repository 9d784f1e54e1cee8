"""Tokenization requests: active ICCs moved into bridge custody to be minted to a linked wallet (the
reads, with their batches and leaves, are in :mod:`bridge.public.tokenizations`)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import select

from registry.api.auth import PrincipalDep, authorize_account
from registry.api.deps import SessionDep, committing
from registry.api.problems import AUTH_RESPONSES, PROBLEM_JSON, PROBLEM_RESPONSES
from registry.api.schemas.registry import (
    BulkProblem,
    TokenizationBulkCreate,
    TokenizationBulkPublic,
    TokenizationCreate,
    TokenizationPublic,
)
from registry.bridged import bulk_tokenization, custody
from registry.operations import projects as projects_ops
from registry.tables.core import CreditClass

auth_router = APIRouter(tags=["bridge"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@auth_router.post("/tokenizations", status_code=201)
def create_tokenization(body: TokenizationCreate, session: SessionDep, principal: PrincipalDep) -> TokenizationPublic:
    """Move active ICCs from one of the key's holding accounts into bridge custody, to be minted
    as tokens to a wallet linked to that account."""
    authorize_account(session, principal, body.account_id)
    with committing(session):
        serialization = projects_ops.serialization_by_text(session, body.serialization)
        credit_class = session.exec(select(CreditClass).where(CreditClass.serialization_id == serialization.id)).one()
        request, moved = custody.request_tokenization(
            session, account_id=body.account_id, wallet=body.wallet, class_id=credit_class.id,
            quantity=body.quantity,
            custody_account_id=(body.custody_account_id if body.custody_account_id is not None
                                else custody.default_custody_account(session)),
        )
        return TokenizationPublic(id=request.id, account_id=request.account_id, wallet=request.wallet,
                                  token_id=credit_class.token_id, quantity=request.quantity, status=request.status,
                                  serial_blocks=[m.serial_block for m in moved])


@auth_router.post("/tokenizations/bulk", status_code=201, responses={422: {
    "model": BulkProblem, "content": {PROBLEM_JSON: {}},
    "description": "Invalid input, or at least one request refused (rule bulk-atomic, each refusal in problems)"}})
def create_tokenizations(body: TokenizationBulkCreate, session: SessionDep,
                         principal: PrincipalDep) -> TokenizationBulkPublic:
    """Many tokenization requests in one call and one transaction, applied in order: each
    request is what `POST /tokenizations` takes, and the result is the one sending them one by
    one in that order would give (the same serials, lowest first, the same ledger entries).

    **All or nothing.** Every account named must be one of the key's (403/404 for the call
    otherwise). Every request is checked as the single endpoint checks it, one short of units
    against what the requests before it leave; if any is refused, nothing is applied and the
    answer is a 422 problem (rule `bulk-atomic`) whose `problems` lists each refused request
    with its `index` in `requests` and the problem the single endpoint would answer for it
    (`status`, `detail`, `field`, `rule`). At most 1,000 requests per call."""
    for account_id in sorted({r.account_id for r in body.requests}):
        authorize_account(session, principal, account_id)
    with committing(session):
        orders = bulk_tokenization.orders_for_serializations(session, [
            bulk_tokenization.NamedRequest(r.account_id, r.wallet, r.serialization, r.quantity, r.custody_account_id)
            for r in body.requests])
        done = bulk_tokenization.request_tokenizations(session, orders)
        return TokenizationBulkPublic(tokenizations=[
            TokenizationPublic(id=t.id, account_id=t.account_id, wallet=t.wallet, token_id=t.token_id,
                               quantity=t.quantity, status=t.status, serial_blocks=[m.serial_block for m in t.moved])
            for t in done])
