"""Transfers between accounts: made and listed with an API key."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlalchemy import or_
from sqlmodel import Session

from registry.api.auth import PrincipalDep, authorize_account
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.routes.accounts import organization_account_ids
from registry.api.schemas.registry import TransferCreate, TransferPublic
from registry.errors import Forbidden
from registry.operations import preconditions as preconditions_ops
from registry.operations import projects as projects_ops
from registry.operations import transfers as transfers_ops
from registry.tables.core import Account, Serialization, Transfer

auth_router = APIRouter(tags=["registry"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


def _transfer_public(session: Session, t: Transfer, serial_blocks: Optional[list[str]] = None) -> TransferPublic:
    return TransferPublic(
        id=t.id, from_account_id=t.from_account_id, to_account_id=t.to_account_id,
        serialization=session.get(Serialization, t.serialization_id).text, quantity=t.quantity, status=t.status,
        created_at=t.created_at, serial_blocks=serial_blocks,
    )


@auth_router.post("/transfers", status_code=201)
def create_transfer(body: TransferCreate, session: SessionDep, principal: PrincipalDep) -> TransferPublic:
    """Transfer ICCs (lowest serials first) from one of the key's accounts to another account.

    Organization keys transfer into holding accounts; transfers into or out of the buffer and
    non-CA adjustment accounts are the administrator's."""
    authorize_account(session, principal, body.from_account_id, field="from_account_id")
    destination = preconditions_ops.get_row(session, Account, body.to_account_id, "account", "to_account_id")
    if destination.organization_id is None and not principal.is_admin:
        raise Forbidden("only the registry administrator moves ICCs into registry accounts", field="to_account_id",
                        rule="administrator-only")
    with committing(session):
        serialization = projects_ops.serialization_by_text(session, body.serialization)
        record, moved = transfers_ops.transfer(session, from_account_id=body.from_account_id, to_account_id=body.to_account_id,
                                     serialization_id=serialization.id, quantity=body.quantity, status=body.status)
        return _transfer_public(session, record, [m.serial_block for m in moved])


@auth_router.get("/transfers")
def list_transfers(session: SessionDep, page: PageDep, principal: PrincipalDep, account_id: Optional[int] = None
                   ) -> Paged[TransferPublic]:
    """Transfers from or to the key's accounts (all transfers for the administrator)."""
    conditions = []
    if account_id is not None:
        authorize_account(session, principal, account_id)
        conditions.append(or_(Transfer.from_account_id == account_id, Transfer.to_account_id == account_id))
    elif not principal.is_admin:
        own = organization_account_ids(session, principal.organization_id)
        conditions.append(or_(Transfer.from_account_id.in_(own), Transfer.to_account_id.in_(own)))
    total, rows = page.rows(session, Transfer, conditions, [Transfer.id.desc()])
    return page.answer(total, [_transfer_public(session, t) for t in rows])
