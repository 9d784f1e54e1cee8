"""Database engines and sessions. SQLite (a file) is the embedded default; PostgreSQL is
used when the URL says so. The caller of a domain operation owns its transaction:
:func:`transaction` opens one session, commits once at the end, rolls back on any error."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

DEFAULT_DATABASE_URL = "sqlite:///icr-bridge.sqlite"
DATABASE_URL_ENV = "ICR_DATABASE_URL"

#: A pooled PostgreSQL connection that sat idle longer than this (seconds) is pinged (``SELECT
#: 1``) when checked out, and replaced if the ping fails; one used more recently is handed out
#: as it is. Why a threshold and not SQLAlchemy's ``pool_pre_ping`` (a ping at every checkout):
#: the ping is a round trip, and a short transaction (a split retirement: about a dozen
#: statements) paid it every time. Whatever ends connections from the server's side (a restart,
#: a failover, ``pg_terminate_backend``, an idle-session timeout) while they sit in the pool
#: leaves them idle at least as long as the server was away, and those are pinged: a restart
#: that keeps the server away longer than this fails no transaction begun after it is back. A
#: connection reused within the threshold of its end fails its first statement once; SQLAlchemy
#: then sees a disconnect and invalidates the whole pool, and the next transaction connects
#: afresh. 0.1 s: below the shortest restart measured (``pg_ctl restart -m fast`` of an idle
#: PostgreSQL 15 on this 2-core machine kept it away 160-190 ms; a server with data to
#: checkpoint takes longer), and far above the gap between the transactions of a busy process
#: (milliseconds), which therefore never pings; a process with fewer than ten transactions a
#: second per connection pings as before.
IDLE_PING_SECONDS = 0.1
_CHECKED_IN_AT = "icr.checked_in_at"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - driver hook
            # Let SQLAlchemy issue BEGIN itself so a write transaction can be IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - driver hook
            # One writer at a time, decided at BEGIN: no read-then-upgrade deadlocks.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling on checkout, only for connections idle longer than
    :data:`IDLE_PING_SECONDS` (SQLAlchemy's documented pattern: a pool ``checkout`` listener that
    raises :class:`~sqlalchemy.exc.DisconnectionError` to have the pool replace the connection)."""

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        checked_in = record.info.get(_CHECKED_IN_AT)
        # None: a connection made for this checkout (the pool clears the record's info when it
        # reconnects), with nothing to check.
        if checked_in is None or time.monotonic() - checked_in <= IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # As pool_pre_ping does: one dead connection means the server went away, so every
            # connection made before now is replaced at its next checkout too.
            raise exc.InvalidatePoolError(f"pooled connection idle for {time.monotonic() - checked_in:.1f} s "
                                          f"failed its ping: {error}") from error


def sqlite_path(url: str) -> Path | None:
    """The file behind an sqlite URL (None for other databases or in-memory)."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    return Path(url.removeprefix("sqlite:///"))


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One database transaction: commit on success, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
