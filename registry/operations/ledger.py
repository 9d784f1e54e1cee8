"""The append-only, hash-chained registry ledger.

Each entry commits to the previous entry's hash: ``entry_hash = sha256(prev_hash | seq | kind |
canonical JSON payload)``. Appending happens inside the caller's transaction, so an operation
and its ledger entry land together or not at all. On PostgreSQL an append first takes a
transaction-scoped advisory lock, so concurrent transactions append one after the other
instead of colliding on ``seq`` (SQLite write transactions are exclusive already).

Entries that change where credits are carry ``moves``: each one a unit range of a
serialization and its place (account, status) before and after
(:func:`registry.domain.blocks.move_record`). :func:`verify_balances` replays every move from
the first entry and compares the result with the serial blocks in the database, unit by unit
and as balances per account, serialization and status. Appending an entry with moves also
applies them to the maintained balance table (:mod:`registry.operations.balances`), which
:func:`verify_balances` checks against the blocks too.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, bindparam, cast, func, insert, literal_column, text
from sqlmodel import Session, select

from registry.bulk import insert_rows
from registry.domain.blocks import ReplayError, UnitMap, normalize
from registry.domain.enums import CreditStatus
from registry.operations import balances as balance_table
from registry.tables.core import LedgerEntry, SerialBlock, Serialization, utcnow

GENESIS_HASH = "0" * 64
#: Advisory lock key serializing ledger appends on PostgreSQL ("ICRLEDGR").
LEDGER_LOCK_KEY = 0x4943524C45444752

#: Entry kinds that change where credits are: each must carry ``moves``.
MOVING_KINDS = frozenset({
    "issuance.ex_post", "issuance.ex_ante", "conversion.ex_ante", "transfer", "retirement", "cancellation",
    "tokenization.requested", "retirement.bridged", "retirement.reverted",
    "redemption.bridged", "redemption.reverted", "tokenization.returned", "tokenization.return_reverted",
    "hold.placed", "hold.released",
})


def canonical_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def entry_digest(prev_hash: str, seq: int, kind: str, payload_json: str) -> str:
    material = f"{prev_hash}|{seq}|{kind}|{payload_json}".encode()
    return hashlib.sha256(material).hexdigest()


def lock_ledger(session: Session) -> None:
    """Take the ledger's append lock for the rest of the transaction (PostgreSQL; a no-op on
    SQLite, whose write transactions are exclusive). Credit operations take it before their
    serialization lock, so every transaction acquires the two in the same order and a
    transaction touching two serializations cannot deadlock with one touching the other."""
    if session.get_bind().dialect.name != "postgresql":
        return
    # Held already when the (sub)transaction that took it is still open: an operation takes it
    # before its serialization lock and again to append, one round trip is enough. A savepoint
    # rolled back releases what it took, and is no longer active then.
    taken_in = session.info.get(_LEDGER_LOCK_HOLDER)
    if taken_in is not None and balance_table.still_open(session, taken_in):
        return
    session.execute(_LOCK_STATEMENT, {"key": LEDGER_LOCK_KEY})
    session.info[_LEDGER_LOCK_HOLDER] = session.get_nested_transaction() or session.get_transaction()


_LEDGER_LOCK_HOLDER = "registry.ledger_lock_taken_in"
_LOCK_STATEMENT = text("SELECT pg_advisory_xact_lock(:key)")


def _head(session: Session) -> tuple[int, str]:
    """(sequence number, hash) of the newest entry; (0, genesis) for an empty ledger."""
    last = session.exec(select(LedgerEntry.seq, LedgerEntry.entry_hash).order_by(LedgerEntry.seq.desc()).limit(1)).first()
    return (0, GENESIS_HASH) if last is None else (last[0], last[1])


def append_entry(session: Session, kind: str, payload: dict[str, Any]) -> LedgerEntry:
    lock_ledger(session)
    payload_json = canonical_json(payload)
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the head read, the digest (sha256 in the server, over the same text
        # entry_digest hashes) and the insert. It runs after the ledger lock's statement, so its
        # snapshot sees the head no other transaction can move until this one ends.
        session.flush()  # the operation's pending changes first, as the head read's autoflush sends them
        seq, prev_hash, entry_hash = session.execute(
            _PG_APPEND, {"kind": kind, "payload": payload_json, "created_at": now}).one()
        row = {"seq": seq, "kind": kind, "payload": payload_json, "prev_hash": prev_hash, "entry_hash": entry_hash,
               "created_at": now}
    else:
        last_seq, prev_hash = _head(session)
        seq = last_seq + 1
        row = {"seq": seq, "kind": kind, "payload": payload_json, "prev_hash": prev_hash,
               "entry_hash": entry_digest(prev_hash, seq, kind, payload_json), "created_at": now}
        # One Core insert: the entry is never changed after, so it needs no ORM object to flush
        # (the operation's own pending changes went out with the head read above, an autoflush).
        session.execute(_ENTRY_INSERT, row)
    moves = payload.get("moves")
    if moves:
        balance_table.apply_moves(session, moves)
    return LedgerEntry(**row)


_ENTRY_INSERT = insert(LedgerEntry.__table__)


def _pg_append_statement():
    """``INSERT INTO ledgerentry SELECT`` the next sequence number, the head's hash and
    ``encode(sha256(convert_to(prev_hash || '|' || seq || '|' || kind || '|' || payload, 'UTF8')), 'hex')``
    (what :func:`entry_digest` computes) ``RETURNING seq, prev_hash, entry_hash``."""
    table = LedgerEntry.__table__
    head_hash = select(table.c.entry_hash).order_by(table.c.seq.desc()).limit(1).scalar_subquery()
    head = select((func.coalesce(func.max(table.c.seq), 0) + 1).label("seq"),
                  func.coalesce(head_hash, literal_column(f"'{GENESIS_HASH}'")).label("prev_hash")).subquery("head")
    kind, payload = bindparam("kind", type_=table.c.kind.type), bindparam("payload", type_=table.c.payload.type)
    material = (head.c.prev_hash + "|" + cast(head.c.seq, String) + "|" + kind + "|" + payload)
    digest = func.encode(func.sha256(func.convert_to(material, literal_column("'UTF8'"))), literal_column("'hex'"))
    rows = select(head.c.seq, kind, payload, head.c.prev_hash, digest,
                  bindparam("created_at", type_=table.c.created_at.type))
    return (insert(table).from_select(["seq", "kind", "payload", "prev_hash", "entry_hash", "created_at"], rows)
            .returning(table.c.seq, table.c.prev_hash, table.c.entry_hash))


_PG_APPEND = _pg_append_statement()


def append_entries(session: Session, entries: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """Append many entries at once, in order: one read of the chain's head, every hash computed
    in one pass, one multi-row insert, and the moves of all of them applied to the balance table
    as one aggregated delta per (account, serialization, status). The result is the same chain
    and the same balances as :func:`append_entry` called once per entry (the bulk paths of the
    sync and of tokenization use it). Returns the entries' sequence numbers."""
    if not entries:
        return []
    lock_ledger(session)
    last_seq, prev_hash = _head(session)  # flushes the session first: pending entries come before these
    now = utcnow()
    rows: list[dict[str, Any]] = []
    moves: list[Any] = []
    for offset, (kind, payload) in enumerate(entries, start=1):
        seq = last_seq + offset
        payload_json = canonical_json(payload)
        entry_hash = entry_digest(prev_hash, seq, kind, payload_json)
        rows.append({"seq": seq, "kind": kind, "payload": payload_json, "prev_hash": prev_hash,
                     "entry_hash": entry_hash, "created_at": now})
        prev_hash = entry_hash
        moves.extend(payload.get("moves") or ())
    insert_rows(session, LedgerEntry, rows)  # COPY on PostgreSQL
    if moves:
        balance_table.apply_moves(session, moves)
    return [row["seq"] for row in rows]


