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
account); on PostgreSQL the few places one operation changes (up to :data:`TOGETHER_AT_MOST`) go
in one statement, a data-modifying CTE per place. On PostgreSQL the appending transaction also
holds the ledger's advisory lock (:func:`registry.operations.ledger.lock_ledger`) until it
commits, so balance rows are written by one transaction at a time; on SQLite write
transactions are exclusive anyway.

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

from sqlalchemy import bindparam, delete, func, literal_column, union_all, update
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


def _statements(dialect: str, held: bool, suffix: str = "") -> tuple[Any, Any]:
    """The (add, take) statements for a place with an account (``held``) or without one (terminal
    units), built once per dialect: a move only binds its values (no statement to build and no
    cache key to compute per move). ``suffix`` ends their parameters' names (for
    :func:`_together`, which puts several in one statement)."""
    key = (dialect, held, suffix)
    if key not in _BUILT:
        def param(name: str):
            return bindparam(f"b_{name}{suffix}")

        account = _TABLE.c.account_id == param("account_id") if held else _TABLE.c.account_id.is_(None)
        where = [account, _TABLE.c.serialization_id == param("serialization_id"), _TABLE.c.status == param("status")]
        take = (update(_TABLE).where(*where).values(quantity=_TABLE.c.quantity - param("quantity"))
                .returning(_TABLE.c.id, _TABLE.c.quantity))
        add = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE).values(
            account_id=param("account_id") if held else None, serialization_id=param("serialization_id"),
            status=param("status"), quantity=param("quantity"))
        if held:
            target, index_where = ["account_id", "serialization_id", "status"], _TABLE.c.account_id.is_not(None)
        else:
            target, index_where = ["serialization_id", "status"], _TABLE.c.account_id.is_(None)
        add = add.on_conflict_do_update(index_elements=target, index_where=index_where,
                                        set_={"quantity": _TABLE.c.quantity + add.excluded.quantity})
        _BUILT[key] = (add, take)
    return _BUILT[key]


_BUILT: dict[tuple[str, bool, str], tuple[Any, Any]] = {}


def _params(account_id: int | None, serialization_id: int, status: CreditStatus, quantity: int,
            suffix: str = "") -> dict[str, Any]:
    params = {f"b_serialization_id{suffix}": serialization_id, f"b_status{suffix}": status,
              f"b_quantity{suffix}": quantity}
    if account_id is not None:
        params[f"b_account_id{suffix}"] = account_id
    return params


def _add(session: Session, account_id: int | None, serialization_id: int, status: CreditStatus, quantity: int) -> None:
    add, _take_statement = _statements(session.get_bind().dialect.name, account_id is not None)
    session.execute(add, _params(account_id, serialization_id, status, quantity))


def _take(session: Session, account_id: int | None, serialization_id: int, status: CreditStatus, quantity: int,
          name: str) -> None:
    _add_statement, take = _statements(session.get_bind().dialect.name, account_id is not None)
    _taken(session, session.execute(take, _params(account_id, serialization_id, status, quantity)).first(),
           account_id, status, quantity, name)


def _taken(session: Session, row, account_id: int | None, status: CreditStatus, quantity: int, name: str) -> None:
    """After taking ``quantity`` from a place: refuse when it had no row, delete it at 0."""
    if row is None:
        raise BalanceTableError(f"balance table: account {account_id if account_id is not None else '(none)'} has no "
                                f"{status.value} balance of {name} to take {quantity} t from")
    if row.quantity == 0:
        session.execute(delete(_TABLE).where(_TABLE.c.id == row.id))


#: Most changes :func:`_together` sends as one statement (each shape of changes is a statement
#: built and prepared once: a bound keeps their number small). An operation on one
#: serialization changes two to four places; bulk paths with more send one statement a place.
TOGETHER_AT_MOST = 4


