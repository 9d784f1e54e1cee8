"""The sync: reads the token contract's events in block order and applies each to the registry
exactly once.

- Only final events are applied: up to the chain's ``finalized`` block when it has that tag
  (and the operator asks for it), otherwise ``confirmations`` blocks below the head.
- Each event is applied together with its :class:`ChainEvent` row, unique on (chain id,
  transaction hash, log index), in one database transaction: replaying a range, or two
  workers racing on it, applies nothing twice. Events are applied up to
  ``EVENTS_PER_TRANSACTION`` per transaction (a crash rolls the whole group back and the next
  pass applies it again); if another worker recorded one of them first, the group is applied
  again one event per transaction, skipping that one. Any other integrity error stops the
  pass before the cursor moves: an event is never skipped because applying it failed.
- The cursor stores the hash of the last block it covered. If the chain no longer has that
  block, a reorganization happened: the sync finds the highest applied block still on the
  chain, undoes every event applied above it (newest first), rewinds the cursor there and
  ingests the new branch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from eth_abi.codec import ABICodec
from eth_abi.decoding import StringDecoder
from eth_abi.registry import BaseEquals
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from web3._utils.events import get_event_data

from bridge.chain.client import Chain
from bridge.chain.token import MalformedRetirementData, RetirementData, decode_retirement_data
from bridge.deployments import require_deployment
from bridge.engine import faults
from bridge.engine.locks import claim
from bridge.tables import (
    BatchStatus,
    ChainCursor,
    ChainEvent,
    Deployment,
    MintBatch,
    MintLeaf,
    Redemption,
    RedemptionStatus,
)
from bridge.webhooks import events
from registry.bridged import custody, redemption, revocation
from registry.db import transaction
from registry.domain.enums import TokenizationStatus
from registry.operations.classes import class_for_token
from registry.operations.ledger import append_entry
from registry.tables.core import SerialBlock, TokenizationRequest

log = logging.getLogger("icr_bridge.sync")

SYNCED_EVENTS = (
    "LeafMinted", "Retired", "BatchRevoked",
    "RedemptionRequested", "RedemptionFinalized", "RedemptionRejected", "RedemptionReclaimed",
)
MAX_BLOCK_RANGE = 2_000
#: Events applied per database transaction (see the module docstring).
EVENTS_PER_TRANSACTION = 200


@dataclass
class SyncReport:
    from_block: int
    to_block: int
    applied: dict[str, int] = field(default_factory=dict)
    skipped_duplicates: int = 0
    rolled_back: int = 0
    reorg_fork_block: int | None = None
    flagged: list[str] = field(default_factory=list)
    busy: bool = False  # another worker holds the sync for this contract

    @property
    def applied_total(self) -> int:
        return sum(self.applied.values())


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = value.hex() if hasattr(value, "hex") and not isinstance(value, str) else str(value)
    return text if text.startswith("0x") else "0x" + text


def deployment_for(engine: Engine, chain: Chain) -> Deployment:
    with Session(engine) as session:
        deployment = require_deployment(session, chain.chain_id)
    if chain.address is None:
        chain.address = deployment.address
    return deployment


def _cursor(session: Session, deployment: Deployment, lock: bool = False) -> ChainCursor:
    stmt = select(ChainCursor).where(
        ChainCursor.chain_id == deployment.chain_id, ChainCursor.address == deployment.address
    )
    cursor = session.exec(stmt.with_for_update() if lock else stmt).first()
    if cursor is None:
        cursor = ChainCursor(chain_id=deployment.chain_id, address=deployment.address, last_block=deployment.deployed_block - 1)
        session.add(cursor)
        session.flush()
    return cursor


def _signature(event) -> str:
    abi = event.abi
    return f"{abi['name']}({','.join(_abi_type(i) for i in abi['inputs'])})"


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def fetch_events(chain: Chain, from_block: int, to_block: int) -> list[tuple[str, Any]]:
    """Decoded (event name, log) pairs of the synced events, in (block, log index) order."""
    token = chain.token
    events = {name: getattr(token.events, name)() for name in SYNCED_EVENTS}
    topics = {"0x" + bytes(chain.w3.keccak(text=_signature(e))).hex(): name for name, e in events.items()}
    logs = chain.w3.eth.get_logs(
        {"fromBlock": from_block, "toBlock": to_block, "address": chain.address, "topics": [list(topics)]}
    )
    decoded = []
    for raw in sorted(logs, key=lambda r: (r["blockNumber"], r["logIndex"])):
        name = topics[_hex(raw["topics"][0])]
        try:
            decoded.append((name, events[name].process_log(raw)))
        except UnicodeDecodeError:
            # Anyone can put bytes that are not UTF-8 into an event's strings (a retiree name).
            # The event still happened (the tokens are burned): decode with replacement
            # characters and mark it, so the applier records it and flags it for the operator.
            entry = dict(get_event_data(_lenient_codec(chain.w3), events[name].abi, raw))
            entry[LOSSY_STRINGS] = True
            decoded.append((name, entry))
    return decoded


LOSSY_STRINGS = "lossyStrings"  # set on an event whose strings were not valid UTF-8


def _lenient_codec(w3) -> ABICodec:
    registry = w3.codec._registry.copy()
    registry.unregister_decoder("string")
    registry.register_decoder(BaseEquals("string"), StringDecoder(handle_string_errors="replace"), label="string")
    return ABICodec(registry)


def _origin(chain: Chain, entry: Any) -> custody.ChainOrigin:
    return custody.ChainOrigin(
        chain_id=chain.chain_id,
        tx_hash=_hex(entry["transactionHash"]),
        log_index=int(entry["logIndex"]),
        block_number=int(entry["blockNumber"]),
    )


def _recorded_origins(session: Session, chain: Chain, entries: list[Any]) -> set[tuple[str, int]]:
    """(tx hash, log index) of those of ``entries`` that already have a ChainEvent row."""
    hashes = sorted({_hex(entry["transactionHash"]) for entry in entries})
    recorded: set[tuple[str, int]] = set()
    for start in range(0, len(hashes), 500):
        rows = session.exec(
            select(ChainEvent.tx_hash, ChainEvent.log_index).where(
                ChainEvent.chain_id == chain.chain_id, ChainEvent.tx_hash.in_(hashes[start:start + 500])
            )
        ).all()
        recorded.update((tx_hash, log_index) for tx_hash, log_index in rows)
    return recorded


def _log_recorded(engine: Engine, chain: Chain, entry: Any) -> bool:
    """Whether this log has its ChainEvent row (committed by whichever worker applied it)."""
    origin = _origin(chain, entry)
    with Session(engine) as session:
        return session.exec(
            select(ChainEvent.id).where(ChainEvent.chain_id == origin.chain_id, ChainEvent.tx_hash == origin.tx_hash,
                                        ChainEvent.log_index == origin.log_index)
        ).first() is not None


def _record_event(session: Session, chain: Chain, name: str, entry: Any, recorded: set[tuple[str, int]]) -> bool:
    """Insert the ChainEvent row; False if this log was applied before.

    ``recorded`` holds the origins already recorded (from :func:`_recorded_origins`, then kept
    up to date here); a row another worker inserts meanwhile fails the unique key on commit."""
    origin = _origin(chain, entry)
    if (origin.tx_hash, origin.log_index) in recorded:
        return False
    recorded.add((origin.tx_hash, origin.log_index))
    session.add(
        ChainEvent(
            chain_id=origin.chain_id,
            tx_hash=origin.tx_hash,
            log_index=origin.log_index,
            block_number=origin.block_number,
            block_hash=_hex(entry["blockHash"]),
            event=name,
        )
    )
    return True


# ------------------------------------------------------------------------------------------
# Applying events
# ------------------------------------------------------------------------------------------


def _leaf_blocks(session: Session, deployment: Deployment, leaf: MintLeaf, mirrored: bool) -> list[SerialBlock]:
    return custody.tokenization_custody_blocks(
        session, custody_account_id=deployment.custody_account_id,
        serialization_id=class_for_token(session, leaf.token_id).serialization_id,
        tokenization_id=leaf.tokenization_id, first=leaf.unit_first, last=leaf.unit_last, mirrored=mirrored,
    )


def apply_leaf_minted(session: Session, chain: Chain, deployment: Deployment, entry: Any, report: SyncReport) -> None:
    args = entry["args"]
    leaf = session.exec(
        select(MintLeaf).where(MintLeaf.batch_id == args["batchId"], MintLeaf.leaf_index == args["leafIndex"])
    ).first()
    if leaf is None or (leaf.unit_first, leaf.unit_last) != (args["firstSerial"], args["lastSerial"]):
        raise RuntimeError(
            f"LeafMinted batch {args['batchId']} leaf {args['leafIndex']} does not match a persisted leaf"
        )
    leaf.minted = True
    leaf.mint_tx = _hex(entry["transactionHash"])
    session.add(leaf)
    blocks = _leaf_blocks(session, deployment, leaf, mirrored=False)
    if sum(b.quantity for b in blocks) != leaf.amount:
        raise RuntimeError(f"custody does not hold the unminted units of leaf {leaf.serial_block}")
    for block in blocks:
        block.mirrored = True
        session.add(block)
    _touched(session).add(leaf)
    append_entry(
        session,
        "leaf.minted",
        {"batch_id": leaf.batch_id, "leaf_index": leaf.leaf_index, "serial_block": leaf.serial_block,
         "recipient": leaf.recipient, "tx_hash": leaf.mint_tx},
    )


@dataclass
class _Touched:
    """Tokenizations and batches whose leaves an event transaction minted: whether each is
    now fully minted is checked once, when the transaction's events are applied."""

    tokenizations: set[int] = field(default_factory=set)
    batches: set[int] = field(default_factory=set)

    def add(self, leaf: MintLeaf) -> None:
        self.tokenizations.add(leaf.tokenization_id)
        self.batches.add(leaf.batch_id)


