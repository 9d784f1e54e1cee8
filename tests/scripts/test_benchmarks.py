"""The benchmark scripts run end to end at tiny sizes (they check their own results: every block
mirrored, every retirement ingested once, conservation) and end with ``name=value`` pairs.
Speed is never asserted here: the figures are for the README, not for a test."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def run(script: str, *args: str, timeout: int = 300) -> dict[str, str]:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    pairs = dict(pair.split("=", 1) for pair in last.split())
    assert pairs, last
    return pairs


def test_bench_e2e_on_eth_tester():
    pairs = run("bench_e2e.py", "--blocks", "6", "--chain", "eth-tester", "--eth-tester-per-block-cap", "4")
    assert pairs["blocks"] == "6" and pairs["eth_tester_per_block_blocks"] == "4"
    assert float(pairs["speedup"]) > 0 and float(pairs["eth_tester_merkle_chain_s"]) > 0
    assert float(pairs["eth_tester_merkle_registry_ms_per_block"]) > 0
    assert float(pairs["floor_s"]) > 0 and float(pairs["floor_ratio"]) > 0


@pytest.mark.anvil
def test_bench_e2e_and_retirement_sync_on_anvil(anvil_url):  # the fixture skips without anvil
    pairs = run("bench_e2e.py", "--blocks", "6", "--chain", "anvil")
    assert float(pairs["anvil_speedup"]) > 0
    pairs = run("bench_retirement_sync.py", "--retirements", "12")
    assert pairs["retirements"] == "12" and pairs["replay_applied"] == "0"
    assert float(pairs["events_per_s"]) > 0 and float(pairs["registry_ms_per_event"]) > 0
    assert float(pairs["floor_s"]) > 0 and float(pairs["floor_ratio"]) > 0
    pairs = run("bench_mint_refusal.py", "--leaves", "8", "--refusers", "2")
    assert (pairs["leaves"], pairs["refusers"]) == ("8", "2") and int(pairs["mints"]) >= 1


def test_bench_registry_on_sqlite():
    pairs = run("bench_registry.py", "--blocks", "1500", "--db", "sqlite", "--clients", "2", "--seconds", "0.5",
                "--requests", "20", "--retirements", "3")
    assert pairs["blocks"] == "1500"
    for name in ("retire", "holding_retire", "balances", "account_balances", "serial_blocks", "metadata", "health"):
        assert float(pairs[f"sqlite_{name}_p50_ms"]) > 0
        assert f"sqlite_{name}_errors" not in pairs
    assert float(pairs["sqlite_floor_s"]) > 0 and float(pairs["sqlite_floor_ratio"]) > 0
    assert (pairs["floor_s"], pairs["floor_ratio"]) == (pairs["sqlite_floor_s"], pairs["sqlite_floor_ratio"])


def test_bench_registry_prints_the_plans_of_the_statements_a_split_retirement_ran():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_registry.py"), "--blocks", "1200", "--db",
                           "sqlite", "--clients", "1", "--seconds", "0.2", "--requests", "5", "--retirements", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    plans = done.stdout.split("Plans: sqlite")[1]
    # the covering-blocks select, served by the holding index in unit order; the ledger head; the balance update
    assert "FROM serialblock WHERE account_id = ? AND serialization_id = ? AND status = ?" in plans
    assert "USING INDEX ix_serial_block_holding" in plans
    assert "FROM ledgerentry ORDER BY seq DESC" in plans and "UPDATE accountbalance" in plans
    assert "INSERT INTO retirement" in plans
    assert "=" in done.stdout.strip().splitlines()[-1]


def test_bench_bulk_insert_prints_both_writes_on_sqlite():
    pairs = run("bench_bulk_insert.py", "--db", "sqlite", "--rows", "20,200", "--repeat", "1")
    for name in ("serialblock", "ledgerentry"):
        for n in (20, 200):
            assert float(pairs[f"sqlite_{name}_{n}_executemany_ms"]) > 0
            assert float(pairs[f"sqlite_{name}_{n}_insert_rows_ms"]) > 0


def test_bench_retirement_lookup_finds_the_one_retirement_with_and_without_the_index():
    pairs = run("bench_retirement_lookup.py", "--retirements", "50")
    assert pairs["retirements"] == "50" and float(pairs["indexed_ms"]) > 0 and float(pairs["unindexed_ms"]) > 0


def test_bench_log_decoding_prints_both_decoders_per_event():
    pairs = run("bench_log_decoding.py", "--repeat", "20")
    for event in ("leafminted", "retired"):
        assert float(pairs[f"{event}_us"]) > 0 and float(pairs[f"{event}_web3_us"]) > 0
        assert float(pairs[f"{event}_speedup"]) > 0
