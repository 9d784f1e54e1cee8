"""Retirements of active ICCs from holding accounts, and the serial blocks a retirement retired."""

from __future__ import annotations

from sqlmodel import Session, select

from registry.domain import lifecycle as lc
from registry.domain.classes import Purpose
from registry.domain.enums import CreditStatus
from registry.errors import NotFound
from registry.operations import hooks
from registry.operations.article6 import uses as uses_ops
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check
from registry.operations.serial_blocks import (
    MovedBlock,
    _make_terminal,
    _moves,
    credits_to_take,
    describe_blocks,
    lock_serialization,
    take_lowest_blocks,
)
from registry.tables.core import Account, CreditClass, Organization, Retirement, SerialBlock, Serialization


def _class_of(session: Session, serialization: Serialization) -> CreditClass:
    return session.exec(select(CreditClass).where(CreditClass.serialization_id == serialization.id)).one()


def _account_of(session: Session, account_id: int) -> tuple[Account, Organization | None]:
    """The account and its organization (None for an account without one), in one query."""
    found = session.exec(select(Account, Organization).outerjoin(Organization, Organization.id == Account.organization_id)
                         .where(Account.id == account_id)).first()
    if found is None:
        raise NotFound(f"account {account_id} does not exist", field="account_id")
    return found[0], found[1]


def retire(
    session: Session,
    *,
    account_id: int,
    serialization_id: int,
    quantity: int,
    details: lc.RetirementDetails,
) -> tuple[Retirement, list[MovedBlock]]:
    """Retire ``quantity`` active ICCs from a holding account, lowest serials first.

    The purpose must be among the class's uses now (for Article 6.2 ICCs: requested at designation,
    in the letter's current scope, not on hold, see :mod:`registry.domain.article6.uses`) and carry its details (CORSIA:
    aeroplane operator, state, compliance period; NDC: the party); an empty retiree or
    beneficiary name is the account's organization. Retired units leave the account for good."""
    account, organization = _account_of(session, account_id)
    serialization = lock_serialization(session, serialization_id)  # read once: take_credits finds it locked
    check(lc.check_retirement, account.type, CreditStatus.active, quantity)
    credit_class = _class_of(session, serialization)
    uses_ops.require_use(session, credit_class, Purpose(details.purpose))  # the class's uses now (Article 6.2)
    d = check(lc.validate_retirement, details, authorized_uses=credit_class.authorized_uses,
              default_party=organization.name if organization else "")
    blocks = credits_to_take(session, account=account, serialization=serialization, status=CreditStatus.active,
                             quantity=quantity)  # locked, and enough: nothing below can be refused
    retirement = Retirement(
        class_id=credit_class.id,
        account_id=account.id,
        quantity=quantity,
        purpose=d.purpose.name,
        beneficiary_name=d.beneficiary_name,
        beneficiary_address=d.beneficiary_address,
        retiree=d.retiree,
        comment=d.comment,
        purpose_detail=d.purpose_detail,
        corsia_operator=d.corsia_operator,
        corsia_state=d.corsia_state,
        compliance_period_start=d.compliance_period_start,
        compliance_period_end=d.compliance_period_end,
        ndc_party=d.ndc_party,
        consumption_start=d.consumption_start,
        consumption_end=d.consumption_end,
        jurisdiction=d.jurisdiction,
    )
    session.add(retirement)
    session.flush()  # the retirement's id, before the blocks change: each block is then updated once
    rows = take_lowest_blocks(session, blocks, quantity, flush=False)
    moves = _moves(serialization, rows, (account.id, CreditStatus.active.value), (None, CreditStatus.retired.value))
    moved = _make_terminal(session, serialization.id, rows, CreditStatus.retired, retirement_id=retirement.id)
    append_entry(
        session,
        "retirement",
        {
            "retirement_id": retirement.id,
            "account_id": account.id,
            "token_id": credit_class.token_id,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": quantity,
            "purpose": d.purpose.name,
            "beneficiary_name": d.beneficiary_name,
            "beneficiary_address": d.beneficiary_address,
            "retiree": d.retiree,
            "comment": d.comment,
            "purpose_detail": d.purpose_detail,
            "corsia_operator": d.corsia_operator,
            "corsia_state": d.corsia_state,
            "compliance_period": [d.compliance_period_start, d.compliance_period_end],
            "ndc_party": d.ndc_party,
            "consumption_period": [d.consumption_start, d.consumption_end],
            "jurisdiction": d.jurisdiction,
            "moves": moves,
        },
    )
    hooks.emit(session, "retirement.recorded", retirement=retirement, serial_blocks=[m.serial_block for m in moved])
    return retirement, moved


def retirement_blocks(session: Session, retirement_id: int) -> list[MovedBlock]:
    rows = session.exec(
        select(SerialBlock).where(SerialBlock.retirement_id == retirement_id).order_by(SerialBlock.unit_first)
    ).all()
    return describe_blocks(session, rows)
