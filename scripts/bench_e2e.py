"""End to end: mirror N serial blocks from registry custody onto the chain and confirm them in
the registry, through the Merkle path and through a one-transaction-per-block path, in one run.

Both paths start from the same state: a fresh registry and a fresh chain with the token
deployed, and N serial blocks to mirror (sizes 1-1,000 t, seeded). Each path then does

1. N tokenization requests through the bulk operation
   (:func:`registry.bridged.bulk_tokenization.request_tokenizations`, what ``POST /tokenizations/bulk``
   runs: one registry transaction per 1,000 requests, the API's most per call; serials move to
   bridge custody). Both paths tokenize the same way, so they differ only in how they mint.
2. one batch: the N blocks become leaves of a Merkle tree persisted in the registry,
3. the root committed on-chain (EIP-712 signed by the registry signer, sent by the relayer),
4. the mints:  merkle    — ``mintLeaves`` with multiproofs, 200 contiguous leaves per tx;
               per-block — one ``claim`` transaction per leaf, with its single proof,
5. the sync: every ``LeafMinted`` event confirmed in the registry (custody marked mirrored).

Wall time is split into chain (the chain client: building and signing transactions, every
JSON-RPC request with the node's execution, waiting for receipts, fetching and decoding
logs), tree (Merkle hashing, proofs, tree dumps and loads) and registry (everything else:
database work and the bridge's own bookkeeping), also per phase (a phase's wall time less the
chain and tree time spent in it); registry ms per mirrored serial block is the registry time of
tokenize + batch + sync over N (issue 20's target: 0.5 ms). The per-block path is the baseline;
``speedup`` = its wall time over the Merkle path's.

Beside the registry time: registry ms per serial block, and the row-write floor measured in the
same run on the same database kind (``benchlib.row_write_floor``: as many rows as serial blocks,
of a serial block's width, bulk-inserted in one transaction into a scratch table);
``floor_ratio`` = the Merkle path's registry time over that floor.

Usage: python scripts/bench_e2e.py [--blocks N] [--chain eth-tester|anvil|both] [--db sqlite|postgres]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import benchlib
from benchlib import (
    Clock,
    Floor,
    chain_client_timing,
    headline,
    make_bench_world,
    open_registry,
    progress,
    seeded_account,
    table,
    temp_database,
    tree_timing,
)

from bridge.chain.client import eth_tester_web3, http_web3
from bridge.engine import batcher  # noqa: E402 - benchlib puts the repository on sys.path
from bridge.engine.reconcile import conservation
from bridge.engine.sync import sync_once
from bridge.tables import MintLeaf
from registry.bridged.bulk_tokenization import MAX_BULK_REQUESTS, TokenizationOrder, request_tokenizations
from registry.db import transaction
from registry.domain.enums import TokenizationStatus
from registry.tables.core import TokenizationRequest

#: Transactions per second the toolchain notes measured (gas given explicitly).
TOOLCHAIN_TX_PER_S = {"eth-tester": 30, "anvil": 60}
CLAIM_GAS = 200_000  # a claim uses ~86k (toolchain notes); fixed so no estimate call is made
CLAIM_GROUP = 100  # claims in flight at once, one per relayer key (100 x ~90k gas fits a 30M block)
PATHS = ("merkle", "per-block")
PHASES = ("tokenize", "batch", "commit", "mint", "sync")
#: The phases whose registry time the issue 20 target bounds (per mirrored serial block).
MIRRORING_PHASES = ("tokenize", "batch", "sync")


@dataclass
class PathResult:
    chain: str
    path: str
    blocks: int
    tonnes: int
    wall_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    #: Each phase's registry time: its wall time less the chain and tree time spent in it.
    phase_registry: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, float] = field(default_factory=dict)
    transactions: int = 0
    calls: int = 0  # eth_call requests (view functions)
    rpc_requests: int = 0

    @property
    def registry_s(self) -> float:
        return self.wall_s - self.buckets.get("chain", 0.0) - self.buckets.get("tree", 0.0)

    @property
    def mirroring_registry_s(self) -> float:
        """The registry's time in the phases that mirror serial blocks: tokenize + batch + sync."""
        return sum(self.phase_registry[p] for p in MIRRORING_PHASES)


def block_sizes(n: int, seed: int = 6) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, 1000) for _ in range(n)]