@dataclass
class LedgerCheck:
    entries: int
    head: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session) -> LedgerCheck:
    """Recompute every hash; report the first sequence gaps, broken links and bad digests."""
    problems: list[str] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in session.exec(select(LedgerEntry).order_by(LedgerEntry.seq)):
        count += 1
        if entry.seq != expected_seq:
            problems.append(f"entry {entry.seq}: expected sequence number {expected_seq}")
        if entry.prev_hash != prev_hash:
            problems.append(f"entry {entry.seq}: prev_hash does not match entry {entry.seq - 1}")
        if entry_digest(entry.prev_hash, entry.seq, entry.kind, entry.payload) != entry.entry_hash:
            problems.append(f"entry {entry.seq}: entry_hash does not match its content")
        prev_hash = entry.entry_hash
        expected_seq = entry.seq + 1
    return LedgerCheck(entries=count, head=prev_hash, problems=problems)


@dataclass
class BalanceCheck:
    """Replaying the ledger's moves against the serial blocks in the database."""

    moves: int
    serializations: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def replay(session: Session) -> tuple[UnitMap, int, list[str]]:
    """Apply every entry's moves in sequence; (unit map, moves applied, problems)."""
    units = UnitMap()
    count = 0
    problems: list[str] = []
    for entry in session.exec(select(LedgerEntry).order_by(LedgerEntry.seq)):
        try:
            payload = json.loads(entry.payload)
        except ValueError:
            problems.append(f"entry {entry.seq}: payload is not JSON")
            continue
        moves = payload.get("moves") if isinstance(payload, dict) else None
        if moves is None:
            if entry.kind in MOVING_KINDS:
                problems.append(f"entry {entry.seq} ({entry.kind}) changes credits but records no moves")
            continue
        for move in moves:
            try:
                units.apply(move)
            except (ReplayError, KeyError, TypeError, ValueError) as exc:
                problems.append(f"entry {entry.seq} ({entry.kind}): {exc}")
                continue
            count += 1
    return units, count, problems


