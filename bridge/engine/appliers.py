"""Applying final chain events to the registry, inside the sync's transaction: one applier
per synced event (``APPLIERS``), each idempotent with the ChainEvent row the sync inserts
with it, and, for the kinds that come in long runs, a bulk applier of a run of consecutive
events (``BULK_APPLIERS``: ``LeafMinted`` and ``Retired``) that leaves the registry exactly as
the one-event applier applied to each in turn would, with a fixed number of set-based
statements per run (tests/bridge/engine/test_bulk_sync.py compares the two on SQLite and
PostgreSQL). Registry state moves through :mod:`registry.bridged`; webhook events are written by
the same transaction."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from sqlmodel import Session, select

from bridge.chain.client import Chain
from bridge.chain.logs import LOSSY_STRINGS, RAW_LOG, to_hex
from bridge.chain.token import MalformedRetirementData, RetirementData, decode_retirement_data
from bridge.tables import (
    BatchStatus,
    Deployment,
    MintBatch,
    MintLeaf,
    Redemption,
    RedemptionStatus,
)
from bridge.webhooks import events
from registry.bridged import bulk_retirement, custody, redemption, revocation
from registry.bulk import one_of, update_ids
from registry.domain.enums import TokenizationStatus
from registry.domain.text import storable
from registry.errors import NotFound
from registry.operations.classes import class_for_token
from registry.operations.ledger import append_entries, append_entry
from registry.tables.core import CreditClass, Retirement, SerialBlock, TokenizationRequest

if TYPE_CHECKING:
    from bridge.engine.sync import SyncReport


def origin_of(chain: Chain, entry: Any) -> custody.ChainOrigin:
    timestamp = entry.get(RAW_LOG, {}).get("blockTimestamp")
    return custody.ChainOrigin(
        chain_id=chain.chain_id,
        tx_hash=to_hex(entry["transactionHash"]),
        log_index=int(entry["logIndex"]),
        block_number=int(entry["blockNumber"]),
        block_time=datetime.fromtimestamp(timestamp, tz=timezone.utc) if timestamp is not None else None,
    )


def leaf_blocks(session: Session, deployment: Deployment, leaf: MintLeaf, mirrored: bool) -> list[SerialBlock]:
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
    leaf.mint_tx = to_hex(entry["transactionHash"])
    session.add(leaf)
    blocks = leaf_blocks(session, deployment, leaf, mirrored=False)
    if sum(b.quantity for b in blocks) != leaf.amount:
        raise RuntimeError(f"custody does not hold the unminted units of leaf {leaf.serial_block}")
    for block in blocks:
        block.mirrored = True
        session.add(block)
    _touched(session).add(leaf)
    append_entry(session, "leaf.minted", _leaf_minted_entry(leaf, leaf.mint_tx))


def apply_leaf_minted_run(session: Session, chain: Chain, deployment: Deployment, entries: list[Any],
                          report: SyncReport) -> None:
    """A run of ``LeafMinted`` events with set-based statements, the same result as
    :func:`apply_leaf_minted` once per event: the leaves read as plain rows in one query, their
    classes in one, the unminted custody blocks of their tokenizations in one (locked, lowest
    first), the confirmations as one update per mint transaction and the blocks marked mirrored
    in one (:func:`registry.bulk.update_ids`), the ledger entries with
    :func:`~registry.operations.ledger.append_entries`. No ORM object is built per leaf or block
    (that was most of a run's time). An event that does not match a persisted leaf, or whose
    custody units are not all there, raises the one-by-one path's error (the sync then applies
    the group one event at a time)."""
    session.flush()  # the rows are read with Core statements: what the session holds goes first
    wanted = [(int(e["args"]["batchId"]), int(e["args"]["leafIndex"])) for e in entries]
    leaf_table = MintLeaf.__table__
    found = {}
    for condition in one_of(session, leaf_table.c.leaf_index, [i for _, i in wanted]):
        found.update(((leaf.batch_id, leaf.leaf_index), leaf) for leaf in session.execute(
            select(leaf_table).where(leaf_table.c.batch_id.in_(sorted({b for b, _ in wanted})), condition)))
    leaves: list[Any] = []
    for entry, key in zip(entries, wanted):
        args, leaf = entry["args"], found.pop(key, None)  # popped: a leaf minted twice in the run fails too
        if leaf is None or (leaf.unit_first, leaf.unit_last) != (args["firstSerial"], args["lastSerial"]):
            raise RuntimeError(
                f"LeafMinted batch {args['batchId']} leaf {args['leafIndex']} does not match a persisted leaf")
        leaves.append(leaf)
    serialization_of = {c.token_id: c.serialization_id for c in session.exec(
        select(CreditClass).where(CreditClass.token_id.in_(sorted({str(leaf.token_id) for leaf in leaves}))))}
    blocks: dict[tuple[int, int], tuple[list[int], list[Any]]] = {}
    for block in custody.unminted_custody_rows(session, deployment.custody_account_id,
                                               sorted({leaf.tokenization_id for leaf in leaves}), lock=True):
        firsts, rows = blocks.setdefault((block.serialization_id, block.tokenization_id), ([], []))
        firsts.append(block.unit_first)
        rows.append(block)
    mirrored: list[int] = []
    for leaf in leaves:
        if str(leaf.token_id) not in serialization_of:
            raise NotFound(f"no credit class has token id {leaf.token_id}", field="token_id")
        group = blocks.get((serialization_of[str(leaf.token_id)], leaf.tokenization_id), ([], []))
        inside = group[1][bisect_left(group[0], leaf.unit_first):bisect_right(group[0], leaf.unit_last)]
        inside = [b for b in inside if b.unit_last <= leaf.unit_last]
        if sum(b.quantity for b in inside) != leaf.amount:
            raise RuntimeError(f"custody does not hold the unminted units of leaf {leaf.serial_block}")
        mirrored += [b.id for b in inside]
    mint_tx = [to_hex(entry["transactionHash"]) for entry in entries]
    by_tx: dict[str, list[int]] = {}
    for tx_hash, leaf in zip(mint_tx, leaves):
        by_tx.setdefault(tx_hash, []).append(leaf.id)
    for tx_hash, leaf_ids in by_tx.items():
        update_ids(session, MintLeaf, leaf_ids, {"minted": True, "mint_tx": tx_hash})
    update_ids(session, SerialBlock, mirrored, {"mirrored": True})
    touched = _touched(session)
    for leaf in leaves:
        touched.add(leaf)
    append_entries(session, [("leaf.minted", _leaf_minted_entry(leaf, tx_hash)) for leaf, tx_hash in zip(leaves, mint_tx)])


def _leaf_minted_entry(leaf: Any, mint_tx: str | None) -> dict[str, Any]:
    return {"batch_id": leaf.batch_id, "leaf_index": leaf.leaf_index, "serial_block": leaf.serial_block,
            "recipient": leaf.recipient, "tx_hash": mint_tx}


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
    minted (and write their ``tokenization.minted`` webhook events, in the same transaction):
    which of them still have an unminted leaf is asked with one query each, the requests read
    as plain rows, the statuses set with one update each (:func:`registry.bulk.update_ids`), the
    events written together (:func:`bridge.webhooks.events.tokenizations_minted`), in
    tokenization id order."""
    touched = session.info.pop("icr_bridge.sync.touched", None)
    if touched is None:
        return
    session.flush()
    tokenization_ids = sorted(touched.tokenizations)
    unfinished = _with_unminted_leaves(session, MintLeaf.tokenization_id, tokenization_ids)
    request_table = TokenizationRequest.__table__
    finished = []
    for condition in one_of(session, request_table.c.id, [i for i in tokenization_ids if i not in unfinished]):
        finished += session.execute(select(request_table).where(
            condition, request_table.c.status != TokenizationStatus.minted)).all()
    finished.sort(key=lambda request: request.id)
    update_ids(session, TokenizationRequest, [request.id for request in finished], {"status": TokenizationStatus.minted})
    events.tokenizations_minted(session, finished, chain.chain_id)
    batch_ids = sorted(touched.batches)
    unfinished = _with_unminted_leaves(session, MintLeaf.batch_id, batch_ids)
    update_ids(session, MintBatch, [i for i in batch_ids if i not in unfinished], {"status": BatchStatus.minted})


