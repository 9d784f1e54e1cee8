"""Nobody can stop the bridge (issue 14): one wallet that refuses its tokens, an unfunded
relayer or a registry signer without its role fails its own step, and the sync still ingests
retirements in the same cycle."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from sqlmodel import Session, select

from bridge import operator
from bridge.chain.client import ChainRevert, InsufficientFunds
from bridge.engine import batcher, steps
from bridge.engine.cycle import run_cycle
from bridge.engine.deploy import BridgeKeys
from bridge.settings import BridgeSettings
from bridge.tables import MintLeaf
from registry.bridged import custody
from registry.db import transaction
from registry.domain.wallets import sign_wallet_link
from registry.operations import accounts as accounts_ops
from tests.support.world import make_world, seeded

#: Runtime code that reverts on any call without data: PUSH1 0 PUSH1 0 REVERT.
ALWAYS_REVERTS = bytes.fromhex("60006000fd")


def link_wallet(world, wallet) -> None:
    now = int(time.time())
    address, signature = sign_wallet_link(wallet.key, world.account_id, now)
    with transaction(world.engine) as s:
        accounts_ops.link_wallet(s, world.account_id, address, now, signature, now)


def tokenize_to(world, wallet: str, quantity: int) -> int:
    with transaction(world.engine) as s:
        request, _ = custody.request_tokenization(
            s, account_id=world.account_id, wallet=wallet, class_id=world.class_id, quantity=quantity,
            custody_account_id=world.deployment.custody_account_id,
        )
    return request.id


def deploy_code(w3, runtime: bytes) -> str:
    """Deploy ``runtime`` as a contract's code (init code: copy it to memory and return it)."""
    assert len(runtime) < 32
    init = bytes([0x60 + len(runtime) - 1]) + runtime + bytes.fromhex(f"60005260{len(runtime):02x}60{32 - len(runtime):02x}f3")
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": init, "gas": 100_000})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    assert bytes(w3.eth.get_code(address)) == runtime
    return address


def delegate_code(w3, wallet, target: str) -> None:
    """EIP-7702 (Prague): ``wallet`` delegates its code to ``target`` (the zero address clears it)."""
    nonce = w3.eth.get_transaction_count(wallet.address)
    auth = wallet.sign_authorization({"chainId": w3.eth.chain_id, "address": target, "nonce": nonce + 1})
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    tx = {"type": 4, "chainId": w3.eth.chain_id, "nonce": nonce, "to": w3.eth.accounts[0], "value": 0,
          "gas": 100_000, "maxFeePerGas": base * 2 + 10**9, "maxPriorityFeePerGas": 10**9, "data": b"",
          "authorizationList": [auth]}
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1


def leaves(engine) -> list[tuple[int, str, bool, str | None]]:
    with Session(engine) as s:
        return [(leaf.leaf_index, leaf.recipient, leaf.minted, leaf.mint_refused)
                for leaf in s.exec(select(MintLeaf).where(MintLeaf.batch_id == 2).order_by(MintLeaf.leaf_index))]


def refusing_world(engine, w3, seed: str):
    """A world with one minted batch (the holder's 100 t) and a second linked wallet of the
    same account whose code (an EIP-7702 delegation) refuses ERC-1155 tokens."""
    world = make_world(engine, w3, seed=seed)
    world.tokenize(100)
    assert run_cycle(engine, world.chain, world.keys).leaves_minted == 1
    refuser = seeded(f"{seed}/refuser")
    world.chain.fund_from_dev_account(refuser.address)
    link_wallet(world, refuser)
    delegate_code(w3, refuser, deploy_code(w3, ALWAYS_REVERTS))
    return world, refuser


