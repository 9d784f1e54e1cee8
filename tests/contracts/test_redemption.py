"""Redemption back to a registry account: escrow, the bridge operator's answers, the holder's
reclaim after the timeout, pausing, and a receiver re-entering when its tokens come back."""

from __future__ import annotations

from tests.contracts.helpers import ARTICLE6, STANDARD, TIMEOUT

REF = "ICR-ACC-000123"
CLASS = STANDARD.token_id


def _request(world, holder, amount=4, ref=REF, class_id=CLASS):
    receipt = world.tx(holder, "requestRedemption", class_id, amount, ref)
    [event] = world.events(receipt, "RedemptionRequested")
    return event["redemptionId"], receipt


def _escrow_state(world, class_id=CLASS):
    """(escrowedSupply, balance held by the contract, totalSupply)."""
    return (world.call("escrowedSupply", class_id), world.balance(world.token.address, class_id),
            world.supply(class_id))


def test_request_escrows_tokens_in_the_contract(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    redemption_id, receipt = _request(world, holder)
    [event] = world.events(receipt, "RedemptionRequested")
    block_time = world.w3.eth.get_block(receipt.block_number)["timestamp"]
    assert event == {"redemptionId": 1, "holder": holder.address, "classId": CLASS, "amount": 4,
                     "accountReference": REF, "reclaimableAt": block_time + TIMEOUT}
    [move] = world.events(receipt, "TransferSingle")
    assert (move["from"], move["to"], move["value"]) == (holder.address, world.token.address, 4)
    assert world.balance(holder.address) == 6
    # escrowed tokens stay in totalSupply: they exist, held by the contract
    assert _escrow_state(world) == (4, 4, 10)
    assert world.call("redemption", 1) == (holder.address, block_time + TIMEOUT, 1, CLASS, 4, REF)
    assert world.call("redemptionCount") == 1


def test_request_reverts(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    world.reverts("ZeroAmount", holder, "requestRedemption", CLASS, 0, REF)
    world.reverts("ClassNotRegistered", holder, "requestRedemption", 999, 1, REF)
    world.reverts("InvalidAccountReference", holder, "requestRedemption", CLASS, 1, "")
    world.reverts("InvalidAccountReference", holder, "requestRedemption", CLASS, 1, "x" * 65)
    world.reverts("ERC1155InsufficientBalance", holder, "requestRedemption", CLASS, 11, REF)
    world.reverts("ERC1155InsufficientBalance", world.holders[1], "requestRedemption", CLASS, 1, REF)
    world.tx(world.pauser, "pause")
    world.reverts("EnforcedPause", holder, "requestRedemption", CLASS, 1, REF)
    assert _escrow_state(world) == (0, 0, 10)
    world.tx(world.pauser, "unpause")
    _request(world, holder, amount=1, ref="x" * 64)


def test_finalize_burns_the_escrow(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    redemption_id, _ = _request(world, holder)
    receipt = world.tx(world.operator, "finalizeRedemption", redemption_id)
    [event] = world.events(receipt, "RedemptionFinalized")
    assert event == {"redemptionId": 1, "holder": holder.address, "classId": CLASS, "amount": 4,
                     "accountReference": REF}
    [burn] = world.events(receipt, "TransferSingle")
    assert (burn["from"], burn["to"], burn["value"]) == (world.token.address, "0x" + "00" * 20, 4)
    assert _escrow_state(world) == (0, 0, 6)
    assert world.call("redemption", 1)[2] == 2


def test_reject_returns_the_tokens_with_a_reason(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    redemption_id, _ = _request(world, holder)
    receipt = world.tx(world.operator, "rejectRedemption", redemption_id, "account ICR-ACC-000123 is closed")
    [event] = world.events(receipt, "RedemptionRejected")
    assert event == {"redemptionId": 1, "holder": holder.address, "classId": CLASS, "amount": 4,
                     "accountReference": REF, "reason": "account ICR-ACC-000123 is closed"}
    assert world.balance(holder.address) == 10 and _escrow_state(world) == (0, 0, 10)
    assert world.call("redemption", 1)[2] == 3


def test_answers_need_the_operator_role_and_a_pending_request(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    redemption_id, _ = _request(world, holder)
    for who in (holder, world.admin, world.signer, world.relayer):
        world.reverts("AccessControlUnauthorizedAccount", who, "finalizeRedemption", redemption_id)
        world.reverts("AccessControlUnauthorizedAccount", who, "rejectRedemption", redemption_id, "no")
    world.reverts("RedemptionNotFound", world.operator, "finalizeRedemption", 99)
    world.reverts("RedemptionNotFound", world.operator, "rejectRedemption", 99, "no")
    world.reverts("EmptyRejectionReason", world.operator, "rejectRedemption", redemption_id, "")
    world.tx(world.operator, "finalizeRedemption", redemption_id)
    args = world.reverts("RedemptionNotPending", world.operator, "finalizeRedemption", redemption_id)
    assert args == (redemption_id, 2)
    world.reverts("RedemptionNotPending", world.operator, "rejectRedemption", redemption_id, "late")
    world.reverts("RedemptionNotPending", holder, "reclaimRedemption", redemption_id)
    assert _escrow_state(world) == (0, 0, 6)


def test_reclaim_after_the_timeout(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    redemption_id, _ = _request(world, holder)
    reclaimable_at = world.call("redemption", redemption_id)[1]
    args = world.reverts("RedemptionNotYetReclaimable", holder, "reclaimRedemption", redemption_id)
    assert args == (redemption_id, reclaimable_at)
    world.time_travel(TIMEOUT + 1)
    world.reverts("NotRedemptionHolder", world.holders[1], "reclaimRedemption", redemption_id)
    world.reverts("RedemptionNotFound", holder, "reclaimRedemption", 7)
    receipt = world.tx(holder, "reclaimRedemption", redemption_id)
    [event] = world.events(receipt, "RedemptionReclaimed")
    assert event == {"redemptionId": 1, "holder": holder.address, "classId": CLASS, "amount": 4,
                     "accountReference": REF}
    assert world.balance(holder.address) == 10 and _escrow_state(world) == (0, 0, 10)
    world.reverts("RedemptionNotPending", world.operator, "finalizeRedemption", redemption_id)
    world.reverts("RedemptionNotPending", holder, "reclaimRedemption", redemption_id)


def test_operator_may_still_answer_after_the_timeout_until_the_holder_reclaims(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    redemption_id, _ = _request(world, holder)
    world.time_travel(TIMEOUT + 1)
    world.tx(world.operator, "finalizeRedemption", redemption_id)
    world.reverts("RedemptionNotPending", holder, "reclaimRedemption", redemption_id)
    assert world.supply() == 6


def test_pause_stops_requests_and_finalization_but_not_rejects_or_reclaims(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    first, _ = _request(world, holder, amount=2)
    second, _ = _request(world, holder, amount=3)
    world.tx(world.pauser, "pause")
    world.reverts("EnforcedPause", world.operator, "finalizeRedemption", first)
    world.reverts("EnforcedPause", holder, "requestRedemption", CLASS, 1, REF)
    world.tx(world.operator, "rejectRedemption", first, "paused for an incident")
    world.time_travel(TIMEOUT + 1)
    world.tx(holder, "reclaimRedemption", second)
    assert world.balance(holder.address) == 10 and _escrow_state(world) == (0, 0, 10)


def test_escrow_is_tracked_per_class_across_many_requests(world):
    a, b = world.holders[0], world.holders[1]
    world.give(a.address, 10)
    world.give(b.address, 10)
    world.give(b.address, 5, class_id=ARTICLE6.token_id)
    r1, _ = _request(world, a, amount=3)
    r2, _ = _request(world, b, amount=4)
    r3, _ = _request(world, b, amount=5, class_id=ARTICLE6.token_id)
    assert (r1, r2, r3) == (1, 2, 3)
    assert _escrow_state(world) == (7, 7, 20)
    assert _escrow_state(world, ARTICLE6.token_id) == (5, 5, 5)
    world.tx(world.operator, "finalizeRedemption", r2)
    world.tx(world.operator, "rejectRedemption", r1, "no such account")
    assert _escrow_state(world) == (0, 0, 16)
    world.tx(world.operator, "finalizeRedemption", r3)
    assert _escrow_state(world, ARTICLE6.token_id) == (0, 0, 0)


def test_set_redemption_timeout(world):
    world.reverts("AccessControlUnauthorizedAccount", world.operator, "setRedemptionTimeout", 7200)
    world.reverts("RedemptionTimeoutOutOfRange", world.admin, "setRedemptionTimeout", 3599)
    world.reverts("RedemptionTimeoutOutOfRange", world.admin, "setRedemptionTimeout", 90 * 86400 + 1)
    holder = world.holders[0]
    world.give(holder.address, 10)
    old_id, _ = _request(world, holder, amount=1)
    old_deadline = world.call("redemption", old_id)[1]
    receipt = world.tx(world.admin, "setRedemptionTimeout", 7200)
    assert world.events(receipt, "RedemptionTimeoutChanged") == [{"previousTimeout": TIMEOUT, "newTimeout": 7200}]
    new_id, receipt = _request(world, holder, amount=1)
    block_time = world.w3.eth.get_block(receipt.block_number)["timestamp"]
    assert world.call("redemption", new_id)[1] == block_time + 7200
    assert world.call("redemption", old_id)[1] == old_deadline  # pending requests keep theirs


def test_receiver_reentering_on_return_cannot_take_the_escrow_twice(world):
    receiver = world.deploy_receiver(world.outsider.address)
    world.give(receiver.address, 10)
    receipt = world.as_receiver(receiver, "requestRedemption", CLASS, 6, REF)
    [event] = world.events(receipt, "RedemptionRequested")
    world.time_travel(TIMEOUT + 1)
    world.arm(receiver, "reclaimRedemption", event["redemptionId"])
    world.tx(world.operator, "rejectRedemption", event["redemptionId"], "rejected")
    assert world.reentry_outcome(receiver) == (True, False, "RedemptionNotPending")
    assert world.balance(receiver.address) == 10 and _escrow_state(world) == (0, 0, 10)


def test_a_holder_contract_refusing_the_return_keeps_its_escrow_pending(world):
    receiver = world.deploy_receiver(world.outsider.address)
    world.give(receiver.address, 10)
    world.as_receiver(receiver, "requestRedemption", CLASS, 6, REF)
    world.chain.transact(world.outsider, receiver.functions.setRejectTokens(True), "reject", gas=100_000)
    world.reverts("ERC1155InvalidReceiver", world.operator, "rejectRedemption", 1, "rejected")
    assert world.call("redemption", 1)[2] == 1 and _escrow_state(world) == (6, 6, 10)
    world.chain.transact(world.outsider, receiver.functions.setRejectTokens(False), "accept", gas=100_000)
    world.tx(world.operator, "rejectRedemption", 1, "rejected")
    assert world.balance(receiver.address) == 10


def test_no_one_can_send_tokens_to_the_escrow_directly(world):
    """escrowedSupply == balanceOf(token) holds because the token accepts no tokens itself."""
    holder = world.holders[0]
    world.give(holder.address, 10)
    token = world.token.address
    world.reverts("ERC1155InvalidReceiver", holder, "safeTransferFrom", holder.address, token, CLASS, 1, b"")
    world.reverts("ERC1155InvalidReceiver", holder, "safeBatchTransferFrom", holder.address, token, [CLASS], [1], b"")
    world.reverts("ERC1155InvalidReceiver", holder, "retire", CLASS, 1, token, "", "", "", b"")
    assert _escrow_state(world) == (0, 0, 10)
