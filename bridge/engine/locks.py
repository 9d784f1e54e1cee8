"""Work claiming between bridge workers.

On PostgreSQL a named job (``sync:<chain>:<contract>``, ``batch:<id>``) is claimed with a
session-level advisory lock held on a dedicated connection for as long as the work runs;
a second worker asking for the same job gets ``False`` and moves on. On SQLite the same is
done with an exclusive ``flock`` on a lock file beside the database. Either way the lock is
released when the holder's connection or process ends, so a crashed worker never blocks
the others. Correctness does not depend on the lock (every effect is idempotent); it only
keeps two workers from doing the same work twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from registry.db import sqlite_path


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def claim(engine: Engine, name: str, wait: bool = False) -> Iterator[bool]:
    """Yield True if this worker now holds job ``name``, False if another worker does.
    With ``wait=True`` block until the other worker lets go (always yields True)."""
    with hold(engine, name, wait) as held:
        yield held is not None


@contextmanager
def hold(engine: Engine, name: str, wait: bool = False) -> Iterator[Callable[[], bool] | None]:
    """:func:`claim` for work held a long time (the follower's): yields None if another worker
    holds ``name``, otherwise a function answering whether the claim is still held. A PostgreSQL
    advisory lock lives as long as its connection: when the server ends that connection (a
    restart, ``pg_terminate_backend``) the lock is gone and another worker may take it, so a
    long-running holder asks before each round of work."""
    if engine.dialect.name == "postgresql":
        # AUTOCOMMIT: each lock statement ends at once, so the session-level lock is held by the
        # connection without holding a transaction open while the work runs.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if wait:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _key(name)})
                got = True
            else:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar()
            try:
                yield (lambda: _alive(conn)) if got else None
            finally:
                if got and not conn.invalidated:  # an invalidated connection took the lock with it
                    try:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                    except SQLAlchemyError:  # the connection ended just now, and the lock with it
                        pass
        return
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    lock_file = f"{path}.{_key(name) & 0xFFFFFFFF:08x}.lock" if path else None
    if lock_file is None:  # in-memory database: one process, nothing to share
        yield _held
        return
    fd = os.open(lock_file, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            yield _held  # an flock lasts as long as the open file
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _held() -> bool:
    return True


def _alive(conn) -> bool:
    """Whether the connection holding a session-level advisory lock still exists."""
    try:
        conn.execute(text("SELECT 1"))
        return True
    except DBAPIError:
        return False
