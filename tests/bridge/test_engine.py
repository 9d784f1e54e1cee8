"""Engine cycles around incidents: a batch the admin revoked on-chain."""

from bridge import batcher
from bridge.engine import run_cycle
from bridge.reconcile import reconcile
from registry.db import transaction

from .harness import make_world


def test_a_batch_revoked_on_chain_is_skipped_not_retried_forever(sqlite_engine, w3):
    """The admin voids a committed batch before its leaves are minted (incident response): the
    engine keeps running, other work goes on, and the units stay in custody awaiting a decision."""
    world = make_world(sqlite_engine, w3, seed="revoke")
    world.tokenize(100)
    with transaction(sqlite_engine) as s:
        batch = batcher.build_batch(s, world.deployment)
    batcher.commit_batch(sqlite_engine, world.chain, batch.id, world.keys.registry_signer, world.keys.relayer)
    world.chain.transact(world.keys.admin, world.chain.token.functions.revokeBatch(batch.id), "revoke", gas=100_000)
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.revoked_batches == [batch.id] and report.leaves_minted == 0
    world.tokenize(50)  # later requests are batched and minted as usual
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.revoked_batches == [batch.id] and report.leaves_minted == 1
    (check,) = reconcile(sqlite_engine, world.chain).conservation
    assert (check.registry_custody, check.awaiting_mint, check.onchain_supply) == (150, 100, 50)
