"""The sync: reads the token contract's events in block order and applies each to the registry
exactly once.

- Only final events are applied: up to the chain's ``finalized`` block when it has that tag
  (and the operator asks for it), otherwise ``confirmations`` blocks below the head.
- Consecutive events of one kind are applied together by the kind's bulk applier
  (``BULK_APPLIERS``: set-based statements, the same result as applying them one by one), other
  kinds one event at a time (``APPLIERS``).
- Each event is applied together with its :class:`ChainEvent` row, unique on (chain id,
  transaction hash, log index; a group's rows written with one insert), in one database transaction: replaying a range, or two
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

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, select

from bridge.chain.client import Chain
from bridge.chain.logs import RAW_LOG, FetchedLog, decode_log, decode_logs, fetch_logs, log_from_plain, to_hex
from bridge.deployments import require_deployment
from bridge.engine import faults
from bridge.engine.appliers import APPLIERS, BULK_APPLIERS, complete_minted, origin_of
from bridge.engine.locks import claim
from bridge.engine.undoers import UNDOERS
from bridge.tables import (
    ChainCursor,
    ChainEvent,
    Deployment,
    MintLeaf,
    QuarantinedEvent,
)
from bridge.webhooks import events
from registry.bulk import insert_rows, one_of
from registry.db import transaction
from registry.errors import RegistryError
from registry.operations.ledger import append_entry
from registry.statistics import refresh_if_stale
from registry.tables.core import Retirement, SerialBlock, TokenizationRequest, utcnow

log = logging.getLogger("icr_bridge.sync")

MAX_BLOCK_RANGE = 2_000
#: Events applied per database transaction (see the module docstring). With the bulk appliers a
#: group's fixed cost (locks, the ledger's head, the subscriptions, the commit) is a few ms, so
#: 1,000 per transaction measured no faster than 200 on 2,000 retirements (SQLite, 7 Dec 2026),
#: while a group that must be applied again one event at a time (a raced worker, an event that
#: cannot be applied) costs a transaction per event: 200 stays.
EVENTS_PER_TRANSACTION = 200
#: The tables whose rows the appliers look up by index: their planner statistics are refreshed
#: before a group when missing or outgrown (:mod:`registry.statistics`; a bulk tokenization or a
#: large batch fills them faster than autovacuum analyzes them).
SYNC_READS = [table.__tablename__ for table in (MintLeaf, SerialBlock, TokenizationRequest, ChainEvent, Retirement)]


@dataclass
class SyncReport:
    from_block: int
    to_block: int
    applied: dict[str, int] = field(default_factory=dict)
    skipped_duplicates: int = 0
    rolled_back: int = 0
    reorg_fork_block: int | None = None
    flagged: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # events that could not be applied (see quarantine)
    busy: bool = False  # another worker holds the sync for this contract

    @property
    def applied_total(self) -> int:
        return sum(self.applied.values())


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


def _recorded_origins(session: Session, chain: Chain, hashes: set[str]) -> set[tuple[str, int]]:
    """(tx hash, log index) of the ChainEvent rows of the transactions ``hashes``."""
    recorded: set[tuple[str, int]] = set()
    for condition in one_of(session, ChainEvent.tx_hash, hashes):  # one array parameter on PostgreSQL
        rows = session.exec(
            select(ChainEvent.tx_hash, ChainEvent.log_index).where(ChainEvent.chain_id == chain.chain_id, condition)
        ).all()
        recorded.update((tx_hash, log_index) for tx_hash, log_index in rows)
    return recorded


def _log_recorded(engine: Engine, chain: Chain, entry: Any) -> bool:
    """Whether this log has its ChainEvent row (committed by whichever worker applied it)."""
    origin = origin_of(chain, entry)
    with Session(engine) as session:
        return session.exec(
            select(ChainEvent.id).where(ChainEvent.chain_id == origin.chain_id, ChainEvent.tx_hash == origin.tx_hash,
                                        ChainEvent.log_index == origin.log_index)
        ).first() is not None


def _record_event(session: Session, chain: Chain, name: str, entry: Any, recorded: set[tuple[str, int]]) -> bool:
    """Insert the ChainEvent row; False if this log was applied before (see :func:`_record_events`)."""
    return bool(_record_events(session, chain, [(name, entry)], recorded))


def _record_events(session: Session, chain: Chain, group: list[tuple[str, Any]],
                   recorded: set[tuple[str, int]]) -> list[tuple[str, Any]]:
    """Insert the ChainEvent rows of the logs of ``group`` not applied before, with one
    multi-row insert; returns those events, in order.

    ``recorded`` holds the origins already recorded (from :func:`_recorded_origins`, then kept
    up to date here); a row another worker inserts meanwhile fails the unique key on commit."""
    fresh: list[tuple[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for name, entry in group:
        origin = origin_of(chain, entry)
        if (origin.tx_hash, origin.log_index) in recorded:
            continue
        recorded.add((origin.tx_hash, origin.log_index))
        fresh.append((name, entry))
        rows.append({**_EVENT_DEFAULTS, "chain_id": origin.chain_id, "tx_hash": origin.tx_hash,
                     "log_index": origin.log_index, "block_number": origin.block_number,
                     "block_hash": to_hex(entry["blockHash"]), "event": name, "applied_at": utcnow()})
    insert_rows(session, ChainEvent.__table__, rows)
    return fresh


#: A ChainEvent row's defaults (taken from the model once: constructing a row per log is slow).
_EVENT_DEFAULTS = ChainEvent(chain_id=0, tx_hash="", log_index=0, block_number=0, block_hash="",
                             event="").model_dump(exclude={"id"})


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
            recorded = _recorded_origins(session, chain, {to_hex(entry["transactionHash"]) for _, entry in group})
            fresh = _record_events(session, chain, group, recorded)
            skipped = len(group) - len(fresh)
            for name, entries in runs_of_one_kind(fresh):
                bulk = BULK_APPLIERS.get(name) if len(entries) > 1 else None
                if bulk is not None:
                    bulk(session, chain, deployment, entries, report)
                for entry in entries:
                    if bulk is None:
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


def runs_of_one_kind(events: list[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Consecutive events of the same kind, in log order: each run is applied together (by the
    kind's bulk applier when it has one), the runs one after the other."""
    runs: list[tuple[str, list[Any]]] = []
    for name, entry in events:
        if runs and runs[-1][0] == name:
            runs[-1][1].append(entry)
        else:
            runs.append((name, [entry]))
    return runs


