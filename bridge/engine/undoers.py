"""Undoing applied events whose block a chain reorganization took away, newest first: one
undoer per synced event (``UNDOERS``), each the inverse of its applier in
:mod:`bridge.engine.appliers`. :func:`bridge.engine.sync.handle_reorg` finds the fork and runs them."""

from __future__ import annotations

import json
from typing import Callable

from sqlmodel import Session, select

from bridge.engine.appliers import leaf_blocks, unminted_by_tokenization
from bridge.tables import (
    BatchStatus,
    ChainEvent,
    Deployment,
    MintBatch,
    MintLeaf,
    Redemption,
    RedemptionStatus,
)
from bridge.webhooks import events
from bridge.webhooks.tables import EventKind
from registry.bridged import custody, redemption, revocation
from registry.domain.enums import TokenizationStatus
from registry.operations.ledger import append_entry
from registry.tables.core import Account, TokenizationRequest

REORG = "chain reorganization"


def undo_leaf_minted(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    """Un-mint every leaf minted by the event's transaction (idempotent across its logs); a
    tokenization whose ``tokenization.minted`` was announced gets a ``tokenization.retracted``."""
    announced: list[TokenizationRequest] = []
    for leaf in session.exec(select(MintLeaf).where(MintLeaf.mint_tx == event.tx_hash, MintLeaf.minted == True)):  # noqa: E712
        for block in leaf_blocks(session, deployment, leaf, mirrored=True):
            block.mirrored = False
            session.add(block)
        leaf.minted = False
        leaf.mint_tx = None
        session.add(leaf)
        request = session.get(TokenizationRequest, leaf.tokenization_id)
        if request.status is TokenizationStatus.minted:
            announced.append(request)
        request.status = TokenizationStatus.batched
        session.add(request)
        batch = session.get(MintBatch, leaf.batch_id)
        batch.status = BatchStatus.committed
        session.add(batch)
        append_entry(session, "leaf.unminted", {"batch_id": leaf.batch_id, "leaf_index": leaf.leaf_index,
                                                "serial_block": leaf.serial_block, "tx_hash": event.tx_hash,
                                                "reason": REORG})
    session.flush()
    for request in announced:
        events.tokenization_retracted(session, request, event.chain_id, EventKind.tokenization_minted, REORG)


def undo_batch_revoked(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    """The revocation's block is gone: the returned units go back into custody, unminted, and
    the batch is open for minting again (the engine checks the chain before it mints)."""
    batch = session.exec(select(MintBatch).where(MintBatch.chain_id == event.chain_id,
                                                 MintBatch.revoked_tx == event.tx_hash)).first()
    if batch is None:
        return
    for tokenization_id, leaves in sorted(unminted_by_tokenization(session, batch.id).items()):
        revocation.revert_return(
            session, custody_account_id=deployment.custody_account_id, tokenization_id=tokenization_id,
            ranges=[(leaf.unit_first, leaf.unit_last) for leaf in leaves], batch_id=batch.id,
            reason=REORG,
        )
        request = session.get(TokenizationRequest, tokenization_id)
        announced = request.status in (TokenizationStatus.returned, TokenizationStatus.partially_returned)
        request.status = TokenizationStatus.batched
        session.add(request)
        session.flush()
        if announced:
            events.tokenization_retracted(session, request, event.chain_id, EventKind.tokenization_returned, REORG)
    batch.status = BatchStatus.committed
    batch.revoked_tx = None
    session.add(batch)
    session.flush()


def undo_retired(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    origin = custody.ChainOrigin(event.chain_id, event.tx_hash, event.log_index, event.block_number)
    blocks = events.bridged_retirement_blocks(session, origin)
    retirement = custody.revert_bridged_retirement(session, origin, reason=REORG)
    if retirement is not None:
        events.retirement_retracted(session, retirement, blocks, REORG)


def undo_redemption_requested(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    row = session.exec(select(Redemption).where(Redemption.chain_id == event.chain_id,
                                                Redemption.request_tx == event.tx_hash)).first()
    if row is not None:
        session.delete(row)
        append_entry(session, "redemption.request_reverted", {"redemption_id": row.redemption_id,
                                                              "tx_hash": event.tx_hash, "reason": REORG})


def undo_redemption_answer(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    """The answer's block is gone: the request is open again (the engine answers it anew, with
    the decision it recorded); a burn's serials go back to custody."""
    row = session.exec(select(Redemption).where(Redemption.chain_id == event.chain_id,
                                                Redemption.answered_tx == event.tx_hash)).first()
    if row is None:
        return
    # Answers announced: redemption.finalized went to the account's organization, .rejected to the holder's.
    announced, organization_id = False, None
    if row.status is RedemptionStatus.finalized and row.account_id is not None:
        account = session.get(Account, row.account_id)
        announced, organization_id = True, account.organization_id if account else None
    elif row.status is RedemptionStatus.rejected:
        announced, organization_id = True, events.organization_of_wallet(session, row.holder)
    if row.status is RedemptionStatus.finalized and row.moved_ranges:
        redemption.revert_redemption(
            session, custody_account_id=deployment.custody_account_id, token_id=row.token_id,
            account_id=row.account_id, ranges=[tuple(r) for r in json.loads(row.moved_ranges)],
            redemption_id=row.redemption_id, reason=REORG,
        )
    else:
        append_entry(session, "redemption.answer_reverted", {"redemption_id": row.redemption_id,
                                                             "status": row.status.value, "tx_hash": event.tx_hash})
    row.status = RedemptionStatus.requested
    row.account_id = None
    row.moved_ranges = None
    row.answered_tx = None
    row.answer_tx = None
    session.add(row)
    session.flush()
    if announced:
        events.redemption_retracted(session, row, organization_id, REORG)


UNDOERS: dict[str, Callable[[Session, Deployment, ChainEvent], None]] = {
    "LeafMinted": undo_leaf_minted,
    "BatchRevoked": undo_batch_revoked,
    "Retired": undo_retired,
    "RedemptionRequested": undo_redemption_requested,
    "RedemptionFinalized": undo_redemption_answer,
    "RedemptionRejected": undo_redemption_answer,
    "RedemptionReclaimed": undo_redemption_answer,
}


