"""The operator's failures of issue 17 reproduced against a real node (anvil), each as an
operator meets it: a separate process, one line naming the key and its address or the node,
and the exit code that means it (bridge/cli/errors.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from eth_account import Account

from bridge.chain.anvil import launch
from bridge.chain.client import Chain, http_web3
from tests.bridge.test_operator import CLI, _registry_with_custody, _tokenize, run_cli
from tests.support.world import seeded

pytestmark = pytest.mark.anvil


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("{")]  # not JSON logs


def test_deploy_with_an_unfunded_admin_names_the_key_and_leaves_no_registry_file(operator_env, tmp_path):
    done = run_cli(operator_env, "deploy", check=2)
    admin = seeded("op/admin").address
    # the start-up checks find it before anything is sent
    assert error_lines(done)[-1].endswith(f"admin {admin} holds no ether on chain 31337 to pay for the deployment "
                                          "(anvil: --fund-from-dev-account)")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "registry.sqlite").exists()


def test_a_registry_signer_without_the_role_is_one_line_exit_2(operator_env):
    env = operator_env
    deployed = json.loads(run_cli(env, "deploy", "--fund-from-dev-account", "--json").stdout)
    holder = Account.create()
    engine, account_id, class_id = _registry_with_custody(env, holder, 1000)
    _tokenize(engine, account_id, class_id, holder.address, 100)
    stranger = seeded("op/not-the-signer")
    done = run_cli({**env, "ICR_REGISTRY_SIGNER_KEY": stranger.key.hex()}, "sync", "--once", check=2)
    reason = (f"commit failed (permanent): registry signer {stranger.address} lacks REGISTRY_ROLE on ICCToken "
              f"{deployed['contract']} on chain 31337 (registerClass)")
    assert reason in done.stdout.splitlines()  # one line, however long
    assert "Traceback" not in done.stdout + done.stderr


def test_reconcile_and_snapshot_verify_on_a_node_without_history_exit_3_not_1(operator_env, tmp_path):
    node = launch(["--prune-history", "2"])  # keeps the state of the last two blocks only
    try:
        env = {**operator_env, "ICR_RPC_URL": node.url}
        deployed = json.loads(run_cli(env, "deploy", "--fund-from-dev-account", "--json").stdout)
        holder = Account.create()
        engine, account_id, class_id = _registry_with_custody(env, holder, 1000)
        _tokenize(engine, account_id, class_id, holder.address, 100)
        run_cli(env, "sync", "--once")
        snapshot = tmp_path / "custody.json"
        run_cli(env, "reconcile", "--snapshot", str(snapshot))  # the state is still there: agree
        w3 = http_web3(node.url)
        w3.provider.make_request("anvil_mine", [10])
        for args in (("reconcile",), ("snapshot", "verify", str(snapshot))):
            done = run_cli(env, *args, check=3)
            (line,) = error_lines(done)
            assert line.startswith(f"the node at {node.url} lacks the historical state this command reads"), line
            assert "BlockOutOfRangeError" in line and "archive node" in line
        assert Chain(w3, deployed["contract"]).chain_id == 31337
    finally:
        node.stop()


def test_status_counts_the_lag_from_the_chain_head_too(operator_env):
    env = operator_env
    run_cli(env, "deploy", "--fund-from-dev-account")
    http_web3(env["ICR_RPC_URL"]).provider.make_request("anvil_mine", [5])
    status = json.loads(run_cli({**env, "ICR_CONFIRMATIONS": "10"}, "status", "--json").stdout)
    assert status["chain_lag_blocks"] == status["head"] - status["last_processed_block"] > status["sync_lag_blocks"]


def test_dev_node_makes_blocks_and_prints_settings_that_work(tmp_path):
    from bridge.chain.anvil import free_port

    port = free_port()
    done = subprocess.run([str(CLI), "dev-node", "--detach", "--port", str(port), "--block-time", "0.5"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    exported = dict(line.removeprefix("export ").split("  #")[0].split("=", 1)
                    for line in done.stdout.splitlines() if line.startswith("export "))
    pid = int(exported["ICR_DEV_NODE_PID"])
    try:
        assert exported["ICR_RPC_URL"] == f"http://127.0.0.1:{port}"
        assert exported["ICR_USE_FINALIZED_TAG"] == "false" and exported["ICR_CONFIRMATIONS"] == "2"
        w3 = http_web3(exported["ICR_RPC_URL"])
        first = w3.eth.block_number
        time.sleep(1.6)
        assert w3.eth.block_number >= first + 2  # blocks without transactions
        taken = subprocess.run([str(CLI), "dev-node", "--port", str(port)], capture_output=True, text=True, timeout=60)
        assert taken.returncode == 2 and f"--port: 127.0.0.1:{port} is already in use" in taken.stderr
    finally:
        os.kill(pid, 15)
