"""Units of a revoked mint batch go back to the accounts that asked for their tokenization.

An administrator revokes a committed batch on-chain (``revokeBatch``, incident response: a
wrong root, a compromised signer). From that block on, none of the batch's unminted leaves
can ever be minted, so the custody units behind them would wait for tokens that never come.
Once the ``BatchRevoked`` event is final, :func:`return_unminted` moves each unminted leaf's
units from the bridge custody account back to the holding account of its tokenization request; leaves
minted before the revocation stay minted (their tokens exist). A reorganization that removes
the revocation is undone by :func:`revert_return`, which puts exactly those ranges back into
custody, unmirrored and tagged with their tokenization again.

Like every registry operation these run inside the caller's transaction and append a ledger
entry carrying the unit moves.
"""

from __future__ import annotations

from sqlmodel import Session

from registry.bridged.custody import ChainOrigin, tokenization_custody_blocks
from registry.bridged.redemption import carve_into_custody
from registry.domain.blocks import move_record
from registry.domain.enums import CreditStatus
from registry.errors import Conflict
from registry.operations.ledger import append_entry
from registry.operations.serial_blocks import coalesce, describe_blocks, lock_serialization, place
from registry.tables.core import CreditClass, SerialBlock, TokenizationRequest


def _request_and_serialization(session: Session, tokenization_id: int):
    request = session.get(TokenizationRequest, tokenization_id)
    credit_class = session.get(CreditClass, request.class_id)
    return request, lock_serialization(session, credit_class.serialization_id)


def return_unminted(
    session: Session,
    *,
    custody_account_id: int,
    tokenization_id: int,
    ranges: list[tuple[int, int]],
    batch_id: int,
    origin: ChainOrigin,
) -> list[str]:
    """Move the custody units ``ranges`` (first, last unit of each unminted leaf) of a
    tokenization back to the account that requested it, active again; returns the serial
    blocks moved, as text. Raises :class:`Conflict`, changing nothing, if custody does not hold
    every one of those units unminted for this tokenization."""
    request, serialization = _request_and_serialization(session, tokenization_id)
    rows: list[SerialBlock] = []
    for first, last in ranges:
        found = tokenization_custody_blocks(session, custody_account_id=custody_account_id,
                                            serialization_id=serialization.id, tokenization_id=tokenization_id,
                                            first=first, last=last, mirrored=False)
        if sum(b.quantity for b in found) != last - first + 1:
            raise Conflict(f"batch {batch_id}: custody does not hold units {first}-{last} of {serialization.text} "
                           f"unminted for tokenization {tokenization_id}")
        rows.extend(found)
    destination = (request.account_id, CreditStatus.active.value)
    moves = [move_record(serialization.text, r.unit_first, r.unit_last, place(r), destination) for r in rows]
    moved = describe_blocks(session, rows)
    for row in rows:
        row.account_id = request.account_id
        row.tokenization_id = None
        session.add(row)
    session.flush()
    coalesce(session, serialization.id, account_id=request.account_id, status=CreditStatus.active)
    serial_blocks = [m.serial_block for m in moved]
    append_entry(session, "tokenization.returned", {
        "tokenization_id": tokenization_id, "batch_id": batch_id, "account_id": request.account_id,
        "custody_account_id": custody_account_id, "quantity": sum(m.quantity for m in moved),
        "serial_blocks": serial_blocks, "chain_id": origin.chain_id, "tx_hash": origin.tx_hash,
        "log_index": origin.log_index, "moves": moves,
    })
    return serial_blocks


def revert_return(
    session: Session,
    *,
    custody_account_id: int,
    tokenization_id: int,
    ranges: list[tuple[int, int]],
    batch_id: int,
    reason: str,
) -> None:
    """Put exactly the returned ``ranges`` of a tokenization back into custody, unmirrored:
    the revocation was reorganized away and the leaves can be minted again. Raises
    :class:`Conflict`, changing nothing, if the account no longer holds all of them."""
    request, serialization = _request_and_serialization(session, tokenization_id)
    moves, moved = carve_into_custody(
        session, serialization=serialization, account_id=request.account_id, custody_account_id=custody_account_id,
        ranges=[(first, last, tokenization_id) for first, last in ranges], mirrored=False,
        what=f"the return of batch {batch_id}'s unminted units",
    )
    append_entry(session, "tokenization.return_reverted", {
        "tokenization_id": tokenization_id, "batch_id": batch_id, "account_id": request.account_id,
        "custody_account_id": custody_account_id, "serial_blocks": [m.serial_block for m in moved],
        "reason": reason, "moves": moves,
    })
