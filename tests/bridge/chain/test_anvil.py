"""The bridge against a real JSON-RPC node: anvil from npm, one fresh node per test."""

import threading
import time

import pytest
from sqlmodel import Session, select

from bridge.chain.client import Chain, ChainRevert
from bridge.demo import run_demo
from bridge.engine.cycle import run_cycle
from bridge.engine.redemptions import answer_redemptions
from bridge.engine.sync import sync_once
from bridge.tables import MintLeaf
from registry.operations.ledger import verify_chain
from registry.tables.core import Retirement
from tests.support.world import make_world

pytestmark = pytest.mark.anvil


def rpc(w3, method, *params):
    response = w3.provider.make_request(method, list(params))
    assert "error" not in response, response
    return response["result"]


def test_demo_flow_on_anvil(sqlite_engine, anvil_w3):
    summary = run_demo(sqlite_engine, anvil_w3)
    assert summary["ok"]
    assert summary["chain"]["chain_id"] == 31337
    (retirement,) = [r for r in summary["retirements"] if r["chain_id"] is not None]  # the other is Article 6.2, registry-made
    assert retirement["serial_blocks"] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000100"]


def test_events_wait_for_the_finalized_block(sqlite_engine, anvil_w3):
    world = make_world(sqlite_engine, anvil_w3, seed="finality")
    world.tokenize(100)
    report = run_cycle(sqlite_engine, world.chain, world.keys, use_finalized_tag=True)
    assert report.leaves_minted == 1 and report.sync.applied == {}  # minted, not final yet
    with Session(sqlite_engine) as s:
        assert not s.exec(select(MintLeaf)).one().minted
    rpc(anvil_w3, "anvil_mine", 64)
    report = sync_once(sqlite_engine, world.chain, use_finalized_tag=True)
    assert report.applied == {"LeafMinted": 1}
    world.retire(world.holder, 10)
    assert sync_once(sqlite_engine, world.chain, confirmations=3, use_finalized_tag=False).applied == {}
    rpc(anvil_w3, "anvil_mine", 3)
    assert sync_once(sqlite_engine, world.chain, confirmations=3, use_finalized_tag=False).applied == {"Retired": 1}


def test_reorg_of_a_retirement_rolls_it_back_and_reingests(sqlite_engine, anvil_w3):
    world = make_world(sqlite_engine, anvil_w3, seed="reorg-retire")
    world.tokenize(300)
    run_cycle(sqlite_engine, world.chain, world.keys)
    before_retirement = world.outcome()
    snapshot = rpc(anvil_w3, "evm_snapshot")
    world.retire(world.holder, 100, name="Reorged away")
    run_cycle(sqlite_engine, world.chain, world.keys)
    with Session(sqlite_engine) as s:
        assert len(s.exec(select(Retirement)).all()) == 1

    rpc(anvil_w3, "evm_revert", snapshot)
    rpc(anvil_w3, "anvil_mine", 5)  # the other branch is longer
    report = sync_once(sqlite_engine, world.chain)
    assert report.rolled_back == 1 and report.reorg_fork_block is not None
    assert world.outcome() == before_retirement

    world.chain._nonces.clear()
    world.retire(world.holder, 40, name="On the new branch")
    run_cycle(sqlite_engine, world.chain, world.keys)
    with Session(sqlite_engine) as s:
        (retirement,) = s.exec(select(Retirement)).all()
        assert (retirement.quantity, retirement.beneficiary_name) == (40, "On the new branch")
    assert all(ok for *_, ok in world.outcome()["conservation"])


def test_reorg_of_a_mint_and_its_commit_is_minted_again(sqlite_engine, anvil_w3):
    world = make_world(sqlite_engine, anvil_w3, seed="reorg-mint")
    world.tokenize(200)
    snapshot = rpc(anvil_w3, "evm_snapshot")
    run_cycle(sqlite_engine, world.chain, world.keys)
    minted = world.outcome()
    rpc(anvil_w3, "evm_revert", snapshot)  # class registration, root commit and mint all gone
    rpc(anvil_w3, "anvil_mine", 10)
    world.chain._nonces.clear()
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.rolled_back == 1
    assert report.batches_committed == [1] and report.leaves_minted == 1  # committed and minted again
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert world.outcome() == minted


