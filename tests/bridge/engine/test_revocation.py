"""A batch revoked on-chain: once BatchRevoked is final, the units of its unminted leaves go
back to the accounts that asked for them; a reorganization of the revocation puts them back
into custody and the engine mints them after all."""

import json

import pytest
from sqlmodel import Session, select

from bridge.engine import batcher
from bridge.engine.cycle import run_cycle
from bridge.engine.reconcile import reconcile
from bridge.tables import BatchStatus, MintBatch, MintLeaf
from bridge.webhooks.tables import WebhookEvent
from registry.db import transaction
from registry.domain.enums import CreditStatus
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_balances, verify_chain
from registry.operations.preconditions import get_row
from registry.tables.core import CreditClass, SerialBlock, Serialization, TokenizationRequest
from tests.bridge.chain.test_anvil import rpc
from tests.support.periods import verified
from tests.support.world import make_world


def _held(engine, account_id):
    with Session(engine) as s:
        return sorted((b.unit_first, b.unit_last) for b in s.exec(
            select(SerialBlock).where(SerialBlock.account_id == account_id, SerialBlock.status == CreditStatus.active)))


def _revoked_world(engine, w3, seed):
    """Tokenization A (100 t, one leaf) and B (950 t over two blocks: two leaves) in one
    committed batch; B's first leaf is claimed, then the admin revokes the batch."""
    world = make_world(engine, w3, seed=seed)
    with transaction(engine) as s:
        project_id = get_row(s, Serialization, get_row(s, CreditClass, world.class_id, "class")
                             .serialization_id, "serialization").project_id
        issue_ex_post(s, project_id=project_id, vintage=2023, **verified(s, project_id, 2023), quantity=100, account_id=world.account_id,
                      first_unit=2001)  # a second, separate block: 2001-2100
    a = world.tokenize(100)  # 1-100
    b = world.tokenize(950)  # 101-1000 and 2001-2050
    with transaction(engine) as s:
        batch = batcher.build_batch(s, world.deployment)
    batcher.commit_batch(engine, world.chain, batch.id, world.keys.registry_signer, world.keys.relayer)
    tree = batcher.load_tree(batch)
    with Session(engine) as s:
        leaves = s.exec(select(MintLeaf).where(MintLeaf.batch_id == batch.id).order_by(MintLeaf.leaf_index)).all()
    assert [(l.tokenization_id, l.unit_first, l.unit_last) for l in leaves] == [(a, 1, 100), (b, 101, 1000),
                                                                                   (b, 2001, 2050)]
    world.chain.transact(world.keys.relayer, world.chain.token.functions.claim(
        tuple(tree.at(1)), [bytes.fromhex(p[2:]) for p in tree.get_proof(1)]), "claim", gas=300_000)
    return world, batch.id, a, b


def test_revoked_batch_returns_its_unminted_units_to_the_requesting_accounts(sqlite_engine, w3):
    world, batch_id, a, b = _revoked_world(sqlite_engine, w3, "revoke-return")
    world.chain.transact(world.keys.admin, world.chain.token.functions.revokeBatch(batch_id), "revoke", gas=100_000)
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.revoked_batches == [batch_id] and report.leaves_minted == 0
    assert report.sync.applied == {"LeafMinted": 1, "BatchRevoked": 1}
    # A's 100 t and B's unminted 2001-2050 are back; B's claimed leaf stays minted in custody.
    assert _held(sqlite_engine, world.account_id) == [(1, 100), (2001, 2100)]
    assert _held(sqlite_engine, world.deployment.custody_account_id) == [(101, 1000)]
    with Session(sqlite_engine) as s:
        statuses = {r.id: r.status.value for r in s.exec(select(TokenizationRequest))}
        assert statuses == {a: "returned", b: "partially_returned"}
        assert s.get(MintBatch, batch_id).status is BatchStatus.revoked
        events = [json.loads(e.data)["tokenization"] for e in s.exec(
            select(WebhookEvent).where(WebhookEvent.kind == "tokenization.returned").order_by(WebhookEvent.id))]
        assert [(e["id"], e["status"], e["returnedAmount"], e["batchId"]) for e in events] == [
            (a, "returned", 100, batch_id), (b, "partially_returned", 50, batch_id)]
        assert verify_chain(s).ok and verify_balances(s).ok
    result = reconcile(sqlite_engine, world.chain)
    (check,) = result.conservation
    assert (check.registry_custody, check.awaiting_mint, check.onchain_supply, check.ok) == (900, 0, 900, True)

    # the engine no longer looks at the batch, and the returned units can be tokenized again
    world.tokenize(150)
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.revoked_batches == [] and report.leaves_minted == 2
    (check,) = reconcile(sqlite_engine, world.chain).conservation
    assert (check.registry_custody, check.onchain_supply, check.ok) == (1050, 1050, True)
    assert world.chain.token.functions.balanceOf(world.holder.address, world.token_id).call() == 1050
    # a replay of the whole history returns nothing twice
    from bridge.engine.sync import rewind_cursor, sync_once
    rewind_cursor(sqlite_engine, world.chain, world.deployment.deployed_block)
    replay = sync_once(sqlite_engine, world.chain)
    assert replay.applied == {} and replay.skipped_duplicates == 4  # 3 LeafMinted, 1 BatchRevoked


@pytest.mark.anvil
def test_reorg_of_a_revocation_puts_the_units_back_in_custody_and_mints_them(sqlite_engine, anvil_w3):
    world, batch_id, a, b = _revoked_world(sqlite_engine, anvil_w3, "revoke-reorg")
    snapshot = rpc(anvil_w3, "evm_snapshot")
    world.chain.transact(world.keys.admin, world.chain.token.functions.revokeBatch(batch_id), "revoke", gas=100_000)
    # sync only (a full cycle would skip the batch too): the revocation is applied
    from bridge.engine.sync import sync_once
    assert sync_once(sqlite_engine, world.chain).applied == {"LeafMinted": 1, "BatchRevoked": 1}
    assert _held(sqlite_engine, world.account_id) == [(1, 100), (2001, 2100)]

    rpc(anvil_w3, "evm_revert", snapshot)  # the revocation's block is gone
    rpc(anvil_w3, "anvil_mine", 3)
    world.chain._nonces.clear()
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.rolled_back >= 1 and report.revoked_batches == []
    run_cycle(sqlite_engine, world.chain, world.keys)
    assert _held(sqlite_engine, world.account_id) == [(2051, 2100)]
    with Session(sqlite_engine) as s:
        assert {r.status.value for r in s.exec(select(TokenizationRequest))} == {"minted"}
        assert s.get(MintBatch, batch_id).status is BatchStatus.minted
        assert verify_chain(s).ok and verify_balances(s).ok
    (check,) = reconcile(sqlite_engine, world.chain).conservation
    assert (check.registry_custody, check.awaiting_mint, check.onchain_supply, check.ok) == (1050, 0, 1050, True)