@contextmanager
def chain_node(kind: str) -> Iterator:
    if kind == "eth-tester":
        yield eth_tester_web3()
        return
    from bridge.chain.anvil import start_anvil

    # Stock settings (30M block gas limit: a 200-leaf mint transaction uses ~6.5M).
    with start_anvil() as node:
        yield http_web3(node.url)


def relayer_pool(w3, chain_kind: str) -> list:
    """The per-block path's relayer keys, funded (setup, not timed)."""
    from bridge.chain.client import Chain

    pool = [seeded_account(f"e2e/{chain_kind}/claim-relayer/{i}") for i in range(CLAIM_GROUP)]
    Chain(w3).fund_from_dev_account(*(k.address for k in pool), amount=10**19)
    return pool


def claim_each(world, batch_id: int, pool: list, clock: Clock, on_tx) -> int:
    """The per-block path: one ``claim`` transaction per leaf, each with its own proof.

    On anvil the claims go out as a production relayer with a pool of keys would send them:
    a group at once, one per key, then the group's receipts are awaited (each must succeed).
    On eth-tester they go one at a time through the bridge's chain client, each mined in its
    own block: eth-tester checks queued transactions against the last mined state and
    re-executes them when it mines, so it cannot take a pipelined group."""
    from sqlmodel import Session, select

    from bridge.tables import MintBatch

    with Session(world.engine) as s:
        batch = s.get(MintBatch, batch_id)
        tree = batcher.load_tree(batch)
        leaves = s.exec(select(MintLeaf).where(MintLeaf.batch_id == batch_id).order_by(MintLeaf.leaf_index)).all()
    chain = world.chain
    w3, token = chain.w3, chain.token
    if not pool:
        for leaf in leaves:
            proof = [bytes.fromhex(p[2:]) for p in tree.get_proof(leaf.leaf_index)]
            fn = token.functions.claim(tuple(batcher.leaf_value(leaf)), proof)
            chain.transact(world.keys.relayer, fn, f"claim leaf {leaf.leaf_index}", gas=CLAIM_GAS)
            on_tx(1)
        return len(leaves)
    nonces = [w3.eth.get_transaction_count(k.address) for k in pool]

    def send_group(group: list[MintLeaf], fees: dict) -> None:
        hashes = []
        for i, leaf in enumerate(group):
            proof = [bytes.fromhex(p[2:]) for p in tree.get_proof(leaf.leaf_index)]
            tx = token.functions.claim(tuple(batcher.leaf_value(leaf)), proof).build_transaction(
                {"from": pool[i].address, "chainId": chain.chain_id, "nonce": nonces[i], "gas": CLAIM_GAS, **fees})
            nonces[i] += 1
            hashes.append(w3.eth.send_raw_transaction(pool[i].sign_transaction(tx).raw_transaction))
        for tx_hash in hashes:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
            if receipt["status"] != 1:
                raise RuntimeError(f"claim transaction 0x{bytes(tx_hash).hex()} failed")

    send_group = clock.wrap("chain", send_group)
    for start in range(0, len(leaves), CLAIM_GROUP):
        group = leaves[start:start + CLAIM_GROUP]
        base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
        send_group(group, {"maxFeePerGas": base_fee * 4 + 10**9, "maxPriorityFeePerGas": 10**9})
        on_tx(len(group))
    return len(leaves)


