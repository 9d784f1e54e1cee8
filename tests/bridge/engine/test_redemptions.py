"""Redemption sync on eth-tester: a valid registry account gets the lowest custody serials
back and the escrow is burned; an invalid one gets a rejection and the tokens go back; a
reclaimed escrow is left alone; pausing holds burns but not rejections; replay is a no-op."""

import json

import pytest
from sqlmodel import Session, select

from bridge.engine.cycle import run_cycle
from bridge.engine.reconcile import reconcile
from bridge.engine.sync import rewind_cursor, sync_once
from bridge.tables import Redemption, RedemptionStatus
from registry.db import transaction
from registry.domain.enums import AccountType, CreditStatus
from registry.operations.accounts import open_system_account
from registry.operations.holdings import balances
from registry.operations.ledger import verify_chain
from registry.operations.preconditions import get_row
from registry.tables.core import Account, SerialBlock
from tests.support.world import make_world


@pytest.fixture
def world(sqlite_engine, w3):
    world = make_world(sqlite_engine, w3, seed="redeem")
    world.tokenize(300)
    run_cycle(sqlite_engine, world.chain, world.keys)
    return world


def _row(world, redemption_id) -> Redemption:
    with Session(world.engine) as s:
        return s.exec(select(Redemption).where(Redemption.redemption_id == redemption_id)).one()


def _account_blocks(world, account_id):
    with Session(world.engine) as s:
        return sorted((b.unit_first, b.unit_last, b.mirrored) for b in s.exec(
            select(SerialBlock).where(SerialBlock.account_id == account_id, SerialBlock.status == CreditStatus.active)))


def _balance(world, holder):
    return world.chain.token.functions.balanceOf(holder.address, world.token_id).call()


def test_valid_account_gets_the_lowest_custody_serials_and_the_escrow_is_burned(world):
    token = world.chain.token
    redemption_id = world.request_redemption(world.holder, 100)
    assert _balance(world, world.holder) == 200 and token.functions.escrowedSupply(world.token_id).call() == 100
    # escrowed tokens still exist: conservation holds while the request is open
    report = run_cycle(world.engine, world.chain, world.keys)
    assert report.sync.applied == {"RedemptionRequested": 1} and report.redemptions.finalized == [redemption_id]
    # the burn is on-chain but its event is not applied yet: compared at the block the registry
    # reflects, the two sides still agree (and the report says the sync is behind)
    check = reconcile(world.engine, world.chain)
    assert check.ok and check.head < check.final_head
    report = run_cycle(world.engine, world.chain, world.keys)
    assert report.sync.applied == {"RedemptionFinalized": 1}

    row = _row(world, redemption_id)
    assert row.status is RedemptionStatus.finalized and row.account_id == world.account_id
    assert [r[:2] for r in json.loads(row.moved_ranges)] == [[1, 100]]
    assert (1, 100, False) in _account_blocks(world, world.account_id)
    assert token.functions.totalSupply(world.token_id).call() == 200
    assert token.functions.escrowedSupply(world.token_id).call() == 0
    check = reconcile(world.engine, world.chain)
    assert check.ok, check.problems
    assert [(c.registry_custody, c.onchain_supply) for c in check.conservation] == [(200, 200)]
    with Session(world.engine) as s:
        assert verify_chain(s).ok
    # the redeemed serials are ordinary active credits again: they can be retired in the registry
    with Session(world.engine) as s:
        holding = balances(s, account_ids=[world.account_id])
    assert sum(b.quantity for b in holding if b.status == CreditStatus.active.value) == 800


@pytest.mark.parametrize("reference, reason", [
    ("999999", "registry account 999999 does not exist"),
    ("not an account", "is not a registry account number"),
    ("custody", "bridge_custody account"),
])
def test_invalid_account_is_rejected_and_the_tokens_go_back(world, reference, reason):
    if reference == "custody":
        reference = str(world.deployment.custody_account_id)
    redemption_id = world.request_redemption(world.holder, 60, reference)
    assert _balance(world, world.holder) == 240
    report = run_cycle(world.engine, world.chain, world.keys)
    assert report.redemptions.rejected == [redemption_id]
    assert _balance(world, world.holder) == 300
    run_cycle(world.engine, world.chain, world.keys)
    row = _row(world, redemption_id)
    assert row.status is RedemptionStatus.rejected and reason in row.decision_reason
    assert reconcile(world.engine, world.chain).ok
    assert _account_blocks(world, world.account_id) == [(301, 1000, False)]


