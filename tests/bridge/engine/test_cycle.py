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


def test_a_held_pending_tokenization_waits_for_the_release_then_mints(sqlite_engine, w3):
    """A hold on custody units of a pending tokenization (registry/operations/holds.py) keeps
    them out of batches: the engine mints other requests, conservation holds (held units are
    neither supply nor awaiting a mint), and after the release the request is batched and minted."""
    from registry.operations.holds import place_hold, release_hold
    from registry.tables.core import CreditClass

    world = make_world(sqlite_engine, w3, seed="hold")
    held_request = world.tokenize(100)
    with transaction(sqlite_engine) as s:
        serialization_id = s.get(CreditClass, world.class_id).serialization_id
        hold, _ = place_hold(s, account_id=world.deployment.custody_account_id, serialization_id=serialization_id,
                             quantity=40, reason="KYC case 7", tokenization_id=held_request, actor="admin")
    world.tokenize(50)
    report = run_cycle(sqlite_engine, world.chain, world.keys, confirmations=0)
    assert report.leaves_minted == 1
    (check,) = reconcile(sqlite_engine, world.chain).conservation
    assert (check.registry_custody, check.awaiting_mint, check.onchain_supply) == (110, 60, 50) and check.ok
    with transaction(sqlite_engine) as s:
        release_hold(s, hold.id, note="KYC cleared", actor="admin")
    report = run_cycle(sqlite_engine, world.chain, world.keys, confirmations=0)
    assert report.leaves_minted == 2  # the request's two blocks: units 1-40 (held, split) and 41-100
    (check,) = reconcile(sqlite_engine, world.chain).conservation
    assert (check.registry_custody, check.awaiting_mint, check.onchain_supply) == (150, 0, 150) and check.ok
