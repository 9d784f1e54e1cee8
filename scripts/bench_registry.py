"""Registry at scale: a registry holding N serial blocks on SQLite and/or PostgreSQL; latency of a
retirement that splits a block, and of the API's busiest reads under concurrent clients.

The data (bulk-loaded: executemany on SQLite, COPY on PostgreSQL, then the balance table
recomputed from the blocks as migration 0007 backfills it, then ANALYZE): 100
organizations with one holding account each, 200 projects (host countries incl. dial codes
with a hyphen) x 5 vintages = 1,000 vintage serializations (fewer for small N), each issued
once and split into N / serializations contiguous blocks of 1-1,000 t. Each serialization is
held by 8 of the accounts (80% of its blocks), bridge custody (10%, mirrored on-chain) and
retirements (10%, one retirement per block).

Measured, on each database:
- the row-write floor (``benchlib.row_write_floor``): N rows of a serial block's width
  bulk-inserted in one transaction into a scratch table of the same database; the bulk load's
  time over it is ``floor_ratio``;
- retirements that split a block, each in its own transaction (commit included): the
  registry's own (``operations.retire`` from a holding account) and a bridged one
  (``custody.retire_from_custody``, as the sync applies an on-chain ``Retired``), of fewer
  tonnes than the lowest block of a random class holds; baseline: the same on a registry of
  1,000 blocks, measured in the same run;
- reads over real HTTP (``icr-bridge serve`` in a subprocess, uvicorn) by concurrent httpx
  clients: ``/balances`` (all accounts, and one account's), ``/serial-blocks?account_id=..``,
  ``/metadata/{id}.json``;
  baseline: ``/health`` (one trivial query) under the same concurrency.

Usage: python scripts/bench_registry.py [--blocks N] [--db sqlite|postgres|both] [--clients C]
       [--seconds S] [--retirements M] [--quick]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import benchlib
from benchlib import CHUNK, REPO, Floor, headline, open_registry, percentile, progress, table, temp_database
from queryplans import Captured, Plan, explain_run, render

from bridge.chain.anvil import free_port  # noqa: E402 - benchlib puts the repository on sys.path
from registry.bridged import custody
from registry.db import transaction
from registry.domain import lifecycle as lc
from registry.domain.classes import STANDARD_AUTHORIZED_USES, ClassKey
from registry.domain.serials import VintageSerialization
from registry.operations import balances as balance_table

BASELINE_BLOCKS = 1_000
HOLDING_ACCOUNTS = 100
HOLDERS_PER_CLASS = 8
PROJECTS = 200
VINTAGES = (2019, 2020, 2021, 2022, 2023)
COUNTRIES = [("ISL", "354"), ("USA", "1"), ("ASM", "1-684"), ("PRI", "1-787"), ("KEN", "254"), ("BRA", "55"),
             ("IND", "91"), ("IDN", "62"), ("NOR", "47"), ("DOM", "1-809")]
CHAIN_ID = 31337


# ------------------------------------------------------------------------------------------
# Bulk loading
# ------------------------------------------------------------------------------------------


def _table(name: str):
    from bridge.schema import metadata

    return metadata().tables[name]


def _columns_with_defaults(table, given: list[str]) -> tuple[list[str], list[Any]]:
    """Columns to write: the given ones plus every other column that needs a value (Python-side
    default, else NULL); columns with a server default are left to the database."""
    names, fillers = list(given), []
    for column in table.columns:
        if column.name in given or column.server_default is not None:
            continue
        if column.default is not None:
            arg = column.default.arg
            fillers.append(arg(None) if callable(arg) else arg)
        elif column.nullable:
            fillers.append(None)
        else:
            raise RuntimeError(f"{table.name}.{column.name} is NOT NULL without a default: the loader must set it")
        names.append(column.name)
    return names, fillers


def bulk_load(engine, table_name: str, columns: list[str], rows: Iterator[tuple], total: int, bar=None) -> None:
    table = _table(table_name)
    names, fillers = _columns_with_defaults(table, columns)
    extra = tuple(fillers)
    task = bar.add_task(f"load {table_name}", total=total) if bar is not None and total >= CHUNK else None
    benchlib.bulk_insert(engine, table_name, names, (row + extra for row in rows),
                         on_chunk=None if task is None else lambda k: bar.advance(task, k))
    if engine.dialect.name == "postgresql" and "id" in columns:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                                 f"(SELECT COALESCE(MAX(id), 1) FROM {table_name}))")


@dataclass
class Dataset:
    blocks: int
    serializations: int
    custody_account_id: int
    accounts: list[int]
    token_ids: list[str]
    load_s: float = 0.0


def generate(engine, n: int, seed: int = 11, bar=None) -> Dataset:
    """Bulk-load a registry of ``n`` serial blocks (see the module docstring for its shape)."""
    rng = random.Random(seed)
    serializations = max(1, min(PROJECTS * len(VINTAGES), n // 100))
    projects = max(1, -(-serializations // len(VINTAGES)))
    per_class = n // serializations
    extra_blocks = n - per_class * serializations
    custody_id = HOLDING_ACCOUNTS + 1
    started = time.perf_counter()

    bulk_load(engine, "organization", ["id", "name"],
              ((i, f"Organization {i}") for i in range(1, HOLDING_ACCOUNTS + 1)), HOLDING_ACCOUNTS)
    bulk_load(engine, "account", ["id", "organization_id", "name", "type"],
              [(i, i, f"Holding account {i}", "holding") for i in range(1, HOLDING_ACCOUNTS + 1)]
              + [(custody_id, None, f"Bridge custody (chain {CHAIN_ID})", "bridge_custody")], HOLDING_ACCOUNTS + 1)
    bulk_load(engine, "deployment", ["id", "chain_id", "address", "deployed_block", "custody_account_id"],
              iter([(1, CHAIN_ID, "0x" + "11" * 20, 1, custody_id)]), 1)
    project_rows, serialization_rows, class_rows, token_ids, texts = [], [], [], [], {}
    for p in range(1, projects + 1):
        country, dial = COUNTRIES[p % len(COUNTRIES)]
        credit_type = "RAH"[p % 3]
        project_rows.append((p, 10_000 + p, f"Project {p}", country, dial, 1 + p % 15, credit_type, "ICR-M v1"))
        for v, vintage in enumerate(VINTAGES):
            s = (p - 1) * len(VINTAGES) + v + 1
            if s > serializations:
                break
            text = str(VintageSerialization(country, dial, 10_000 + p, 1 + p % 15, credit_type, False, vintage))
            texts[s] = text
            token_id = str(ClassKey(10_000 + p, vintage, False).token_id)
            token_ids.append(token_id)
            serialization_rows.append([s, p, vintage, False, text, 0])
            class_rows.append((s, token_id, s, 0, STANDARD_AUTHORIZED_USES, STANDARD_AUTHORIZED_USES, 0, True))
    bulk_load(engine, "project", ["id", "project_number", "name", "country", "dial_code", "sector", "credit_type",
                                  "methodology"], iter(project_rows), len(project_rows))

    # Blocks, retirements and issuances per serialization, generated once and streamed.
    sizes = {s: [rng.randint(1, 1000) for _ in range(per_class + (1 if s <= extra_blocks else 0))]
             for s in range(1, serializations + 1)}
    holders = {s: rng.sample(range(1, HOLDING_ACCOUNTS + 1), HOLDERS_PER_CLASS) for s in sizes}
    kinds = {s: [rng.random() for _ in sizes[s]] for s in sizes}
    for row in serialization_rows:
        row[5] = sum(sizes[row[0]])
    bulk_load(engine, "serialization", ["id", "project_id", "vintage", "article6", "text", "issued_through"],
              (tuple(r) for r in serialization_rows), len(serialization_rows))
    bulk_load(engine, "creditclass", ["id", "token_id", "serialization_id", "letter_number", "authorized_uses",
                                      "requested_uses", "ca_status", "registered_on_chain"], iter(class_rows), len(class_rows))
    bulk_load(engine, "issuance", ["id", "serialization_id", "kind", "account_id", "unit_first", "unit_last",
                                   "quantity"],
              ((s, s, "ex_post", holders[s][0], 1, sum(sizes[s]), sum(sizes[s])) for s in sizes), len(sizes))

    def retirements():
        rid = 0
        for s in sizes:
            for size, kind in zip(sizes[s], kinds[s]):
                if 0.1 <= kind < 0.2:
                    rid += 1
                    yield (rid, s, holders[s][0], size, "voluntary", f"Beneficiary {rid}", "", "", "", "")

    retired = sum(1 for s in kinds for k in kinds[s] if 0.1 <= k < 0.2)
    bulk_load(engine, "retirement", ["id", "class_id", "account_id", "quantity", "purpose", "beneficiary_name",
                                     "beneficiary_address", "retiree", "comment", "custom_uri"],
              retirements(), retired, bar)

    def blocks():
        bid = rid = 0
        for s in sizes:
            first = 1
            for size, kind in zip(sizes[s], kinds[s]):
                bid += 1
                last = first + size - 1
                if kind < 0.1:
                    row = (bid, s, first, last, size, "active", custody_id, s, True, None)
                elif kind < 0.2:
                    rid += 1
                    row = (bid, s, first, last, size, "retired", None, s, False, rid)
                else:
                    row = (bid, s, first, last, size, "active", holders[s][int(kind * 1000) % HOLDERS_PER_CLASS], s,
                           False, None)
                yield row
                first = last + 1

    bulk_load(engine, "serialblock", ["id", "serialization_id", "unit_first", "unit_last", "quantity", "status",
                                      "account_id", "issuance_id", "mirrored", "retirement_id"],
              blocks(), sum(len(v) for v in sizes.values()), bar)
    with engine.begin() as conn:  # the blocks bypassed the operations that keep the balance table
        balance_table.rebuild(conn)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return Dataset(n, serializations, custody_id, list(range(1, HOLDING_ACCOUNTS + 1)), token_ids,
                   time.perf_counter() - started)


# ------------------------------------------------------------------------------------------
# Retirements that split a block
# ------------------------------------------------------------------------------------------


@dataclass
class Timings:
    """Per retirement: wall seconds, this process's CPU seconds (the database server's, on
    PostgreSQL, not included: a figure other load on the machine inflates less), and the
    statements one of them sent (counted on the explained run)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    statements: int = 0


