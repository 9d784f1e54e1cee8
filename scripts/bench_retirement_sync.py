"""Retirement sync: N on-chain retirements on anvil ingested into the registry, then the same
range replayed from the deployment block (an idempotent re-run must apply nothing).

Setup (not timed): a fresh anvil node and registry, one tokenization minted through the
Merkle path, the tokens spread over anvil's ten unlocked dev accounts, and N ``retire``
transactions of 1-5 t each (half with ``RetirementDetails`` data, a third for another
beneficiary), each mined in its own block as anvil's automine does.

Timed: one ``sync_once`` pass that applies the N ``Retired`` events (up to 200 per registry
transaction, each run of them through the bulk applier: the lowest custody serials retired,
the ledger entries, the event rows and the webhook outbox rows written set-based), split into
chain time (``eth_getLogs`` and log decoding) and registry time; then a replay from the
deployment block, which must skip every event and apply none (its chain time printed apart:
the replay fetches and decodes every log again). Beside the figures: the row-write
floor (``benchlib.row_write_floor``: N rows of a serial block's width bulk-inserted in one
transaction into a scratch table of the same database, measured after the sync) and
``floor_ratio`` = registry time over it.

Usage: python scripts/bench_retirement_sync.py [--retirements N] [--quick] [--db sqlite|postgres]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import random
import time

import benchlib
from benchlib import (
    Clock,
    chain_client_timing,
    headline,
    make_bench_world,
    open_registry,
    progress,
    table,
    temp_database,
)
from sqlalchemy import func
from sqlmodel import Session, select

from bridge.chain.anvil import start_anvil  # noqa: E402 - benchlib puts the repository on sys.path
from bridge.chain.client import http_web3
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine.cycle import run_cycle
from bridge.engine.reconcile import conservation, reconcile
from bridge.engine.sync import rewind_cursor, sync_once
from registry.bridged import custody
from registry.db import transaction
from registry.domain.classes import Purpose
from registry.tables.core import Retirement

#: anvil's transaction rate from the toolchain notes: how fast a node can produce retirements
#: one per transaction. The sync has to ingest faster than that to never fall behind.
ANVIL_TX_PER_S = 60
RETIRE_GAS = 400_000
SEND_GROUP = 100  # retire transactions in flight before their receipts are awaited


def setup(engine, w3, n: int, seed: int = 7):
    rng = random.Random(seed)
    amounts = [rng.randint(1, 5) for _ in range(n)]
    world = make_bench_world(engine, w3, issued=sum(amounts), seed="retirement-sync")
    with transaction(engine) as s:
        custody.request_tokenization(
            s, account_id=world.account_id, wallet=world.holder.address, class_id=world.class_id,
            quantity=sum(amounts), custody_account_id=world.deployment.custody_account_id,
        )
    cycle = run_cycle(engine, world.chain, world.keys)
    assert cycle.sync.applied == {"LeafMinted": 1}, cycle
    # Spread the tokens over the node's unlocked accounts, so the node signs the retirements.
    dev = w3.eth.accounts
    token = world.chain.token
    shares = [0] * len(dev)
    for i, amount in enumerate(amounts):
        shares[i % len(dev)] += amount
    for account, share in zip(dev, shares):
        if share:
            world.chain.transact(world.holder, token.functions.safeTransferFrom(
                world.holder.address, account, world.token_id, share, b""), "spread", gas=200_000)
    details = encode_retirement_data(RetirementData(
        purpose=Purpose.voluntary, beneficiary_name="Reykjavik Harbour Ferries ehf.",
        beneficiary_address="Geirsgata 1, 101 Reykjavik", organization_id="42"))
    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("anvil: sending retire transactions", total=n)
        for start in range(0, n, SEND_GROUP):
            hashes = []
            for i in range(start, min(n, start + SEND_GROUP)):
                beneficiary = dev[(i + 1) % len(dev)] if i % 3 == 0 else "0x" + "00" * 20
                data = details if i % 2 == 0 else b""
                fn = token.functions.retire(world.token_id, amounts[i], beneficiary, f"Retiree {i}", "", "benchmark",
                                            data)
                hashes.append(fn.transact({"from": dev[i % len(dev)], "gas": RETIRE_GAS}))
            for tx_hash in hashes:  # every one must be mined and succeed before the next group
                assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=600)["status"] == 1
            bar.advance(task, len(hashes))
    produce_s = time.perf_counter() - started
    return world, amounts, produce_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retirements", type=int, default=10_000, help="on-chain retirements (default 10,000)")
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite", help="registry database")
    ap.add_argument("--quick", action="store_true", help="a quick run: 300 retirements")
    args = ap.parse_args()
    n = 300 if args.quick else args.retirements
    if n < 1:
        ap.error("--retirements must be >= 1")
    benchlib.quiet_logs()
    with temp_database(args.db) as url, start_anvil() as node:
        engine = open_registry(url)
        w3 = http_web3(node.url)
        world, amounts, produce_s = setup(engine, w3, n)
        head = w3.eth.block_number

        clock = Clock()
        with chain_client_timing(clock), progress() as bar:
            task = bar.add_task("sync: Retired events -> registry retirements", total=1)
            started = time.perf_counter()
            first = sync_once(engine, world.chain, progress=lambda done, total: bar.update(task, completed=done,
                                                                                              total=total))
            sync_s = time.perf_counter() - started
        chain_s = clock.seconds["chain"]
        assert first.applied == {"Retired": n}, first.applied
        assert not first.flagged, first.flagged[:3]

        rewind_cursor(engine, world.chain, world.deployment.deployed_block)
        replay_clock = Clock()
        with chain_client_timing(replay_clock), progress() as bar:
            task = bar.add_task("replay from the deployment block", total=1)
            started = time.perf_counter()
            replay = sync_once(engine, world.chain, progress=lambda done, total: bar.update(task, completed=done,
                                                                                               total=total))
            replay_s = time.perf_counter() - started
        assert replay.applied == {}, f"the replay applied {replay.applied}"
        assert replay.skipped_duplicates == n + 1, replay  # n retirements + the one LeafMinted

        # Everything minted was retired: both sides are empty (conservation lists no class).
        assert all(c.ok for c in conservation(engine, world.chain))
        assert world.chain.token.functions.totalSupply(world.token_id).call() == 0
        with Session(engine) as s:
            assert custody.custody_total(s, world.deployment.custody_account_id, world.class_id) == 0
            retired = s.exec(select(func.count()).select_from(Retirement)).one()
        assert retired == n, retired
        rec = reconcile(engine, world.chain)
        assert rec.ok, rec.problems[:5]
        floor = benchlib.row_write_floor(engine, n)  # in the same database, after the sync
        engine.dispose()

    rate = n / sync_s
    table(
        f"anvil: {n:,} retirements ({sum(amounts):,} t) over {head:,} blocks, {args.db} registry",
        ["figure", "measured", "baseline"],
        [
            ["sync: events per second", rate, f"~{ANVIL_TX_PER_S} (anvil tx/s: retirements produced)"],
            ["sync: wall s", sync_s, "—"],
            ["  of which chain s (eth_getLogs + decoding)", chain_s, "—"],
            ["  of which registry s (retirements, ledger, event rows)", sync_s - chain_s, "—"],
            ["registry ms per retirement", (sync_s - chain_s) / n * 1e3,
             f"{floor.seconds / n * 1e3:,.4f} (row-write floor per row)"],
            [f"row-write floor: {n:,} rows bulk-inserted in one transaction, s", floor.seconds,
             f"{floor.rows_per_s:,.0f} rows/s"],
            ["registry s over the floor", f"{floor.ratio(sync_s - chain_s):,.0f}x", "1x"],
            ["setup: retire transactions per second (node-signed, automine)", n / produce_s, f"~{ANVIL_TX_PER_S}"],
            ["replay from block 0: wall s", replay_s, f"{sync_s:,.2f} (first pass)"],
            ["  of which chain s (eth_getLogs + decoding again)", replay_clock.seconds["chain"], "—"],
            ["replay over the first pass", f"{replay_s / sync_s:.1%}", "≤ 5% (issue 20 target)"],
            ["replay: events applied", replay.applied_total, "0"],
            ["replay: events skipped as already applied", replay.skipped_duplicates, f"{n + 1:,}"],
        ],
    )
    headline({
        "retirements": n,
        "sync_s": sync_s,
        "events_per_s": rate,
        "baseline_events_per_s": ANVIL_TX_PER_S,
        "chain_s": chain_s,
        "registry_s": sync_s - chain_s,
        "replay_s": replay_s,
        "replay_chain_s": replay_clock.seconds["chain"],
        "replay_ratio": replay_s / sync_s,
        "replay_applied": replay.applied_total,
        "registry_ms_per_event": (sync_s - chain_s) / n * 1e3,
        "floor_s": floor.seconds,
        "floor_rows_per_s": floor.rows_per_s,
        "floor_ratio": floor.ratio(sync_s - chain_s),
    })


if __name__ == "__main__":
    main()
