"""The PostgreSQL pool's disconnect handling (registry/db.py): a pooled connection idle longer
than ``IDLE_PING_SECONDS`` is pinged at checkout and replaced when the server ended it; one
reused sooner is not pinged (no round trip), and when the server ended it, its first statement
fails once and the next transaction works."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text

from registry import db

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url, monkeypatch):
    engine = db.make_engine(postgres_url)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection):
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    admin = create_engine("postgresql+psycopg://" + postgres_url.split("://", 1)[1])
    yield engine, admin, pings
    engine.dispose()
    admin.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def end_backend(admin, pid: int) -> None:
    """End the server process of a pooled connection, as a restart or an administrator would
    (waiting until it has exited)."""
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}).scalar_one()


def test_a_connection_reused_within_the_threshold_is_not_pinged(pg, monkeypatch):
    engine, _admin, pings = pg
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    pids = {backend_pid(engine) for _ in range(5)}
    assert len(pids) == 1 and pings == []


def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced_when_the_server_ended_it(pg, monkeypatch):
    engine, admin, pings = pg
    first = backend_pid(engine)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every connection back in the pool counts as idle
    assert backend_pid(engine) == first and len(pings) == 1  # alive: pinged, kept
    end_backend(admin, first)
    replaced = backend_pid(engine)  # no error: the failed ping had the pool connect afresh
    assert replaced != first and len(pings) == 2


def test_a_connection_ended_within_the_threshold_fails_once_then_the_pool_reconnects(pg, monkeypatch):
    engine, admin, pings = pg
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    first = backend_pid(engine)
    end_backend(admin, first)
    with pytest.raises(exc.OperationalError) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated
    assert backend_pid(engine) != first and pings == []
