"""Shared steps of the set-based (bulk) operations: reading rows by many ids in few queries,
and taking primary keys for rows inserted in bulk.

A bulk operation must leave the registry exactly as the one-by-one operation would, ids
included (ledger payloads name them, so the hash chain depends on them): :func:`next_ids`
hands out the ids the database would have given the same rows inserted one at a time, in
order, in this transaction."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence, TypeVar

from sqlalchemy import any_, bindparam, func, text
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, select

T = TypeVar("T")

#: Values per ``IN (...)`` list: far below SQLite's and PostgreSQL's bound-parameter limits.
IN_CHUNK = 500


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def one_of(session: Session, column: Any, values: Iterable[Any]) -> list[Any]:
    """Conditions that together select ``column`` in ``values``, one statement each: on
    PostgreSQL a single ``column = ANY(:array)`` (one bound parameter however many values: no
    per-value parameter to bind and parse, and one plan); on SQLite an ``IN`` list per
    :data:`IN_CHUNK` values."""
    values = sorted(set(values))
    if not values:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return [column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))]
    return [column.in_(part) for part in chunks(values)]


def rows_by(session: Session, column: Any, values: Iterable[Any]) -> list[Any]:
    """The rows of ``column``'s table whose ``column`` is one of ``values`` (:func:`one_of`)."""
    found: list[Any] = []
    for condition in one_of(session, column, values):
        found.extend(session.exec(select(column.class_).where(condition)).all())
    return found


def next_ids(session: Session, model: Any, count: int) -> list[int]:
    """``count`` primary keys for new rows of ``model``, ascending: the ones inserting the rows
    one by one would give them. PostgreSQL: drawn from the id column's sequence (so later
    inserts go on after them); SQLite (no AUTOINCREMENT: a new rowid is the largest + 1): the
    ids after the largest one. The caller holds the ledger lock, as every insert of these rows
    does, so no other transaction takes ids in between."""
    if count <= 0:
        return []
    table = model.__table__
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        drawn = session.exec(text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
        ).bindparams(table=table.name, count=count)).all()
        return sorted(int(row[0]) for row in drawn)
    largest = session.exec(select(func.max(table.c.id))).one() or 0
    return list(range(largest + 1, largest + 1 + count))
