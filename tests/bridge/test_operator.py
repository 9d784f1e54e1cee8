"""Operator commands as an operator runs them: separate processes against anvil, sharing a
registry database file and the ICR_* environment."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import text
from sqlmodel import select

from bridge import operator
from bridge.chain.client import Chain, http_web3
from bridge.engine.cycle import run_cycle
from bridge.engine.locks import claim
from bridge.liveness import Liveness
from bridge.schema import create_schema
from bridge.settings import BridgeSettings
from registry.bridged import custody
from registry.db import make_engine, transaction
from registry.domain.wallets import sign_wallet_link
from registry.operations.accounts import create_organization, link_wallet, open_account
from registry.operations.issuances import issue_ex_post
from registry.operations.projects import register_project
from registry.tables.core import CreditClass
from tests.support.periods import verified
from tests.support.world import make_world, seeded

CLI = Path(sys.executable).parent / "icr-bridge"


def run_cli(env: dict, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=180)
    if check is not None:
        assert done.returncode == check, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _registry_with_custody(env: dict, holder, quantity: int):
    """What the registry's API would do: an account holder links a wallet and asks for tokens."""
    engine = make_engine(env["ICR_DATABASE_URL"])
    with transaction(engine) as s:
        org = create_organization(s, "Marketplace Ltd")
        account = open_account(s, org.id, "holding")
        project = register_project(s, project_number=78040, name="Geothermal", country="ISL", dial_code="354",
                                   sector=14, credit_type="R", methodology="ICR-M-01")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=1000, account_id=account.id)
        class_id = s.exec(select(CreditClass.id).where(CreditClass.serialization_id == issuance.serialization_id)).one()
    now = int(time.time())
    address, signature = sign_wallet_link(holder.key, account.id, now)
    with transaction(engine) as s:
        link_wallet(s, account.id, address, now, signature, now)
    return engine, account.id, class_id


def _tokenize(engine, account_id: int, class_id: int, wallet: str, quantity: int) -> None:
    from bridge.tables import Deployment

    with transaction(engine) as s:
        deployment = s.exec(select(Deployment)).one()
        custody.request_tokenization(s, account_id=account_id, wallet=wallet, class_id=class_id, quantity=quantity,
                                     custody_account_id=deployment.custody_account_id)


