"""Moving serials: the serialization lock every change of serial blocks takes first, and the shared
steps of the operations that move units (lock and take an account's lowest blocks, split, merge,
put in a terminal state, describe, and record the unit moves for the ledger)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlmodel import Session, select

from registry.domain import serials as sr
from registry.domain.blocks import Piece, Place, move_record, plan_merges
from registry.domain.enums import CreditStatus, HoldStatus
from registry.errors import NotFound, RuleViolation
from registry.operations import balances as balance_table
from registry.operations.ledger import lock_ledger
from registry.tables.core import Account, SerialBlock, Serialization, UnitHold


def lock_serialization(session: Session, serialization_id: int) -> Serialization:
    """Lock a vintage serialization row for the rest of the transaction.

    Every operation that changes serial blocks of a serialization takes this lock first (and
    only then locks blocks), so operations on the same vintage run one after the other on
    PostgreSQL and always see each other's committed blocks; on SQLite every write
    transaction is already exclusive (BEGIN IMMEDIATE). The ledger's append lock is taken
    first (:func:`registry.operations.ledger.lock_ledger`): one lock order for every transaction.

    Locked once per transaction: called again for a serialization the transaction (or a
    savepoint of it still open) locked already, it returns that row without a statement (an
    operation that checks its serialization before taking credits reads it once). A savepoint
    rolled back released what it locked, so after it the row is locked again."""
    locks = session.info.setdefault(_SERIALIZATION_LOCKS, {})
    held = locks.get(serialization_id)
    if held is not None and balance_table.still_open(session, held[1]):
        return held[0]
    lock_ledger(session)
    row = session.exec(
        select(Serialization).where(Serialization.id == serialization_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"serialization {serialization_id} does not exist", field="serialization_id")
    balance_table.remember_serialization(session, row)
    locks[serialization_id] = (row, session.get_nested_transaction() or session.get_transaction())
    return row


_SERIALIZATION_LOCKS = "registry.serialization_locks"


_lock_serialization = lock_serialization  # earlier name


#: Rows read by the first page of :func:`locked_blocks` with ``covering``; each next page is
#: four times larger, so a holding of N blocks takes O(log N) queries at worst. Most partial
#: operations use one or two blocks: a small first page reads and locks (and, on PostgreSQL,
#: marks in the heap) no more rows than they need.
COVERING_FIRST_PAGE = 4


def locked_blocks(
    session: Session,
    *,
    account_id: int,
    serialization_id: int,
    status: CreditStatus,
    mirrored: bool | None = None,
    covering: int | None = None,
) -> list[SerialBlock]:
    """The account's blocks of a serialization in ``status``, lowest first, locked for update.

    With ``covering``, only the lowest blocks whose units add up to at least ``covering`` (all
    of them if they add up to less): a partial operation reads and locks what lowest-first
    selection can use, not a custody holding of a million blocks."""
    conditions = [
        SerialBlock.account_id == account_id,
        SerialBlock.serialization_id == serialization_id,
        SerialBlock.status == status,
    ]
    if mirrored is not None:
        conditions.append(SerialBlock.mirrored == mirrored)
    query = select(SerialBlock).where(*conditions).order_by(SerialBlock.unit_first).with_for_update()
    if covering is None or covering <= 0:
        return list(session.exec(query))
    rows: list[SerialBlock] = []
    total, page = 0, COVERING_FIRST_PAGE
    while True:
        after = query.where(SerialBlock.unit_first > rows[-1].unit_first) if rows else query
        fetched = list(session.exec(after.limit(page)))
        for row in fetched:
            rows.append(row)
            total += row.quantity
            if total >= covering:
                return rows
        if len(fetched) < page:
            return rows
        page *= 4


def take_lowest_blocks(session: Session, blocks: list[SerialBlock], quantity: int, *,
                       flush: bool = True) -> list[SerialBlock]:
    """Split ``blocks`` so that exactly ``quantity`` units, lowest first, sit in returned rows.

    The partially used block keeps its row for the taken (lower) part and a new row holds
    the rest, so the (serialization, first unit) key never collides mid-flush. With
    ``flush=False`` the split stays pending in the session, to go out with the caller's next
    flush (with the caller's changes to the same rows: one update per block, not two).
    """
    ranges = [sr.SerialRange(b.unit_first, b.unit_last) for b in blocks]
    taken, _left = sr.take_lowest(ranges, quantity)
    by_first = {b.unit_first: b for b in blocks}
    rows = []
    for part in taken:
        row = by_first[part.first]
        if part.last != row.unit_last:
            rest = SerialBlock(
                serialization_id=row.serialization_id,
                unit_first=part.last + 1,
                unit_last=row.unit_last,
                quantity=row.unit_last - part.last,
                status=row.status,
                account_id=row.account_id,
                issuance_id=row.issuance_id,
                tokenization_id=row.tokenization_id,
                mirrored=row.mirrored,
                retirement_id=row.retirement_id,
                cancellation_id=row.cancellation_id,
                hold_id=row.hold_id,
            )
            row.unit_last = part.last
            row.quantity = part.quantity
            session.add(rest)
        rows.append(row)
    if flush:
        session.flush()
    return rows


@dataclass(frozen=True)
class MovedBlock:
    serial_block: str
    unit_first: int
    unit_last: int
    quantity: int


def describe_blocks(session: Session, rows: Iterable[SerialBlock]) -> list[MovedBlock]:
    out = []
    for row in rows:
        text = session.get(Serialization, row.serialization_id).text
        block = sr.SerialBlock(sr.parse_serialization(text), sr.SerialRange(row.unit_first, row.unit_last))
        out.append(MovedBlock(str(block), row.unit_first, row.unit_last, row.quantity))
    return out


def place(row: SerialBlock) -> Place:
    """Where a block's units are, as the ledger records it: (account id, status)."""
    return (row.account_id, CreditStatus(row.status).value)


def coalesce(
    session: Session,
    serialization_id: int,
    *,
    account_id: int | None,
    status: CreditStatus,
    retirement_id: int | None = None,
    cancellation_id: int | None = None,
    hold_id: int | None = None,
    candidates: list[SerialBlock] | None = None,
) -> int:
    """Merge touching blocks of one serialization that sit in the same place with identical
    attributes (issuance, mirroring, hold); returns how many rows were absorbed.

    Called after every operation that puts units somewhere blocks may already be. Blocks in
    bridge custody (those with a tokenization request) are never merged: each one mirrors a
    mint leaf, and the sync finds a leaf's units by the leaf's range. The caller holds the
    serialization lock. ``candidates``: the only blocks that can be in that place (those an
    operation just put under a record it created in this transaction): they are merged without
    reading the place's blocks, and what changes stays pending for the caller's next flush."""
    place = dict(serialization_id=serialization_id, status=status, tokenization_id=None, account_id=account_id,
                 retirement_id=retirement_id, cancellation_id=cancellation_id, hold_id=hold_id)
    if candidates is not None:
        rows = sorted((r for r in candidates if all(getattr(r, k) == v for k, v in place.items())),
                      key=lambda r: r.unit_first)
    else:
        session.flush()
        conditions = [getattr(SerialBlock, k) == v if v is not None else getattr(SerialBlock, k).is_(None)
                      for k, v in place.items()]
        rows = session.exec(select(SerialBlock).where(*conditions).order_by(SerialBlock.unit_first)
                            .with_for_update()).all()
    by_id = {r.id: r for r in rows}
    merges = plan_merges(Piece(r.id, r.unit_first, r.unit_last, (r.issuance_id, r.mirrored)) for r in rows)
    absorbed = 0
    for merge in merges:
        for ident in merge.absorb:
            session.delete(by_id[ident])
            absorbed += 1
        session.flush()
        keep = by_id[merge.keep]
        keep.unit_last = merge.last
        keep.quantity = merge.last - merge.first + 1
        session.add(keep)
    if candidates is None or merges:
        session.flush()
    return absorbed


def take_credits(session: Session, *, quantity: int, **selection: Any) -> list[SerialBlock]:
    """Lock the serialization, then split the account's blocks in ``status`` so that exactly
    ``quantity`` units, lowest serial first, sit in the returned rows (``selection``:
    ``account``, ``serialization``, ``status`` and ``rule``, as :func:`credits_to_take`).

    Lowest serial first is the registry's one selection rule for partial operations: the
    account's blocks of that serialization and status are ordered by first unit and consumed
    from the lowest, splitting the last block used. Anyone can recompute the serials an
    operation used from the blocks the account held before it."""
    return take_lowest_blocks(session, credits_to_take(session, quantity=quantity, **selection), quantity)


def credits_to_take(
    session: Session,
    *,
    account: Account,
    serialization: Serialization,
    status: CreditStatus,
    quantity: int,
    rule: str = "sufficient-credits",
) -> list[SerialBlock]:
    """What :func:`take_credits` takes, before it splits anything: the serialization locked, the
    account's lowest blocks in ``status`` that cover ``quantity`` locked and returned, or its
    refusal raised. :func:`take_lowest_blocks` on them then cannot fail: an operation that writes
    its own record first (so that the blocks' split and their move under it go out as one
    update per block) checks with this, writes, then splits."""
    lock_serialization(session, serialization.id)
    blocks = locked_blocks(session, account_id=account.id, serialization_id=serialization.id, status=status,
                           covering=quantity)
    try:
        require_units(blocks, quantity)
    except sr.InsufficientCredits as exc:
        detail = (f"account {account.id} holds {exc.available} {status.value} ICCs of {serialization.text}, "
                  f"not {exc.requested}")
        held = held_refusal(session, account.id, serialization.id, detail) if status is CreditStatus.active else None
        raise held or RuleViolation(detail, field="quantity", rule=rule) from exc
    return blocks


def require_units(blocks: list[SerialBlock], quantity: int) -> None:
    """Raise :class:`registry.domain.serials.InsufficientCredits` (or ``ValueError`` for a
    quantity below 1), as :func:`take_lowest_blocks` would, when ``blocks`` hold fewer than
    ``quantity`` units: checked before an operation writes anything."""
    sr.take_lowest([sr.SerialRange(b.unit_first, b.unit_last) for b in blocks], quantity)


def held_refusal(session: Session, account_id: int, serialization_id: int, detail: str) -> RuleViolation | None:
    """The refusal of an operation short of active units when held units of the account would
    have covered it: rule ``unit-held``, naming each hold and its reason (None when nothing of
    the account's serialization is held)."""
    holds = session.exec(
        select(UnitHold).where(UnitHold.account_id == account_id, UnitHold.serialization_id == serialization_id,
                               UnitHold.status == HoldStatus.placed.value).order_by(UnitHold.id)).all()
    if not holds:
        return None
    named = "; ".join(f"hold {h.id} ({h.quantity} t, {h.origin}"
                      f"{': ' + h.rule if h.rule else ''}: {h.reason})" for h in holds)
    return RuleViolation(f"{detail}; held, until released: {named}", field="quantity", rule="unit-held")


def _moves(serialization: Serialization, rows: Iterable[SerialBlock], src: Place, dst: Place) -> list[dict]:
    return [move_record(serialization.text, r.unit_first, r.unit_last, src, dst) for r in rows]


def _make_terminal(session: Session, serialization_id: int, rows: list[SerialBlock], status: CreditStatus,
                   **record: int) -> list[MovedBlock]:
    """Put ``rows`` in a terminal state (retired or cancelled) under their record (``retirement_id=`` or
    ``cancellation_id=``, created in this transaction), out of any account; merge them and
    describe them. No other block carries a record just created, so only ``rows`` can merge;
    their changes go out with the caller's next flush."""
    for row in rows:
        row.status = status
        row.account_id = None
        for name, value in record.items():
            setattr(row, name, value)
        session.add(row)
    moved = describe_blocks(session, rows)
    coalesce(session, serialization_id, account_id=None, status=status, candidates=rows, **record)
    return moved
