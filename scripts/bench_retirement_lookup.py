"""Finding a retirement by its transaction (``GET /retirements?tx_hash=``, ``/retirements/by-transaction``):
the query those routes run, among N bridged retirements, with and without the ``retirement.tx_hash``
index (migration 0015).

Setup (not timed): a fresh SQLite registry holding N retirement rows with distinct lowercase
transaction hashes (inserted in one transaction, foreign keys off: only the lookup is measured).
Timed: the routes' query for one hash in the middle, averaged over 100 runs, first with the
index, then after dropping it. Each run must find exactly the one row.

Usage: python scripts/bench_retirement_lookup.py [--retirements N]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import sqlite3
import time

from benchlib import open_registry, temp_database
from sqlalchemy import text  # noqa: E402 - benchlib puts the repository on sys.path
from sqlmodel import Session, select

from registry.tables.core import Retirement

RUNS = 100


def tx_hash(i: int) -> str:
    return "0x%064x" % (i * 7919 + 1)


def lookup_ms(engine, target: str) -> float:
    with Session(engine) as session:
        started = time.perf_counter()
        for _ in range(RUNS):
            found = session.exec(select(Retirement.id).where(Retirement.tx_hash == target)).all()
            assert len(found) == 1, found
        return (time.perf_counter() - started) / RUNS * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retirements", type=int, default=200_000)
    n = parser.parse_args().retirements
    with temp_database("sqlite") as url:
        engine = open_registry(url)
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.executemany(
            "INSERT INTO retirement (class_id, account_id, quantity, purpose, beneficiary_name, beneficiary_address,"
            " retiree, comment, custom_uri, chain_id, tx_hash, log_index, created_at)"
            " VALUES (1, 1, 1, 'voluntary', '', '', '', '', '', 31337, ?, 0, '2026-12-07 00:00:00')",
            [(tx_hash(i),) for i in range(n)])
        raw.commit()
        raw.close()
        target = tx_hash(n // 2)
        indexed = lookup_ms(engine, target)
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_retirement_tx_hash"))
        unindexed = lookup_ms(engine, target)
        engine.dispose()
    print(f"{n:,} retirements, one looked up by transaction hash (SQLite, mean of {RUNS}): "
          f"{indexed:.2f} ms with the index, {unindexed:.1f} ms without")
    print(f"retirements={n} indexed_ms={indexed:.3f} unindexed_ms={unindexed:.3f}")


if __name__ == "__main__":
    main()