def test_a_wallet_that_refuses_tokens_is_flagged_and_the_rest_mints_and_syncs(sqlite_engine, w3):
    world, refuser = refusing_world(sqlite_engine, w3, "refuse")
    world.retire(world.holder, 10)  # an ordinary retirement the same cycle must ingest
    for wallet, quantity in ((world.holder.address, 30), (world.holder.address, 20), (refuser.address, 50),
                             (world.holder.address, 40), (world.holder.address, 25)):
        tokenize_to(world, wallet, quantity)
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.failures == {} and report.batches_built == [2]
    assert report.leaves_minted == 4 and report.sync.applied == {"LeafMinted": 4, "Retired": 1}
    ((flagged, recipient, minted, reason),) = [row for row in leaves(sqlite_engine) if row[3]]
    assert (flagged, recipient, minted) == (2, refuser.address, False)
    assert reason == f"recipient {refuser.address} does not accept ERC-1155 tokens (ERC1155InvalidReceiver)"
    assert [leaf.line() for leaf in report.mint_refused] == [
        f"batch 2 leaf 2 (50 t to {refuser.address}): {reason}; left for claim"]
    token = world.chain.token.functions
    assert token.balanceOf(world.holder.address, world.token_id).call() == 100 - 10 + 30 + 20 + 40 + 25
    assert token.balanceOf(refuser.address, world.token_id).call() == 0

    current = operator.status(sqlite_engine, world.chain, BridgeSettings(confirmations=0, use_finalized_tag=False))
    assert current.mint_refused_leaves == 1 and current.leaves_awaiting_mint == 1
    assert current.mint_refused == [f"batch 2 leaf 2 (50 t, ICR-ISL-354-78040-14-R-0-2023-000151-000200, "
                                    f"to {refuser.address}): {reason}"]

    # not retried every cycle: nothing is sent for the flagged leaf
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert (report.leaves_minted, report.mint_transactions, report.mint_refused) == (0, 0, [])

    # the holder's wallet accepts tokens again; the operator asks for the leaf to be minted again
    delegate_code(w3, refuser, "0x" + "00" * 20)
    from typer.testing import CliRunner

    from bridge.cli.main import app

    done = CliRunner().invoke(app, ["batch", "retry-refused", "--db", sqlite_engine.url.render_as_string(False)])
    assert done.exit_code == 0 and "batch 2 leaf 2: will be minted again by the next cycle" in done.stdout
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.leaves_minted == 1 and report.sync.applied == {"LeafMinted": 1}
    assert token.balanceOf(refuser.address, world.token_id).call() == 50
    assert all(minted and reason is None for _, _, minted, reason in leaves(sqlite_engine))
    assert all(ok for *_, ok in world.outcome()["conservation"])


def test_a_leaf_claimed_while_its_chunk_is_sent_is_not_flagged(sqlite_engine, w3, monkeypatch):
    """The holder claims a leaf after the engine read the bitmap: the chunk reverts with
    LeafAlreadyMinted, the engine reads the bitmap again and mints the others."""
    world = make_world(sqlite_engine, w3, seed="front-run")
    for quantity in (10, 20, 30, 40):
        world.tokenize(quantity)
    with transaction(sqlite_engine) as s:
        batch = batcher.build_batch(s, world.deployment)
    batcher.commit_batch(sqlite_engine, world.chain, batch.id, world.keys.registry_signer, world.keys.relayer)
    tree = batcher.load_tree(batch)
    world.chain.transact(world.holder, world.chain.token.functions.claim(
        tuple(tree.at(2)), [bytes.fromhex(p[2:]) for p in tree.get_proof(2)]), "claim", gas=300_000)
    real = batcher.minted_on_chain
    reads = []

    def stale_first_read(chain, batch_id, indices):
        reads.append(list(indices))
        return set() if len(reads) == 1 else real(chain, batch_id, indices)

    monkeypatch.setattr(batcher, "minted_on_chain", stale_first_read)
    minted = batcher.mint_batch(sqlite_engine, world.chain, batch.id, world.keys.relayer)
    assert minted.refused == [] and minted.leaves_sent == 3 and minted.leaves_already_minted == 1
    assert len(reads) == 2  # read again before splitting: no split was needed
    monkeypatch.undo()
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.sync.applied == {"LeafMinted": 4} and report.mint_refused == []
    with Session(sqlite_engine) as s:
        assert all(leaf.minted and leaf.mint_refused is None for leaf in s.exec(select(MintLeaf)))