def _with_unminted_leaves(session: Session, column: Any, ids: list[int]) -> set[int]:
    """Those of ``ids`` (values of ``column``: a tokenization or batch id) with a leaf not yet minted."""
    found: set[int] = set()
    for condition in one_of(session, column, ids):
        found.update(session.exec(select(column).where(condition, MintLeaf.minted == False).distinct()))  # noqa: E712
    return found


def unminted_by_tokenization(session: Session, batch_id: int) -> dict[int, list[MintLeaf]]:
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
        report.flagged.append(f"BatchRevoked for batch {batch_id} in {to_hex(entry['transactionHash'])}: "
                              "no batch of this registry on this chain has that id")
        return
    origin = origin_of(chain, entry)
    for tokenization_id, leaves in sorted(unminted_by_tokenization(session, batch_id).items()):
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


def onchain_retirement(chain: Chain, entry: Any) -> custody.OnchainRetirement:
    """A ``Retired`` log as the registry records it, with the flags reading it raised
    (undecodable data, dates that are no dates, strings that are not UTF-8)."""
    args = entry["args"]
    malformed = False
    flags: list[str] = []
    try:
        data = decode_retirement_data(bytes(args["data"]))
    except MalformedRetirementData as exc:
        # The tokens are burned whatever the data says: record the retirement, flag the data.
        data, malformed = RetirementData(), True
        flags.append(f"data: {exc}")
    flags += data.date_flags()
    if entry.get(LOSSY_STRINGS):
        flags.append("strings: names or comment are not UTF-8; recorded with replacement characters (U+FFFD)")
    return custody.OnchainRetirement(
        token_id=args["tokenId"],
        quantity=args["amount"],
        origin=origin_of(chain, entry),
        details=data.claim(retiree_name=args["retireeName"], comment=args["comment"]),
        data_malformed=malformed,
        custom_uri=args["customUri"],
        holder_wallet=args["holder"],
        beneficiary_wallet=args["beneficiary"],
        onchain_retirement_id=args["retirementId"],
        input_flags=tuple(flags),
    )


