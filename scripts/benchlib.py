"""Shared pieces of the benchmark scripts (scripts/bench_*.py): temporary registry databases,
time accounting by component, a small bridge world, Rich progress, bulk inserts and the
row-write floor, and the output format (a table of figures next to their baselines, then one
last line of ``name=value`` pairs).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

#: Where PostgreSQL runs for benchmarks (a database is created per run and dropped after).
POSTGRES_URL = os.environ.get(
    "ICR_BENCH_POSTGRES_URL", os.environ.get("ICR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
)

# Progress goes to stderr so stdout holds only the figures.
progress_console = Console(stderr=True)
out = Console(width=120, highlight=False)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=progress_console,
        transient=True,
    )


# ------------------------------------------------------------------------------------------
# Databases
# ------------------------------------------------------------------------------------------


def _admin_engine(url: str):
    from sqlalchemy import create_engine

    return create_engine("postgresql+psycopg://" + url.split("://", 1)[1], isolation_level="AUTOCOMMIT")


@contextmanager
def temp_database(kind: str) -> Iterator[str]:
    """URL of a new, empty registry database of ``kind`` (sqlite | postgres), removed after."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="icr-bench-")
        try:
            yield f"sqlite:///{folder}/registry.sqlite"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}: sqlite or postgres")
    from sqlalchemy import text

    name = f"icr_bench_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise SystemExit(f"PostgreSQL at {POSTGRES_URL} is unreachable ({type(exc).__name__}); "
                         "set ICR_BENCH_POSTGRES_URL") from exc
    try:
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def open_registry(url: str):
    from bridge.schema import create_schema
    from registry.db import make_engine

    engine = make_engine(url)
    create_schema(engine)
    return engine


# ------------------------------------------------------------------------------------------
# Bulk inserts and the row-write floor
# ------------------------------------------------------------------------------------------

#: Rows handed to the driver at once by ``bulk_insert``.
CHUNK = 50_000


def bulk_insert(engine, table_name: str, columns: list[str], rows: Iterable[tuple],
                on_chunk: Callable[[int], None] | None = None) -> float:
    """Insert ``rows`` into ``table_name`` in one transaction, the fastest way the driver offers:
    ``COPY ... FROM STDIN`` on PostgreSQL (psycopg), ``executemany`` on SQLite. Returns the
    seconds spent writing and committing (producing the rows, CHUNK at a time, is not counted).
    ``on_chunk(k)`` is called after every chunk of k rows."""
    names = ", ".join(columns)
    source = iter(rows)
    spent = 0.0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
                while chunk := list(islice(source, CHUNK)):
                    started = time.perf_counter()
                    for row in chunk:
                        copy.write_row(row)
                    spent += time.perf_counter() - started
                    if on_chunk is not None:
                        on_chunk(len(chunk))
                started = time.perf_counter()
            spent += time.perf_counter() - started  # the end of the COPY
        else:
            sql = f"INSERT INTO {table_name} ({names}) VALUES ({', '.join('?' * len(columns))})"
            cursor.execute("BEGIN")
            while chunk := list(islice(source, CHUNK)):
                started = time.perf_counter()
                cursor.executemany(sql, chunk)
                spent += time.perf_counter() - started
                if on_chunk is not None:
                    on_chunk(len(chunk))
        started = time.perf_counter()
        raw.commit()
        spent += time.perf_counter() - started
    finally:
        raw.close()
    return spent


@dataclass(frozen=True)
class Floor:
    """The row-write floor: ``rows`` rows bulk-inserted in one transaction took ``seconds``."""

    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def ratio(self, seconds: float) -> float:
        """How many times the floor ``seconds`` of work took."""
        return seconds / self.seconds