def _touched(session: Session) -> _Touched:
    return session.info.setdefault("icr_bridge.sync.touched", _Touched())


def complete_minted(session: Session, chain: Chain) -> None:
    """Mark the tokenizations and batches the transaction's ``LeafMinted`` events finished as
    minted (and write the ``tokenization.minted`` webhook event, in the same transaction)."""
    touched = session.info.pop("icr_bridge.sync.touched", None)
    if touched is None:
        return
    session.flush()
    for tokenization_id in sorted(touched.tokenizations):
        remaining = session.exec(
            select(MintLeaf.id).where(MintLeaf.tokenization_id == tokenization_id, MintLeaf.minted == False)  # noqa: E712
        ).first()
        request = session.get(TokenizationRequest, tokenization_id)
        if remaining is None and request.status is not TokenizationStatus.minted:
            request.status = TokenizationStatus.minted
            session.add(request)
            session.flush()
            events.tokenization_minted(session, request, chain.chain_id)
    for batch_id in sorted(touched.batches):
        remaining = session.exec(
            select(MintLeaf.id).where(MintLeaf.batch_id == batch_id, MintLeaf.minted == False)  # noqa: E712
        ).first()
        if remaining is None:
            batch = session.get(MintBatch, batch_id)
            batch.status = BatchStatus.minted
            session.add(batch)
    session.flush()