#: Errors that make one event inapplicable (its content, or a rule it breaks), as opposed to the
#: database or the process failing: such an event is quarantined and the pass goes on. A lost
#: connection (OperationalError, InterfaceError) is none of these: it stops the pass.
UNAPPLICABLE = (RegistryError, IntegrityError, DataError, ValueError, LookupError, RuntimeError, TypeError,
                ArithmeticError)


def _apply_alone(engine: Engine, chain: Chain, deployment: Deployment, one: tuple[str, Any],
                 report: SyncReport) -> None:
    """Apply one event in its own transaction; skip it if another worker recorded it, and
    quarantine it if it cannot be applied, so that it never stops the events after it."""
    try:
        _apply_group(engine, chain, deployment, [one], report)
    except UNAPPLICABLE as exc:
        if isinstance(exc, IntegrityError) and _log_recorded(engine, chain, one[1]):
            report.skipped_duplicates += 1
            return
        quarantine(engine, chain, one, exc, report)


def quarantine(engine: Engine, chain: Chain, one: tuple[str, Any], error: BaseException, report: SyncReport) -> None:
    """Record an event that cannot be applied, with its raw log and the error, and its
    ChainEvent row (so no pass applies it behind the operator's back); the pass moves on."""
    name, entry = one
    origin = origin_of(chain, entry)
    args = entry["args"]
    message = _one_line(error)
    try:
        with transaction(engine) as session:
            _record_event(session, chain, name, entry, set())
            token_id, amount = _tonnes_of(session, name, args)
            session.add(QuarantinedEvent(
                chain_id=origin.chain_id, tx_hash=origin.tx_hash, log_index=origin.log_index,
                block_number=origin.block_number, event=name, token_id=token_id, amount=amount,
                raw_log=json.dumps(entry[RAW_LOG]), error=message,
            ))
            append_entry(session, "sync.quarantined", {"chain_id": origin.chain_id, "tx_hash": origin.tx_hash,
                                                       "log_index": origin.log_index, "event": name, "error": message})
    except IntegrityError:
        if not _log_recorded(engine, chain, entry):
            raise
        report.skipped_duplicates += 1  # another worker recorded it meanwhile
        return
    report.quarantined.append(f"{name} {origin.tx_hash}#{origin.log_index}: {message}")
    log.error("event quarantined", extra={"event": name, "tx_hash": origin.tx_hash, "log_index": origin.log_index,
                                          "error": message})


