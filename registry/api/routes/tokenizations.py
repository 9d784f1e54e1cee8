"""Tokenization requests: active ICCs moved into bridge custody to be minted to a linked wallet (the
reads, with their batches and leaves, are in :mod:`bridge.public.tokenizations`)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import select

from registry.api.auth import PrincipalDep, authorize_account
from registry.api.deps import SessionDep, committing
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import TokenizationCreate, TokenizationPublic
from registry.bridged import custody
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