def test_stuck_transaction_is_replaced_with_higher_fees(sqlite_engine, anvil_w3):
    world = make_world(sqlite_engine, anvil_w3, seed="stuck")
    rpc(anvil_w3, "evm_setAutomine", False)
    chain = Chain(anvil_w3, world.chain.address)
    fn = chain.token.functions.setApprovalForAll(world.others[0].address, True)
    tx = fn.build_transaction({"from": world.holder.address, "nonce": anvil_w3.eth.get_transaction_count(world.holder.address),
                               "gas": 100_000, "chainId": chain.chain_id, "maxFeePerGas": 2 * 10**9,
                               "maxPriorityFeePerGas": 10**9})
    result = {}
    sender = threading.Thread(target=lambda: result.setdefault(
        "receipt", chain.send_signed(world.holder, tx, "approve", wait_timeout=1.0, max_replacements=3)))
    sender.start()
    time.sleep(1.6)  # the first version timed out and a replacement is in the pool
    rpc(anvil_w3, "evm_mine")
    sender.join(timeout=30)
    receipt = result["receipt"].raw
    assert receipt["status"] == 1
    mined = anvil_w3.eth.get_transaction(receipt["transactionHash"])
    assert mined["maxFeePerGas"] > 2 * 10**9  # the replacement, not the original, was mined
    assert anvil_w3.eth.get_transaction_count(world.holder.address) == tx["nonce"] + 1
    assert chain.token.functions.isApprovedForAll(world.holder.address, world.others[0].address).call()



def test_a_receipt_read_from_the_nodes_json_matches_web3s_and_loads_its_logs_when_asked(sqlite_engine, anvil_w3):
    world = make_world(sqlite_engine, anvil_w3, seed="json-receipt")
    chain = Chain(anvil_w3, world.chain.address)
    receipt = chain.transact(world.holder, chain.token.functions.setApprovalForAll(world.others[0].address, True),
                             "approve")
    formatted = anvil_w3.eth.get_transaction_receipt(receipt.tx_hash)
    assert (receipt.tx_hash, receipt.block_number, receipt.gas_used) == (
        "0x" + bytes(formatted["transactionHash"]).hex(), formatted["blockNumber"], formatted["gasUsed"])
    assert receipt._raw is None  # not read until used
    (event,) = chain.token.events.ApprovalForAll().process_receipt(receipt.raw)
    assert event["args"]["operator"] == world.others[0].address and event["args"]["approved"] is True
    assert receipt.raw is receipt.raw  # read once


def test_a_reverted_transaction_read_from_json_raises_with_the_contracts_error(sqlite_engine, anvil_w3):
    world = make_world(sqlite_engine, anvil_w3, seed="json-receipt-revert")
    chain = Chain(anvil_w3, world.chain.address)
    fn = chain.token.functions.safeTransferFrom(world.holder.address, world.others[0].address, 1, 10**30, b"")
    with pytest.raises(ChainRevert, match="ERC1155"):  # sent with a gas limit, so mined and failed
        chain.transact(world.holder, fn, "transfer too much", gas=200_000)
    assert anvil_w3.eth.get_transaction_count(world.holder.address) >= 1


def test_the_token_contract_is_built_once_per_address(anvil_w3):
    chain = Chain(anvil_w3, "0x" + "11" * 20)
    assert chain.token is chain.token
    first = chain.token
    chain.address = "0x" + "22" * 20
    assert chain.token is not first and chain.token.address.lower() == "0x" + "22" * 20


