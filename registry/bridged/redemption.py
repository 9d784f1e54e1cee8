"""Bridged redemptions in the registry: custody serials move back to a holding account when
the chain has burned the escrowed tokens, and move back to custody if a reorganization
undoes that burn. Rules in :mod:`registry.domain.redemption`; like every registry operation
these run inside the caller's transaction and append a ledger entry.
"""

from __future__ import annotations

from sqlmodel import Session

from registry.bridged.custody import ChainOrigin
from registry.domain import redemption as rules
from registry.domain import serials as sr
from registry.domain.blocks import move_record
from registry.domain.enums import CreditStatus
from registry.errors import Conflict, RuleViolation
from registry.operations.classes import class_for_token
from registry.operations.ledger import append_entry
from registry.operations.serial_blocks import (
    MovedBlock,
    coalesce,
    describe_blocks,
    lock_serialization,
    locked_blocks,
    place,
    take_lowest_blocks,
)
from registry.tables.core import Account, SerialBlock, Serialization


def check_destination(session: Session, reference: str) -> tuple[int | None, str | None]:
    """``(account id, None)`` when the reference names an account that can take redeemed
    credits, else ``(account id or None, reason)``. Reads only."""
    try:
        account_id = rules.parse_account_reference(reference)
    except rules.InvalidAccountReference as exc:
        return None, str(exc)
    account = session.get(Account, account_id)
    destination = rules.Destination(account_id, account is not None, account.type if account else None)
    return account_id, rules.refusal(destination)


def redeem_from_custody(
    session: Session,
    *,
    custody_account_id: int,
    token_id: int | str,
    account_id: int,
    quantity: int,
    origin: ChainOrigin,
    redemption_id: int,
) -> tuple[list[tuple[int, int, int | None]], list[str]]:
    """Move ``quantity`` of the lowest mirrored custody serials of the class to ``account_id``
    (active, no longer mirrored): the chain burned that many escrowed tokens. Returns the
    unit ranges moved with the tokenization each came from (which :func:`revert_redemption`
    needs to undo exactly this move) and the serial blocks as text."""
    credit_class = class_for_token(session, token_id)
    serialization = lock_serialization(session, credit_class.serialization_id)
    _, reason = check_destination(session, str(account_id))
    if reason is not None:
        raise RuleViolation(reason, field="account_id", rule="redeemable-account")
    blocks = locked_blocks(session, account_id=custody_account_id, serialization_id=serialization.id,
                           status=CreditStatus.active, mirrored=True, covering=quantity)
    try:
        rows = take_lowest_blocks(session, blocks, quantity)
    except sr.InsufficientCredits as exc:
        raise RuleViolation(f"custody holds too few ICCs of class {token_id} for redemption {redemption_id}: {exc}",
                            field="quantity", rule="custody-covers-supply") from exc
    destination = (account_id, CreditStatus.active.value)
    moves = [move_record(serialization.text, r.unit_first, r.unit_last, place(r), destination) for r in rows]
    ranges = [(r.unit_first, r.unit_last, r.tokenization_id) for r in rows]
    moved = describe_blocks(session, rows)
    for row in rows:
        row.account_id = account_id
        row.mirrored = False
        row.tokenization_id = None
        session.add(row)
    coalesce(session, serialization.id, account_id=account_id, status=CreditStatus.active)
    append_entry(session, "redemption.bridged", {
        "redemption_id": redemption_id, "token_id": str(token_id), "account_id": account_id,
        "custody_account_id": custody_account_id, "quantity": quantity,
        "serial_blocks": [m.serial_block for m in moved], "chain_id": origin.chain_id, "tx_hash": origin.tx_hash,
        "log_index": origin.log_index, "moves": moves,
    })
    return ranges, [m.serial_block for m in moved]