def _timed(engine, retire, timings: Timings, plans: list[Plan] | None) -> None:
    """Run one retirement (its own transaction, commit included): timed, or, when ``plans`` is
    an empty list, untimed with the plans of its statements captured into ``plans``."""
    if plans is not None and not plans:
        sent: list[Captured] = []
        plans.extend(explain_run(engine, retire, sent))
        timings.statements = len(sent)
        return
    started, cpu = time.perf_counter(), time.process_time()
    retire()
    timings.wall.append(time.perf_counter() - started)
    timings.cpu.append(time.process_time() - cpu)


def retirement_latencies(engine, data: Dataset, count: int, seed: int = 13, tx_base: int = 0,
                         plans: list[Plan] | None = None) -> Timings:
    """``custody.retire_from_custody`` (a bridged retirement, as the sync applies an on-chain
    ``Retired``) of fewer tonnes than the lowest mirrored custody block of a random class holds,
    each in its own transaction. With ``plans`` (an empty list), the first one is not timed but
    explained: the plans of its statements are added to ``plans``."""
    from sqlmodel import Session, select

    from registry.domain.enums import CreditStatus
    from registry.tables.core import CreditClass, SerialBlock

    rng = random.Random(seed)
    timings = Timings()
    with Session(engine) as s:
        classes = s.exec(select(CreditClass.token_id, CreditClass.serialization_id)).all()
    tx_counter = tx_base  # each on-chain retirement needs its own (tx hash, log index)
    attempts = 0
    while len(timings.wall) < count and attempts < count * 20:
        attempts += 1
        token_id, serialization_id = rng.choice(classes)
        with Session(engine) as s:
            lowest = s.exec(
                select(SerialBlock.quantity).where(
                    SerialBlock.account_id == data.custody_account_id,
                    SerialBlock.serialization_id == serialization_id,
                    SerialBlock.status == CreditStatus.active,
                    SerialBlock.mirrored == True,  # noqa: E712
                ).order_by(SerialBlock.unit_first).limit(1)
            ).first()
        if lowest is None or lowest < 2:
            continue  # no block of this class to split
        quantity = rng.randint(1, lowest - 1)
        tx_counter += 1
        origin = custody.ChainOrigin(CHAIN_ID, "0x" + f"{tx_counter:064x}", 0, 10_000_000 + tx_counter)

        def retire() -> None:
            with transaction(engine) as s:
                _retirement, moved, created = custody.retire_from_custody(
                    s, custody_account_id=data.custody_account_id, retirement=custody.OnchainRetirement(
                        token_id=int(token_id), quantity=quantity, origin=origin,
                        details=lc.RetirementDetails(beneficiary_name="Benchmark beneficiary"),
                    ),
                )
            assert created and sum(m.quantity for m in moved) == quantity

        _timed(engine, retire, timings, plans)
    return timings


