"""Liveness of ``sync --follow`` (bridge/liveness.py): /healthz, /readyz and the metrics show a
stopped node within 30 s."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Gauge

from bridge.chain.anvil import ANVIL_BIN, free_port, launch
from bridge.liveness import Liveness, MetricsServer
from tests.bridge.conftest import operator_environment
from tests.bridge.test_operator import CLI, _metrics, run_cli


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_readiness_follows_the_last_success_the_failures_in_a_row_and_the_role():
    clock = FakeClock()
    live = Liveness(max_age=30, max_failures=2, clock=clock)
    assert live.ready() == (False, "starting: no cycle is running")
    live.role = "standby"
    assert live.ready()[0] is True and "standby" in live.ready()[1]
    live.role = "active"
    assert live.ready() == (True, "starting: the first cycle runs")
    clock.now += 31
    assert live.ready() == (False, "no successful cycle in the 31 s since the start")
    live.succeeded()
    clock.now += 29
    assert live.ready()[0] is True
    clock.now += 2
    assert live.ready() == (False, "last successful cycle 31 s ago (ICR_READY_MAX_AGE 30 s)")
    live.progressed()  # a mint transaction or a block range inside a long cycle
    assert live.ready()[0] is True
    live.failed()
    assert live.ready()[0] is True  # one failure is a blip
    live.failed()
    assert live.ready() == (False, "2 cycles failed in a row")
    live.succeeded()
    assert live.ready()[0] is True and live.failures_in_row == 0
    live.role = "stopping"
    assert live.ready()[0] is False
    live.role = "standby"
    clock.now += 3600  # a standby waits an hour, then takes the claim: its first cycle has time
    live.activate()
    assert live.ready() == (True, "starting: the first cycle runs")
    clock.now += 31
    assert live.ready()[0] is False


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_metrics_port_answers_metrics_healthz_and_readyz():
    registry = CollectorRegistry()
    Gauge("icr_bridge_example", "an example", registry=registry).set(7)
    clock = FakeClock()
    live = Liveness(max_age=10, clock=clock)
    live.role = "active"
    live.succeeded()
    server = MetricsServer(registry, live, "127.0.0.1", 0)
    try:
        code, body = _get(server.port, "/metrics")
        assert code == 200 and b"icr_bridge_example 7.0" in body
        assert _get(server.port, "/healthz") == (200, b'{"status": "ok"}\n')
        code, body = _get(server.port, "/readyz")
        assert code == 200 and json.loads(body)["role"] == "active"
        clock.now += 11
        code, body = _get(server.port, "/readyz")
        assert code == 503 and json.loads(body) == {
            "ready": False, "role": "active", "reason": "last successful cycle 11 s ago (ICR_READY_MAX_AGE 10 s)",
            "failures_in_row": 0, "last_success_age_seconds": 11.0}
        assert _get(server.port, "/nothing")[0] == 404
    finally:
        server.close()


def _wait(predicate, timeout: float, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def _node_processes(pid: int) -> list[int]:
    """The anvil process and its descendants (npm's ``anvil`` is a node script that starts the
    real binary as its child: stopping only the script would leave the node answering)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in pathlib.Path(f"/proc/{current}/task").glob("*"):
            queue += [int(child) for child in (task / "children").read_text().split()]
    return found


def _signal_node(node, signum: int) -> None:
    for pid in _node_processes(node.process.pid):
        os.kill(pid, signum)


def _readyz(port: int) -> int | None:
    try:
        return _get(port, "/readyz")[0]
    except OSError:
        return None


@pytest.mark.anvil
def test_readyz_and_the_metrics_show_a_stopped_node_within_30_seconds(tmp_path):
    if not ANVIL_BIN.exists():
        pytest.skip(f"anvil is not installed at {ANVIL_BIN}: run `make setup`")
    node = launch()
    # ICR_RPC_TIMEOUT, ICR_READY_MAX_AGE and ICR_READY_FAILURES at their defaults
    env = operator_environment(tmp_path, node.url, poll_interval="0.5")
    port = free_port()
    log_file = tmp_path / "follower.log"
    follower = None
    try:
        run_cli(env, "deploy", "--fund-from-dev-account", "--json")
        with log_file.open("w") as log_out:
            follower = subprocess.Popen([str(CLI), "sync", "--follow", "--metrics-port", str(port)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=log_out, text=True)
        assert _wait(lambda: _readyz(port) == 200 and _metrics(port).get("icr_bridge_cycles_total", 0) >= 1, 60)
        before = _metrics(port)
        assert before["icr_bridge_follower_active"] == 1 and before["icr_bridge_ready"] == 1
        assert before["icr_bridge_relayer_balance_ether"] == 1000.0
        assert before["icr_bridge_last_success_timestamp_seconds"] > time.time() - 30
        assert any(name.startswith("icr_bridge_build_info{") for name in before)

        _signal_node(node, signal.SIGSTOP)
        stopped = time.monotonic()
        assert _wait(lambda: _readyz(port) == 503, 30), "/readyz still answers 200 30 s after the node stopped"
        noticed = time.monotonic() - stopped
        print(f"/readyz answered 503 {noticed:.1f} s after the node stopped")
        after = _metrics(port)
        assert after["icr_bridge_ready"] == 0 and after["icr_bridge_consecutive_failed_cycles"] >= 2
        assert sum(v for k, v in after.items() if k.startswith("icr_bridge_errors_total")) >= 2
        assert after["icr_bridge_last_success_timestamp_seconds"] <= time.time() - noticed + 1  # none since the stop
        assert _get(port, "/healthz")[0] == 200  # the process is up, only not ready
        assert json.loads(_get(port, "/readyz")[1])["reason"].endswith("cycles failed in a row")

        _signal_node(node, signal.SIGCONT)
        assert _wait(lambda: _readyz(port) == 200, 60), "/readyz did not recover after the node came back"
        assert _metrics(port)["icr_bridge_consecutive_failed_cycles"] == 0
    finally:
        if node.process.poll() is None:
            _signal_node(node, signal.SIGCONT)
        if follower is not None:
            follower.send_signal(signal.SIGTERM)
            follower.wait(timeout=60)
        node.stop()
    assert follower.returncode == 0
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    messages = [line["msg"] for line in lines]
    for expected in ("start-up", "follower active: holding the chain's follower claim", "cycle failed", "recovered",
                     "shutdown requested: stopping after the running cycle", "follower stopped"):
        assert expected in messages, (expected, messages)
    failed = [line for line in lines if line["msg"] == "cycle failed"]
    assert all(line["level"] == "error" for line in failed)
    assert "idle cycle" not in messages and "cycle" not in messages  # idle cycles log at debug level
    assert noticed <= 30