def verify_balances(session: Session, max_problems: int = 50) -> BalanceCheck:
    """Replay the ledger and compare with the database's serial blocks.

    Reports every balance (account, serialization, status) that differs and, where balances
    agree but units sit elsewhere, the serialization whose units differ. Also reports
    overlapping serial blocks in the database, and every row of the maintained balance table
    that differs from the blocks (``balance table: ...``)."""
    units, count, problems = replay(session)
    stored: dict[str, list] = defaultdict(list)
    rows = session.exec(
        select(SerialBlock, Serialization.text).join(Serialization, Serialization.id == SerialBlock.serialization_id)
    ).all()
    for block, serialization in rows:
        if block.quantity != block.unit_last - block.unit_first + 1:
            problems.append(f"{serialization}: block {block.id} says {block.quantity} t for units "
                            f"{block.unit_first}-{block.unit_last}")
        stored[serialization].append((block.unit_first, block.unit_last,
                                      (block.account_id, CreditStatus(block.status).value)))
    for serialization, ranges in stored.items():
        ordered = sorted(ranges)
        for a, b in zip(ordered, ordered[1:]):
            if b[0] <= a[1]:
                problems.append(f"{serialization}: serial blocks {a[0]}-{a[1]} and {b[0]}-{b[1]} overlap")
    derived: dict[tuple, int] = defaultdict(int)
    for serialization, ranges in stored.items():
        for first, last, (account_id, status) in ranges:
            derived[(account_id, serialization, status)] += last - first + 1
    replayed = units.balances()
    for key in sorted(set(derived) | set(replayed), key=lambda k: (str(k[1]), str(k[0]), k[2])):
        if derived.get(key, 0) != replayed.get(key, 0):
            account_id, serialization, status = key
            problems.append(
                f"balance of account {account_id if account_id is not None else '(none)'}, {serialization}, {status}: "
                f"ledger replay gives {replayed.get(key, 0)} t, serial blocks hold {derived.get(key, 0)} t"
            )
    for serialization in sorted(set(stored) | set(units.serializations())):
        if normalize(stored.get(serialization, [])) != normalize(units.ranges(serialization)):
            problems.append(f"{serialization}: serial blocks do not place units as the ledger recorded")
    problems.extend(balance_table.differences(balance_table.stored(session), dict(derived)))
    return BalanceCheck(moves=count, serializations=len(set(stored) | set(units.serializations())),
                        problems=problems[:max_problems])


@dataclass
class LedgerVerification:
    chain: LedgerCheck
    balances: BalanceCheck

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.balances.ok


def verify_ledger(session: Session) -> LedgerVerification:
    """The hash chain and the balances derived from it."""
    return LedgerVerification(verify_chain(session), verify_balances(session))
