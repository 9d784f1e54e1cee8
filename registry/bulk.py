"""Bulk row writes inside the caller's transaction: :func:`insert_rows`.

On PostgreSQL the rows go through psycopg 3's ``COPY ... FROM STDIN`` on the session's own
connection (in its transaction: nothing is committed, a rollback takes them back); on SQLite
through SQLAlchemy's executemany insert (``session.execute(insert(table), rows)``). Either way a
row gets what SQLAlchemy would give it: every column the rows do not name takes its Python-side
default (``created_at``...) or NULL, and values pass the column type's bind processing (an enum
is written as its name, as the ORM writes it).

When COPY pays was measured (``python scripts/bench_bulk_insert.py``, README "Performance"):
on PostgreSQL it beats the executemany insert at every row count tried, from 1 row (about 2x:
one COPY costs less than binding and executing a compiled INSERT per row) through 200, 2,000
and 20,000 rows of a serial block's or a ledger entry's width (1.7-3x), so
:data:`COPY_THRESHOLD` is 1; it stays a setting so that a slower server could move it.

COPY returns no generated keys: rows that need their ids back must name them, or be read back.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Table, insert
from sqlmodel import Session

#: Rows from which :func:`insert_rows` uses COPY on PostgreSQL (measured: see the module docstring).
COPY_THRESHOLD = 1


def insert_rows(session: Session, table: Any, rows: Sequence[Mapping[str, Any]], *,
                copy: bool | None = None) -> int:
    """Insert ``rows`` (dicts of column name to value, every one naming the same columns) into
    ``table`` (a :class:`~sqlalchemy.Table` or a SQLModel table class) in the session's
    transaction; returns how many were written. The session is flushed first, so the rows may
    refer to objects it has pending. ``copy`` forces (True) or forbids (False) COPY on
    PostgreSQL; by default it is used from :data:`COPY_THRESHOLD` rows. Nothing is committed."""
    target: Table = getattr(table, "__table__", table)
    if not rows:
        return 0
    names = list(rows[0])
    unknown = [n for n in names if n not in target.columns]
    if unknown:
        raise ValueError(f"{target.name} has no column(s) {', '.join(unknown)}")
    for i, row in enumerate(rows):
        if len(row) != len(names) or any(n not in row for n in names):
            raise ValueError(f"row {i} names columns {sorted(row)}, not {sorted(names)} as row 0 does: "
                             "every row must name the same columns")
    session.flush()
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if copy and not postgres:
        raise ValueError(f"COPY is PostgreSQL's; this session is on {connection.dialect.name}")
    if postgres and (copy if copy is not None else len(rows) >= COPY_THRESHOLD):
        _copy(connection, target, names, rows)
    else:
        connection.execute(insert(target), list(rows))
    return len(rows)


def _copy(connection, table: Table, names: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
    dialect = connection.dialect
    filled = [c for c in table.columns if c.name not in names and c.server_default is None
              and (c.default is not None or not c.primary_key)]
    for column in filled:
        if column.default is None and not column.nullable:
            raise ValueError(f"{table.name}.{column.name} is NOT NULL without a default: the rows must name it")
    columns = [table.columns[n] for n in names] + filled
    processors = [c.type._cached_bind_processor(dialect) for c in columns]
    defaults = [_default(c) for c in filled]
    quoted = ", ".join(dialect.identifier_preparer.quote(c.name) for c in columns)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({quoted}) FROM STDIN"
    raw = connection.connection.driver_connection  # the session's psycopg connection, in its transaction
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [row[n] for n in names] + [d() for d in defaults]
            copy.write_row([v if p is None or v is None else p(v) for v, p in zip(values, processors)])


def _default(column):
    """A callable giving the value SQLAlchemy would insert for a column the rows leave out."""
    if column.default is None:
        return lambda: None
    if column.default.is_callable:
        fn = column.default.arg
        return lambda: fn(None)
    if column.default.is_scalar:
        value = column.default.arg
        return lambda: value
    raise ValueError(f"{column.table.name}.{column.name}: its default ({column.default!r}) cannot be computed "
                     "outside an INSERT; the rows must name it")
