"""Retirements: public reads; retiring from one of the key's holding accounts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Optional

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import Session

from registry.api.auth import PrincipalDep, authorize_account
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep, given
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.registry import RetirementCreate, RetirementDetailsBase, RetirementPublic
from registry.api.token_ids import TOKEN_ID_DESCRIPTION, class_id_of
from registry.domain.classes import CERTIFICATE_FLAG, Purpose, token_id_hex
from registry.domain.lifecycle import RetirementDetails
from registry.errors import NotFound
from registry.operations import projects as projects_ops
from registry.operations import retirements as retirements_ops
from registry.tables.core import CreditClass, Retirement, as_utc

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)
auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


ADDRESS = r"^0x[0-9a-fA-F]{40}$"
TX_HASH = r"^0x[0-9a-fA-F]{64}$"


def retirement_public(session: Session, r: Retirement) -> RetirementPublic:
    certificate = CERTIFICATE_FLAG | r.onchain_retirement_id if r.onchain_retirement_id is not None else None
    return RetirementPublic(
        **r.model_dump(include=set(RetirementPublic.model_fields) - {"serial_blocks", "input_flags"}),
        serial_blocks=[b.serial_block for b in retirements_ops.retirement_blocks(session, r.id)],
        input_flags=json.loads(r.input_flags) if r.input_flags else [],
        token_id=session.get(CreditClass, r.class_id).token_id,
        certificate_token_id=str(certificate) if certificate is not None else None,
        certificate_token_id_hex=token_id_hex(certificate) if certificate is not None else None,
    )


@router.get("/retirements")
def list_retirements(
    session: SessionDep,
    page: PageDep,
    tx_hash: Annotated[Optional[str], Query(pattern=TX_HASH, description="the retiring transaction")] = None,
    holder: Annotated[Optional[str], Query(pattern=ADDRESS, description="the wallet that retired")] = None,
    beneficiary: Annotated[Optional[str], Query(pattern=ADDRESS, description="the beneficiary wallet")] = None,
    token_id: Annotated[Optional[str], Query(description="the credit class: " + TOKEN_ID_DESCRIPTION)] = None,
    chain_id: Optional[int] = None,
    since: Annotated[Optional[datetime], Query(description="recorded at or after (registry time, ISO 8601)")] = None,
    until: Annotated[Optional[datetime], Query(description="recorded before (registry time, ISO 8601)")] = None,
) -> Paged[RetirementPublic]:
    """Retirements, newest first; on-chain ones carry their transaction, wallets, on-chain
    retirement id and certificate token id. Addresses and hashes match in any letter case."""
    lower = {name: value.lower() if value else None for name, value in
             (("tx_hash", tx_hash), ("holder", holder), ("beneficiary", beneficiary))}
    conditions = given((Retirement.tx_hash, lower["tx_hash"]),  # stored in lowercase: the index serves it
                       (func.lower(Retirement.holder_wallet), lower["holder"]),
                       (func.lower(Retirement.beneficiary_wallet), lower["beneficiary"]),
                       (Retirement.class_id, class_id_of(session, token_id) if token_id else None),
                       (Retirement.chain_id, chain_id))
    if since is not None:
        conditions.append(Retirement.created_at >= as_utc(since))
    if until is not None:
        conditions.append(Retirement.created_at < as_utc(until))
    total, rows = page.rows(session, Retirement, conditions, [Retirement.id.desc()])
    return page.answer(total, [retirement_public(session, r) for r in rows])


@router.get("/retirements/{retirement_id}")
def get_retirement(retirement_id: int, session: SessionDep) -> RetirementPublic:
    r = session.get(Retirement, retirement_id)
    if r is None:
        raise NotFound(f"retirement {retirement_id} does not exist", field="retirement_id")
    return retirement_public(session, r)


@auth_router.post("/retirements", status_code=201)
def create_retirement(body: RetirementCreate, session: SessionDep, principal: PrincipalDep) -> RetirementPublic:
    """Retire active ICCs from one of the key's holding accounts (lowest serials first)."""
    authorize_account(session, principal, body.account_id)
    details = RetirementDetails(
        purpose=Purpose[body.purpose.value],
        **body.model_dump(include=set(RetirementDetailsBase.model_fields)),
    )
    with committing(session):
        serialization = projects_ops.serialization_by_text(session, body.serialization)
        retirement, _moved = retirements_ops.retire(session, account_id=body.account_id, serialization_id=serialization.id,
                                        quantity=body.quantity, details=details)
        return retirement_public(session, retirement)
