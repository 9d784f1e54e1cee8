"""Engine cycles around incidents: a batch the admin revoked on-chain."""

from bridge.engine import batcher
from bridge.engine.cycle import run_cycle
from bridge.engine.reconcile import reconcile
from registry.db import transaction
from tests.support.world import make_world


def test_a_batch_revoked_on_chain_is_skipped_not_retried_forever(sqlite_engine, w3):
    """The admin voids a committed batch before its leaves are minted (incident response): the
    engine keeps running, other work goes on, and once the revocation is final the units go
    back to the requesting account (tests/bridge/engine/test_revocation.py has the details)."""
    world = make_world(sqlite_engine, w3, seed="revoke")
    world.tokenize(100)
    with transaction(sqlite_engine) as s:
        batch = batcher.build_batch(s, world.deployment)
    batcher.commit_batch(sqlite_engine, world.chain, batch.id, world.keys.registry_signer, world.keys.relayer)
    world.chain.transact(world.keys.admin, world.chain.token.functions.revokeBatch(batch.id), "revoke", gas=100_000)
    report = run_cycle(sqlite_engine, world.chain, world.keys, confirmations=2)
    assert report.revoked_batches == [batch.id] and report.leaves_minted == 0  # not final yet: skipped
    assert report.sync.applied == {}
    world.tokenize(50)  # later requests are batched and minted as usual
    report = run_cycle(sqlite_engine, world.chain, world.keys, confirmations=2)
    assert report.revoked_batches == [batch.id] and report.leaves_minted == 1
    for _ in range(2):
        world.chain.w3.provider.make_request("evm_mine", [])
    report = run_cycle(sqlite_engine, world.chain, world.keys, confirmations=2)
    assert report.revoked_batches == [] and report.leaves_minted == 0
    (check,) = reconcile(sqlite_engine, world.chain).conservation
    assert (check.registry_custody, check.awaiting_mint, check.onchain_supply) == (50, 0, 50)
    assert sorted(world.outcome()["blocks"]) == sorted([(("active", world.account_id, False), 950),
                                                        (("active", world.deployment.custody_account_id, True), 50)])