def retry_quarantined(engine: Engine, chain: Chain, deployment: Deployment, report: SyncReport) -> None:
    """Apply again each quarantined event an operator asked to retry (``icr-bridge quarantine
    retry``), decoded again from its raw log: applied, it leaves the quarantine; failing again,
    it stays with the new error."""
    with Session(engine) as session:
        held = session.exec(
            select(QuarantinedEvent.id).where(QuarantinedEvent.chain_id == deployment.chain_id,
                                              QuarantinedEvent.retry_requested == True)  # noqa: E712
            .order_by(QuarantinedEvent.block_number, QuarantinedEvent.log_index)
        ).all()
    for quarantined_id in held:
        try:
            with transaction(engine) as session:
                row = session.get(QuarantinedEvent, quarantined_id, with_for_update=True)
                if row is None or not row.retry_requested:
                    continue  # another worker took it
                name = row.event
                entry = decode_log(chain, name, log_from_plain(json.loads(row.raw_log)))
                APPLIERS[name](session, chain, deployment, entry, report)
                complete_minted(session, chain)
                append_entry(session, "sync.quarantine_applied", {
                    "chain_id": row.chain_id, "tx_hash": row.tx_hash, "log_index": row.log_index, "event": row.event,
                    "attempts": row.attempts + 1})
                session.delete(row)
            report.applied[name] = report.applied.get(name, 0) + 1
        except UNAPPLICABLE as exc:
            with transaction(engine) as session:
                row = session.get(QuarantinedEvent, quarantined_id)
                row.error = _one_line(exc)
                row.attempts += 1
                row.retry_requested = False
                row.last_attempt_at = utcnow()
                session.add(row)
            report.quarantined.append(f"{row.event} {row.tx_hash}#{row.log_index}: {row.error} (retried)")


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"[:2000]


def _tonnes_of(session: Session, name: str, args: Any) -> tuple[str | None, int | None]:
    """(token id, tonnes) an event moves on-chain, as reconcile counts a quarantined one."""
    if name == "LeafMinted":
        leaf = session.exec(select(MintLeaf).where(MintLeaf.batch_id == args["batchId"],
                                                   MintLeaf.leaf_index == args["leafIndex"])).first()
        amount = int(args["lastSerial"]) - int(args["firstSerial"]) + 1
        return (leaf.token_id if leaf else None), amount
    token_id = args.get("tokenId", args.get("classId"))
    return (None if token_id is None else str(token_id)), args.get("amount")


def _sync_pass(engine, chain, deployment, confirmations, use_finalized_tag, max_range, progress) -> SyncReport:
    report = SyncReport(from_block=0, to_block=-1)
    handle_reorg(engine, chain, deployment, report)
    retry_quarantined(engine, chain, deployment, report)
    with transaction(engine) as session:
        start = _cursor(session, deployment).last_block + 1
    head = chain.safe_head(confirmations, use_finalized_tag)
    report.from_block, report.to_block = start, start - 1
    while start <= head:
        end = min(head, start + max_range - 1)
        fetched = _events_to_apply(engine, chain, fetch_logs(chain, start, end), report)
        for first in range(0, len(fetched), EVENTS_PER_TRANSACTION):
            group = fetched[first:first + EVENTS_PER_TRANSACTION]
            refresh_if_stale(engine, SYNC_READS)
            try:
                _apply_group(engine, chain, deployment, group, report)
            except UNAPPLICABLE:
                # Another worker recorded one of these logs after we looked, or one of them
                # cannot be applied: one at a time, so the others are applied all the same.
                for one in group:
                    _apply_alone(engine, chain, deployment, one, report)
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
    quiet = not (report.applied_total or report.rolled_back or report.flagged or report.quarantined)
    log.log(logging.DEBUG if quiet else logging.INFO, "sync pass", extra={
        "from_block": report.from_block, "to_block": report.to_block, "applied": report.applied,
        "skipped": report.skipped_duplicates, "rolled_back": report.rolled_back})
    return report


def _events_to_apply(engine: Engine, chain: Chain, logs: list[FetchedLog], report: SyncReport) -> list[tuple[str, Any]]:
    """The fetched logs without those recorded before (counted as skipped), decoded.

    A replay (a rewound cursor, a crash before the cursor moved) finds most of its logs recorded:
    they are left out before decoding (one read of the recorded origins, instead of converting
    and decoding each log to have ``_apply_group`` skip it). ChainEvent rows are only removed by
    a reorg's undo, which runs before this under the same sync claim, so a log left out here
    stays recorded; ``_apply_group`` still checks the rest inside its own transaction."""
    if not logs:
        return []
    with Session(engine) as session:
        recorded = _recorded_origins(session, chain, {log.tx_hash for log in logs})
    fresh = [log for log in logs if log.origin not in recorded]
    report.skipped_duplicates += len(logs) - len(fresh)
    return decode_logs(chain, fresh)


def rewind_cursor(engine: Engine, chain: Chain, block: int) -> None:
    """Make the next pass re-read events from ``block`` on (applied ones are skipped)."""
    deployment = deployment_for(engine, chain)
    with transaction(engine) as session:
        cursor = _cursor(session, deployment, lock=True)
        cursor.last_block = max(block, deployment.deployed_block) - 1
        cursor.last_block_hash = chain.block_hash(cursor.last_block) or ""
        session.add(cursor)


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
        quarantined = {(q.tx_hash, q.log_index): q for q in session.exec(
            select(QuarantinedEvent).where(QuarantinedEvent.chain_id == deployment.chain_id,
                                           QuarantinedEvent.block_number > fork))}
        for event in undone:
            held = quarantined.pop((event.tx_hash, event.log_index), None)
            if held is not None:
                session.delete(held)  # never applied: nothing to undo, and its block is gone
            else:
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