def holding_retirement_latencies(engine, data: Dataset, count: int, seed: int = 17,
                                 plans: list[Plan] | None = None) -> Timings:
    """``operations.retire`` from a holding account (the registry's own retirement), of fewer
    tonnes than the account's lowest block of the class holds, each in its own transaction
    (``plans``: as :func:`retirement_latencies`)."""
    from sqlmodel import Session, select

    from registry.domain import lifecycle as lc
    from registry.domain.classes import Purpose
    from registry.domain.enums import CreditStatus
    from registry.operations import retirements as retirements_ops
    from registry.tables.core import SerialBlock

    rng = random.Random(seed)
    details = lc.RetirementDetails(purpose=Purpose.voluntary, beneficiary_name="Benchmark beneficiary")
    timings = Timings()
    attempts = 0
    while len(timings.wall) < count and attempts < count * 20:
        attempts += 1
        serialization_id = rng.randint(1, data.serializations)
        with Session(engine) as s:
            row = s.exec(
                select(SerialBlock.account_id, SerialBlock.quantity).where(
                    SerialBlock.serialization_id == serialization_id,
                    SerialBlock.status == CreditStatus.active,
                    SerialBlock.account_id != data.custody_account_id,
                    SerialBlock.quantity >= 2,
                ).order_by(SerialBlock.unit_first).limit(1)
            ).first()
            if row is None:
                continue
            account_id = row[0]
            lowest = s.exec(
                select(SerialBlock.quantity).where(
                    SerialBlock.serialization_id == serialization_id, SerialBlock.account_id == account_id,
                    SerialBlock.status == CreditStatus.active,
                ).order_by(SerialBlock.unit_first).limit(1)
            ).one()
        if lowest < 2:
            continue
        quantity = rng.randint(1, lowest - 1)

        def retire() -> None:
            with transaction(engine) as s:
                _retirement, moved = retirements_ops.retire(s, account_id=account_id,
                                                            serialization_id=serialization_id, quantity=quantity,
                                                            details=details)
            assert sum(m.quantity for m in moved) == quantity

        _timed(engine, retire, timings, plans)
    return timings