def _together(session: Session, changes: list[tuple[int | None, int, CreditStatus, int, str]]) -> None:
    """PostgreSQL: apply several places' changes in one statement, each an ``UPDATE`` (tonnes
    leave) or upsert (tonnes arrive) in a data-modifying CTE returning the row it changed, as
    :func:`_take` and :func:`_add` do one statement each. The CTEs change different rows, and
    the appending transaction holds the ledger's lock, so no other transaction writes balance
    rows meanwhile (their order within the statement does not matter)."""
    shape = tuple((account_id is not None, delta < 0) for account_id, _s, _st, delta, _n in changes)
    statement = _TOGETHER.get(shape)
    if statement is None:
        parts = []
        for i, (held, takes) in enumerate(shape):
            add, take = _statements("postgresql", held, f"_{i}")
            moved = (take if takes else add.returning(_TABLE.c.id, _TABLE.c.quantity)).cte(f"place_{i}")
            parts.append(select(literal_column(str(i)).label("place"), moved.c.id, moved.c.quantity))
        statement = _TOGETHER[shape] = union_all(*parts)
    params: dict[str, Any] = {}
    for i, (account_id, serialization_id, status, delta, _name) in enumerate(changes):
        params.update(_params(account_id, serialization_id, status, abs(delta), f"_{i}"))
    returned = {row.place: row for row in session.execute(statement, params)}
    for i, (account_id, _serialization_id, status, delta, name) in enumerate(changes):
        if delta < 0:
            _taken(session, returned.get(i), account_id, status, -delta, name)


_TOGETHER: dict[tuple[tuple[bool, bool], ...], Any] = {}


def apply_moves(session: Session, moves: Iterable[Mapping[str, Any]]) -> None:
    """Apply a ledger entry's moves to the balance table, inside the caller's transaction."""
    changes = deltas(moves)
    if not changes:
        return
    texts = {serialization for _, serialization, _ in changes}
    ids = _known_ids(session, texts)
    if len(ids) < len(texts):
        ids.update(session.exec(select(Serialization.text, Serialization.id)
                                .where(Serialization.text.in_(texts - set(ids)))).all())
    missing = texts - set(ids)
    if missing:
        raise BalanceTableError(f"balance table: moves name unknown serializations {sorted(missing)}")
    order = sorted(changes, key=lambda k: (ids[k[1]], k[2], -1 if k[0] is None else k[0]))
    places = [(account_id, ids[serialization], CreditStatus(status), changes[(account_id, serialization, status)],
               serialization) for account_id, serialization, status in order]
    if session.get_bind().dialect.name == "postgresql" and 1 < len(places) <= TOGETHER_AT_MOST:
        _together(session, places)
        return
    for account_id, serialization_id, status, delta, name in places:
        if delta > 0:
            _add(session, account_id, serialization_id, status, delta)
        else:
            _take(session, account_id, serialization_id, status, -delta, name)


_KNOWN = "registry.balances.serialization_ids"


def remember_serialization(session: Session, serialization: Serialization) -> None:
    """Note the id of a serialization (by its text) the transaction has read, so the moves
    appended after need not look it up again (an operation locks its serialization first)."""
    holder = session.get_nested_transaction() or session.get_transaction()
    if holder is not None and serialization.id is not None:
        session.info.setdefault(_KNOWN, {})[serialization.text] = (serialization.id, holder)


def _known_ids(session: Session, texts: set[str]) -> dict[str, int]:
    """The ids :func:`remember_serialization` noted in a (sub)transaction still open (a rolled
    back savepoint or an ended transaction no longer vouches for what it read)."""
    known = session.info.get(_KNOWN)
    if not known:
        return {}
    out = {}
    for text in texts:
        noted = known.get(text)
        if noted is not None and still_open(session, noted[1]):
            out[text] = noted[0]
    return out


def root_transaction(transaction):
    """The outermost session transaction a (nested) one belongs to."""
    while transaction.parent is not None:
        transaction = transaction.parent
    return transaction


def still_open(session: Session, transaction) -> bool:
    """Whether ``transaction`` (the session's transaction or a savepoint, noted when something
    was read or locked in it) is still open and part of the session's current transaction: a
    savepoint rolled back, or a transaction that ended, no longer vouches for what it did."""
    return transaction.is_active and root_transaction(transaction) is session.get_transaction()


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
