"""Transfers of ICCs between accounts, lowest serials first."""

from __future__ import annotations

from sqlmodel import Session

from registry.domain import lifecycle as lc
from registry.domain.enums import CreditStatus
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.operations.serial_blocks import MovedBlock, _moves, coalesce, describe_blocks, take_credits
from registry.tables.core import Account, Serialization, Transfer


def transfer(
    session: Session,
    *,
    from_account_id: int,
    to_account_id: int,
    serialization_id: int,
    quantity: int,
    status: CreditStatus = CreditStatus.active,
) -> tuple[Transfer, list[MovedBlock]]:
    """Move ``quantity`` ICCs of one serialization to another account, lowest serials first.

    Active ICCs move between holding, buffer and non-CA adjustment accounts; inactive
    (ex-ante) ICCs only between holding accounts; bridge custody is never a transfer's
    source or destination (see :mod:`registry.domain.lifecycle`)."""
    source = get_row(session, Account, from_account_id, "account", "from_account_id")
    destination = get_row(session, Account, to_account_id, "account", "to_account_id")
    serialization = get_row(session, Serialization, serialization_id, "serialization")
    status = CreditStatus(status)
    check(lc.check_transfer, source.type, destination.type, status, quantity, source.id == destination.id)
    rows = take_credits(session, account=source, serialization=serialization, status=status, quantity=quantity)
    moves = _moves(serialization, rows, (source.id, status.value), (destination.id, status.value))
    for row in rows:
        row.account_id = destination.id
        session.add(row)
    record = Transfer(serialization_id=serialization.id, from_account_id=source.id, to_account_id=destination.id,
                      status=status, quantity=quantity)
    session.add(record)
    session.flush()
    moved = describe_blocks(session, rows)
    coalesce(session, serialization.id, account_id=destination.id, status=status)
    append_entry(
        session,
        "transfer",
        {
            "transfer_id": record.id,
            "from_account_id": source.id,
            "to_account_id": destination.id,
            "status": status.value,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": quantity,
            "moves": moves,
        },
    )
    return record, moved