def _unminted_by_tokenization(session: Session, batch_id: int) -> dict[int, list[MintLeaf]]:
    leaves = session.exec(
        select(MintLeaf).where(MintLeaf.batch_id == batch_id, MintLeaf.minted == False)  # noqa: E712
        .order_by(MintLeaf.leaf_index)
    ).all()
    grouped: dict[int, list[MintLeaf]] = {}
    for leaf in leaves:
        grouped.setdefault(leaf.tokenization_id, []).append(leaf)
    return grouped


def _any_minted(session: Session, tokenization_id: int) -> bool:
    return session.exec(
        select(MintLeaf.id).where(MintLeaf.tokenization_id == tokenization_id, MintLeaf.minted == True)  # noqa: E712
    ).first() is not None


def apply_batch_revoked(session: Session, chain: Chain, deployment: Deployment, entry: Any, report: SyncReport) -> None:
    """The admin revoked a batch: none of its unminted leaves can be minted any more, so their
    custody units go back to the accounts that asked for them (see :mod:`registry.bridged.revocation`)."""
    batch_id = entry["args"]["batchId"]
    batch = session.get(MintBatch, batch_id)
    if batch is None or batch.chain_id != chain.chain_id:
        report.flagged.append(f"BatchRevoked for batch {batch_id} in {_hex(entry['transactionHash'])}: "
                              "no batch of this registry on this chain has that id")
        return
    origin = _origin(chain, entry)
    for tokenization_id, leaves in sorted(_unminted_by_tokenization(session, batch_id).items()):
        serial_blocks = revocation.return_unminted(
            session, custody_account_id=deployment.custody_account_id, tokenization_id=tokenization_id,
            ranges=[(leaf.unit_first, leaf.unit_last) for leaf in leaves], batch_id=batch_id, origin=origin,
        )
        request = session.get(TokenizationRequest, tokenization_id)
        request.status = (TokenizationStatus.partially_returned if _any_minted(session, tokenization_id)
                          else TokenizationStatus.returned)
        session.add(request)
        session.flush()
        events.tokenization_returned(session, request, chain.chain_id, batch_id, sum(leaf.amount for leaf in leaves),
                                     serial_blocks, origin.tx_hash)
    batch.status = BatchStatus.revoked
    batch.revoked_tx = origin.tx_hash
    session.add(batch)
    session.flush()


