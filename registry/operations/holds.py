"""Unit holds: an operator (the registry administrator, e.g. for a KYC case) or a rule (e.g. a
non-CA event, seed 003 §V) puts active units of one account in status ``held``; nothing
transfers, retires, tokenizes or cancels them until the hold is released (rule ``unit-held``,
:mod:`registry.domain.lifecycle`).

A hold takes the account's lowest active units of the serialization, splitting a block at the
hold's boundary like every partial operation (:func:`registry.operations.serial_blocks.take_credits`);
the held blocks point to the hold (``SerialBlock.hold_id``), so a release puts back exactly its
units. Placing and releasing are ledger entries with the units' moves ((account, active) <->
(account, held)), so ``icr-bridge ledger verify`` replays them and the balance table shows held
tonnes under status ``held``.

Bridge custody: a hold there names a tokenization still pending and holds its lowest unminted
units; the batcher leaves a request with held units out of batches until the release. Units
already in a batch or minted are refused (``hold-not-on-chain``): their tokens may be on-chain,
where a holder transfers and retires them whatever the registry says.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from registry.domain import lifecycle as lc
from registry.domain import serials as sr
from registry.domain.enums import AccountType, CreditStatus, HoldOrigin, HoldStatus, TokenizationStatus
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.operations.serial_blocks import (
    MovedBlock,
    _moves,
    coalesce,
    describe_blocks,
    lock_serialization,
    take_credits,
    take_lowest_blocks,
)
from registry.tables.core import Account, SerialBlock, Serialization, TokenizationRequest, UnitHold, utcnow


def _custody_rows(session: Session, account: Account, serialization: Serialization, request: TokenizationRequest,
                  quantity: int) -> list[SerialBlock]:
    lock_serialization(session, serialization.id)
    blocks = list(session.exec(select(SerialBlock).where(
        SerialBlock.tokenization_id == request.id, SerialBlock.account_id == account.id,
        SerialBlock.serialization_id == serialization.id, SerialBlock.status == CreditStatus.active,
        SerialBlock.mirrored == False).order_by(SerialBlock.unit_first).with_for_update()))  # noqa: E712
    try:
        return take_lowest_blocks(session, blocks, quantity)
    except sr.InsufficientCredits as exc:
        raise RuleViolation(f"tokenization {request.id} has {exc.available} unheld units of {serialization.text} "
                            f"in custody, not {exc.requested}", field="quantity", rule="sufficient-active-credits") from exc


def place_hold(session: Session, *, account_id: int, serialization_id: int, quantity: int, reason: str, actor: str,
               origin: HoldOrigin = HoldOrigin.operator, rule: str | None = None, reference: str = "",
               tokenization_id: int | None = None, at: datetime | None = None) -> tuple[UnitHold, list[MovedBlock]]:
    """Hold ``quantity`` active units of a serialization in an account, lowest serials first
    (in bridge custody: of the pending tokenization ``tokenization_id``)."""
    account = get_row(session, Account, account_id, "account")
    serialization = get_row(session, Serialization, serialization_id, "serialization")
    custody = account.type is AccountType.bridge_custody
    request = None
    if custody:
        if tokenization_id is None:
            raise RuleViolation("a hold in bridge custody names the pending tokenization whose units it holds",
                                field="tokenization_id", rule="hold-not-on-chain")
        request = session.exec(select(TokenizationRequest).where(TokenizationRequest.id == tokenization_id)
                               .with_for_update()).first()  # the batcher skips a request locked here
        if request is None:
            raise NotFound(f"tokenization {tokenization_id} does not exist", field="tokenization_id")
    check(lc.check_hold, account.type, CreditStatus.active, quantity, reason,
          None if request is None else request.status is TokenizationStatus.pending)
    if origin is HoldOrigin.rule and not (rule or "").strip():
        raise RuleViolation("a hold placed by a rule names the rule", field="rule", rule="hold-reason")
    if request is not None:
        rows = _custody_rows(session, account, serialization, request, quantity)
    else:
        rows = take_credits(session, account=account, serialization=serialization, status=CreditStatus.active,
                            quantity=quantity, rule="sufficient-active-credits")
    hold = UnitHold(account_id=account.id, serialization_id=serialization.id, quantity=quantity,
                    origin=HoldOrigin(origin).value, rule=rule, reason=reason.strip(), reference=reference.strip(),
                    tokenization_id=tokenization_id if custody else None, placed_by=actor, placed_at=at or utcnow())
    session.add(hold)
    session.flush()
    moves = _moves(serialization, rows, (account.id, CreditStatus.active.value), (account.id, CreditStatus.held.value))
    for row in rows:
        row.status = CreditStatus.held
        row.hold_id = hold.id
        session.add(row)
    session.flush()
    moved = describe_blocks(session, rows)
    coalesce(session, serialization.id, account_id=account.id, status=CreditStatus.held, hold_id=hold.id)
    append_entry(session, "hold.placed", {
        "hold_id": hold.id, "account_id": account.id, "serialization": serialization.text, "quantity": quantity,
        "origin": hold.origin, "rule": rule, "reason": hold.reason, "reference": hold.reference,
        "tokenization_id": hold.tokenization_id, "serial_blocks": [m.serial_block for m in moved], "actor": actor,
        "moves": moves})
    return hold, moved


def release_hold(session: Session, hold_id: int, *, note: str, actor: str,
                 at: datetime | None = None) -> tuple[UnitHold, list[MovedBlock]]:
    """Release a hold: its units are active again in their account (merged with their
    neighbours outside custody). A hold is released once (``hold-released``)."""
    hold = session.exec(select(UnitHold).where(UnitHold.id == hold_id).with_for_update()).first()
    if hold is None:
        raise NotFound(f"hold {hold_id} does not exist", field="hold_id")
    if hold.status != HoldStatus.placed.value:
        raise Conflict(f"hold {hold_id} was released at {hold.released_at}", field="hold_id", rule="hold-released")
    serialization = lock_serialization(session, hold.serialization_id)
    rows = list(session.exec(select(SerialBlock).where(SerialBlock.hold_id == hold.id)
                             .order_by(SerialBlock.unit_first).with_for_update()))
    moved = describe_blocks(session, rows)
    moves = _moves(serialization, rows, (hold.account_id, CreditStatus.held.value),
                   (hold.account_id, CreditStatus.active.value))
    for row in rows:
        row.status = CreditStatus.active
        row.hold_id = None
        session.add(row)
    hold.status = HoldStatus.released.value
    hold.released_by = actor
    hold.released_at = at or utcnow()
    hold.release_note = note.strip()[:500]
    session.add(hold)
    session.flush()
    if hold.tokenization_id is None:
        coalesce(session, serialization.id, account_id=hold.account_id, status=CreditStatus.active)
    append_entry(session, "hold.released", {
        "hold_id": hold.id, "account_id": hold.account_id, "serialization": serialization.text,
        "quantity": hold.quantity, "note": hold.release_note, "serial_blocks": [m.serial_block for m in moved],
        "actor": actor, "moves": moves})
    return hold, moved


def held_blocks(session: Session, hold_id: int) -> list[MovedBlock]:
    """The serial blocks a hold holds (none once released)."""
    rows = session.exec(select(SerialBlock).where(SerialBlock.hold_id == hold_id).order_by(SerialBlock.unit_first))
    return describe_blocks(session, rows)
