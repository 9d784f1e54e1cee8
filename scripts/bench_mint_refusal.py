"""A mint chunk with wallets that refuse ERC-1155 tokens, on anvil: what finding them costs.

Setup (not timed): a fresh anvil node and registry, N tokenizations of 5 t (one leaf each) to
the holder, except R of them to a second linked wallet whose code always reverts
(``anvil_setCode`` with PUSH1 0 PUSH1 0 REVERT), built and committed as one batch.

Timed: ``mint_batch`` of the whole batch in one chunk: the chunk's transaction reverts, the
engine reads the bitmap again, halves the chunk with ``eth_call`` simulations down to the
refusing leaves, flags them and mints the runs between them. Baseline: the same batch with no
refusing wallet (one transaction).

Usage: python scripts/bench_mint_refusal.py [--leaves N] [--refusers R] [--quick]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import random
import time

import benchlib
from benchlib import headline, make_bench_world, open_registry, seeded_account, table, temp_database

from bridge.chain.anvil import start_anvil  # noqa: E402 - benchlib puts the repository on sys.path
from bridge.chain.client import http_web3
from bridge.engine import batcher
from registry.bridged import custody
from registry.db import transaction
from registry.domain.wallets import sign_wallet_link
from registry.operations import accounts as accounts_ops

ALWAYS_REVERTS = "0x60006000fd"
LEAF_UNITS = 5


def run(n: int, refusing: set[int]) -> dict:
    """Mint one batch of ``n`` leaves, those in ``refusing`` to a wallet that refuses them."""
    with temp_database("sqlite") as url, start_anvil() as node:
        engine = open_registry(url)
        w3 = http_web3(node.url)
        world = make_bench_world(engine, w3, issued=n * LEAF_UNITS, seed="mint-refusal")
        refuser = seeded_account("mint-refusal/refuser")
        now = int(time.time())
        address, signature = sign_wallet_link(refuser.key, world.account_id, now)
        with transaction(engine) as s:
            accounts_ops.link_wallet(s, world.account_id, address, now, signature, now)
        w3.provider.make_request("anvil_setCode", [refuser.address, ALWAYS_REVERTS])
        for i in range(n):
            with transaction(engine) as s:
                custody.request_tokenization(
                    s, account_id=world.account_id, class_id=world.class_id, quantity=LEAF_UNITS,
                    wallet=refuser.address if i in refusing else world.holder.address,
                    custody_account_id=world.deployment.custody_account_id)
        with transaction(engine) as s:
            batch_id = batcher.build_batch(s, world.deployment).id
        batcher.commit_batch(engine, world.chain, batch_id, world.keys.registry_signer, world.keys.relayer)
        chain, calls = world.chain, {"eth_call": 0}
        real_call = chain.call

        def counted_call(*args, **kwargs):
            calls["eth_call"] += 1
            return real_call(*args, **kwargs)

        chain.call = counted_call
        first_block = w3.eth.block_number + 1
        started = time.perf_counter()
        report = batcher.mint_batch(engine, chain, batch_id, world.keys.relayer, chunk=n)
        wall_s = time.perf_counter() - started
        receipts = [w3.eth.get_transaction_receipt(h) for b in range(first_block, w3.eth.block_number + 1)
                    for h in w3.eth.get_block(b)["transactions"]]
        assert sorted(r.leaf_index for r in report.refused) == sorted(refusing), report.refused
        assert report.leaves_sent == n - len(refusing)
        engine.dispose()
    return {"wall_s": wall_s, "eth_calls": calls["eth_call"], "mints": len(report.transactions),
            "failed_tx": sum(1 for r in receipts if r["status"] != 1),
            "gas": sum(r["gasUsed"] for r in receipts),
            "failed_gas": sum(r["gasUsed"] for r in receipts if r["status"] != 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=200, help="leaves in the chunk (default 200)")
    ap.add_argument("--refusers", type=int, default=1, help="leaves to the refusing wallet (default 1)")
    ap.add_argument("--quick", action="store_true", help="a quick run: 20 leaves")
    args = ap.parse_args()
    n = 20 if args.quick else args.leaves
    if not 1 <= args.refusers < n:
        ap.error("--refusers must be at least 1 and fewer than --leaves")
    benchlib.quiet_logs()
    refusing = set(random.Random(7).sample(range(n), args.refusers))
    baseline = run(n, set())
    refused = run(n, refusing)
    table(
        f"anvil: one mintLeaves chunk of {n} leaves, {args.refusers} to a wallet that refuses ERC-1155 tokens",
        ["figure", "measured", "baseline (no refusing wallet)"],
        [
            ["mint_batch wall s", refused["wall_s"], baseline["wall_s"]],
            ["mint transactions mined", refused["mints"], baseline["mints"]],
            ["reverted transactions (the first try of the chunk)", refused["failed_tx"], baseline["failed_tx"]],
            ["eth_calls (bitmap reads, simulations)", refused["eth_calls"], baseline["eth_calls"]],
            ["gas, all transactions", refused["gas"], baseline["gas"]],
            ["  of which the reverted one", refused["failed_gas"], baseline["failed_gas"]],
        ],
    )
    headline({"leaves": n, "refusers": args.refusers, "wall_s": refused["wall_s"],
              "baseline_wall_s": baseline["wall_s"], "mints": refused["mints"], "eth_calls": refused["eth_calls"],
              "gas": refused["gas"], "baseline_gas": baseline["gas"]})


if __name__ == "__main__":
    main()