# ------------------------------------------------------------------------------------------
# Reads over HTTP
# ------------------------------------------------------------------------------------------


@dataclass
class ReadResult:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    bytes: int = 0

    @property
    def per_s(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


class Server:
    """``icr-bridge serve`` over the given database, in a subprocess."""

    def __init__(self, url: str):
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.log = io.BytesIO()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli.main", "serve", "--db", url, "--port", str(self.port), "--log-level",
             "WARNING"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the API server did not answer /health in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def load_phase(base: str, name: str, paths, clients: int, seconds: float, max_requests: int, bar) -> ReadResult:
    """``clients`` threads, each with its own connection, requesting ``paths()`` back to back
    until ``seconds`` pass or ``max_requests`` are done in total."""
    import httpx

    result = ReadResult(name)
    lock = threading.Lock()
    task = bar.add_task(f"GET {name} x{clients} clients", total=max_requests)
    issued = [0]
    clock: dict[str, float] = {}

    def start_clock() -> None:  # runs once, when every client is warmed up
        clock["started"] = time.perf_counter()
        clock["stop_at"] = clock["started"] + seconds

    barrier = threading.Barrier(clients + 1, action=start_clock)

    def client(index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(base_url=base, timeout=120) as http:
            http.get(paths(rng))  # warm-up, not counted: opens the connection and a DB session
            barrier.wait()
            while time.perf_counter() < clock["stop_at"]:
                with lock:
                    if issued[0] >= max_requests:
                        return
                    issued[0] += 1
                path = paths(rng)
                started = time.perf_counter()
                try:
                    response = http.get(path)
                    ok = response.status_code == 200
                    size = len(response.content)
                except httpx.HTTPError:
                    ok, size = False, 0
                elapsed = time.perf_counter() - started
                with lock:
                    if ok:
                        result.latencies.append(elapsed)
                        result.bytes += size
                    else:
                        result.errors += 1
                bar.advance(task)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - clock["started"]
    bar.remove_task(task)
    return result


def read_latencies(url: str, data: Dataset, clients: int, seconds: float, max_requests: int) -> list[ReadResult]:
    server = Server(url)
    try:
        server.wait()
        phases = [
            ("/health", lambda rng: "/health"),
            ("/balances", lambda rng: "/balances"),
            ("/balances?account_id=..", lambda rng: f"/balances?account_id={rng.choice(data.accounts)}"),
            ("/serial-blocks?account_id=..", lambda rng: f"/serial-blocks?account_id={rng.choice(data.accounts)}"
                                                         "&limit=100"),
            ("/metadata/{id}.json", lambda rng: f"/metadata/{int(rng.choice(data.token_ids)):064x}.json"),
        ]
        results = []
        with progress() as bar:
            for name, paths in phases:
                results.append(load_phase(server.base, name, paths, clients, seconds, max_requests, bar))
        return results
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1e3


def run_db(kind: str, n: int, args) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with temp_database(kind) as url:
        engine = open_registry(url)
        data = generate(engine, BASELINE_BLOCKS)
        figures["baseline_retire"] = retirement_latencies(engine, data, args.retirements)
        figures["baseline_holding_retire"] = holding_retirement_latencies(engine, data, args.retirements)
        engine.dispose()
    with temp_database(kind) as url:
        engine = open_registry(url)
        with progress() as bar:
            data = generate(engine, n, bar=bar)
        figures["load_s"] = data.load_s
        figures["plans"] = {"bridged": [], "holding": []}
        figures["retire"] = retirement_latencies(engine, data, args.retirements, plans=figures["plans"]["bridged"])
        figures["holding_retire"] = holding_retirement_latencies(engine, data, args.retirements,
                                                                 plans=figures["plans"]["holding"])
        figures["floor"] = benchlib.row_write_floor(engine, n)
        engine.dispose()
        figures["reads"] = read_latencies(url, data, args.clients, args.seconds, args.requests)
    return figures


def report(kind: str, n: int, f: dict[str, Any], args) -> dict[str, Any]:
    timed: Timings = f["retire"]
    held_timed: Timings = f["holding_retire"]
    retire, base = timed.wall, f["baseline_retire"].wall
    held, held_base = held_timed.wall, f["baseline_holding_retire"].wall
    reads = {r.name: r for r in f["reads"]}
    health = reads["/health"]
    floor: Floor = f["floor"]
    rows = [
        [f"bulk load of {n:,} blocks (+ retirements, balance table, ANALYZE)", f"{f['load_s']:,.1f} s total", "—",
         f"{n / f['load_s']:,.0f} rows/s", f"{floor.ratio(f['load_s']):,.1f}x the floor"],
        [f"row-write floor: {n:,} rows of a block's width, one transaction", f"{floor.seconds:,.2f} s total", "—",
         f"{floor.rows_per_s:,.0f} rows/s", "—"],
        [f"bridged retirement splitting a custody block ({len(retire)}, serial)", ms(retire, 50), ms(retire, 99),
         "—", f"{ms(base, 50):.1f} / {ms(base, 99):.1f} at {BASELINE_BLOCKS:,} blocks"],
        [f"  its CPU in this process; {timed.statements} statements", ms(timed.cpu, 50), ms(timed.cpu, 99), "—", "—"],
        [f"holding-account retirement splitting a block ({len(held)}, serial)", ms(held, 50), ms(held, 99), "—",
         f"{ms(held_base, 50):.1f} / {ms(held_base, 99):.1f} at {BASELINE_BLOCKS:,} blocks"],
        [f"  its CPU in this process; {held_timed.statements} statements", ms(held_timed.cpu, 50),
         ms(held_timed.cpu, 99), "—", "—"],
    ]
    for name, r in reads.items():
        size = r.bytes / max(1, len(r.latencies)) / 1e3
        rows.append([f"GET {name} ({size:,.1f} kB, {len(r.latencies)} ok, {r.errors} failed)",
                     ms(r.latencies, 50), ms(r.latencies, 99), r.per_s,
                     "—" if name == "/health" else f"{ms(health.latencies, 50):.1f} / {ms(health.latencies, 99):.1f}"
                                                   " (/health)"])
    table(f"{kind}: {n:,} serial blocks, {args.clients} concurrent HTTP clients",
          ["figure", "p50 ms", "p99 ms", "per s", "baseline p50 / p99 ms"], rows)
    for name, what in (("bridged", "bridged retirement splitting a custody block"),
                       ("holding", "holding-account retirement splitting a block")):
        for line in render(f"{kind}, {n:,} blocks, {what}, one untimed run", f["plans"][name]):
            benchlib.out.print(line, markup=False, highlight=False, soft_wrap=True)
    short = {"/balances": "balances", "/balances?account_id=..": "account_balances",
             "/serial-blocks?account_id=..": "serial_blocks",
             "/metadata/{id}.json": "metadata", "/health": "health"}
    pairs = {f"{kind}_load_s": f["load_s"], f"{kind}_retire_p50_ms": ms(retire, 50),
             f"{kind}_retire_p99_ms": ms(retire, 99), f"{kind}_baseline_retire_p50_ms": ms(base, 50),
             f"{kind}_holding_retire_p50_ms": ms(held, 50), f"{kind}_holding_retire_p99_ms": ms(held, 99),
             f"{kind}_retire_cpu_p50_ms": ms(timed.cpu, 50), f"{kind}_holding_retire_cpu_p50_ms": ms(held_timed.cpu, 50),
             f"{kind}_retire_statements": timed.statements, f"{kind}_holding_retire_statements": held_timed.statements,
             f"{kind}_floor_s": floor.seconds, f"{kind}_floor_rows_per_s": floor.rows_per_s,
             f"{kind}_floor_ratio": floor.ratio(f["load_s"])}
    for name, r in reads.items():
        pairs[f"{kind}_{short[name]}_p50_ms"] = ms(r.latencies, 50)
        pairs[f"{kind}_{short[name]}_p99_ms"] = ms(r.latencies, 99)
        if r.errors:
            pairs[f"{kind}_{short[name]}_errors"] = r.errors
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1_000_000, help="serial blocks in the registry (default 1,000,000)")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (default 8)")
    ap.add_argument("--seconds", type=float, default=10.0, help="time budget per read endpoint (default 10 s)")
    ap.add_argument("--requests", type=int, default=400, help="request budget per read endpoint (default 400)")
    ap.add_argument("--retirements", type=int, default=200, help="retirements timed per database (default 200)")
    ap.add_argument("--quick", action="store_true", help="a quick run: 20,000 blocks, 3 s per endpoint")
    args = ap.parse_args()
    if args.quick:
        args.blocks, args.seconds, args.retirements = 20_000, 3.0, 50
    if args.blocks < BASELINE_BLOCKS:
        ap.error(f"--blocks must be >= {BASELINE_BLOCKS}")
    benchlib.quiet_logs()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    pairs: dict[str, Any] = {"blocks": args.blocks, "clients": args.clients}
    for kind in kinds:
        figures = run_db(kind, args.blocks, args)
        pairs.update(report(kind, args.blocks, figures, args))
    # Unprefixed: the database furthest from its floor (the only one when one ran).
    worst = max(kinds, key=lambda kind: pairs[f"{kind}_floor_ratio"])
    pairs["floor_s"], pairs["floor_ratio"] = pairs[f"{worst}_floor_s"], pairs[f"{worst}_floor_ratio"]
    headline(pairs)


if __name__ == "__main__":
    main()