def carve(session: Session, row: SerialBlock, first: int, last: int) -> SerialBlock:
    """Split ``row`` so that units ``first..last`` (inside it) are one row, which is returned."""
    fields = dict(serialization_id=row.serialization_id, status=row.status, account_id=row.account_id,
                  issuance_id=row.issuance_id, tokenization_id=row.tokenization_id, mirrored=row.mirrored,
                  retirement_id=row.retirement_id, cancellation_id=row.cancellation_id)
    pieces = []
    if last < row.unit_last:
        pieces.append(SerialBlock(unit_first=last + 1, unit_last=row.unit_last, quantity=row.unit_last - last, **fields))
    if first > row.unit_first:
        pieces.append(SerialBlock(unit_first=row.unit_first, unit_last=first - 1, quantity=first - row.unit_first,
                                  **fields))
        # the row keeps its id for the carved part; move its start first so keys never collide
        row.unit_first, row.unit_last, row.quantity = first, last, last - first + 1
        session.add(row)
        session.flush()
    else:
        row.unit_last, row.quantity = last, last - first + 1
        session.add(row)
        session.flush()
    for piece in pieces:
        session.add(piece)
    session.flush()
    return row


def carve_into_custody(
    session: Session,
    *,
    serialization: Serialization,
    account_id: int,
    custody_account_id: int,
    ranges: list[tuple[int, int, int | None]],
    mirrored: bool,
    what: str,
) -> tuple[list[dict], list[MovedBlock]]:
    """Move exactly the unit ``ranges`` (first, last, tokenization id) of the serialization from
    the account's active blocks back into custody (``mirrored`` as given, each range tagged
    with its tokenization again): the chain event that released them was undone. The caller
    holds the serialization lock and appends the ledger entry with the returned moves.
    Raises :class:`Conflict`, before changing anything, if the account no longer holds all of
    them (it moved them on before the reorganization); ``what`` names the undone operation."""
    held = locked_blocks(session, account_id=account_id, serialization_id=serialization.id, status=CreditStatus.active)
    missing = [(first, last) for first, last, _ in ranges
               if not any(b.unit_first <= first and last <= b.unit_last for b in held)]
    if missing:
        first, last = missing[0]
        raise Conflict(f"{what} cannot be undone: account {account_id} no longer holds units "
                       f"{first}-{last} of {serialization.text}")
    carved = []
    for first, last, tokenization_id in ranges:
        row = next(b for b in held if b.unit_first <= first and last <= b.unit_last)
        part = carve(session, row, first, last)
        part.tokenization_id = tokenization_id
        held = locked_blocks(session, account_id=account_id, serialization_id=serialization.id,
                             status=CreditStatus.active)
        carved.append(part)
    moves = [move_record(serialization.text, r.unit_first, r.unit_last, place(r),
                         (custody_account_id, CreditStatus.active.value)) for r in carved]
    moved = describe_blocks(session, carved)
    for row in carved:
        row.account_id = custody_account_id
        row.mirrored = mirrored
        session.add(row)
    session.flush()
    coalesce(session, serialization.id, account_id=account_id, status=CreditStatus.active)
    return moves, moved


def revert_redemption(
    session: Session,
    *,
    custody_account_id: int,
    token_id: int | str,
    account_id: int,
    ranges: list[tuple[int, int, int | None]],
    redemption_id: int,
    reason: str,
) -> None:
    """Put exactly the redeemed ``ranges`` back into custody (mirrored): the burn that
    released them was reorganized away. Refuses, changing nothing, if the account no longer
    holds all of them (the holder moved them on before the reorganization)."""
    credit_class = class_for_token(session, token_id)
    serialization = lock_serialization(session, credit_class.serialization_id)
    moves, moved = carve_into_custody(session, serialization=serialization, account_id=account_id,
                                      custody_account_id=custody_account_id, ranges=ranges, mirrored=True,
                                      what=f"redemption {redemption_id}")
    append_entry(session, "redemption.reverted", {
        "redemption_id": redemption_id, "token_id": str(token_id), "account_id": account_id,
        "custody_account_id": custody_account_id, "serial_blocks": [m.serial_block for m in moved],
        "reason": reason, "moves": moves,
    })

