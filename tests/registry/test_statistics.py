"""registry.statistics: tables never analyzed, or outgrown since, are analyzed; others, small
tables and SQLite are left alone; a table whose statistics lock is busy is skipped, not waited for."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from registry import statistics
from registry.db import make_engine


def test_sqlite_has_nothing_to_refresh(sqlite_engine):
    with sqlite_engine.begin() as c:
        c.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT)"))
        c.execute(text("INSERT INTO scratch (v) SELECT hex(randomblob(40)) FROM "
                       "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT i FROM n)"))
    assert statistics.refresh_if_stale(sqlite_engine, ["scratch"]) == []


@pytest.fixture
def pg(postgres_url):
    engine = make_engine(postgres_url)
    with engine.begin() as c:  # autovacuum off: the test decides when the table is analyzed
        for name in ("big", "small"):
            c.execute(text(f"CREATE TABLE {name} (id serial PRIMARY KEY, v text) WITH (autovacuum_enabled = false)"))
    yield engine
    engine.dispose()


def _fill(engine, table: str, rows: int) -> None:
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO {table} (v) SELECT md5(i::text) || md5((i + 1)::text) FROM generate_series(1, :n) i"),
                  {"n": rows})


def _reltuples(engine, table: str) -> float:
    with engine.connect() as c:
        return c.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).scalar_one()


@pytest.mark.postgres
def test_a_table_never_analyzed_or_outgrown_is_analyzed_and_others_are_not(pg):
    _fill(pg, "big", 20_000)
    _fill(pg, "small", 10)
    assert statistics.stale_tables(pg, ["big", "small", "no_such_table"]) == ["big"]
    assert statistics.refresh_if_stale(pg, ["small", "big"]) == ["big"]
    assert _reltuples(pg, "big") == 20_000 and _reltuples(pg, "small") < 0  # the small one never analyzed
    assert statistics.refresh_if_stale(pg, ["big"]) == []  # fresh statistics: nothing to do
    _fill(pg, "big", 10_000)  # 1.5 times the pages: not yet outgrown
    assert statistics.stale_tables(pg, ["big"]) == []
    _fill(pg, "big", 15_000)  # 2.25 times
    assert statistics.refresh_if_stale(pg, ["big"]) == ["big"]
    assert _reltuples(pg, "big") == 45_000


@pytest.mark.postgres
def test_a_table_whose_statistics_lock_is_held_is_skipped(pg):
    _fill(pg, "big", 20_000)
    with pg.connect() as other:
        other.execute(text("LOCK TABLE big IN SHARE UPDATE EXCLUSIVE MODE"))  # what ANALYZE and VACUUM take
        assert statistics.refresh_if_stale(pg, ["big"]) == []
        other.rollback()
    assert _reltuples(pg, "big") < 0
    assert statistics.refresh_if_stale(pg, ["big"]) == ["big"]
