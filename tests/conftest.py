"""Shared fixtures: registry databases (SQLite always, PostgreSQL when reachable) and an
in-process eth-tester chain.

PostgreSQL tests use ``ICR_TEST_POSTGRES_URL`` (CI exports it) or the local default below;
each test gets a database of its own, dropped afterwards. Without a reachable server they
skip and say why.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase
from sqlalchemy import create_engine, text

from bridge.schema import create_schema
from registry.db import make_engine

# Property tests draw the same examples on every run (CI must be repeatable): derandomized, and
# no example database carried from one run to the next. HYPOTHESIS_PROFILE=explore (make fuzz)
# draws anew and saves every failing example it finds into the committed folder REGRESSIONS;
# HYPOTHESIS_PROFILE=regressions replays only those saved examples (no generation, so it is as
# repeatable as the derandomized run); `make test` runs it whenever the folder holds any.
# (Hypothesis ignores an example database under any fixed seed, hence two profiles, not one.)
REGRESSIONS = Path(__file__).parent / "regressions" / "hypothesis"
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False, database=DirectoryBasedExampleDatabase(REGRESSIONS))
hypothesis_settings.register_profile(
    "regressions", derandomize=False, database=ReadOnlyDatabase(DirectoryBasedExampleDatabase(REGRESSIONS)),
    phases=[Phase.explicit, Phase.reuse])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

POSTGRES_URL = os.environ.get("ICR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def _postgres_unavailable_reason() -> str | None:
    try:
        engine = create_engine(_admin_url(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver or connection error means: not here
        return f"PostgreSQL at {POSTGRES_URL} is unreachable ({type(exc).__name__}); set ICR_TEST_POSTGRES_URL"


_PG_REASON: list[str | None] = []


def postgres_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_postgres_unavailable_reason())
    return _PG_REASON[0]


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'registry.sqlite'}"


@pytest.fixture
def postgres_url():
    """URL of a fresh, empty PostgreSQL database for one test."""
    reason = postgres_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    name = f"icr_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    engine = make_engine(sqlite_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def w3():
    from bridge.chain.client import eth_tester_web3

    return eth_tester_web3()


@pytest.fixture
def anvil_url():
    """A fresh anvil node (from npm) for one test, stopped afterwards."""
    from bridge.chain.anvil import ANVIL_BIN, AnvilUnavailable, launch

    if not ANVIL_BIN.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the anvil tests: {ANVIL_BIN} is missing (make setup installs it)")
        pytest.skip(f"anvil is not installed at {ANVIL_BIN}: run `make setup`")
    try:
        node = launch()
    except AnvilUnavailable as exc:
        pytest.fail(str(exc))
    yield node.url
    node.stop()


@pytest.fixture
def anvil_w3(anvil_url):
    from bridge.chain.client import http_web3

    return http_web3(anvil_url)


@pytest.fixture(autouse=True)
def local_webhook_receivers(monkeypatch):
    """Tests receive webhooks on 127.0.0.1 at random ports: the operator setting for local
    development allows that (tests of the destination checks unset it); ``*.example`` hosts
    resolve to a documentation address, without a DNS server."""
    from bridge.webhooks import destinations

    monkeypatch.setenv(destinations.ALLOW_PRIVATE_ENV, "1")
    monkeypatch.setenv(destinations.PORTS_ENV, "any")
    real = destinations.resolve

    def offline(host: str, port: int) -> list[str]:  # *.example names (RFC 2606) stand for a receiver
        return ["192.0.2.10"] if host.endswith(".example") else real(host, port)

    monkeypatch.setattr(destinations, "resolve", offline)


@pytest.fixture(autouse=True)
def unthrottled_writes(monkeypatch):
    """Tests (the API fuzzing above all) write faster than a client may; tests of the write rate
    set their own limits."""
    monkeypatch.setenv("ICR_WRITES_PER_MINUTE", "1000000")
    monkeypatch.setenv("ICR_ANONYMOUS_WRITES_PER_MINUTE", "1000000")


@pytest.fixture(autouse=True)
def webhook_listeners():
    """The bridge's registry-hook listeners (a registry retirement records its webhook), registered
    explicitly as every process entry point does; a test may unregister them to see the registry alone."""
    from bridge.webhooks.events import register_listeners, unregister_listeners

    register_listeners()
    yield
    unregister_listeners()


@pytest.fixture(autouse=True)
def bridge_logging_restored():
    """A CLI command run by Typer's test runner points the ``icr_bridge`` logger at that run's
    stderr (:func:`bridge.logs.configure`), which closes with it: each test starts from the
    handlers and level it found, so a later command that logs without configuring never writes
    to a closed stream."""
    import logging

    logger = logging.getLogger("icr_bridge")
    saved = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[2]
    logger.setLevel(saved[1])