def apply_retired(session: Session, chain: Chain, deployment: Deployment, entry: Any, report: SyncReport) -> None:
    args = entry["args"]
    malformed = False
    try:
        data = decode_retirement_data(bytes(args["data"]))
    except MalformedRetirementData as exc:
        # The tokens are burned whatever the data says: record the retirement, flag the data.
        data, malformed = RetirementData(), True
        report.flagged.append(f"retirement {args['retirementId']} in {_hex(entry['transactionHash'])}: {exc}")
    if entry.get(LOSSY_STRINGS):
        report.flagged.append(f"retirement {args['retirementId']} in {_hex(entry['transactionHash'])}: names or "
                              "comment are not UTF-8; recorded with replacement characters (U+FFFD)")
    custody.retire_from_custody(session, custody_account_id=deployment.custody_account_id, retirement=custody.OnchainRetirement(
        token_id=args["tokenId"],
        quantity=args["amount"],
        origin=_origin(chain, entry),
        details=data.claim(retiree_name=args["retireeName"], comment=args["comment"]),
        data_malformed=malformed,
        custom_uri=args["customUri"],
        holder_wallet=args["holder"],
        beneficiary_wallet=args["beneficiary"],
        onchain_retirement_id=args["retirementId"],
    ))


# Redemptions: the registry's credits move only on final events. A request is recorded; the
# engine decides and answers (bridge/engine/redemptions.py); the burn moves the serials out of
# custody; a rejection or reclaim just closes the request (the tokens went back on-chain).


def _redemption_row(session: Session, chain_id: int, redemption_id: int) -> Redemption | None:
    return session.exec(
        select(Redemption).where(Redemption.chain_id == chain_id, Redemption.redemption_id == redemption_id)
        .with_for_update()
    ).first()


