"""Benchmark bridge.merkle.tree.StandardMerkleTree with the bridge leaf encoding.

Usage: python scripts/bench_merkle.py [--leaves N] [--sort-leaves]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bridge.chain.token import LEAF_ENCODING  # noqa: E402
from bridge.merkle.hashing import KECCAK_BACKEND  # noqa: E402
from bridge.merkle.tree import StandardMerkleTree  # noqa: E402

BASELINE_BUILD_S_1M = 6.5  # toolchain notes: ~6-7 s for 1M leaves with the fast backend


def make_values(n: int, seed: int = 1) -> list[tuple]:
    """Synthetic bridge leaves with contiguous serial ranges."""
    rng = random.Random(seed)
    recipients = ["0x" + rng.randbytes(20).hex() for _ in range(1000)]
    values = []
    serial = 10**12
    for i in range(n):
        amount = rng.randint(1, 1000)
        values.append((7, i, 42, recipients[i % 1000], amount, serial, serial + amount - 1))
        serial += amount
    return values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--sort-leaves", action="store_true", help="sort leaves (JS default); bridge uses unsorted")
    args = ap.parse_args()
    n = args.leaves
    if n < 1:
        ap.error("--leaves must be >= 1")

    values = make_values(n)

    t0 = time.perf_counter()
    tree = StandardMerkleTree.of(values, LEAF_ENCODING, sort_leaves=args.sort_leaves)
    build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    dump = tree.dump()
    dump_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    dump_json_mb = len(json.dumps(dump)) / 1e6
    json_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = StandardMerkleTree.load(dump)  # full validation: rehash every value and node
    load_s = time.perf_counter() - t0
    assert loaded.root == tree.root
    del loaded

    rng = random.Random(2)
    idx = [rng.randrange(n) for _ in range(1000)]
    t0 = time.perf_counter()
    proofs = [tree.get_proof(i) for i in idx]
    proof_us = (time.perf_counter() - t0) / len(idx) * 1e6
    assert tree.verify(idx[0], proofs[0])

    k = min(200, n)
    start = rng.randrange(n - k + 1)
    t0 = time.perf_counter()
    mp = tree.get_multi_proof(list(range(start, start + k)))
    multiproof_ms = (time.perf_counter() - t0) * 1e3
    assert tree.verify_multi_proof(mp)

    baseline = BASELINE_BUILD_S_1M * n / 1_000_000
    print(f"backend:                 {KECCAK_BACKEND}")
    print(f"leaves:                  {n} (sort_leaves={args.sort_leaves})")
    print(f"root:                    {tree.root}")
    print(f"build:                   {build_s:.2f} s   (baseline ~{baseline:.2f} s)")
    print(f"dump (dict):             {dump_s:.2f} s   (+ json.dumps {json_s:.2f} s, {dump_json_mb:.0f} MB)")
    print(f"load + validate:         {load_s:.2f} s")
    print(f"single proof (avg/1000): {proof_us:.1f} us ({len(proofs[0])} siblings)")
    print(f"multiproof {k} contiguous: {multiproof_ms:.2f} ms ({len(mp.proof)} proof nodes, {len(mp.proof_flags)} flags)")
    print(
        f"leaves={n} build_s={build_s:.2f} baseline_build_s={baseline:.2f} dump_s={dump_s:.2f} "
        f"json_s={json_s:.2f} load_s={load_s:.2f} proof_us={proof_us:.1f} multiproof_{k}_ms={multiproof_ms:.2f} "
        f"multiproof_{k}_nodes={len(mp.proof)}"
    )


if __name__ == "__main__":
    main()