def run_path(chain_kind: str, path: str, n: int, db: str) -> PathResult:
    sizes = block_sizes(n)
    result = PathResult(chain_kind, path, n, sum(sizes))
    with temp_database(db) as url, chain_node(chain_kind) as w3:
        engine = open_registry(url)
        world = make_bench_world(engine, w3, issued=sum(sizes), seed=f"e2e/{chain_kind}/{path}")
        pool = relayer_pool(w3, chain_kind) if path == "per-block" and chain_kind == "anvil" else []
        clock = Clock()
        clock.time_provider(w3)
        phase_start = time.perf_counter()
        phase_buckets = clock.snapshot()

        def phase(name: str) -> None:
            nonlocal phase_start, phase_buckets
            now, buckets = time.perf_counter(), clock.snapshot()
            result.phases[name] = now - phase_start
            result.phase_registry[name] = result.phases[name] - sum(
                buckets.get(b, 0.0) - phase_buckets.get(b, 0.0) for b in ("chain", "tree"))
            phase_start, phase_buckets = now, buckets

        with tree_timing(clock), chain_client_timing(clock), progress() as bar:
            start = phase_start = time.perf_counter()
            task = bar.add_task(f"{chain_kind} {path}: tokenization requests", total=n)
            for first in range(0, n, MAX_BULK_REQUESTS):
                part = sizes[first:first + MAX_BULK_REQUESTS]
                with transaction(engine) as s:
                    request_tokenizations(s, [
                        TokenizationOrder(world.account_id, world.holder.address, world.class_id, quantity,
                                          world.deployment.custody_account_id) for quantity in part])
                bar.advance(task, len(part))
            phase("tokenize")
            bar.update(task, description=f"{chain_kind} {path}: building the batch", completed=0, total=1)
            with transaction(engine) as s:
                batch_id = batcher.build_batch(s, world.deployment).id
            phase("batch")
            batcher.commit_batch(engine, world.chain, batch_id, world.keys.registry_signer, world.keys.relayer)
            phase("commit")
            bar.update(task, description=f"{chain_kind} {path}: minting leaves", completed=0, total=n)
            advance = lambda k: bar.advance(task, k)  # noqa: E731
            if path == "merkle":
                report = batcher.mint_batch(engine, world.chain, batch_id, world.keys.relayer, progress=advance)
                assert report.leaves_sent == n, report
            else:
                claim_each(world, batch_id, pool, clock, advance)
            phase("mint")
            bar.update(task, description=f"{chain_kind} {path}: sync (LeafMinted -> registry)", completed=0, total=1)
            sync = sync_once(engine, world.chain,
                             progress=lambda done, total: bar.update(task, completed=done, total=total))
            phase("sync")
            result.wall_s = time.perf_counter() - start
        result.buckets = clock.snapshot()
        result.transactions = clock.calls["rpc:eth_sendRawTransaction"]
        result.calls = clock.calls["rpc:eth_call"]
        result.rpc_requests = sum(v for k, v in clock.calls.items() if k.startswith("rpc:"))
        # The run only counts if every block is mirrored and both sides agree.
        assert sync.applied.get("LeafMinted") == n, sync
        from sqlmodel import Session, select

        with Session(engine) as s:
            statuses = set(s.exec(select(TokenizationRequest.status)).all())
        assert statuses == {TokenizationStatus.minted}, statuses
        (check,) = conservation(engine, world.chain)
        assert check.ok and check.onchain_supply == sum(sizes) and check.awaiting_mint == 0, check
        engine.dispose()
    return result