def test_reorg_of_a_redemption_burn_puts_the_serials_back_and_burns_again(sqlite_engine, anvil_w3):
    world = make_world(sqlite_engine, anvil_w3, seed="reorg-redeem")
    world.tokenize(300)
    run_cycle(sqlite_engine, world.chain, world.keys)
    redemption_id = world.request_redemption(world.holder, 70)
    sync_once(sqlite_engine, world.chain)  # the request is applied
    snapshot = rpc(anvil_w3, "evm_snapshot")
    assert answer_redemptions(sqlite_engine, world.chain, world.keys).finalized == [redemption_id]
    run_cycle(sqlite_engine, world.chain, world.keys)  # the burn's event: serials 1-70 to the account
    burned = world.outcome()
    assert [r[:4] for r in burned["redemptions"]] == [(redemption_id, "finalized", "finalize", 70)]

    rpc(anvil_w3, "evm_revert", snapshot)  # the burn's block is gone; the request stays
    rpc(anvil_w3, "anvil_mine", 5)
    world.chain._nonces.clear()
    report = run_cycle(sqlite_engine, world.chain, world.keys)
    assert report.rolled_back == 1  # the burn undone: serials back in custody, request open again
    assert report.redemptions.finalized == [redemption_id]  # answered again with the recorded decision
    run_cycle(sqlite_engine, world.chain, world.keys)
    assert world.outcome() == burned
    with Session(sqlite_engine) as s:
        assert verify_chain(s).ok


def test_a_wallet_whose_code_refuses_tokens_does_not_block_the_batch(sqlite_engine, anvil_w3):
    """anvil_setCode puts code that always reverts (PUSH1 0 PUSH1 0 REVERT) at a linked wallet's
    address: its leaf is found by splitting the reverting chunk and flagged, every other leaf is
    minted, and the retirement made in the same cycle is ingested."""
    from bridge.engine import batcher
    from bridge.operator import status
    from bridge.settings import BridgeSettings
    from tests.bridge.engine.test_steps import link_wallet, tokenize_to
    from tests.support.world import seeded

    world = make_world(sqlite_engine, anvil_w3, seed="anvil-refuse")
    world.tokenize(100)
    run_cycle(sqlite_engine, world.chain, world.keys)
    refuser = seeded("anvil-refuse/refuser")
    link_wallet(world, refuser)
    rpc(anvil_w3, "anvil_setCode", refuser.address, "0x60006000fd")
    world.retire(world.holder, 10)
    for wallet, quantity in ((world.holder.address, 30), (refuser.address, 50), (world.holder.address, 40),
                             (world.holder.address, 25), (world.holder.address, 5), (world.holder.address, 15)):
        tokenize_to(world, wallet, quantity)
    report = run_cycle(sqlite_engine, world.chain, world.keys, mint_chunk=batcher.DEFAULT_CHUNK)
    assert report.failures == {}
    assert report.leaves_minted == 5 and report.sync.applied == {"LeafMinted": 5, "Retired": 1}
    assert [(leaf.batch_id, leaf.leaf_index, leaf.recipient) for leaf in report.mint_refused] == [(2, 1, refuser.address)]
    current = status(sqlite_engine, world.chain, BridgeSettings(confirmations=0, use_finalized_tag=False))
    assert current.mint_refused_leaves == 1 and "ERC1155InvalidReceiver" in current.mint_refused[0]
    assert world.chain.token.functions.balanceOf(world.holder.address, world.token_id).call() == 90 + 115
    report = run_cycle(sqlite_engine, world.chain, world.keys)  # the flagged leaf is not sent again
    assert (report.mint_transactions, report.mint_refused, report.failures) == (0, [], {})


def test_a_launched_node_keeps_its_persisted_states_in_its_own_directory_removed_when_it_stops():
    """Anvil would write old states to ~/.foundry/anvil/tmp and never remove them (a machine's
    disk filled up that way): each node gets a cache directory of its own, gone after stop()."""
    from pathlib import Path

    from bridge.chain.anvil import ANVIL_BIN, launch

    if not ANVIL_BIN.exists():
        pytest.skip("anvil is not installed")
    node = launch()
    try:
        arguments = Path(f"/proc/{node.process.pid}/cmdline").read_bytes().split(b"\0")
        assert node.cache_dir is not None and node.cache_dir.is_dir()
        assert arguments[arguments.index(b"--cache-path") + 1].decode() == str(node.cache_dir)
    finally:
        node.stop()
    assert not node.cache_dir.exists()
    node.stop()  # stopping again is harmless