def test_buffer_account_is_no_destination(world):
    with transaction(world.engine) as s:
        buffer = open_system_account(s, AccountType.buffer, "Buffer pool")
    redemption_id = world.request_redemption(world.holder, 10, f"ICR-ACCOUNT-{buffer.id}")
    run_cycle(world.engine, world.chain, world.keys)
    assert "buffer account" in _row(world, redemption_id).decision_reason


def test_a_reclaimed_escrow_is_not_answered(world):
    redemption_id = world.request_redemption(world.holder, 50)
    timeout = world.chain.token.functions.redemptionTimeout().call()
    world.chain.w3.testing.timeTravel(world.chain.w3.eth.get_block("latest")["timestamp"] + timeout + 1)
    world.chain.w3.testing.mine()
    world.chain.transact(world.holder, world.chain.token.functions.reclaimRedemption(redemption_id), "reclaim",
                         gas=200_000)
    report = run_cycle(world.engine, world.chain, world.keys)
    assert report.sync.applied == {"RedemptionRequested": 1, "RedemptionReclaimed": 1}
    assert report.redemptions.finalized == [] and report.redemptions.rejected == []
    assert _row(world, redemption_id).status is RedemptionStatus.reclaimed
    assert _balance(world, world.holder) == 300 and reconcile(world.engine, world.chain).ok


def test_pause_holds_the_burn_until_unpaused_but_rejections_go_out(world):
    valid = world.request_redemption(world.holder, 20)
    invalid = world.request_redemption(world.holder, 30, "0")
    pause = world.chain.token.functions.pause()
    world.chain.transact(world.keys.admin, pause, "pause", gas=100_000)
    report = run_cycle(world.engine, world.chain, world.keys)
    assert report.redemptions.waiting == [valid] and report.redemptions.rejected == [invalid]
    assert _row(world, valid).status is RedemptionStatus.requested
    world.chain.transact(world.keys.admin, world.chain.token.functions.unpause(), "unpause", gas=100_000)
    assert run_cycle(world.engine, world.chain, world.keys).redemptions.finalized == [valid]
    run_cycle(world.engine, world.chain, world.keys)
    assert _row(world, valid).status is RedemptionStatus.finalized
    assert reconcile(world.engine, world.chain).ok


def test_replaying_redemption_events_changes_nothing(world):
    world.request_redemption(world.holder, 40)
    world.request_redemption(world.holder, 5, "nope")
    run_cycle(world.engine, world.chain, world.keys)
    run_cycle(world.engine, world.chain, world.keys)
    before = world.outcome()
    rewind_cursor(world.engine, world.chain, world.deployment.deployed_block)
    report = sync_once(world.engine, world.chain)
    assert report.applied == {} and report.skipped_duplicates == 5  # minted, 2 requests, burn, rejection
    assert world.outcome() == before


def test_answers_reach_marketplaces_as_webhook_events(world):
    from bridge.webhooks.tables import WebhookEvent

    finalized = world.request_redemption(world.holder, 15)
    rejected = world.request_redemption(world.holder, 5, "999999")
    run_cycle(world.engine, world.chain, world.keys)
    run_cycle(world.engine, world.chain, world.keys)
    with Session(world.engine) as s:
        rows = {e.kind: e for e in s.exec(select(WebhookEvent).where(WebhookEvent.kind.like("redemption.%")))}
        org = get_row(s, Account, world.account_id, "account").organization_id
    assert set(rows) == {"redemption.finalized", "redemption.rejected"}
    done = json.loads(rows["redemption.finalized"].data)["redemption"]
    assert (done["id"], done["amount"], done["accountId"]) == (finalized, 15, world.account_id)
    assert done["serialBlocks"] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000015"]
    refused = json.loads(rows["redemption.rejected"].data)["redemption"]
    assert refused["id"] == rejected and "does not exist" in refused["reason"]
    assert rows["redemption.finalized"].organization_id == org == rows["redemption.rejected"].organization_id

