"""Bulk row writes: ``registry.bulk.insert_rows`` (COPY on PostgreSQL from its threshold up)
against a plain ``session.execute(insert(T), rows)`` (SQLAlchemy's executemany insert), at 200,
2,000 and 20,000 rows of a serial block's and of a ledger entry's width, on SQLite and
PostgreSQL, into the registry's real tables (indexes, constraints and foreign keys included).

Each figure is the median of ``--repeat`` runs; a run writes the rows in a transaction and
rolls it back (so every run starts from the same table). On PostgreSQL COPY is also measured
below the threshold (forced), which is how the threshold was chosen: the smallest row count at
which COPY beats the executemany insert.

Usage: python scripts/bench_bulk_insert.py [--db sqlite|postgres|both] [--rows 200,2000,20000]
       [--repeat R] [--quick]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable

import benchlib
from benchlib import headline, open_registry, table, temp_database

from registry.bulk import COPY_THRESHOLD, insert_rows  # noqa: E402 - benchlib puts the repository on sys.path
from registry.domain.enums import CreditStatus
from registry.tables.core import LedgerEntry, SerialBlock, utcnow


def block_rows(n: int) -> list[dict[str, Any]]:
    """Serial blocks of serialization 1 above every unit the loaded registry uses."""
    base = 10**12
    return [{"serialization_id": 1, "unit_first": base + 10 * i, "unit_last": base + 10 * i + 4, "quantity": 5,
             "status": CreditStatus.active, "account_id": 1 + i % 100, "issuance_id": 1, "mirrored": i % 2 == 0}
            for i in range(n)]


def ledger_rows(n: int) -> list[dict[str, Any]]:
    """Ledger entries of a retirement's size (a ~600-byte payload), after every existing one."""
    now = utcnow()
    rows = []
    for i in range(n):
        payload = json.dumps({"retirement_id": i, "serial_blocks": [f"ICR-ISL-354-78040-14-R-0-2023-{i}-{i + 9}"],
                              "quantity": 10, "moves": [{"serialization": "ICR-ISL-354-78040-14-R-0-2023",
                                                         "first": i, "last": i + 9, "from": [1, "active"],
                                                         "to": [None, "retired"]}], "beneficiary_name": "x" * 300})
        rows.append({"seq": 10**9 + i, "kind": "retirement", "payload": payload, "prev_hash": f"{i:064x}",
                     "entry_hash": f"{i + 1:064x}", "created_at": now})
    return rows


def timed(engine, write: Callable[[Any], None], repeat: int) -> float:
    """Median seconds of ``write(session)`` (flushed), each run in a transaction rolled back."""
    from sqlmodel import Session

    spent = []
    for _ in range(repeat):
        with Session(engine) as session:
            session.connection()  # the transaction is open before the clock starts
            started = time.perf_counter()
            write(session)
            session.flush()
            spent.append(time.perf_counter() - started)
            session.rollback()
    return statistics.median(spent)


def measure(kind: str, counts: list[int], repeat: int) -> dict[tuple[str, int], dict[str, float]]:
    from bench_registry import generate
    from sqlalchemy import insert

    out: dict[tuple[str, int], dict[str, float]] = {}
    with temp_database(kind) as url:
        engine = open_registry(url)
        generate(engine, 1_000)  # accounts, serializations, issuances the rows refer to
        for name, model, make in (("serialblock", SerialBlock, block_rows), ("ledgerentry", LedgerEntry, ledger_rows)):
            for n in counts:
                rows = make(n)
                figures = {"executemany": timed(engine, lambda s: s.execute(insert(model), rows), repeat),
                           "insert_rows": timed(engine, lambda s: insert_rows(s, model, rows), repeat)}
                if kind == "postgres":
                    figures["copy"] = timed(engine, lambda s: insert_rows(s, model, rows, copy=True), repeat)
                out[(name, n)] = figures
        engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--rows", default="200,2000,20000", help="row counts, comma-separated (default 200,2000,20000)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure, the median is shown (default 5)")
    ap.add_argument("--quick", action="store_true", help="a quick run: 200 and 2,000 rows, 3 runs")
    args = ap.parse_args()
    counts = [int(c) for c in args.rows.split(",")]
    if args.quick:
        counts, args.repeat = [200, 2_000], 3
    benchlib.quiet_logs()
    pairs: dict[str, Any] = {"copy_threshold": COPY_THRESHOLD}
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        figures = measure(kind, counts, args.repeat)
        rows = []
        for (name, n), f in figures.items():
            base = f["executemany"]
            copy = f.get("copy")
            rows.append([f"{name} x {n:,}", base * 1e3, n / base, "—" if copy is None else copy * 1e3,
                         "—" if copy is None else f"{base / copy:.2f}x", f["insert_rows"] * 1e3,
                         f"{base / f['insert_rows']:.2f}x"])
            pairs[f"{kind}_{name}_{n}_executemany_ms"] = base * 1e3
            pairs[f"{kind}_{name}_{n}_insert_rows_ms"] = f["insert_rows"] * 1e3
            if copy is not None:
                pairs[f"{kind}_{name}_{n}_copy_ms"] = copy * 1e3
        table(f"{kind}: bulk row writes into the registry's tables (median of {args.repeat}, transaction rolled back)",
              ["rows", "executemany ms", "rows/s", "COPY ms", "COPY speedup", "insert_rows ms", "insert_rows speedup"],
              rows)
    headline(pairs)


if __name__ == "__main__":
    main()
