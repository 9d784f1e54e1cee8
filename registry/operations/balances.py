"""The maintained balance table (:class:`registry.tables.core.AccountBalance`): tonnes per account,
vintage serialization and status, so reading balances never aggregates serial blocks.

One place keeps it: :func:`registry.operations.ledger.append_entry` passes every entry's ``moves`` to
:func:`apply_moves`. Every change of serial blocks records its unit moves in the ledger (the
ledger's replay checks them against the blocks), so no operation can change where credits are
without changing this table, and both happen in the caller's transaction, which commits or
rolls back both (domain functions never commit).

Concurrency: a move takes tonnes from one place and adds them to another with
``quantity = quantity + :delta`` (an upsert where tonnes arrive, an update where they leave),
never a read-modify-write, one statement per place in a fixed order (serialization, status,
account). On PostgreSQL the appending transaction also holds the ledger's advisory lock
(:func:`registry.operations.ledger.lock_ledger`) until it commits, so balance rows are written by one
transaction at a time; on SQLite write transactions are exclusive anyway.

Zero balances: a row whose quantity reaches 0 is deleted, so the table holds exactly the
non-zero sums of the serial blocks (what a GROUP BY over them gives) and never lists a zero
balance; ``quantity >= 0`` is a table constraint, and taking tonnes from a place that has no
row is refused (:class:`BalanceTableError`): either way the operation's transaction fails
rather than commit a balance the blocks do not hold. :func:`table_problems` compares the
table with the blocks (``icr-bridge ledger verify`` reports each difference); :func:`rebuild`
recomputes it from them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

from sqlalchemy import delete, func, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from registry.domain.blocks import place_of
from registry.domain.enums import CreditStatus
from registry.tables.core import AccountBalance, SerialBlock, Serialization

#: (account id or None, serialization text, status value) -> tonnes
Balances = dict[tuple[int | None, str, str], int]

#: Recomputes the table from the serial blocks (also the backfill of migration 0007).
REBUILD_SQL = (
    "INSERT INTO accountbalance (account_id, serialization_id, status, quantity) "
    "SELECT account_id, serialization_id, status, SUM(quantity) FROM serialblock "
    "GROUP BY account_id, serialization_id, status"
)

_TABLE = AccountBalance.__table__


class BalanceTableError(RuntimeError):
    """A move takes tonnes from a place the balance table has no balance for."""


def deltas(moves: Iterable[Mapping[str, Any]]) -> Balances:
    """The net change of each place's balance that ``moves`` make (places that net to 0 left out)."""
    out: Balances = defaultdict(int)
    for move in moves:
        serialization = str(move["serialization"])
        quantity = int(move["last"]) - int(move["first"]) + 1
        src, dst = place_of(move.get("from")), place_of(move["to"])
        if src is not None:
            out[(src[0], serialization, src[1])] -= quantity
        out[(dst[0], serialization, dst[1])] += quantity
    return {key: d for key, d in out.items() if d}


def _place(account_id: int | None, serialization_id: int, status: CreditStatus) -> list:
    return [
        _TABLE.c.account_id == account_id if account_id is not None else _TABLE.c.account_id.is_(None),
        _TABLE.c.serialization_id == serialization_id,
        _TABLE.c.status == status,
    ]


def _add(session: Session, account_id: int | None, serialization_id: int, status: CreditStatus, quantity: int) -> None:
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(_TABLE)
    insert = insert.values(account_id=account_id, serialization_id=serialization_id, status=status, quantity=quantity)
    if account_id is not None:
        target, where = ["account_id", "serialization_id", "status"], _TABLE.c.account_id.is_not(None)
    else:
        target, where = ["serialization_id", "status"], _TABLE.c.account_id.is_(None)
    session.exec(insert.on_conflict_do_update(index_elements=target, index_where=where,
                                              set_={"quantity": _TABLE.c.quantity + insert.excluded.quantity}))


def _take(session: Session, account_id: int | None, serialization_id: int, status: CreditStatus, quantity: int,
          name: str) -> None:
    row = session.exec(
        update(_TABLE).where(*_place(account_id, serialization_id, status))
        .values(quantity=_TABLE.c.quantity - quantity).returning(_TABLE.c.id, _TABLE.c.quantity)
    ).first()
    if row is None:
        raise BalanceTableError(f"balance table: account {account_id if account_id is not None else '(none)'} has no "
                                f"{status.value} balance of {name} to take {quantity} t from")
    if row.quantity == 0:
        session.exec(delete(_TABLE).where(_TABLE.c.id == row.id))


def apply_moves(session: Session, moves: Iterable[Mapping[str, Any]]) -> None:
    """Apply a ledger entry's moves to the balance table, inside the caller's transaction."""
    changes = deltas(moves)
    if not changes:
        return
    texts = {serialization for _, serialization, _ in changes}
    ids = dict(session.exec(select(Serialization.text, Serialization.id).where(Serialization.text.in_(texts))).all())
    missing = texts - set(ids)
    if missing:
        raise BalanceTableError(f"balance table: moves name unknown serializations {sorted(missing)}")
    order = sorted(changes, key=lambda k: (ids[k[1]], k[2], -1 if k[0] is None else k[0]))
    for account_id, serialization, status in order:
        delta = changes[(account_id, serialization, status)]
        key = (account_id, ids[serialization], CreditStatus(status))
        if delta > 0:
            _add(session, *key, delta)
        else:
            _take(session, *key, -delta, serialization)


def rebuild(connection: Connection) -> None:
    """Recompute the whole table from the serial blocks (for data loaded around the
    operations, e.g. a bulk load; a migration's backfill does the same)."""
    connection.execute(sql_text("DELETE FROM accountbalance"))
    connection.execute(sql_text(REBUILD_SQL))


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def stored(session: Session) -> Balances:
    """The table's rows (zero rows included, to be reported)."""
    rows = session.exec(
        select(AccountBalance.account_id, Serialization.text, AccountBalance.status, AccountBalance.quantity)
        .join(Serialization, Serialization.id == AccountBalance.serialization_id)
    ).all()
    return {(a, text, CreditStatus(status).value): int(q) for a, text, status, q in rows}


def aggregated(session: Session) -> Balances:
    """The same sums taken over the serial blocks."""
    rows = session.exec(
        select(SerialBlock.account_id, Serialization.text, SerialBlock.status, func.sum(SerialBlock.quantity))
        .join(Serialization, Serialization.id == SerialBlock.serialization_id)
        .group_by(SerialBlock.account_id, Serialization.text, SerialBlock.status)
    ).all()
    return {(a, text, CreditStatus(status).value): int(q) for a, text, status, q in rows}


def differences(table: Balances, blocks: Balances) -> list[str]:
    """One problem per place where the table and the blocks disagree (a zero row counts as one)."""
    problems = []
    for key in sorted(set(table) | set(blocks), key=lambda k: (k[1], str(k[0]), k[2])):
        if key not in table or key not in blocks or table[key] != blocks[key]:
            account_id, serialization, status = key
            held = f"{table[key]} t" if key in table else "no row"
            summed = f"{blocks[key]} t" if key in blocks else "nothing"
            problems.append(f"balance table: account {account_id if account_id is not None else '(none)'}, "
                            f"{serialization}, {status}: the table holds {held}, serial blocks hold {summed}")
    return problems


def table_problems(session: Session) -> list[str]:
    """Where the maintained balance table differs from the sums over the serial blocks."""
    return differences(stored(session), aggregated(session))
