"""Everything at once on PostgreSQL against anvil: two bridge workers, holders acting on-chain
and parallel API clients over a real HTTP server, then the books must still balance.

While the load runs:
- two bridge workers (threads, each with its own database engine, web3 connection and relayer
  key, like separate processes) run engine cycles: batches, commits, mints, sync, answers to
  redemption requests;
- a chain actor keeps moving tokens of two classes between four wallets, retiring them (for
  itself or another beneficiary) and requesting redemptions into holding accounts (finalized)
  or an unknown account (rejected);
- API clients hit the real app (uvicorn on a free port) with tokenization requests, registry
  transfers and retirements under organization keys, and the busiest reads (``/balances``,
  ``/serial-blocks``, token metadata with live supply, certificates, the ledger check);
- race rounds: the administrator issues a few tonnes into an account, then 2-3 clients released
  together ask for all of them (retire, transfer, tokenize): exactly one succeeds and every
  loser gets a 409/422 problem+json, never a 500.

After a final quiet engine run: the registry invariants (every serial in exactly one block,
none retired twice, the ledger's chain and balance replay), conservation and ``reconcile``
agree, every leaf was minted exactly once, every on-chain retirement is exactly one registry
retirement of exactly its serials, every redemption was answered, the supply per class equals
the mirrored custody units and what the test tokenized minus what it retired or redeemed, and
no response was a 5xx. Nothing about timing is asserted.

Size: ``ICR_LOAD_SCALE`` (default 1) multiplies the number of requests, race rounds and chain
actions. What ran is printed and recorded in ``counts`` under "concurrent load".
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from eth_account import Account
from sqlmodel import Session, select
from web3.logs import DISCARD

from bridge.chain.client import Chain, http_web3
from bridge.chain.logs import fetch_events
from bridge.engine.cycle import run_cycle
from bridge.engine.deploy import BridgeKeys
from bridge.engine.reconcile import conservation, reconcile
from bridge.schema import create_schema
from bridge.tables import MintLeaf, Redemption, RedemptionStatus
from bridge.webhooks.tables import EventKind, WebhookDelivery, WebhookEvent
from registry.api.auth import create_api_key
from registry.db import make_engine, transaction
from registry.domain.enums import ApiKeyRole, CreditStatus
from registry.domain.wallets import sign_wallet_link
from registry.operations.accounts import create_organization, link_wallet, open_account
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.tables.core import Account as RegistryAccount
from registry.tables.core import CreditClass, Project, Retirement, SerialBlock, Serialization, TokenizationRequest
from tests.reliability.counts import record
from tests.reliability.invariants import registry_problems, settled_problems
from tests.support.browser import live_server
from tests.support.periods import verified
from tests.support.world import make_world, seeded

pytestmark = [pytest.mark.postgres, pytest.mark.anvil]

SCALE = max(1, int(os.environ.get("ICR_LOAD_SCALE", "1")))
VINTAGES = (2023, 2024)
S = {v: f"ICR-ISL-354-78040-14-R-0-{v}" for v in VINTAGES}
ZERO = "0x" + "00" * 20
RACES = [("retire", "transfer", "tokenize"), ("retire", "retire"), ("tokenize", "tokenize", "transfer"),
         ("transfer", "transfer"), ("tokenize", "retire")]
DEADLINE = 240  # seconds any thread may take before the test calls it stuck


class Http:
    """An HTTP client that keeps every answer's status, and every 5xx in full."""

    def __init__(self, base_url: str, log: "Log", headers: dict | None = None):
        self.client = httpx.Client(base_url=base_url, timeout=60, headers=headers or {})
        self.log = log

    def request(self, method: str, path: str, kind: str, **kwargs) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        self.log.answer(method, path, kind, response)
        return response

    def close(self):
        self.client.close()