def _metrics(port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@pytest.mark.anvil
def test_deploy_sync_status_reconcile_and_snapshot_across_processes(operator_env, tmp_path):
    env = operator_env
    deployed = json.loads(run_cli(env, "deploy", "--fund-from-dev-account", "--json").stdout)
    assert deployed["chain_id"] == 31337 and deployed["registry_signer"] == seeded("op/signer").address
    # a second deploy to the same chain is refused (a configuration mistake: exit 2) and changes nothing
    again = run_cli(env, "deploy", check=2)
    assert "already has a deployment" in again.stderr

    holder = Account.create()
    w3 = http_web3(env["ICR_RPC_URL"])
    chain = Chain(w3, deployed["contract"])
    chain.fund_from_dev_account(holder.address)
    engine, account_id, class_id = _registry_with_custody(env, holder, 1000)
    _tokenize(engine, account_id, class_id, holder.address, 300)

    status = json.loads(run_cli(env, "status", "--json").stdout)
    assert status["pending_requests"] == 1 and status["events_applied"] == {}

    done = run_cli(env, "sync", "--once", "--json")
    cycle = json.loads(done.stdout)
    assert cycle["cycle"]["leaves_minted"] == 1 and cycle["cycle"]["applied"] == {"LeafMinted": 1}
    # the start-up banner (stderr): chain, contract, database, finality, keys
    assert done.stderr.splitlines()[:4] == [
        f"icr-bridge sync --once: chain 31337, contract {deployed['contract']}",
        f"database {env['ICR_DATABASE_URL']}",
        "finality: 0 confirmations (ICR_USE_FINALIZED_TAG=false)",
        f"keys: admin {deployed['admin']}, registry signer {deployed['registry_signer']}, relayer {deployed['relayer']}"
        " (relayer 1000.0000 ETH)"]
    token_id = int(engine.connect().execute(text("SELECT token_id FROM creditclass")).scalar())
    assert chain.token.functions.balanceOf(holder.address, token_id).call() == 300

    fn = chain.token.functions.retire(token_id, 40, "0x" + "00" * 20, "Operator test", "", "", b"")
    chain.transact(holder, fn, "retire", gas=500_000)
    cycle = json.loads(run_cli(env, "sync", "--once", "--json").stdout)
    assert cycle["cycle"]["applied"] == {"Retired": 1}
    # replaying the history from the deployment block applies nothing twice
    assert json.loads(run_cli(env, "sync", "--once", "--json").stdout)["cycle"]["applied"] == {}

    status = json.loads(run_cli(env, "status", "--json").stdout)
    assert status["sync_lag_blocks"] == 0 and status["pending_requests"] == 0
    assert status["events_applied"] == {"LeafMinted": 1, "Retired": 1} and status["batches"] == {"minted": 1}

    snapshot_file = tmp_path / "snapshot.json"
    report = json.loads(run_cli(env, "reconcile", "--json", "--snapshot", str(snapshot_file)).stdout)
    assert report["ok"] and report["problems"] == []
    assert [(c["registry_custody"], c["onchain_supply"]) for c in report["conservation"]] == [(260, 260)]
    assert "verified" in run_cli(env, "snapshot", "verify", str(snapshot_file)).stdout

    # a snapshot whose claims are changed no longer verifies
    forged = json.loads(snapshot_file.read_text())
    forged["custody"] = {k: v + 1 for k, v in forged["custody"].items()}
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    assert "do not match the tree" in run_cli(env, "snapshot", "verify", str(forged_file), check=1).stdout

    # the registry loses track of a retirement: reconcile says which and exits 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE retirement SET quantity = quantity - 1"))
    bad = run_cli(env, "reconcile", check=1)
    assert "differs from its event" in bad.stdout and "DISAGREE" in bad.stdout


@pytest.mark.anvil
def test_sync_follow_serves_metrics_and_stops_on_sigterm(operator_env):
    env = operator_env
    deployed = json.loads(run_cli(env, "deploy", "--fund-from-dev-account", "--json").stdout)
    holder = Account.create()
    engine, account_id, class_id = _registry_with_custody(env, holder, 1000)
    from bridge.chain.anvil import free_port

    port = free_port()
    worker = subprocess.Popen([str(CLI), "sync", "--follow", "--metrics-port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        values: dict[str, float] = {}
        while time.time() < deadline:
            try:
                values = _metrics(port)
                if values.get("icr_bridge_cycles_total", 0) >= 1:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert values.get("icr_bridge_cycles_total", 0) >= 1, values
        _tokenize(engine, account_id, class_id, holder.address, 120)
        while time.time() < deadline:
            values = _metrics(port)
            if values.get('icr_bridge_events_applied_total{event="LeafMinted"}', 0) >= 1:
                break
            time.sleep(0.2)
        assert values['icr_bridge_events_applied_total{event="LeafMinted"}'] == 1
        assert values["icr_bridge_pending_tokenization_requests"] == 0
        assert values["icr_bridge_sync_lag_blocks"] == 0
        assert values["icr_bridge_last_processed_block"] >= deployed["block"]
        chain = Chain(http_web3(env["ICR_RPC_URL"]), deployed["contract"])
        token_id = int(engine.connect().execute(text("SELECT token_id FROM creditclass")).scalar())
        assert chain.token.functions.balanceOf(holder.address, token_id).call() == 120
    finally:
        worker.send_signal(signal.SIGTERM)
        out, errors = worker.communicate(timeout=60)
    assert worker.returncode == 0, errors
    assert "stopped after" in out


def test_commands_refuse_the_in_process_chain_and_name_the_setting(tmp_path):
    env = {**os.environ, "ICR_DATABASE_URL": f"sqlite:///{tmp_path / 'r.sqlite'}", "ICR_RPC_URL": "eth-tester"}
    create_schema(make_engine(env["ICR_DATABASE_URL"]))
    for command in ("status", "reconcile"):
        done = run_cli(env, command, check=2)
        assert "ICR_RPC_URL / --rpc-url" in done.stderr
    done = run_cli({**env, "ICR_RPC_URL": "http://127.0.0.1:9"}, "status", check=3)  # infrastructure
    assert "no JSON-RPC node answers at http://127.0.0.1:9" in done.stderr
    done = run_cli(env, "sync", "--once", "--follow", check=2)
    assert "choose one" in done.stderr


def test_follow_counts_a_failed_cycle_and_carries_on(sqlite_engine, w3, monkeypatch):
    world = make_world(sqlite_engine, w3, seed="follow")
    world.tokenize(50)
    settings = BridgeSettings(rpc_url="unused", confirmations=0, use_finalized_tag=False, poll_interval=0.01)
    metrics = operator.BridgeMetrics()
    real_cycle = operator.run_cycle
    calls = {"n": 0}

    def flaky_cycle(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("node went away")
        return real_cycle(*args, **kwargs)

    monkeypatch.setattr(operator, "run_cycle", flaky_cycle)
    seen = []
    done = operator.follow(sqlite_engine, world.chain, world.keys, settings, metrics, operator.StopFlag(),
                           on_cycle=lambda report, current: seen.append(current), max_cycles=3)
    assert done == 2 and calls["n"] == 3  # the failed cycle counts toward --max-cycles
    assert metrics.errors.labels(kind="ConnectionError")._value.get() == 1
    assert seen[-1].pending_requests == 0 and seen[-1].events_applied == {"LeafMinted": 1}
    assert metrics.pending._value.get() == 0 and metrics.cycles._value.get() == 2


def test_max_cycles_stops_a_loop_whose_every_cycle_fails(sqlite_engine, w3, monkeypatch):
    world = make_world(sqlite_engine, w3, seed="always-failing")
    settings = BridgeSettings(rpc_url="unused", confirmations=0, use_finalized_tag=False, poll_interval=0.01)
    calls = {"n": 0}

    def failing_cycle(*args, **kwargs):
        calls["n"] += 1
        raise ConnectionError("node went away")

    monkeypatch.setattr(operator, "run_cycle", failing_cycle)
    done = operator.follow(sqlite_engine, world.chain, world.keys, settings, operator.BridgeMetrics(),
                           operator.StopFlag(), max_cycles=3)
    assert done == 0 and calls["n"] == 3


@pytest.mark.anvil
def test_sync_once_names_a_failing_step_in_one_line_exits_2_and_still_syncs(operator_env):
    env = operator_env
    deployed = json.loads(run_cli(env, "deploy", "--fund-from-dev-account", "--json").stdout)
    holder = Account.create()
    chain = Chain(http_web3(env["ICR_RPC_URL"]), deployed["contract"])
    chain.fund_from_dev_account(holder.address)
    engine, account_id, class_id = _registry_with_custody(env, holder, 1000)
    _tokenize(engine, account_id, class_id, holder.address, 300)
    run_cli(env, "sync", "--once", "--json")
    token_id = int(engine.connect().execute(text("SELECT token_id FROM creditclass")).scalar())
    chain.transact(holder, chain.token.functions.retire(token_id, 40, "0x" + "00" * 20, "Op", "", "", b""), "retire",
                   gas=500_000)
    _tokenize(engine, account_id, class_id, holder.address, 50)
    broke = Account.create()
    unfunded = {**env, "ICR_RELAYER_KEY": broke.key.hex()}
    cycle = json.loads(run_cli(unfunded, "sync", "--once", "--json", check=2).stdout)["cycle"]
    assert cycle["applied"] == {"Retired": 1}  # the sync ran although the commit could not
    reason = f"relayer {broke.address} has no ether on chain 31337 to pay for commit batch 2"
    assert cycle["step_errors"] == {"commit": reason} and cycle["failures"]["commit"]["kind"] == "permanent"
    done = run_cli({**unfunded, "COLUMNS": "400"}, "sync", "--once", check=2)  # the key needs the operator
    assert f"commit failed (permanent): {reason}" in done.stdout.splitlines()
    # named at start-up too, as warnings: the other steps still run
    assert f"relayer {broke.address} lacks BRIDGE_OPERATOR_ROLE on {deployed['contract']} (chain 31337)" \
        in done.stderr.splitlines()
    assert f"relayer {broke.address} holds 0.000000 ETH on chain 31337, below ICR_RELAYER_MIN_BALANCE 0.05: the " \
        "transactions it pays for fail until it is funded" in done.stderr.splitlines()
    assert "Traceback" not in done.stdout + done.stderr
    cycle = json.loads(run_cli(env, "sync", "--once", "--json").stdout)["cycle"]  # the funded relayer again
    assert cycle["batches_committed"] == [2] and cycle["step_errors"] == {}


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def bridge_log():
    """Every record of the ``icr_bridge`` loggers, debug ones included."""
    logger = logging.getLogger("icr_bridge")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_idle_cycles_log_at_debug_with_a_heartbeat_at_info(sqlite_engine, w3, bridge_log):
    world = make_world(sqlite_engine, w3, seed="heartbeat")
    world.tokenize(30)
    settings = BridgeSettings(rpc_url="unused", confirmations=0, use_finalized_tag=False, poll_interval=0.01,
                              heartbeat_interval=250)
    ticks = itertools.count(0, 100)  # the loop's clock: 100 s per reading
    done = operator.follow(sqlite_engine, world.chain, world.keys, settings, operator.BridgeMetrics(),
                           operator.StopFlag(), max_cycles=6, clock=lambda: next(ticks))
    assert done == 6
    cycles = [r for r in bridge_log if r.getMessage() == "cycle"]
    assert [r.levelname for r in cycles] == ["INFO"] + ["DEBUG"] * 5  # the first mints, the rest are idle
    assert len([r for r in bridge_log if r.getMessage() == "idle cycle" and r.levelname == "DEBUG"]) == 5
    beats = [r for r in bridge_log if r.getMessage() == "heartbeat"]
    assert beats and all(r.levelname == "INFO" for r in beats) and beats[0].cycles >= 1
    assert beats[0].sync_lag_blocks == 0 and beats[0].last_block == world.chain.w3.eth.block_number
    info = [r.getMessage() for r in bridge_log if r.levelno >= logging.INFO and r.name == "icr_bridge.operator"]
    assert info[0] == "follower active: holding the chain's follower claim" and info[-1] == "follower stopped"
    assert set(info) <= {"follower active: holding the chain's follower claim", "heartbeat", "follower stopped"}


def test_a_second_follower_is_a_standby_until_the_claim_is_free(sqlite_engine, w3, bridge_log):
    world = make_world(sqlite_engine, w3, seed="standby")
    settings = BridgeSettings(rpc_url="unused", confirmations=0, use_finalized_tag=False, poll_interval=0.01,
                              standby_poll=0.02)
    metrics, live = operator.BridgeMetrics(), Liveness()
    outcome: dict = {}

    def second_follower():
        outcome["cycles"] = operator.follow(sqlite_engine, world.chain, world.keys, settings, metrics,
                                            operator.StopFlag(), max_cycles=2, liveness=live)

    with claim(sqlite_engine, f"follower:{world.chain.chain_id}:{world.chain.address}") as mine:
        assert mine  # the active follower
        thread = threading.Thread(target=second_follower)
        thread.start()
        deadline = time.monotonic() + 30
        while live.role != "standby" and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert live.role == "standby" and live.ready()[0] and metrics.cycles._value.get() == 0
        assert metrics.follower_active._value.get() == 0
        assert metrics.registry.get_sample_value("icr_bridge_ready") == 1
    thread.join(timeout=60)  # the claim is free: the standby takes over
    assert outcome["cycles"] == 2 and metrics.cycles._value.get() == 2 and live.role == "stopping"
    messages = [r.getMessage() for r in bridge_log if r.name == "icr_bridge.operator"]
    assert messages.count("standby: another follower holds the chain's follower claim") == 1
    assert messages.index("standby: another follower holds the chain's follower claim") < \
        messages.index("follower active: holding the chain's follower claim")


def test_a_standby_stops_when_asked_without_running_a_cycle(sqlite_engine, w3):
    world = make_world(sqlite_engine, w3, seed="standby-stop")
    settings = BridgeSettings(rpc_url="unused", confirmations=0, use_finalized_tag=False, standby_poll=0.02)
    stop, metrics = operator.StopFlag(), operator.BridgeMetrics()
    with claim(sqlite_engine, f"follower:{world.chain.chain_id}:{world.chain.address}"):
        threading.Timer(0.3, stop.set).start()
        assert operator.follow(sqlite_engine, world.chain, world.keys, settings, metrics, stop) == 0
    assert metrics.cycles._value.get() == 0


def test_status_measures_lag_from_the_final_head_and_from_the_chain_head(sqlite_engine, w3):
    world = make_world(sqlite_engine, w3, seed="lag")
    world.tokenize(10)
    settings = BridgeSettings(rpc_url="unused", confirmations=3, use_finalized_tag=False)
    run_cycle(sqlite_engine, world.chain, world.keys, confirmations=3)
    current = operator.status(sqlite_engine, world.chain, settings)
    head = world.chain.w3.eth.block_number
    assert (current.head, current.final_head, current.last_processed_block) == (head, head - 3, head - 3)
    assert current.sync_lag_blocks == 0 and current.chain_lag_blocks == 3  # applied all that is final
    metrics = operator.BridgeMetrics()
    metrics.observe_status(current)
    assert metrics.registry.get_sample_value("icr_bridge_chain_lag_blocks") == 3
    assert metrics.registry.get_sample_value("icr_bridge_final_head_block") == head - 3


@pytest.mark.postgres
def test_a_follower_whose_claim_connection_ends_is_a_standby_again_and_retakes_it(postgres_url, w3, bridge_log):
    from bridge.schema import create_schema

    engine = make_engine(postgres_url)
    create_schema(engine)
    world = make_world(engine, w3, seed="lost-claim")
    settings = BridgeSettings(rpc_url="unused", confirmations=0, use_finalized_tag=False, poll_interval=0.05,
                              standby_poll=0.05)
    stop, metrics, outcome = operator.StopFlag(), operator.BridgeMetrics(), {}
    thread = threading.Thread(target=lambda: outcome.setdefault(
        "cycles", operator.follow(engine, world.chain, world.keys, settings, metrics, stop)))
    thread.start()

    def wait_for(predicate, what):
        deadline = time.monotonic() + 60
        while not predicate():
            assert time.monotonic() < deadline and thread.is_alive(), what
            time.sleep(0.02)

    def messages():
        return [r.getMessage() for r in bridge_log if r.name == "icr_bridge.operator"]

    try:
        wait_for(lambda: metrics.cycles._value.get() >= 2, "the follower runs cycles")
        with engine.connect() as conn:  # the server ends the connection holding the follower's lock
            # only this test's database: other runs on the same server keep their connections
            ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                                      "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND database = "
                                      "(SELECT oid FROM pg_database WHERE datname = current_database())")).all()
        assert ended
        wait_for(lambda: messages().count("follower active: holding the chain's follower claim") == 2,
                 "the follower takes the free claim again")
        before = metrics.cycles._value.get()
        wait_for(lambda: metrics.cycles._value.get() >= before + 2, "and runs cycles again")
    finally:
        stop.set()
        thread.join(timeout=60)
        engine.dispose()
    lost = "follower claim lost (its database connection ended): standby again"
    assert messages().index(lost) < len(messages()) - 1 - messages()[::-1].index(
        "follower active: holding the chain's follower claim")
    assert outcome["cycles"] == metrics.cycles._value.get() and metrics.follower_active._value.get() == 0
