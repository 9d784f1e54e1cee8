"""Scale-out on one host (README "Scale-out"), as separate processes over one PostgreSQL against
anvil: two ``serve`` processes take writes, two ``sync --follow`` followers (one active, holding
the chain's follower claim; one standby), and the webhook worker beside them. The active follower
is killed: the standby takes over and mints what the API accepted after that."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from eth_account import Account
from sqlmodel import Session

from bridge.chain.anvil import free_port
from bridge.chain.client import Chain, http_web3
from registry.api.auth import create_api_key
from registry.db import transaction
from registry.domain.enums import ApiKeyRole
from registry.tables.core import Account as RegistryAccount
from tests.bridge.conftest import operator_environment
from tests.bridge.test_operator import CLI, _metrics, _registry_with_custody, run_cli

pytestmark = [pytest.mark.postgres, pytest.mark.anvil]

SERIALIZATION = "ICR-ISL-354-78040-14-R-0-2023"  # what _registry_with_custody issues


class Receiver:
    """A marketplace's webhook endpoint: answers 202 and keeps each delivery's event."""

    def __init__(self):
        self.events: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.events.append(body)
                self.send_response(202)
                self.end_headers()

            def log_message(self, *_args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, httpx.HTTPError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_two_api_processes_two_followers_and_the_webhook_worker_over_one_postgres(postgres_url, anvil_url, tmp_path):
    env = {**operator_environment(tmp_path, anvil_url, poll_interval="0.3"), "ICR_DATABASE_URL": postgres_url,
           "ICR_STANDBY_POLL": "0.3", "ICR_WEBHOOK_ALLOW_PRIVATE": "1", "ICR_WEBHOOK_PORTS": "any"}
    deployed = json.loads(run_cli(env, "deploy", "--fund-from-dev-account", "--json").stdout)
    holder = Account.create()
    engine, account_id, class_id = _registry_with_custody(env, holder, 1000)
    with transaction(engine) as s:
        organization_id = s.get(RegistryAccount, account_id).organization_id
        _, api_key = create_api_key(s, name="marketplace", role=ApiKeyRole.organization,
                                    organization_id=organization_id)
    receiver = Receiver()

    processes: dict[str, subprocess.Popen] = {}
    logs = {}

    def start(name: str, *args: str) -> None:
        logs[name] = tmp_path / f"{name}.log"
        with logs[name].open("w") as out:
            processes[name] = subprocess.Popen([str(CLI), *args], env=env, stdout=out, stderr=out)

    api_ports = [free_port(), free_port()]
    metrics_ports = [free_port(), free_port()]
    try:
        start("api0", "serve", "--port", str(api_ports[0]))
        start("api1", "serve", "--port", str(api_ports[1]), "--rpc-url", anvil_url, "--relay")  # one relays too
        for i, port in enumerate(metrics_ports):
            start(f"follower{i}", "sync", "--follow", "--metrics-port", str(port))
        start("webhooks", "webhooks", "deliver", "--follow", "--poll-interval", "0.3",
              "--public-url", "https://bridge.example.org")
        apis = [httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": api_key}, timeout=30)
                for port in api_ports]
        for api in apis:
            _wait(lambda api=api: api.get("/health").status_code == 200, 90, "both API processes answer")

        # exactly one follower is active; the other is a standby, and both are ready
        def roles():
            values = [_metrics(port) for port in metrics_ports]
            active = [v["icr_bridge_follower_active"] for v in values]
            return active if sorted(active) == [0, 1] and all(v["icr_bridge_ready"] == 1 for v in values) else None

        active = _wait(roles, 90, "one active follower and one standby").index(1)
        standby = 1 - active
        time.sleep(1.5)  # several standby polls: still one active
        assert roles() is not None and _metrics(metrics_ports[standby]).get("icr_bridge_cycles_total", 0) == 0

        answer = apis[0].post(f"/organizations/{organization_id}/webhooks",
                              json={"url": receiver.url, "events": ["tokenization.minted"]})
        assert answer.status_code == 201, answer.text
        made = []
        for api, quantity in ((apis[0], 100), (apis[1], 50)):  # writes through both API processes
            answer = api.post("/tokenizations", json={"account_id": account_id, "wallet": holder.address,
                                                      "serialization": SERIALIZATION, "quantity": quantity,
                                                      "custody_account_id": deployed["custody_account_id"]})
            assert answer.status_code == 201, answer.text
            made.append(answer.json()["id"])

        chain = Chain(http_web3(anvil_url), deployed["contract"])
        with Session(engine) as s:
            from registry.tables.core import CreditClass

            token_id = int(s.get(CreditClass, class_id).token_id)

        def balance() -> int:
            return chain.token.functions.balanceOf(holder.address, token_id).call()

        _wait(lambda: balance() == 150, 90, "the active follower mints both tokenizations")
        assert _metrics(metrics_ports[standby]).get("icr_bridge_cycles_total", 0) == 0  # the standby did nothing

        # the active follower dies without a goodbye: its claim goes with its connection
        processes[f"follower{active}"].kill()
        processes[f"follower{active}"].wait(timeout=30)
        _wait(lambda: _metrics(metrics_ports[standby])["icr_bridge_follower_active"] == 1, 60,
              "the standby takes the claim")
        answer = apis[1].post("/tokenizations", json={"account_id": account_id, "wallet": holder.address,
                                                      "serialization": SERIALIZATION, "quantity": 20,
                                                      "custody_account_id": deployed["custody_account_id"]})
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
        _wait(lambda: balance() == 170, 90, "the former standby mints the new tokenization")

        # the webhook worker told the marketplace about each tokenization once
        def minted_events():
            ids = sorted(e["data"]["tokenization"]["id"] for e in receiver.events)
            return ids if len(ids) >= 3 else None

        assert _wait(minted_events, 60, "three tokenization.minted deliveries") == sorted(made)
        for api in apis:
            balances = api.get("/balances", params={"account_id": deployed["custody_account_id"]}).json()["items"]
            assert sum(b["quantity"] for b in balances) == 170  # both processes read the same registry
    finally:
        for name, process in processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        receiver.server.shutdown()
    for name, process in processes.items():
        if name != f"follower{active}":  # uvicorn ends by raising SIGTERM again once it shut down
            expected = (0, -signal.SIGTERM) if name.startswith("api") else (0,)
            assert process.returncode in expected, (name, process.returncode, logs[name].read_text()[-2000:])
    relay_banner = logs["api1"].read_text().splitlines()[:4]  # serve --relay checked the relayer at start-up
    assert relay_banner[0] == f"icr-bridge serve --relay: chain 31337, contract {deployed['contract']}"
    assert relay_banner[3] == f"keys: relayer {deployed['relayer']} (relayer 1000.0000 ETH)"
    standby_log = [json.loads(line) for line in logs[f"follower{standby}"].read_text().splitlines()
                   if line.startswith("{")]
    messages = [entry["msg"] for entry in standby_log]
    assert messages.index("standby: another follower holds the chain's follower claim") < \
        messages.index("follower active: holding the chain's follower claim")
    report = json.loads(run_cli(env, "reconcile", "--json").stdout)
    assert report["ok"] and [(c["registry_custody"], c["onchain_supply"]) for c in report["conservation"]] == \
        [(170, 170)]