def report(results: list[PathResult], chain_kind: str, db: str, floors: dict[int, Floor]) -> float:
    by_path = {r.path: r for r in results if r.chain == chain_kind}
    merkle, per_block = by_path["merkle"], by_path["per-block"]
    sizes = f"{merkle.blocks:,} serial blocks ({merkle.tonnes:,} t)"
    if per_block.blocks != merkle.blocks:
        sizes += f"; per-block path on the first {per_block.blocks:,} (--eth-tester-per-block-cap)"
    table(
        f"{chain_kind}: {sizes}, {db} registry — wall time split",
        ["path", "blocks", "wall s", "registry s", "tree s", "chain s", "transactions", "eth_calls", "blocks/s"],
        [[r.path, r.blocks, r.wall_s, r.registry_s, r.buckets.get("tree", 0.0), r.buckets.get("chain", 0.0),
          r.transactions, r.calls, r.blocks / r.wall_s] for r in (merkle, per_block)],
    )
    table(
        f"{chain_kind}: phases, wall s (registry s: less the chain and tree time in the phase)",
        ["path", *PHASES],
        [[r.path, *(f"{r.phases[p]:,.3f} ({r.phase_registry[p]:,.3f})" for p in PHASES)] for r in (merkle, per_block)],
    )
    rate = TOOLCHAIN_TX_PER_S[chain_kind]
    # Per serial block, so a capped per-block run compares fairly (its cost per block only
    # grows with size on eth-tester, so a capped figure understates the speedup).
    speedup = (per_block.wall_s / per_block.blocks) / (merkle.wall_s / merkle.blocks)
    table(
        f"{chain_kind}: against the baselines",
        ["figure", "measured", "baseline"],
        [
            ["Merkle path ms per serial block (baseline: per-block path)", merkle.wall_s / merkle.blocks * 1e3,
             per_block.wall_s / per_block.blocks * 1e3],
            ["per-block mint phase s (baseline: toolchain tx rate)", per_block.phases["mint"],
             f"{per_block.blocks / rate:,.1f} (~{rate} tx/s)"],
            ["per-block transactions/s", per_block.transactions / per_block.phases["mint"], f"~{rate}"],
            ["speedup of the Merkle path", f"{speedup:.1f}x", "1x"],
        ],
    )
    rows = []
    for r in (merkle, per_block):
        floor = floors[r.blocks]
        rows += [[f"{r.path}: registry ms per mirrored serial block (tokenize + batch + sync)",
                  r.mirroring_registry_s / r.blocks * 1e3, "0.5 (issue 20 target)"],
                 [f"{r.path}: registry ms per serial block", r.registry_s / r.blocks * 1e3,
                  f"{floor.seconds / r.blocks * 1e3:,.4f} (floor per row)"],
                 [f"{r.path}: registry s over the floor for {r.blocks:,} rows", f"{floor.ratio(r.registry_s):,.0f}x",
                  f"{floor.seconds:,.4f} s ({floor.rows_per_s:,.0f} rows/s)"]]
    table(f"{chain_kind}: registry against the row-write floor ({db}, a row per serial block)",
          ["figure", "measured", "floor"], rows)
    return speedup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=10_000, help="serial blocks to mirror (default 10,000)")
    ap.add_argument("--chain", choices=["eth-tester", "anvil", "both"], default="both")
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite", help="registry database")
    ap.add_argument("--eth-tester-per-block-cap", type=int, default=1_000, metavar="N",
                    help="run eth-tester's per-block path on at most N blocks (default 1,000): eth-tester looks up "
                         "receipts and logs by scanning its chain backwards, so a chain of one block per claim "
                         "grows quadratically in time")
    ap.add_argument("--quick", action="store_true", help="a quick run: 200 blocks")
    args = ap.parse_args()
    n = 200 if args.quick else args.blocks
    if n < 1:
        ap.error("--blocks must be >= 1")
    benchlib.quiet_logs()
    chains = ["eth-tester", "anvil"] if args.chain == "both" else [args.chain]
    def size(chain_kind: str, path: str) -> int:
        if chain_kind == "eth-tester" and path == "per-block":
            return min(n, args.eth_tester_per_block_cap)
        return n

    results = [run_path(c, p, size(c, p), args.db) for c in chains for p in PATHS]
    floors = benchlib.measure_floors(args.db, (r.blocks for r in results))
    pairs: dict[str, object] = {"blocks": n}
    speedups, ratios = [], []
    for c in chains:
        speedup = report(results, c, args.db, floors)
        speedups.append(speedup)
        key = c.replace("-", "_")
        for r in results:
            if r.chain == c:
                name = r.path.replace("-", "_")
                pairs[f"{key}_{name}_s"] = r.wall_s
                if r.blocks != n:
                    pairs[f"{key}_{name}_blocks"] = r.blocks
        merkle = next(r for r in results if r.chain == c and r.path == "merkle")
        pairs[f"{key}_merkle_registry_s"] = merkle.registry_s
        pairs[f"{key}_merkle_tree_s"] = merkle.buckets.get("tree", 0.0)
        pairs[f"{key}_merkle_chain_s"] = merkle.buckets.get("chain", 0.0)
        pairs[f"{key}_speedup"] = speedup
        pairs[f"{key}_merkle_registry_ms_per_block"] = merkle.registry_s / n * 1e3
        pairs[f"{key}_mirroring_registry_ms_per_block"] = merkle.mirroring_registry_s / n * 1e3
        for p in MIRRORING_PHASES:
            pairs[f"{key}_merkle_{p}_registry_s"] = merkle.phase_registry[p]
        pairs[f"{key}_floor_ratio"] = floors[n].ratio(merkle.registry_s)
        ratios.append(pairs[f"{key}_floor_ratio"])
    pairs["speedup"] = min(speedups)  # the smaller of the chains' speedups when both ran
    pairs["floor_s"] = floors[n].seconds
    pairs["floor_rows_per_s"] = floors[n].rows_per_s
    pairs["floor_ratio"] = max(ratios)  # the Merkle path's registry time over the floor, the larger when both ran
    headline(pairs)


if __name__ == "__main__":
    main()
