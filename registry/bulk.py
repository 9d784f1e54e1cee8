"""The statements the set-based paths (bulk tokenization, the batch, the sync's bulk appliers,
the ledger's ``append_entries``) read and write many rows with, inside the caller's
transaction, on SQLite and PostgreSQL alike:

- :func:`insert_rows`: rows written with ``COPY`` on PostgreSQL, Core's executemany elsewhere.
- :func:`next_ids` / :func:`insert_in_order`: rows inserted at once with the ids one insert per
  row would have given them, in order (ledger payloads and webhook rows name ids, so the bulk
  path must give the same ones). ``INSERT ... RETURNING`` with rows returned in parameter order
  costs a statement per row on PostgreSQL (SQLAlchemy's ``insertmanyvalues`` cannot sort a table
  without a sentinel column), so the ids are taken first: the next ``n`` values of the id
  sequence on PostgreSQL (exactly what ``n`` inserts would draw), the ``n`` ids after the highest
  on SQLite (a rowid table gives a new row the highest id plus one). The caller holds the ledger
  lock, as every insert of these rows does; on SQLite a write transaction is exclusive, and
  PostgreSQL never hands a sequence value out twice.
- :func:`update_from_values`: many rows updated, each with its own values: on PostgreSQL one
  ``UPDATE ... FROM unnest(arrays)`` per :data:`UPDATE_PAGE` rows (one parameter per column:
  nothing to compile again, no round trip per row; a ``VALUES`` list was compiled again per
  statement and measured slower than executemany), on SQLite one executemany (in-process).
- :func:`one_of` / :func:`rows_by`: rows read by many ids with one ``= ANY(array)`` on
  PostgreSQL (one bound parameter, one plan) and ``IN`` lists of :data:`IN_CHUNK` on SQLite.
- :func:`update_ids`: the same values set in many rows by id (one statement per
  :func:`one_of` condition), the session's loaded copies of those rows kept in step.

:func:`insert_rows` in detail:

On PostgreSQL the rows go through psycopg 3's ``COPY ... FROM STDIN`` on the session's own
connection (in its transaction: nothing is committed, a rollback takes them back); on SQLite
through Core's executemany insert on the same connection (``connection.execute(insert(table),
rows)``: no ORM mapper per row). Either way a
row gets what SQLAlchemy would give it: every column the rows do not name takes its Python-side
default (``created_at``...) or NULL, and values pass the column type's bind processing (an enum
is written as its name, as the ORM writes it).

When it pays was measured (``python scripts/bench_bulk_insert.py``, README "Performance"),
against ``session.execute(insert(Model), rows)``, SQLAlchemy's ORM bulk insert: on PostgreSQL
COPY beats it at every row count tried, from 1 row (about 2x: one COPY costs less than binding
and executing a compiled INSERT per row) through 200, 2,000 and 20,000 rows of a serial
block's or a ledger entry's width (1.2-2.7x, mostly about 2x), so :data:`COPY_THRESHOLD` is 1;
it stays a setting so that a slower server could move it. On SQLite the Core executemany
insert (no mapper per row) is 1.2-1.9x the ORM bulk insert at the same counts.

COPY returns no generated keys: rows that need their ids back must name them, or be read back.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Sequence, TypeVar

from sqlalchemy import Table, any_, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

T = TypeVar("T")

#: Values per ``IN (...)`` list: far below SQLite's and PostgreSQL's bound-parameter limits.
IN_CHUNK = 500
#: Rows per statement of :func:`update_from_values` (bound parameters stay well under SQLite's limit).
UPDATE_PAGE = 500

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
        found.extend(session.scalars(select(column.class_).where(condition)).all())
    return found


def update_ids(session: Session, model: Any, ids: Iterable[int], values: Mapping[str, Any]) -> None:
    """Set ``values`` in the rows of ``model`` (a SQLModel table class) whose ids are ``ids``, with
    Core statements (no ORM object per row, no statement per row). A copy of such a row the
    session has loaded gets the values as its committed state, so it says what the row says;
    the caller flushes first whatever it changed in those copies."""
    ids = sorted(set(ids))
    if not ids:
        return
    table: Table = model.__table__
    for condition in one_of(session, table.c.id, ids):
        session.execute(update(table).where(condition).values(dict(values)))
    loaded = session.identity_map
    if len(loaded) < len(ids):  # usually: look at what the session holds rather than at every id
        wanted = set(ids)
        copies = [obj for obj in loaded.values() if isinstance(obj, model) and obj.id in wanted]
    else:
        copies = [copy for copy in (loaded.get(identity_key(model, row_id)) for row_id in ids) if copy is not None]
    for copy in copies:
        for name, value in values.items():
            set_committed_value(copy, name, value)


def next_ids(session: Session, table: Any, count: int) -> list[int]:
    """The ids the next ``count`` rows inserted into ``table`` (a Table or a SQLModel table
    class) get, ascending (taken: see the module docstring)."""
    if count <= 0:
        return []
    target: Table = getattr(table, "__table__", table)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        drawn = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": target.name, "count": count}).scalars().all()
        return sorted(int(i) for i in drawn)
    highest = session.execute(select(func.coalesce(func.max(target.c.id), 0))).scalar_one()
    return list(range(highest + 1, highest + 1 + count))


def insert_in_order(session: Session, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (column values, without ``id``) at once; returns their ids, in order:
    the ids one insert per row would have given them."""
    if not rows:
        return []
    ids = next_ids(session, table, len(rows))  # flushes first: rows the session holds come before
    insert_rows(session, table, [{**row, "id": row_id} for row, row_id in zip(rows, ids)])
    return ids


def update_from_values(session: Session, table: Any, rows: list[dict[str, Any]],
                       constants: dict[str, Any] | None = None) -> None:
    """Set, for each of ``rows`` (``id`` and the integer columns to set), its own values, and
    ``constants`` in every one of them: one statement per :data:`UPDATE_PAGE` rows."""
    if not rows:
        return
    table = getattr(table, "__table__", table)
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