def apply_redemption_requested(session: Session, chain: Chain, deployment: Deployment, entry: Any,
                               report: SyncReport) -> None:
    args = entry["args"]
    if _redemption_row(session, chain.chain_id, args["redemptionId"]) is not None:
        return
    credit_class = class_for_token(session, args["classId"])
    session.add(Redemption(
        chain_id=chain.chain_id, redemption_id=args["redemptionId"], holder=args["holder"], class_id=credit_class.id,
        token_id=str(args["classId"]), amount=args["amount"], account_reference=args["accountReference"],
        reclaimable_at=args["reclaimableAt"], request_tx=_hex(entry["transactionHash"]),
    ))
    session.flush()
    append_entry(session, "redemption.requested", {
        "chain_id": chain.chain_id, "redemption_id": args["redemptionId"], "holder": args["holder"],
        "token_id": str(args["classId"]), "amount": args["amount"], "account_reference": args["accountReference"],
        "tx_hash": _hex(entry["transactionHash"]),
    })


def apply_redemption_finalized(session: Session, chain: Chain, deployment: Deployment, entry: Any,
                               report: SyncReport) -> None:
    """The escrow is burned: move that many custody serials to the decided account. If the
    burn came without this registry's decision (another holder of the operator role), the
    account reference is checked now; if it names no valid account, the serials stay in
    custody and the event is flagged: reconcile will show the gap until an operator acts."""
    args = entry["args"]
    row = _redemption_row(session, chain.chain_id, args["redemptionId"])
    if row is None:
        raise RuntimeError(f"RedemptionFinalized for unknown redemption {args['redemptionId']}: its request was not applied")
    account_id = row.decided_account_id if row.decision == "finalize" else None
    if account_id is None:
        account_id, reason = redemption.check_destination(session, row.account_reference)
        if reason is not None:
            report.flagged.append(f"redemption {row.redemption_id} was burned without a registry decision and "
                                  f"{reason}: its {row.amount} t stay in custody")
            row.status = RedemptionStatus.finalized
            row.answered_tx = _hex(entry["transactionHash"])
            session.add(row)
            return
    ranges, serial_blocks = redemption.redeem_from_custody(
        session, custody_account_id=deployment.custody_account_id, token_id=args["classId"], account_id=account_id,
        quantity=args["amount"], origin=_origin(chain, entry), redemption_id=row.redemption_id,
    )
    row.status = RedemptionStatus.finalized
    row.account_id = account_id
    row.moved_ranges = json.dumps(ranges)
    row.answered_tx = _hex(entry["transactionHash"])
    session.add(row)
    session.flush()
    events.redemption_answered(session, row, serial_blocks)


def _close_redemption(status: RedemptionStatus):
    def apply(session: Session, chain: Chain, deployment: Deployment, entry: Any, report: SyncReport) -> None:
        args = entry["args"]
        row = _redemption_row(session, chain.chain_id, args["redemptionId"])
        if row is None:
            raise RuntimeError(f"{status.value} redemption {args['redemptionId']} was never requested in this registry")
        row.status = status
        row.answered_tx = _hex(entry["transactionHash"])
        if status is RedemptionStatus.rejected and not row.decision_reason:
            row.decision_reason = args["reason"]
        session.add(row)
        append_entry(session, f"redemption.{status.value}", {
            "chain_id": chain.chain_id, "redemption_id": row.redemption_id, "amount": row.amount,
            "reason": args.get("reason", ""), "tx_hash": row.answered_tx,
        })
        if status is RedemptionStatus.rejected:
            session.flush()
            events.redemption_answered(session, row)
    return apply