def retirement_and_batch_waiting(engine, w3, seed: str):
    """A world with a retirement the next sync must ingest and a new batch to commit."""
    world = make_world(engine, w3, seed=seed)
    world.tokenize(100)
    run_cycle(engine, world.chain, world.keys)
    world.retire(world.holder, 10)
    world.tokenize(50)
    return world


def test_an_unfunded_relayer_fails_its_steps_and_the_sync_still_ingests(sqlite_engine, w3):
    world = retirement_and_batch_waiting(sqlite_engine, w3, "unfunded")
    broke = Account.create()
    keys = BridgeKeys(world.keys.admin, world.keys.registry_signer, broke)
    report = run_cycle(sqlite_engine, world.chain, keys)
    assert report.sync.applied == {"Retired": 1}
    assert report.step_errors == {"commit": f"relayer {broke.address} has no ether on chain {world.chain.chain_id} "
                                            "to pay for commit batch 2"}
    assert report.failures["commit"].kind == steps.PERMANENT
    assert report.steps == {"commit": "failed", "ca_push": "ok", "uses_push": "ok", "sync": "ok", "redemptions": "ok"}
    # funded again, the next cycle commits and mints (no nonce gap was left behind)
    world.chain.fund_from_dev_account(broke.address)
    report = run_cycle(sqlite_engine, world.chain, keys)
    assert report.failures == {} and report.batches_committed == [2] and report.sync.applied == {"LeafMinted": 1}


def test_a_registry_signer_without_its_role_fails_the_commit_and_the_sync_still_ingests(sqlite_engine, w3):
    world = retirement_and_batch_waiting(sqlite_engine, w3, "no-role")
    token = world.chain.token.functions
    role = token.REGISTRY_ROLE().call()
    world.chain.transact(world.keys.admin, token.revokeRole(role, world.keys.registry_signer.address), "revoke",
                         gas=100_000)
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.sync.applied == {"Retired": 1}
    assert report.step_errors == {"commit": (
        f"registry signer {world.keys.registry_signer.address} signed the commit but lacks REGISTRY_ROLE on "
        f"ICCToken {world.chain.address} on chain {world.chain.chain_id} (commit batch 2: SignerNotRegistry)")}
    assert report.failures["commit"].kind == steps.PERMANENT


class FakeChain:
    chain_id = 31337
    address = "0x" + "cc" * 20

    class w3:  # noqa: N801 - stands in for Web3
        class eth:  # noqa: N801
            @staticmethod
            def get_balance(address):
                return 0

            @staticmethod
            def get_code(address):
                return b""


def test_errors_are_classified_and_name_the_key_or_the_contract():
    keys = BridgeKeys(seeded("c/admin"), seeded("c/signer"), seeded("c/relayer"))
    chain = FakeChain()
    role = steps.keccak(text="REGISTRY_ROLE")
    missing = ChainRevert("registerClass", "AccessControlUnauthorizedAccount", (keys.registry_signer.address.lower(),
                                                                                role), sender=keys.registry_signer.address)
    assert steps.classify(missing, chain, keys) == (
        steps.PERMANENT, f"registry signer {keys.registry_signer.address} lacks REGISTRY_ROLE on ICCToken "
                         f"{chain.address} on chain 31337 (registerClass)")
    assert steps.classify(InsufficientFunds("mint", keys.relayer.address, "insufficient funds"), chain, keys) == (
        steps.PERMANENT, f"relayer {keys.relayer.address} has no ether on chain 31337 to pay for mint")
    from web3.exceptions import BadFunctionCallOutput

    assert steps.classify(BadFunctionCallOutput("no output"), chain, keys) == (
        steps.PERMANENT, f"no contract at {chain.address} on chain 31337")
    kind, reason = steps.classify(ConnectionError("connection refused"), chain, keys)
    assert kind == steps.TRANSIENT and "did not answer" in reason
    from bridge.chain.client import SendRefused

    assert steps.classify(SendRefused("mint", keys.relayer.address, "nonce too low"), chain, keys)[0] == steps.TRANSIENT
    assert steps.classify(ChainRevert("mint", "EnforcedPause"), chain, keys)[0] == steps.TRANSIENT