#: The scratch table of the floor: as wide as a serial block row (ten columns, one short text).
FLOOR_COLUMNS = {
    "id": "BIGINT PRIMARY KEY", "serialization_id": "BIGINT NOT NULL", "unit_first": "BIGINT NOT NULL",
    "unit_last": "BIGINT NOT NULL", "quantity": "BIGINT NOT NULL", "status": "VARCHAR(16) NOT NULL",
    "account_id": "BIGINT", "issuance_id": "BIGINT NOT NULL", "mirrored": "BOOLEAN NOT NULL",
    "retirement_id": "BIGINT",
}


def _floor_rows(n: int) -> Iterator[tuple]:
    for i in range(1, n + 1):
        size = 1 + i % 1000
        first = i * 1000
        yield (i, 1 + i % 1000, first, first + size - 1, size, "active", 1 + i % 100, 1 + i % 1000, i % 10 == 0,
               None)


def row_write_floor(engine, rows: int) -> Floor:
    """Measure the row-write floor on ``engine``'s database: ``rows`` rows of a serial block's
    width bulk-inserted (``bulk_insert``) into a scratch table created for it and dropped after.
    What the registry spends writing the same number of rows, over this, is its distance from
    the database's own speed on this machine."""
    if rows < 1:
        raise ValueError(f"the floor needs at least one row, not {rows}")
    name = f"bench_floor_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in FLOOR_COLUMNS.items())})")
    try:
        seconds = bulk_insert(engine, name, list(FLOOR_COLUMNS), _floor_rows(rows))
        with engine.connect() as conn:
            written = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {name}").scalar_one()
        if written != rows:
            raise RuntimeError(f"the floor wrote {written} rows, not {rows}")
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {name}")
    return Floor(rows, seconds)


def measure_floors(db: str, counts: Iterable[int]) -> dict[int, Floor]:
    """The row-write floor for each of ``counts`` rows, on a fresh database of kind ``db``."""
    from registry.db import make_engine

    with temp_database(db) as url:
        engine = make_engine(url)
        try:
            return {n: row_write_floor(engine, n) for n in sorted(set(counts))}
        finally:
            engine.dispose()


# ------------------------------------------------------------------------------------------
# Time accounting
# ------------------------------------------------------------------------------------------