class Log:
    """What happened, shared by all threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()  # (kind, status)
        self.server_errors: list[str] = []
        self.unexpected: list[str] = []  # refusals where a success was due, malformed problems
        self.errors: list[str] = []  # exceptions in threads
        self.tokenized: dict[str, int] = defaultdict(int)  # token id -> tonnes (successful requests)
        self.races: list[tuple[tuple[str, ...], list[int], list[str]]] = []
        self.chain: Counter = Counter()
        self.retired_onchain: dict[str, int] = defaultdict(int)
        self.retired_events: dict[tuple[str, int], tuple[str, int]] = {}  # (tx, log index) -> (token id, amount)
        self.redemptions: dict[int, str] = {}  # on-chain id -> "finalize" | "reject" (expected)

    def answer(self, method, path, kind, response):
        with self.lock:
            self.statuses[(kind, response.status_code)] += 1
            if response.status_code >= 500:
                self.server_errors.append(f"{method} {path} -> {response.status_code}: {response.text[:500]}")

    def expect(self, response: httpx.Response, status: int, what: str) -> dict | None:
        if response.status_code == status:
            return response.json()
        with self.lock:
            self.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")
        return None

    def fail(self, where: str, exc: BaseException):
        with self.lock:
            self.errors.append(f"{where}: {type(exc).__name__}: {exc}")


def guarded(log: Log, name: str, fn, *args):
    def run():
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            log.fail(name, exc)
    return threading.Thread(target=run, name=name, daemon=True)


@pytest.fixture
def load_world(postgres_url, anvil_url):
    """Two classes (vintages) of 1,000 t x scale each in organization one's account A (its holder
    wallet linked; the clients take at most half of each), organization two's account B,
    organization one's race account R (its own wallet), API keys for both organizations and
    the administrator."""
    engine = make_engine(postgres_url)
    create_schema(engine)
    world = make_world(engine, http_web3(anvil_url), seed="load", issued=1_000 * SCALE)
    racer = seeded("load/racer")
    world.chain.fund_from_dev_account(racer.address, amount=10**19)  # make_world spent most of it
    now = int(time.time())
    with transaction(engine) as s:
        project_id = s.exec(select(Project.id)).one()
        a = s.get(RegistryAccount, world.account_id)
        issue_ex_post(s, project_id=project_id, vintage=2024, **verified(s, project_id, 2024), quantity=1_000 * SCALE, account_id=a.id)
        race_account = open_account(s, a.organization_id, "race")
        two = create_organization(s, "Buyer AG")
        b = open_account(s, two.id, "main")
        _, key_one = create_api_key(s, name="one", role=ApiKeyRole.organization, organization_id=a.organization_id)
        _, key_two = create_api_key(s, name="two", role=ApiKeyRole.organization, organization_id=two.id)
        _, admin_key = create_api_key(s, name="admin", role=ApiKeyRole.administrator)
        address, signature = sign_wallet_link(racer.key, race_account.id, now)
        link_wallet(s, race_account.id, address, now, signature, now)
        classes = {v: s.exec(select(CreditClass.token_id).join(Serialization,
                                                               Serialization.id == CreditClass.serialization_id)
                             .where(Serialization.vintage == v)).one() for v in VINTAGES}
    yield dict(engine=engine, world=world, anvil_url=anvil_url, racer=racer, project_id=project_id,
               org_one=a.organization_id, A=world.account_id, B=b.id, R=race_account.id,
               custody=world.deployment.custody_account_id, key_one=key_one, key_two=key_two, admin_key=admin_key,
               classes=classes)
    engine.dispose()


def test_two_workers_chain_activity_and_parallel_api_clients_keep_every_tonne(load_world, postgres_url):
    w = load_world
    world, engine, log = w["world"], w["engine"], Log()
    stop = threading.Event()
    reports: list = []
    h1, h2, admin = ({"X-API-Key": w[k]} for k in ("key_one", "key_two", "admin_key"))

    # ---------------------------------------------------------------- bridge workers
    operator_role = world.chain.token.functions.BRIDGE_OPERATOR_ROLE().call()

    relayers = [Account.create() for _ in range(2)]
    for relayer in relayers:  # each worker pays its own gas and may answer redemptions
        world.chain.fund_from_dev_account(relayer.address, amount=10**19)
        world.chain.transact(world.keys.admin, world.chain.token.functions.grantRole(operator_role, relayer.address),
                             "grant BRIDGE_OPERATOR_ROLE")

    def worker(index: int):
        own_engine = make_engine(postgres_url)
        chain = Chain(http_web3(w["anvil_url"]), world.chain.address)
        keys = BridgeKeys(world.keys.admin, world.keys.registry_signer, relayers[index])
        cycles = 0
        try:
            while (not stop.is_set() or cycles < 3) and cycles < 400:
                reports.append(run_cycle(own_engine, chain, keys))
                cycles += 1
                time.sleep(0.05)
        finally:
            own_engine.dispose()

    # ---------------------------------------------------------------- the chain actor
    def chain_actor():
        chain = Chain(http_web3(w["anvil_url"]), world.chain.address)
        token = chain.token
        rng = random.Random("chain actor")
        wallets = [world.holder, w["racer"], *world.others[:2]]
        classes = [int(t) for t in w["classes"].values()]
        references = {"redeem into A": (str(w["A"]), "finalize"),
                      "redeem into B": (f"ICR-ACCOUNT-{w['B']}", "finalize"),
                      "redeem into nowhere": ("999999", "reject")}
        kinds = ["transfer", "transfer", "retire", "retire", "retire for another", *references]
        schedule = [kind for _ in range(4 * SCALE) for kind in rng.sample(kinds, len(kinds))]
        steps, started = 0, time.monotonic()
        while steps < len(schedule):
            holdings = [(a, t, token.functions.balanceOf(a.address, t).call()) for a in wallets for t in classes]
            holdings = [h for h in holdings if h[2] > 0]
            if not holdings:
                if time.monotonic() - started > DEADLINE / 2:
                    raise TimeoutError("no tokens were ever minted to act on")
                time.sleep(0.2)
                continue
            sender, token_id, balance = rng.choice(holdings)
            amount = rng.randint(1, max(1, min(balance, 25)))
            action = schedule[steps]
            if action == "transfer":
                to = rng.choice([a for a in wallets if a is not sender])
                chain.transact(sender, token.functions.safeTransferFrom(sender.address, to.address, token_id, amount,
                                                                        b""), "transfer", gas=200_000)
            elif action.startswith("retire"):
                beneficiary = rng.choice([a for a in wallets if a is not sender]).address \
                    if action == "retire for another" else ZERO
                receipt = chain.transact(sender, token.functions.retire(token_id, amount, beneficiary, "Load test",
                                                                        "", f"step {steps}", b""),
                                         "retire", gas=400_000)
                (event,) = token.events.Retired().process_receipt(receipt.raw, errors=DISCARD)
                with log.lock:
                    log.retired_onchain[str(token_id)] += event["args"]["amount"]
                    log.retired_events[(receipt.tx_hash.lower(), event["logIndex"])] = (str(token_id), amount)
            else:
                reference, expected = references[action]
                receipt = chain.transact(sender, token.functions.requestRedemption(token_id, amount, reference),
                                         "requestRedemption", gas=300_000)
                (event,) = token.events.RedemptionRequested().process_receipt(receipt.raw, errors=DISCARD)
                with log.lock:
                    log.redemptions[event["args"]["redemptionId"]] = expected
            with log.lock:
                log.chain[action] += 1
                log.chain[f"{action} (tonnes)"] += amount
            steps += 1
            time.sleep(rng.uniform(0.02, 0.15))

    # ---------------------------------------------------------------- API clients
    def tokenizing_client(base_url: str):
        http, rng = Http(base_url, log, h1), random.Random("tokenizer")
        for i in range(16 * SCALE):
            vintage = VINTAGES[i % 2]
            body = {"account_id": w["A"], "wallet": world.holder.address, "serialization": S[vintage],
                    "quantity": rng.randint(5, 40), "custody_account_id": w["custody"]}
            made = log.expect(http.request("POST", "/tokenizations", "write", json=body), 201, "tokenization from A")
            if made:
                with log.lock:
                    log.tokenized[made["token_id"]] += made["quantity"]
            http.request("GET", "/balances", "read", params={"account_id": w["A"]})
        http.close()

    def trading_client(base_url: str):
        """Transfers A -> B (organization one's key), retirements from B (organization two's key):
        never more than this client moved into B, so each one must succeed."""
        one, two = Http(base_url, log, h1), Http(base_url, log, h2)
        rng, moved = random.Random("trader"), defaultdict(int)
        for i in range(16 * SCALE):
            vintage = VINTAGES[i % 2]
            quantity = rng.randint(1, 15)
            body = {"from_account_id": w["A"], "to_account_id": w["B"], "serialization": S[vintage],
                    "quantity": quantity}
            if log.expect(one.request("POST", "/transfers", "write", json=body), 201, "transfer A -> B"):
                moved[vintage] += quantity
            if moved[vintage] and rng.random() < 0.7:
                quantity = rng.randint(1, moved[vintage])
                body = {"account_id": w["B"], "serialization": S[vintage], "quantity": quantity,
                        "beneficiary_name": "Buyer AG", "purpose": "voluntary"}
                if log.expect(two.request("POST", "/retirements", "write", json=body), 201, "retirement from B"):
                    moved[vintage] -= quantity
            two.request("GET", "/serial-blocks", "read", params={"account_id": w["B"], "limit": 200})
        one.close()
        two.close()

    def retiring_client(base_url: str):
        http, rng = Http(base_url, log, h1), random.Random("retirer")
        for i in range(12 * SCALE):
            body = {"account_id": w["A"], "serialization": S[VINTAGES[i % 2]], "quantity": rng.randint(1, 10),
                    "beneficiary_name": f"Beneficiary {i}", "purpose": "voluntary"}
            log.expect(http.request("POST", "/retirements", "write", json=body), 201, "retirement from A")
        http.close()

    def reading_client(base_url: str, seed: str):
        http, rng = Http(base_url, log), random.Random(seed)
        hex_ids = [f"{int(t):064x}" for t in w["classes"].values()]
        for _ in range(40 * SCALE):
            choice = rng.choice(["balances", "balances A", "blocks", "blocks custody", "metadata", "metadata",
                                 "retirements", "ledger"])
            if choice == "balances":
                response = http.request("GET", "/balances", "read")
            elif choice == "balances A":
                response = http.request("GET", "/balances", "read", params={"account_id": w["A"]})
            elif choice.startswith("blocks"):
                account = w["custody"] if choice == "blocks custody" else w["A"]
                response = http.request("GET", "/serial-blocks", "read", params={"account_id": account, "limit": 500})
            elif choice == "metadata":
                response = http.request("GET", f"/metadata/{rng.choice(hex_ids)}.json", "read")
            elif choice == "ledger":
                response = http.request("GET", "/ledger/verify", "read")
            else:
                response = http.request("GET", "/retirements", "read", params={"limit": 5})
                items = response.json()["items"] if response.status_code == 200 else []
                if items:
                    cert = http.request("GET", f"/certificates/{rng.choice(items)['id']}.json", "read")
                    log.expect(cert, 200, "certificate")
            body = log.expect(response, 200, f"read {choice}")
            if body is not None and choice.startswith(("balances", "blocks")):
                problems = read_problems(body)
                if problems:
                    with log.lock:
                        log.unexpected.append(f"GET {response.url}: {problems}")
        http.close()

    def race_rounds(base_url: str):
        """The administrator issues ``quantity`` into R; then racers ask for all of it at once."""
        boss = Http(base_url, log, admin)
        racers = [Http(base_url, log, h1) for _ in range(3)]
        for round_ in range(10 * SCALE):
            kinds = RACES[round_ % len(RACES)]
            vintage, quantity = VINTAGES[round_ % 2], 3 + round_
            day = str(date(vintage, 2, 1) + timedelta(days=round_))  # a period of its own for each round
            issued = boss.request("POST", "/issuances", "write", json={
                "project_id": w["project_id"], "vintage": vintage, "quantity": quantity, "account_id": w["R"],
                "monitoring_start": day, "monitoring_end": day, "verification_reference": f"VR race {round_}",
                "verification_body": "Load VVB", "verified_on": str(datetime.now(timezone.utc).date())})
            if not log.expect(issued, 201, f"race issuance {round_}"):
                continue
            bodies = {
                "retire": ("/retirements", {"account_id": w["R"], "serialization": S[vintage], "quantity": quantity,
                                            "beneficiary_name": "Racer"}),
                "transfer": ("/transfers", {"from_account_id": w["R"], "to_account_id": w["A"],
                                            "serialization": S[vintage], "quantity": quantity}),
                "tokenize": ("/tokenizations", {"account_id": w["R"], "wallet": w["racer"].address,
                                                "serialization": S[vintage], "quantity": quantity,
                                                "custody_account_id": w["custody"]}),
            }
            barrier = threading.Barrier(len(kinds))
            answers: list = [None] * len(kinds)

            def race(i, kind):
                path, body = bodies[kind]
                barrier.wait(timeout=30)
                answers[i] = racers[i].request("POST", path, "race", json=body)

            threads = [guarded(log, f"racer {i}", race, i, kind) for i, kind in enumerate(kinds)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=DEADLINE)
            statuses = [a.status_code if a is not None else 0 for a in answers]
            rules = []
            for kind, answer in zip(kinds, answers):
                if answer is not None and answer.status_code == 201 and kind == "tokenize":
                    made = answer.json()
                    with log.lock:
                        log.tokenized[made["token_id"]] += made["quantity"]
                elif answer is not None and answer.status_code != 201:
                    problem = answer.json() if answer.headers.get("content-type") == "application/problem+json" else {}
                    rules.append(problem.get("rule") or problem.get("title") or "not problem+json")
            with log.lock:
                log.races.append((kinds, statuses, rules))
        boss.close()
        for r in racers:
            r.close()

    # ---------------------------------------------------------------- run everything at once
    from bridge.app import create_app

    api_engine = make_engine(postgres_url)
    app = create_app(api_engine, chains=[Chain(http_web3(w["anvil_url"]), world.chain.address)])
    started = time.monotonic()
    with live_server(app) as base_url:
        # Organization one's marketplace hears of everything: the outbox is written by every
        # transaction that changes what it reports, while the workers race.
        subscribe = Http(base_url, log, h1)
        log.expect(subscribe.request("POST", f"/organizations/{w['org_one']}/webhooks", "write", json={
            "url": "http://127.0.0.1:9/hook", "events": [k.value for k in EventKind]}), 201, "webhook subscription")
        subscribe.close()
        workers = [guarded(log, f"worker {i}", worker, i) for i in range(2)]
        load = [guarded(log, "chain actor", chain_actor),
                guarded(log, "tokenizer", tokenizing_client, base_url),
                guarded(log, "trader", trading_client, base_url),
                guarded(log, "retirer", retiring_client, base_url),
                guarded(log, "reader 1", reading_client, base_url, "reader 1"),
                guarded(log, "reader 2", reading_client, base_url, "reader 2"),
                guarded(log, "races", race_rounds, base_url)]
        for t in workers + load:
            t.start()
        for t in load:
            t.join(timeout=DEADLINE)
        stop.set()
        for t in workers:
            t.join(timeout=DEADLINE)
        stuck = [t.name for t in workers + load if t.is_alive()]
        loaded = time.monotonic() - started

        # A final quiet run (the original relayer): until a cycle finds nothing left to do.
        for quiet in range(1, 8):
            report = run_cycle(engine, world.chain, world.keys)
            reports.append(report)
            if not (report.batches_built or report.batches_committed or report.leaves_minted
                    or report.sync.applied_total or report.redemptions.finalized or report.redemptions.rejected):
                break
        else:
            pytest.fail(f"the engine still found work after {quiet} quiet cycles: {report}")
        after = Http(base_url, log)
        ledger = log.expect(after.request("GET", "/ledger/verify", "read"), 200, "final ledger check")
        after.close()
    api_engine.dispose()

    # ---------------------------------------------------------------- what ran
    by_kind, by_status = Counter(), Counter()
    for (kind, status), n in log.statuses.items():
        by_kind[kind] += n
        by_status[status] += n
    applied = Counter()
    for r in reports:
        applied.update(r.sync.applied if r.sync is not None else {})
    summary = {
        "HTTP requests": sum(by_kind.values()), "HTTP writes": by_kind["write"], "HTTP reads": by_kind["read"],
        "HTTP racing writes": by_kind["race"], "race rounds": len(log.races),
        **{f"race losers: {rule}": n for rule, n in Counter(r for *_, rules in log.races for r in rules).items()},
        **{f"HTTP answered {status}": n for status, n in by_status.items()},
        "engine cycles": len(reports), "batches built": sum(len(r.batches_built) for r in reports),
        "mint transactions": sum(r.mint_transactions for r in reports),
        "leaves minted": sum(r.leaves_minted for r in reports),
        **{f"events applied: {name}": n for name, n in applied.items()},
        **{f"on-chain tonnes: {name.removesuffix(' (tonnes)')}" if name.endswith("(tonnes)") else f"on-chain: {name}": n
           for name, n in log.chain.items()},
    }
    print(f"\nconcurrent load: {loaded:.1f} s under load, then {quiet} quiet cycles; {summary}")
    for name, n in summary.items():
        record("concurrent load", name, n)

    # ---------------------------------------------------------------- assertions
    assert not stuck, f"threads still running: {stuck}"
    assert not log.errors, log.errors
    assert not log.server_errors, log.server_errors
    assert not log.unexpected, log.unexpected
    for kinds, statuses, rules in log.races:
        assert statuses.count(201) == 1, (kinds, statuses, rules)
        assert all(s in (409, 422) for s in statuses if s != 201), (kinds, statuses, rules)
        assert "not problem+json" not in rules, (kinds, statuses, rules)
    assert log.retired_events and set(log.redemptions.values()) == {"finalize", "reject"}, log.chain

    assert registry_problems(engine) == []
    assert ledger and ledger["ok"] and ledger["balances_ok"], ledger
    with Session(engine) as s:
        verified = verify_ledger(s)
    assert verified.ok, verified.chain.problems + verified.balances.problems
    assert settled_problems(engine, world.chain, dict(log.tokenized), dict(log.retired_onchain)) == []
    checked = reconcile(engine, world.chain)
    assert checked.problems == [] and all(c.ok for c in checked.conservation)

    # Every leaf minted, exactly once (one LeafMinted event each, one worker sent it).
    head = world.chain.w3.eth.block_number
    events = fetch_events(world.chain, world.deployment.deployed_block, head)
    minted = Counter((int(e["args"]["batchId"]), int(e["args"]["leafIndex"])) for name, e in events
                     if name == "LeafMinted")
    with Session(engine) as s:
        leaves = {(l.batch_id, l.leaf_index): l.minted for l in s.exec(select(MintLeaf))}
        redemptions = {r.redemption_id: (r.status, r.decision) for r in s.exec(select(Redemption))}
        bridged = {(r.tx_hash.lower(), r.log_index): r for r in s.exec(
            select(Retirement).where(Retirement.chain_id == world.chain.chain_id))}
        outbox = [(e.kind, json.loads(e.data), e.id, e.organization_id) for e in s.exec(select(WebhookEvent))]
        deliveries = Counter(d.event_id for d in s.exec(select(WebhookDelivery)))
        tokenizations = list(s.exec(select(TokenizationRequest.id)))
        retirements = set(s.exec(select(Retirement.id)))  # on-chain ones and those made over the API
        retired_serials = {
            r.id: sum(b.quantity for b in s.exec(select(SerialBlock).where(SerialBlock.retirement_id == r.id))
                      if b.status is CreditStatus.retired)
            for r in bridged.values()}
    assert leaves and all(leaves.values()), "a leaf was never minted"
    assert set(minted) == set(leaves) and set(minted.values()) == {1}, minted
    assert sum(r.leaves_minted for r in reports) == len(leaves)

    # Every on-chain retirement is exactly one registry retirement of exactly its serials.
    assert set(bridged) == set(log.retired_events)
    for key, (token_id, amount) in log.retired_events.items():
        assert bridged[key].quantity == amount and retired_serials[bridged[key].id] == amount, key

    # Every redemption answered as the registry decided.
    assert set(redemptions) == set(log.redemptions)
    for redemption_id, expected in log.redemptions.items():
        status, decision = redemptions[redemption_id]
        assert decision == expected, (redemption_id, decision)
        assert status is (RedemptionStatus.finalized if expected == "finalize" else RedemptionStatus.rejected)

    # The outbox told organization one of each of them exactly once.
    reported = Counter()
    for kind, data, event_id, organization_id in outbox:
        subject = data.get("retirement") or data.get("redemption") or data.get("tokenization")
        reported[(kind, subject["id"])] += 1
        assert deliveries[event_id] == (1 if organization_id in (None, w["org_one"]) else 0), (kind, subject)
    assert set(reported.values()) == {1}, reported
    assert {i for k, i in reported if k == "retirement.recorded"} == retirements
    assert {r.id for r in bridged.values()} < retirements  # the API clients retired too
    assert {i for k, i in reported if k == "tokenization.minted"} == set(tokenizations)
    assert {(k, i) for k, i in reported if k.startswith("redemption.")} == {
        ("redemption.finalized" if expected == "finalize" else "redemption.rejected", i)
        for i, expected in log.redemptions.items()}

    # Supply per class = mirrored custody units; nothing awaits its mint.
    custody = _custody_units(engine)
    for check in conservation(engine, world.chain):
        assert check.awaiting_mint == 0 and check.ok, check
        supply = world.chain.token.functions.totalSupply(int(check.token_id)).call()
        assert supply == custody.get(check.token_id, 0), (check.token_id, supply, custody)


def read_problems(body) -> list[str]:
    """What one answer read under load must never show, whatever ran at the same time: a
    balance of no tonnes or a place listed twice (/balances); a serial in two blocks
    (/serial-blocks)."""
    if "account_type" in (body["items"][0] if body["items"] else {}):
        balances = body["items"]
        places = Counter((b["account_id"], b["serialization"], b["status"]) for b in balances)
        return ([f"balance {b}" for b in balances if b["quantity"] <= 0]
                + [f"place listed {n} times: {p}" for p, n in places.items() if n > 1])
    problems, last = [], {}
    for block in sorted(body["items"], key=lambda b: (b["serialization"], b["unit_first"])):
        previous = last.get(block["serialization"])
        if previous is not None and block["unit_first"] <= previous:
            problems.append(f"{block['serial_block']} overlaps the block before it")
        if block["quantity"] != block["unit_last"] - block["unit_first"] + 1:
            problems.append(f"{block['serial_block']} says quantity {block['quantity']}")
        last[block["serialization"]] = block["unit_last"]
    return problems


def _custody_units(engine) -> dict[str, int]:
    """Mirrored units in bridge custody per class token id."""
    from bridge.tables import Deployment

    with Session(engine) as s:
        custody_ids = list(s.exec(select(Deployment.custody_account_id)))
        rows = s.exec(
            select(CreditClass.token_id, SerialBlock.quantity)
            .join(CreditClass, CreditClass.serialization_id == SerialBlock.serialization_id)
            .where(SerialBlock.account_id.in_(custody_ids), SerialBlock.mirrored == True,  # noqa: E712
                   SerialBlock.status == CreditStatus.active)
        ).all()
    totals: dict[str, int] = defaultdict(int)
    for token_id, quantity in rows:
        totals[token_id] += quantity
    return dict(totals)
