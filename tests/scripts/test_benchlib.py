"""scripts/benchlib.py: the bulk insert the benchmarks load with and the row-write floor they
print beside their figures, on SQLite and PostgreSQL."""

import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import benchlib  # noqa: E402


def scratch_tables(engine) -> list[str]:
    return [name for name in inspect(engine).get_table_names() if name.startswith("bench_floor_")]


def test_floor_writes_the_rows_and_drops_its_scratch_table(engine):
    floor = benchlib.row_write_floor(engine, 1_234)
    assert floor.rows == 1_234 and floor.seconds > 0
    assert floor.rows_per_s == pytest.approx(1_234 / floor.seconds)
    assert scratch_tables(engine) == []


def test_floor_refuses_zero_rows_and_creates_nothing(engine):
    with pytest.raises(ValueError, match="at least one row"):
        benchlib.row_write_floor(engine, 0)
    assert scratch_tables(engine) == []


def test_ratio_is_the_work_over_the_floor():
    floor = benchlib.Floor(rows=1_000, seconds=0.25)
    assert floor.ratio(2.0) == 8.0 and floor.rows_per_s == 4_000.0


def test_bulk_insert_writes_every_row_in_chunks(engine, monkeypatch):
    monkeypatch.setattr(benchlib, "CHUNK", 2)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (id BIGINT PRIMARY KEY, label VARCHAR(8))")
    chunks: list[int] = []
    spent = benchlib.bulk_insert(engine, "scratch", ["id", "label"], ((i, f"r{i}") for i in range(5)),
                                 on_chunk=chunks.append)
    assert spent > 0 and chunks == [2, 2, 1]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, label FROM scratch ORDER BY id").all()
    assert [tuple(r) for r in rows] == [(i, f"r{i}") for i in range(5)]