def test_a_database_error_in_a_step_still_stops_the_cycle(sqlite_engine, w3, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import bridge.engine.cycle as cycle

    world = make_world(sqlite_engine, w3, seed="db-error")

    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(cycle, "push_ca_statuses", broken)
    with pytest.raises(OperationalError):  # not swallowed as a step failure
        run_cycle(sqlite_engine, world.chain, world.keys)


class FakeClock:
    """The follow loop's time: ``stop.wait`` advances it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeStop(operator.StopFlag):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, seconds: float) -> bool:
        self.clock.now += seconds
        return False


def test_the_follow_loop_backs_off_a_transiently_failing_step_and_keeps_syncing(sqlite_engine, w3, monkeypatch):
    import bridge.engine.cycle as cycle

    world = make_world(sqlite_engine, w3, seed="follow-backoff")
    clock = FakeClock()
    attempts: list[float] = []

    def node_down(*args, **kwargs):
        attempts.append(clock.now)
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(cycle, "push_ca_statuses", node_down)
    settings = BridgeSettings(rpc_url="unused", confirmations=0, use_finalized_tag=False, poll_interval=1.0,
                              permanent_retry=1000.0)
    seen = []
    metrics = operator.BridgeMetrics()
    retired = {}

    def on_cycle(report, current):
        seen.append((clock.now, report.steps.get("ca_push"), report.steps.get("sync")))
        if clock.now == 3.0:  # a retirement arrives while the CA push is failing
            world.tokenize(100)
        if report.sync is not None and report.sync.applied.get("Retired"):
            retired[clock.now] = report.sync.applied["Retired"]
        if clock.now == 5.0:
            world.retire(world.holder, 10)

    done = operator.follow(sqlite_engine, world.chain, world.keys, settings, metrics, FakeStop(clock),
                           on_cycle=on_cycle, max_cycles=40, clock=clock)
    assert done == 40
    # tried at 0, then 1, 2, 4, 8, 16 s after each failure, capped at a minute
    assert attempts[:7] == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]  # 40 cycles of 1 s see six attempts
    assert [t for t, ca, _ in seen if ca == "waiting"][:3] == [2.0, 4.0, 5.0]
    assert all(sync == "ok" for _, _, sync in seen)  # the sync ran every cycle
    assert sum(retired.values()) == 1
    assert metrics.step_failures.labels(step="ca_push", kind="transient")._value.get() == len(attempts)
    assert metrics.errors.labels(kind="ConnectionError")._value.get() == 0  # no cycle failed as a whole


def test_step_schedule_waits_exponentially_capped_and_long_after_permanent_failures():
    clock = FakeClock()
    schedule = steps.StepSchedule(base=2.0, cap=10.0, permanent_retry=300.0, clock=clock)
    transient = steps.StepFailure("mint", steps.TRANSIENT, "node down", "ConnectionError")
    waits = []
    for _ in range(5):
        schedule.record("mint", transient)
        waits.append(schedule.waiting("mint"))
    assert waits == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert not schedule.due("mint") and schedule.due("sync")
    clock.now = 10.0
    assert schedule.due("mint")
    schedule.record("mint", None)
    assert schedule.waiting("mint") == 0.0
    schedule.record("commit", steps.StepFailure("commit", steps.PERMANENT, "relayer has no ether", "InsufficientFunds"))
    assert schedule.waiting("commit") == 300.0