def _flag_retirement(report: SyncReport, entry: Any, record: Retirement) -> None:
    if record.input_flags:
        report.flagged += [f"retirement {entry['args']['retirementId']} in {to_hex(entry['transactionHash'])}: {flag}"
                           for flag in json.loads(record.input_flags)]


def apply_retired(session: Session, chain: Chain, deployment: Deployment, entry: Any, report: SyncReport) -> None:
    record, _, created = custody.retire_from_custody(session, custody_account_id=deployment.custody_account_id,
                                                     retirement=onchain_retirement(chain, entry))
    if created:
        _flag_retirement(report, entry, record)


def apply_retired_run(session: Session, chain: Chain, deployment: Deployment, entries: list[Any],
                      report: SyncReport) -> None:
    """A run of ``Retired`` events with set-based statements (:mod:`registry.bridged.bulk_retirement`)."""
    recorded = bulk_retirement.retire_many_from_custody(
        session, custody_account_id=deployment.custody_account_id,
        retirements=[onchain_retirement(chain, entry) for entry in entries])
    for entry, one in zip(entries, recorded):
        if one.created:
            _flag_retirement(report, entry, one.record)


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
    reference = storable("account_reference", args["accountReference"],
                         Redemption.__table__.c["account_reference"].type.length)
    flags = list(reference.flags)
    if entry.get(LOSSY_STRINGS):
        flags.append("account_reference: not UTF-8; recorded with replacement characters (U+FFFD)")
    session.add(Redemption(
        chain_id=chain.chain_id, redemption_id=args["redemptionId"], holder=args["holder"], class_id=credit_class.id,
        token_id=str(args["classId"]), amount=args["amount"], account_reference=reference.text,
        reclaimable_at=args["reclaimableAt"], request_tx=to_hex(entry["transactionHash"]),
        input_flags=json.dumps(flags) if flags else None,
    ))
    session.flush()
    append_entry(session, "redemption.requested", {
        "chain_id": chain.chain_id, "redemption_id": args["redemptionId"], "holder": args["holder"],
        "token_id": str(args["classId"]), "amount": args["amount"], "account_reference": reference.text,
        "tx_hash": to_hex(entry["transactionHash"]), **({"input_flags": flags} if flags else {}),
    })
    report.flagged += [f"redemption {args['redemptionId']} in {to_hex(entry['transactionHash'])}: {flag}"
                       for flag in flags]


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
            row.answered_tx = to_hex(entry["transactionHash"])
            session.add(row)
            return
    ranges, serial_blocks = redemption.redeem_from_custody(
        session, custody_account_id=deployment.custody_account_id, token_id=args["classId"], account_id=account_id,
        quantity=args["amount"], origin=origin_of(chain, entry), redemption_id=row.redemption_id,
    )
    row.status = RedemptionStatus.finalized
    row.account_id = account_id
    row.moved_ranges = json.dumps(ranges)
    row.answered_tx = to_hex(entry["transactionHash"])
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
        row.answered_tx = to_hex(entry["transactionHash"])
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

#: Appliers of a run of consecutive events of one kind, in log order, with set-based statements:
#: each must leave the registry exactly as the kind's :data:`APPLIERS` entry applied to each event
#: in turn would (the sync falls back to those for a single event and for a group it replays one
#: event per transaction). An event one of them cannot apply raises, and the whole group is
#: retried one event at a time, where it is quarantined alone.
BULK_APPLIERS: dict[str, Callable[..., None]] = {
    "LeafMinted": apply_leaf_minted_run,
    "Retired": apply_retired_run,
}