class Clock:
    """Seconds spent inside instrumented calls, per bucket. Nested calls into the same bucket
    count once (the outermost), so a bucket never exceeds wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._depth: dict[str, int] = defaultdict(int)

    def wrap(self, bucket: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            self.calls[bucket] += 1
            if self._depth[bucket]:
                return fn(*args, **kwargs)
            self._depth[bucket] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[bucket] += time.perf_counter() - start
                self._depth[bucket] -= 1

        timed.__wrapped__ = fn
        return timed

    @contextmanager
    def patch(self, bucket: str, owner: Any, name: str) -> Iterator[None]:
        """Count time spent in ``owner.name`` (a function, method or classmethod) in ``bucket``."""
        original = owner.__dict__[name] if isinstance(owner, type) and name in owner.__dict__ else getattr(owner, name)
        if isinstance(original, classmethod):
            replacement: Any = classmethod(self.wrap(bucket, original.__func__))
        elif isinstance(original, staticmethod):
            replacement = staticmethod(self.wrap(bucket, original.__func__))
        else:
            replacement = self.wrap(bucket, original)
        setattr(owner, name, replacement)
        try:
            yield
        finally:
            setattr(owner, name, original)

    def time_provider(self, w3, bucket: str = "chain") -> None:
        """Count every JSON-RPC request of ``w3`` (node execution and transport) in ``bucket``."""
        provider = w3.provider
        timed = self.wrap(bucket, provider.make_request)

        def counted(method, params):
            self.calls[f"rpc:{method}"] += 1
            return timed(method, params)

        provider.make_request = counted
        provider._request_func_cache = (None, None)  # rebuild the middleware chain around it

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)


@contextmanager
def tree_timing(clock: Clock) -> Iterator[None]:
    """Attribute Merkle hashing, proofs and tree (de)serialization to the ``tree`` bucket."""
    from bridge.merkle.tree import StandardMerkleTree

    with clock.patch("tree", StandardMerkleTree, "of"), clock.patch("tree", StandardMerkleTree, "load"), \
            clock.patch("tree", StandardMerkleTree, "dump"), \
            clock.patch("tree", StandardMerkleTree, "get_multi_proof"), \
            clock.patch("tree", StandardMerkleTree, "get_proof"):
        yield


@contextmanager
def chain_client_timing(clock: Clock) -> Iterator[None]:
    """Attribute the chain client's work (building and signing transactions, waiting for
    receipts, fetching and decoding logs) to the ``chain`` bucket, with the RPC requests."""
    from bridge.chain.client import Chain
    from bridge.engine import sync

    with clock.patch("chain", Chain, "transact"), clock.patch("chain", Chain, "send_signed"), \
            clock.patch("chain", Chain, "call"), clock.patch("chain", Chain, "block_hash"), \
            clock.patch("chain", Chain, "safe_head"), clock.patch("chain", sync, "fetch_logs"), \
            clock.patch("chain", sync, "decode_logs"):
        yield


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ------------------------------------------------------------------------------------------
# A small bridge world (deployed token, a project, an issuance, a linked wallet)
# ------------------------------------------------------------------------------------------


@dataclass
class BenchWorld:
    engine: Any
    chain: Any
    keys: Any
    deployment: Any
    account_id: int
    class_id: int
    token_id: int
    holder: Any


def seeded_account(seed: str):
    from eth_account import Account
    from eth_utils import keccak

    return Account.from_key(keccak(text=seed))


def make_bench_world(engine, w3, issued: int, seed: str = "bench") -> BenchWorld:
    from sqlmodel import select

    from bridge.chain.client import Chain
    from bridge.engine.deploy import BridgeKeys, deploy
    from registry.db import transaction
    from registry.domain.wallets import sign_wallet_link
    from registry.operations.accounts import create_organization, link_wallet, open_account
    from registry.operations.issuances import issue_ex_post
    from registry.operations.projects import register_project
    from registry.tables.core import CreditClass

    chain = Chain(w3)
    keys = BridgeKeys(seeded_account(f"{seed}/admin"), seeded_account(f"{seed}/signer"),
                      seeded_account(f"{seed}/relayer"))
    holder = seeded_account(f"{seed}/holder")
    chain.fund_from_dev_account(keys.admin.address, keys.registry_signer.address, keys.relayer.address, holder.address)
    deployment = deploy(engine, chain, keys)
    with transaction(engine) as s:
        org = create_organization(s, "Benchmark Removals hf.")
        account = open_account(s, org.id, "Benchmark holding account")
        project = register_project(s, project_number=78040, name="Benchmark project", country="ISL",
                                   dial_code="354", sector=14, credit_type="R", methodology="ICR-DAC-CCS v1.0")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, quantity=issued, account_id=account.id,
                                 monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 12, 31),
                                 verification_reference="Benchmark verification 2023", verification_body="Benchmark VVB",
                                 verified_on=date(2024, 3, 1))
        credit_class = s.exec(select(CreditClass).where(CreditClass.serialization_id == issuance.serialization_id)).one()
    now = int(time.time())
    address, signature = sign_wallet_link(holder.key, account.id, now)
    with transaction(engine) as s:
        link_wallet(s, account.id, address, now, signature, now)
    return BenchWorld(engine, chain, keys, deployment, account.id, credit_class.id, int(credit_class.token_id), holder)


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for i, name in enumerate(columns):
        t.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*[fmt(v) for v in row])
    out.print(t)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "—"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def headline(pairs: dict[str, Any]) -> None:
    """The last output line: machine-readable ``name=value`` pairs."""
    def value(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1 else f"{v:.2f}"
        return str(v)

    sys.stdout.flush()
    print(" ".join(f"{k}={value(v)}" for k, v in pairs.items()), flush=True)


def quiet_logs() -> None:
    from bridge import logs

    logs.configure("WARNING")
