"""Cancellations of ICCs for a program reason (Article 6.2 conversion, non-CA compensation,
correction, buffer use, ex-ante shortfall)."""

from __future__ import annotations

from sqlmodel import Session

from registry.domain import lifecycle as lc
from registry.domain.enums import CancellationReason, CreditStatus
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.operations.serial_blocks import MovedBlock, _make_terminal, _moves, take_credits
from registry.tables.core import Account, Cancellation, SerialBlock, Serialization


def _cancel_rows(
    session: Session,
    *,
    account_id: int,
    serialization: Serialization,
    rows: list[SerialBlock],
    reason: CancellationReason,
    note: str,
    reference: str,
) -> tuple[Cancellation, list[MovedBlock], list[dict]]:
    src_status = CreditStatus(rows[0].status)
    moves = _moves(serialization, rows, (account_id, src_status.value), (None, CreditStatus.cancelled.value))
    record = Cancellation(
        serialization_id=serialization.id,
        account_id=account_id,
        quantity=sum(r.quantity for r in rows),
        reason=reason,
        note=note,
        reference=reference,
    )
    session.add(record)
    session.flush()
    moved = _make_terminal(session, serialization.id, rows, CreditStatus.cancelled, cancellation_id=record.id)
    return record, moved, moves


def cancel(
    session: Session,
    *,
    account_id: int,
    serialization_id: int,
    quantity: int,
    reason: CancellationReason,
    note: str = "",
    reference: str = "",
    status: CreditStatus = CreditStatus.active,
) -> tuple[Cancellation, list[MovedBlock]]:
    """Cancel ``quantity`` ICCs of an account for a program reason, lowest serials first.

    Reasons: conversion to Article 6.2 (standard ICCs, holding account), non-CA compensation
    (Article 6.2 ICCs, adjustment or holding account), correction (any account, active or
    inactive), buffer use (buffer account), ex-ante shortfall (inactive ICCs). Cancelled units
    are terminal."""
    account = get_row(session, Account, account_id, "account")
    serialization = get_row(session, Serialization, serialization_id, "serialization")
    reason, status = CancellationReason(reason), CreditStatus(status)
    check(lc.check_cancellation, reason, account.type, status, quantity, serialization.article6)
    rows = take_credits(session, account=account, serialization=serialization, status=status, quantity=quantity)
    return cancel_rows(session, account=account, serialization=serialization, rows=rows, reason=reason, note=note,
                       reference=reference)


def cancel_rows(session: Session, *, account: Account, serialization: Serialization, rows: list[SerialBlock],
                reason: CancellationReason, note: str = "", reference: str = "") -> tuple[Cancellation, list[MovedBlock]]:
    """Cancel exactly ``rows`` (blocks of one account, serialization and status, already locked and
    split, e.g. by :func:`cancel` or a conversion that cancels the units of one issuance) with
    their ledger entry."""
    quantity = sum(r.quantity for r in rows)
    check(lc.check_cancellation, reason, account.type, CreditStatus(rows[0].status), quantity, serialization.article6)
    record, moved, moves = _cancel_rows(session, account_id=account.id, serialization=serialization, rows=rows,
                                        reason=reason, note=note.strip(), reference=reference.strip())
    append_entry(
        session,
        "cancellation",
        {
            "cancellation_id": record.id,
            "account_id": account.id,
            "reason": reason.value,
            "note": record.note,
            "reference": record.reference,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": quantity,
            "moves": moves,
        },
    )
    return record, moved
