"""The statements the set-based paths write many rows with, on SQLite and PostgreSQL alike.

- :func:`insert_rows`: rows inserted with multi-row ``INSERT ... VALUES`` statements on
  PostgreSQL (psycopg's ``executemany`` still runs the statement once per row on the server),
  with one ``executemany`` on SQLite (in-process: no round trips to save).
- :func:`insert_in_order`: rows inserted with one multi-row insert and given the ids one insert
  per row, in order, would have given them. ``INSERT ... RETURNING`` with rows returned in
  parameter order costs a statement per row on PostgreSQL (SQLAlchemy's ``insertmanyvalues``
  cannot sort a table without a sentinel column), so the ids are taken first: the next
  ``n`` values of the id sequence on PostgreSQL (exactly what ``n`` inserts would draw), the
  ``n`` ids after the highest on SQLite (which gives a rowid table's new row the highest id
  plus one), then inserted with the rows.
- :func:`update_from_values`: many rows updated, each with its own values: on PostgreSQL one
  ``UPDATE ... FROM (VALUES ...)`` statement per 500 rows instead of a round trip per row; on
  SQLite (which cannot name a VALUES list's columns) one ``executemany``, which runs in-process
  with no round trips.

Both run in the caller's transaction. On SQLite a write transaction is exclusive, and on
PostgreSQL sequence values are never handed out twice, so the ids taken are the rows' own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Table, bindparam, column, func, insert, select, text, update, values
from sqlmodel import Session

#: Rows per statement of :func:`update_from_values` (bound parameters stay well under SQLite's limit).
UPDATE_PAGE = 500
#: Bound parameters per multi-row insert on PostgreSQL (its limit is 65,535).
INSERT_PARAMETERS = 30_000


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (column values; every row the same columns) in order: on PostgreSQL one
    multi-row ``INSERT`` per :data:`INSERT_PARAMETERS` bound values, on SQLite one ``executemany``."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    page = max(1, INSERT_PARAMETERS // len(rows[0]))
    for start in range(0, len(rows), page):
        session.execute(insert(table).values(rows[start:start + page]))


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
    for start in range(0, len(rows), UPDATE_PAGE):
        page = rows[start:start + UPDATE_PAGE]
        given = values(column("id", Integer), *(column(name, table.c[name].type) for name in names),
                       name="given").data([(row["id"], *(row[name] for name in names)) for row in page])
        session.execute(update(table).where(table.c.id == given.c.id)
                        .values({**{name: given.c[name] for name in names}, **(constants or {})}))