APPLIERS: dict[str, Callable[..., None]] = {
    "LeafMinted": apply_leaf_minted,
    "BatchRevoked": apply_batch_revoked,
    "Retired": apply_retired,
    "RedemptionRequested": apply_redemption_requested,
    "RedemptionFinalized": apply_redemption_finalized,
    "RedemptionRejected": _close_redemption(RedemptionStatus.rejected),
    "RedemptionReclaimed": _close_redemption(RedemptionStatus.reclaimed),
}


# ------------------------------------------------------------------------------------------
# Undoing events (reorganizations)
# ------------------------------------------------------------------------------------------


def undo_leaf_minted(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    """Un-mint every leaf minted by the event's transaction (idempotent across its logs)."""
    for leaf in session.exec(select(MintLeaf).where(MintLeaf.mint_tx == event.tx_hash, MintLeaf.minted == True)):  # noqa: E712
        for block in _leaf_blocks(session, deployment, leaf, mirrored=True):
            block.mirrored = False
            session.add(block)
        leaf.minted = False
        leaf.mint_tx = None
        session.add(leaf)
        request = session.get(TokenizationRequest, leaf.tokenization_id)
        request.status = TokenizationStatus.batched
        session.add(request)
        batch = session.get(MintBatch, leaf.batch_id)
        batch.status = BatchStatus.committed
        session.add(batch)
        append_entry(session, "leaf.unminted", {"batch_id": leaf.batch_id, "leaf_index": leaf.leaf_index,
                                                "serial_block": leaf.serial_block, "tx_hash": event.tx_hash,
                                                "reason": "chain reorganization"})
    session.flush()


def undo_batch_revoked(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    """The revocation's block is gone: the returned units go back into custody, unminted, and
    the batch is open for minting again (the engine checks the chain before it mints)."""
    batch = session.exec(select(MintBatch).where(MintBatch.chain_id == event.chain_id,
                                                 MintBatch.revoked_tx == event.tx_hash)).first()
    if batch is None:
        return
    for tokenization_id, leaves in sorted(_unminted_by_tokenization(session, batch.id).items()):
        revocation.revert_return(
            session, custody_account_id=deployment.custody_account_id, tokenization_id=tokenization_id,
            ranges=[(leaf.unit_first, leaf.unit_last) for leaf in leaves], batch_id=batch.id,
            reason="chain reorganization",
        )
        request = session.get(TokenizationRequest, tokenization_id)
        request.status = TokenizationStatus.batched
        session.add(request)
    batch.status = BatchStatus.committed
    batch.revoked_tx = None
    session.add(batch)
    session.flush()


def undo_retired(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    origin = custody.ChainOrigin(event.chain_id, event.tx_hash, event.log_index, event.block_number)
    blocks = events.bridged_retirement_blocks(session, origin)
    retirement = custody.revert_bridged_retirement(session, origin, reason="chain reorganization")
    if retirement is not None:
        events.retirement_reverted(session, retirement, blocks, "chain reorganization")


def undo_redemption_requested(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    row = session.exec(select(Redemption).where(Redemption.chain_id == event.chain_id,
                                                Redemption.request_tx == event.tx_hash)).first()
    if row is not None:
        session.delete(row)
        append_entry(session, "redemption.request_reverted", {"redemption_id": row.redemption_id,
                                                              "tx_hash": event.tx_hash, "reason": "chain reorganization"})


def undo_redemption_answer(session: Session, deployment: Deployment, event: ChainEvent) -> None:
    """The answer's block is gone: the request is open again (the engine answers it anew, with
    the decision it recorded); a burn's serials go back to custody."""
    row = session.exec(select(Redemption).where(Redemption.chain_id == event.chain_id,
                                                Redemption.answered_tx == event.tx_hash)).first()
    if row is None:
        return
    if row.status is RedemptionStatus.finalized and row.moved_ranges:
        redemption.revert_redemption(
            session, custody_account_id=deployment.custody_account_id, token_id=row.token_id,
            account_id=row.account_id, ranges=[tuple(r) for r in json.loads(row.moved_ranges)],
            redemption_id=row.redemption_id, reason="chain reorganization",
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


UNDOERS: dict[str, Callable[[Session, Deployment, ChainEvent], None]] = {
    "LeafMinted": undo_leaf_minted,
    "BatchRevoked": undo_batch_revoked,
    "Retired": undo_retired,
    "RedemptionRequested": undo_redemption_requested,
    "RedemptionFinalized": undo_redemption_answer,
    "RedemptionRejected": undo_redemption_answer,
    "RedemptionReclaimed": undo_redemption_answer,
}


def handle_reorg(engine: Engine, chain: Chain, deployment: Deployment, report: SyncReport) -> None:
    """If the cursor's block, or the block of the newest applied event, is no longer on the
    chain, roll back to the last applied block that still is, and rewind the cursor there.

    The newest event counts on its own: a pass that crashed after applying events and before
    moving the cursor leaves applied events above the cursor (found by
    tests/reliability/test_stateful.py: crash at ``sync.before_cursor``, then a reorg)."""
    with Session(engine) as session:
        cursor = _cursor(session, deployment)
        last_block, last_hash = cursor.last_block, cursor.last_block_hash
        newest = session.exec(
            select(ChainEvent.block_number, ChainEvent.block_hash)
            .where(ChainEvent.chain_id == deployment.chain_id)
            .order_by(ChainEvent.block_number.desc())
            .limit(1)
        ).first()
    cursor_on_chain = not last_hash or chain.block_hash(last_block) == last_hash
    newest_on_chain = newest is None or chain.block_hash(newest[0]) == newest[1]
    if cursor_on_chain and newest_on_chain:
        return
    with Session(engine) as session:
        applied_blocks = session.exec(
            select(ChainEvent.block_number, ChainEvent.block_hash)
            .where(ChainEvent.chain_id == deployment.chain_id)
            .distinct()
            .order_by(ChainEvent.block_number.desc())
        ).all()
    fork = deployment.deployed_block - 1
    for number, stored_hash in applied_blocks:
        if chain.block_hash(number) == stored_hash:
            fork = number
            break
    with transaction(engine) as session:
        undone = session.exec(
            select(ChainEvent)
            .where(ChainEvent.chain_id == deployment.chain_id, ChainEvent.block_number > fork)
            .order_by(ChainEvent.block_number.desc(), ChainEvent.log_index.desc())
        ).all()
        for event in undone:
            UNDOERS[event.event](session, deployment, event)
            session.delete(event)
        session.flush()
        cursor = _cursor(session, deployment, lock=True)
        cursor.last_block = fork
        cursor.last_block_hash = (chain.block_hash(fork) or "") if fork >= 0 else ""
        session.add(cursor)
        append_entry(session, "sync.reorg", {"chain_id": deployment.chain_id, "fork_block": fork,
                                             "abandoned_block": last_block, "events_undone": len(undone)})
    report.rolled_back += len(undone)
    report.reorg_fork_block = fork
    log.warning("reorganization rolled back", extra={"fork_block": fork, "abandoned_block": last_block,
                                                     "events_undone": len(undone)})


# ------------------------------------------------------------------------------------------
# The pass
# ------------------------------------------------------------------------------------------


def sync_once(
    engine: Engine,
    chain: Chain,
    confirmations: int = 0,
    use_finalized_tag: bool = False,
    max_range: int = MAX_BLOCK_RANGE,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Apply every synced event from the cursor up to the final head; returns what it did.

    Registers the webhook listeners of registry hooks first (idempotent), so a retirement it
    records writes its ``retirement.recorded`` webhook event in the same transaction."""
    events.register_listeners()
    deployment = deployment_for(engine, chain)
    with claim(engine, f"sync:{deployment.chain_id}:{deployment.address}") as mine:
        if not mine:
            report = SyncReport(from_block=0, to_block=-1, busy=True)
            return report
        return _sync_pass(engine, chain, deployment, confirmations, use_finalized_tag, max_range, progress)


def check_reorg(engine: Engine, chain: Chain) -> SyncReport:
    """Detect and roll back a reorganization now (the engine does this before outbound work,
    so that it never builds on minted state the chain no longer has)."""
    deployment = deployment_for(engine, chain)
    report = SyncReport(from_block=0, to_block=-1)
    with claim(engine, f"sync:{deployment.chain_id}:{deployment.address}") as mine:
        if not mine:
            report.busy = True
            return report
        handle_reorg(engine, chain, deployment, report)
    return report


def _apply_group(engine: Engine, chain: Chain, deployment: Deployment, group: list[tuple[str, Any]],
                 report: SyncReport) -> None:
    """Apply ``group`` in one transaction; the report counts it only once it has committed."""
    applied: list[str] = []
    skipped = 0
    flagged = len(report.flagged)
    try:
        with transaction(engine) as session:
            recorded = _recorded_origins(session, chain, [entry for _, entry in group])
            for name, entry in group:
                if not _record_event(session, chain, name, entry, recorded):
                    skipped += 1
                    continue
                APPLIERS[name](session, chain, deployment, entry, report)
                faults.point(f"sync.applied.{name}")
                applied.append(name)
            complete_minted(session, chain)
    except BaseException:
        del report.flagged[flagged:]  # rolled back: flagged again when applied again
        raise
    report.skipped_duplicates += skipped
    for name in applied:
        report.applied[name] = report.applied.get(name, 0) + 1
        faults.point(f"sync.committed.{name}")


def _sync_pass(engine, chain, deployment, confirmations, use_finalized_tag, max_range, progress) -> SyncReport:
    report = SyncReport(from_block=0, to_block=-1)
    handle_reorg(engine, chain, deployment, report)
    with transaction(engine) as session:
        start = _cursor(session, deployment).last_block + 1
    head = chain.safe_head(confirmations, use_finalized_tag)
    report.from_block, report.to_block = start, start - 1
    while start <= head:
        end = min(head, start + max_range - 1)
        fetched = fetch_events(chain, start, end)
        for first in range(0, len(fetched), EVENTS_PER_TRANSACTION):
            group = fetched[first:first + EVENTS_PER_TRANSACTION]
            try:
                _apply_group(engine, chain, deployment, group, report)
            except IntegrityError:
                # Another worker recorded one of these logs after we looked: one at a time.
                for one in group:
                    try:
                        _apply_group(engine, chain, deployment, [one], report)
                    except IntegrityError:
                        if not _log_recorded(engine, chain, one[1]):
                            raise  # not a duplicate log: a constraint the event broke, never skipped
                        report.skipped_duplicates += 1
        faults.point("sync.before_cursor")
        end_hash = chain.block_hash(end) or ""  # asked before the transaction: none is held across a chain call
        with transaction(engine) as session:
            cursor = _cursor(session, deployment, lock=True)
            if end > cursor.last_block:
                cursor.last_block = end
                cursor.last_block_hash = end_hash
                session.add(cursor)
        report.to_block = end
        if progress is not None:
            progress(end - report.from_block + 1, head - report.from_block + 1)
        start = end + 1
    log.info("sync pass", extra={"from_block": report.from_block, "to_block": report.to_block,
                                 "applied": report.applied, "skipped": report.skipped_duplicates,
                                 "rolled_back": report.rolled_back})
    return report


def rewind_cursor(engine: Engine, chain: Chain, block: int) -> None:
    """Make the next pass re-read events from ``block`` on (applied ones are skipped)."""
    deployment = deployment_for(engine, chain)
    with transaction(engine) as session:
        cursor = _cursor(session, deployment, lock=True)
        cursor.last_block = max(block, deployment.deployed_block) - 1
        cursor.last_block_hash = chain.block_hash(cursor.last_block) or ""
        session.add(cursor)
