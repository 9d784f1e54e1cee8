"""Decoding synced events: the bridge's decoder (bridge.chain.logs.decode_log, topics and data
read by slicing) beside web3's per-event ``process_log`` (the baseline it replaced), per event
kind, on real logs of an eth-tester chain (a mint, a retirement with RetirementDetails data).

Usage: python scripts/bench_log_decoding.py [--repeat N]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import benchlib  # noqa: F401 - puts the repository on sys.path
from benchlib import headline, table

from bridge.chain.client import eth_tester_web3  # noqa: E402
from bridge.chain.logs import decode_log, event_layouts  # noqa: E402
from bridge.chain.token import RetirementData, encode_retirement_data  # noqa: E402
from bridge.engine.cycle import run_cycle  # noqa: E402
from bridge.schema import create_schema  # noqa: E402
from registry.db import make_engine  # noqa: E402
from registry.domain.classes import Purpose  # noqa: E402


def sample_logs(workdir: Path) -> tuple:
    from tests.support.world import make_world

    engine = make_engine(f"sqlite:///{workdir / 'registry.sqlite'}")
    create_schema(engine)
    world = make_world(engine, eth_tester_web3(), seed="bench-decoding")
    world.tokenize(50)
    run_cycle(engine, world.chain, world.keys)
    data = encode_retirement_data(RetirementData(purpose=Purpose.voluntary, beneficiary_name="Harbour Ferries hf.",
                                                 organization_id="ORG-7"))
    fn = world.chain.token.functions.retire(world.token_id, 5, "0x" + "00" * 20, "Reykjavik Harbour", "",
                                            "benchmark retirement", data)
    world.chain.transact(world.holder, fn, "retire", gas=600_000)
    logs = world.chain.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": world.chain.address})
    layouts = event_layouts(world.chain.abi)
    samples = {}
    for raw in logs:
        layout = layouts.get(bytes(raw["topics"][0]))
        if layout is not None and layout.name not in samples:
            samples[layout.name] = raw
    return world.chain, samples


def per_event_us(fn, repeat: int) -> float:
    fn()  # warm caches (the decoder's layouts and addresses, web3's ABI lookups)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2000, help="decodes per event kind and decoder")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        chain, samples = sample_logs(Path(tmp))
        rows, pairs = [], {"repeat": args.repeat}
        for name in ("LeafMinted", "Retired"):
            raw = samples[name]
            event = getattr(chain.token.events, name)()
            web3_us = per_event_us(lambda: event.process_log(raw), args.repeat)
            ours_us = per_event_us(lambda: decode_log(chain, name, raw), args.repeat)
            rows.append([name, ours_us, web3_us, web3_us / ours_us])
            key = name.lower()
            pairs |= {f"{key}_us": ours_us, f"{key}_web3_us": web3_us, f"{key}_speedup": web3_us / ours_us}
    table("Decoding one synced event (microseconds)", ["event", "bridge decoder", "web3 process_log (baseline)",
                                                        "speedup"], rows)
    headline(pairs)


if __name__ == "__main__":
    main()
