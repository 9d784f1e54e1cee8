"""The statements the set-based paths write many rows with, on SQLite and PostgreSQL alike.

- :func:`insert_rows`: rows inserted with one ``COPY`` on PostgreSQL (psycopg's
  ``executemany`` runs the statement once per row on the server, and a multi-row ``INSERT ...
  VALUES`` costs SQLAlchemy a compilation per statement: both measured 4-10 times slower), with
  one ``executemany`` on SQLite (in-process: no round trips to save).
- :func:`insert_in_order`: rows inserted with one multi-row insert and given the ids one insert
  per row, in order, would have given them. ``INSERT ... RETURNING`` with rows returned in
  parameter order costs a statement per row on PostgreSQL (SQLAlchemy's ``insertmanyvalues``
  cannot sort a table without a sentinel column), so the ids are taken first: the next
  ``n`` values of the id sequence on PostgreSQL (exactly what ``n`` inserts would draw), the
  ``n`` ids after the highest on SQLite (which gives a rowid table's new row the highest id
  plus one), then inserted with the rows.
- :func:`update_from_values`: many rows updated, each with its own values: on PostgreSQL one
  ``UPDATE ... FROM unnest(arrays)`` statement per 500 rows (one parameter per column: nothing
  to compile again, no round trip per row); on
  SQLite (which cannot name a VALUES list's columns) one ``executemany``, which runs in-process
  with no round trips.

Both run in the caller's transaction. On SQLite a write transaction is exclusive, and on
PostgreSQL sequence values are never handed out twice, so the ids taken are the rows' own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlmodel import Session

#: Rows per statement of :func:`update_from_values` (bound parameters stay well under SQLite's limit).
UPDATE_PAGE = 500


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (column values; every row the same columns) in order: on PostgreSQL with
    one ``COPY`` (each value bound as the column's type binds it), on SQLite with one
    ``executemany``."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in names]
    columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([value if process is None else process(value)
                            for process, value in zip(processors, (row[name] for name in names))])


def next_ids(session: Session, table: Table, count: int) -> list[int]:
    """The ids the next ``count`` rows inserted into ``table`` get, ascending (taken: see the
    module docstring)."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        drawn = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table.name, "count": count}).scalars().all()
        return sorted(int(i) for i in drawn)
    highest = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(highest + 1, highest + 1 + count))


def insert_in_order(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (column values, without ``id``) in one multi-row insert; returns their
    ids, in order: the ids one insert per row would have given them."""
    if not rows:
        return []
    session.flush()  # rows the session still holds come first, as they would one by one
    ids = next_ids(session, table, len(rows))
    insert_rows(session, table, [{**row, "id": row_id} for row, row_id in zip(rows, ids)])
    return ids


def update_from_values(session: Session, table: Table, rows: list[dict[str, Any]],
                       constants: dict[str, Any] | None = None) -> None:
    """Set, for each of ``rows`` (``id`` and the integer columns to set), its own values, and
    ``constants`` in every one of them: one statement per :data:`UPDATE_PAGE` rows."""
    if not rows:
        return
    names = [name for name in rows[0] if name != "id"]
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(table).where(table.c.id == bindparam("row_id"))
                        .values({**{name: bindparam(name) for name in names}, **(constants or {})}),
                        [{"row_id": row["id"], **{name: row[name] for name in names}} for row in rows])
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    constants = constants or {}
    table_name = dialect.identifier_preparer.format_table(table)
    arrays = ", ".join(f"CAST(:a_{k} AS {table.c[name].type.compile(dialect)}[])" for k, name in enumerate(["id", *names]))
    settings = [f"{quote(name)} = given.{quote(name)}" for name in names]
    settings += [f"{quote(name)} = CAST(:c_{k} AS {table.c[name].type.compile(dialect)})" for k, name in enumerate(constants)]
    statement = text(f"UPDATE {table_name} SET {', '.join(settings)} FROM unnest({arrays}) "
                     f"AS given({', '.join(quote(n) for n in ['id', *names])}) WHERE {table_name}.id = given.id")
    bound = {f"c_{k}": _bound(table, name, value, dialect) for k, (name, value) in enumerate(constants.items())}
    for start in range(0, len(rows), UPDATE_PAGE):
        page = rows[start:start + UPDATE_PAGE]
        columns = {f"a_{k}": [_bound(table, name, row[name], dialect) for row in page]
                   for k, name in enumerate(["id", *names])}
        session.execute(statement, {**columns, **bound})


def _bound(table: Table, name: str, value: Any, dialect: Any) -> Any:
    """``value`` as the column's type binds it (an enum member as its stored name, ...)."""
    process = table.c[name].type._cached_bind_processor(dialect)
    return value if process is None else process(value)

