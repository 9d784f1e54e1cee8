"""Batch commits (direct and EIP-712 relayed), multiproof minting, the claim path, revocation,
and a receiver re-entering during a mint."""

from __future__ import annotations

import pytest
from eth_account import Account

from bridge.chain.token import LEAF_ENCODING, PACKED_LEAF_BYTES, UnpackableLeaf
from bridge.merkle.tree import StandardMerkleTree
from tests.contracts.helpers import ARTICLE6, STANDARD, ZERO


def _root(batch) -> bytes:
    return bytes.fromhex(batch.tree.root[2:])


# ------------------------------------------------------------------------------------ commits


def test_commit_batch_success(world):
    batch = world.batch(1, [h.address for h in world.holders])
    receipt = world.commit(batch)
    [event] = world.events(receipt, "BatchCommitted")
    assert event == {"batchId": 1, "root": _root(batch), "leafCount": 3, "signer": world.signer.address}
    assert world.call("batch", 1) == (_root(batch), 3, 0, False)


def test_commit_batch_reverts(world):
    batch = world.batch(1, [world.holders[0].address])
    world.reverts("AccessControlUnauthorizedAccount", world.relayer, "commitBatch", 1, _root(batch), 1)
    world.reverts("EmptyBatch", world.signer, "commitBatch", 1, bytes(32), 1)
    world.reverts("EmptyBatch", world.signer, "commitBatch", 1, _root(batch), 0)
    world.reverts("EmptyBatch", world.signer, "commitBatch", 1, _root(batch), 2**64)
    world.commit(batch)
    world.reverts("BatchAlreadyCommitted", world.signer, "commitBatch", 1, b"\x01" * 32, 1)
    world.reverts("BatchRootAlreadyCommitted", world.signer, "commitBatch", 2, _root(batch), 1)


def test_commit_by_signature_relayed_by_anyone(world):
    batch = world.batch(5, [world.holders[0].address, world.holders[1].address])
    signature = world.sign_commit(world.signer, 5, batch.tree.root, 2)
    receipt = world.tx(world.outsider, "commitBatchWithSignature", 5, _root(batch), 2, signature)
    assert world.events(receipt, "BatchCommitted")[0]["signer"] == world.signer.address
    # replayed signature: the batch id commits once
    world.reverts("BatchAlreadyCommitted", world.outsider, "commitBatchWithSignature", 5, _root(batch), 2, signature)


def test_commit_signature_reverts(world):
    batch = world.batch(6, [world.holders[0].address])
    root = batch.tree.root
    # signer without REGISTRY_ROLE
    forged = world.sign_commit(world.relayer, 6, root, 1)
    args = world.reverts("SignerNotRegistry", world.outsider, "commitBatchWithSignature", 6, _root(batch), 1, forged)
    assert args[0].lower() == world.relayer.address.lower()
    # the registry's signature over other values (leaf count changed by the relayer)
    signature = world.sign_commit(world.signer, 6, root, 1)
    world.reverts("SignerNotRegistry", world.outsider, "commitBatchWithSignature", 6, _root(batch), 2, signature)
    # signed for another chain id, and for another contract
    other_chain = world.sign_commit(world.signer, 6, root, 1, chain_id=world.chain.chain_id + 1)
    world.reverts("SignerNotRegistry", world.outsider, "commitBatchWithSignature", 6, _root(batch), 1, other_chain)
    other_contract = world.sign_commit(world.signer, 6, root, 1, contract=world.outsider.address)
    world.reverts("SignerNotRegistry", world.outsider, "commitBatchWithSignature", 6, _root(batch), 1, other_contract)
    # malformed signature
    world.reverts("ECDSAInvalidSignatureLength", world.outsider, "commitBatchWithSignature", 6, _root(batch), 1, b"\x01")
    assert world.call("batch", 6)[0] == bytes(32)


# ------------------------------------------------------------------------------------ mintLeaves


def test_mint_leaves_success_events_and_bitmap(world):
    recipients = [world.holders[i % 3].address for i in range(12)]
    batch = world.batch(1, recipients, amount=7)
    world.commit(batch)
    receipt = world.mint(batch, list(range(2, 9)))
    minted = world.events(receipt, "LeafMinted")
    assert sorted((e["leafIndex"], e["firstSerial"], e["lastSerial"]) for e in minted) == [
        (i, batch.values[i][5], batch.values[i][6]) for i in range(2, 9)]
    assert all(e["batchId"] == 1 for e in minted)
    assert [world.call("isLeafMinted", 1, i) for i in range(12)] == [2 <= i <= 8 for i in range(12)]
    assert world.call("batch", 1)[2] == 7
    assert world.supply() == 49
    assert sum(world.balance(h.address) for h in world.holders) == 49
    transfers = world.events(receipt, "TransferSingle")
    assert sum(t["value"] for t in transfers) == 49 and all(t["from"] == ZERO for t in transfers)


def test_repeat_holder_leaves_share_one_balance_update(world):
    holder = world.holders[0].address
    batch = world.batch(1, [holder] * 5 + [world.holders[1].address], amount=4)
    world.commit(batch)
    receipt = world.mint(batch)
    assert len(world.events(receipt, "LeafMinted")) == 6
    assert sorted(t["value"] for t in world.events(receipt, "TransferSingle")) == [4, 20]
    assert world.balance(holder) == 20 and world.balance(world.holders[1].address) == 4


def test_leaves_across_bitmap_words_and_classes(world):
    recipients = [world.holders[i % 2].address for i in range(300)]
    batch = world.batch(1, recipients, amount=1)
    # mix in the Article 6.2 class for a few leaves
    for i in (254, 255, 256, 257):
        batch.values[i][2] = ARTICLE6.token_id
    batch.tree = StandardMerkleTree.of(batch.values, LEAF_ENCODING, sort_leaves=False)
    world.commit(batch)
    world.mint(batch, list(range(250, 262)))
    assert [world.call("isLeafMinted", 1, i) for i in (249, 250, 255, 256, 261, 262)] == [False, True, True, True, True, False]
    low, high, past = world.call("mintedLeafWords", 1, 0, 3)
    assert low == sum(1 << i for i in range(250, 256)) and high == sum(1 << i for i in range(6)) and past == 0
    assert world.call("mintedLeafWords", 1, 1, 1) == [high] and world.call("mintedLeafWords", 2, 0, 2) == [0, 0]
    assert world.supply(ARTICLE6.token_id) == 4 and world.supply() == 8
    world.reverts("LeafAlreadyMinted", world.relayer, "mintLeaves", 1, *batch.multi([255]))


def test_mint_leaves_replayed_leaf(world):
    batch = world.batch(1, [h.address for h in world.holders])
    world.commit(batch)
    world.mint(batch, [0, 1])
    args = world.reverts("LeafAlreadyMinted", world.relayer, "mintLeaves", 1, *batch.multi([1, 2]))
    assert args == (1, 1)
    world.mint(batch, [2])
    assert world.supply() == 30


def test_mint_leaves_take_a_contiguous_range_in_multiproof_order(world):
    """Leaf indices follow from the range's first index: leaves sent in another order, or a
    range with a gap, hash as other leaves and fail the proof."""
    batch = world.batch(1, [h.address for h in world.holders] * 2)
    world.commit(batch)
    first, class_ids, leaves, proof, flags = batch.multi([1, 2, 3])
    swapped = leaves[37:74] + leaves[:37] + leaves[74:]
    world.reverts("InvalidMerkleProof", world.relayer, "mintLeaves", 1, first, class_ids, swapped, proof, flags)
    world.reverts("InvalidMerkleProof", world.relayer, "mintLeaves", 1, 2, class_ids, leaves, proof, flags)
    with pytest.raises(UnpackableLeaf, match="consecutive leaves"):
        batch.multi([1, 3])
    world.tx(world.relayer, "mintLeaves", 1, first, class_ids, leaves, proof, flags)
    assert [world.call("isLeafMinted", 1, i) for i in range(6)] == [False, True, True, True, False, False]


def test_mint_leaves_proof_from_another_batch(world):
    first = world.batch(1, [world.holders[0].address, world.holders[1].address])
    second = world.batch(2, [world.holders[0].address, world.holders[1].address])
    world.commit(first)
    world.commit(second)
    # batch 1's leaves and proof presented as batch 2: hashed with batch id 2, they are other leaves
    world.reverts("InvalidMerkleProof", world.relayer, "mintLeaves", 2, *first.multi([0, 1]))
    # the claim path names the batch in the leaf: relabelled, it is not in batch 2's tree either
    world.reverts("InvalidMerkleProof", world.outsider, "claim", (2, *first.leaf(0)[1:]), first.proof(0))
    assert world.supply() == 0


def _with_field(leaves: bytes, position: int, offset: int, value: bytes) -> bytes:
    """Packed ``leaves`` with bytes at ``offset`` of leaf ``position`` replaced by ``value``."""
    at = position * PACKED_LEAF_BYTES + offset
    return leaves[:at] + value + leaves[at + len(value):]


def test_mint_leaves_reverts_on_bad_leaves(world):
    holder = world.holders[0].address
    batch = world.batch(1, [holder, holder, holder])
    world.commit(batch)
    first, class_ids, leaves, proof, flags = batch.multi([0, 1])
    assert world.call("PACKED_LEAF_BYTES") == PACKED_LEAF_BYTES == len(leaves) // 2

    def mint_reverts(error, *args, batch_id=1):
        return world.reverts(error, world.relayer, "mintLeaves", batch_id, *args)

    assert mint_reverts("EmptyBatch", 0, class_ids, b"", [_root(batch)], []) == (1,)
    mint_reverts("BatchNotCommitted", first, class_ids, leaves, proof, flags, batch_id=9)
    assert mint_reverts("MalformedLeaves", first, class_ids, leaves + b"\x00", proof, flags) == (2 * 37 + 1,)
    assert mint_reverts("LeafOutOfRange", 2, class_ids, leaves, proof, flags) == (1, 3)
    assert mint_reverts("LeafOutOfRange", 3, class_ids, leaves, proof, flags) == (1, 3)
    assert mint_reverts("LeafOutOfRange", 2**64, class_ids, leaves, proof, flags) == (1, 2**64)
    zero_amount = _with_field(leaves, 1, 21, bytes(8))
    assert mint_reverts("LeafAmountMismatch", first, class_ids, zero_amount, proof, flags) == (1, 1)
    zero_recipient = _with_field(leaves, 0, 0, bytes(20))
    assert mint_reverts("LeafRecipientZero", first, class_ids, zero_recipient, proof, flags) == (1, 0)
    bad_class = _with_field(leaves, 1, 20, b"\x01")
    assert mint_reverts("LeafClassIndexOutOfRange", first, class_ids, bad_class, proof, flags) == (1, 1, 1)
    # a leaf of a class the registry never registered on-chain (valid proof, committed root)
    unregistered = world.batch(2, [holder], class_id=77)
    world.commit(unregistered)
    mint_reverts("ClassNotRegistered", *unregistered.multi([0]), batch_id=2)
    world.reverts("ClassNotRegistered", world.outsider, "claim", unregistered.leaf(0), unregistered.proof(0))
    assert mint_reverts("ClassNotRegistered", first, class_ids + [77], leaves, proof, flags) == (77,)
    # fields the proof covers: another recipient, another amount (so another last serial)
    other = _with_field(leaves, 0, 0, bytes.fromhex(world.holders[1].address[2:]))
    mint_reverts("InvalidMerkleProof", first, class_ids, other, proof, flags)
    more = _with_field(leaves, 1, 21, (11).to_bytes(8, "big"))
    mint_reverts("InvalidMerkleProof", first, class_ids, more, proof, flags)
    mint_reverts("InvalidMerkleProof", first, class_ids, leaves, [b"\x01" * 32] * len(proof), flags)
    # multiproof shape: flag words of the wrong length; flags that use more proof hashes than
    # given, or that read a queued hash before it is computed; an extra level hashes past the root
    assert len(proof) == 1 and flags == [0b01]
    mint_reverts("MalformedMultiproof", first, class_ids, leaves, proof, flags + [0])
    mint_reverts("MalformedMultiproof", first, class_ids, leaves, proof, [0b00])
    mint_reverts("MalformedMultiproof", first, class_ids, leaves, proof, [0b11])
    mint_reverts("InvalidMerkleProof", first, class_ids, leaves, proof + [proof[0]], flags)
    assert world.supply() == 0 and not any(world.call("isLeafMinted", 1, i) for i in range(3))
    world.mint(batch, [0, 1])
    assert world.supply() == 20


def test_mint_leaves_paused(world):
    batch = world.batch(1, [world.holders[0].address])
    world.commit(batch)
    world.tx(world.pauser, "pause")
    world.reverts("EnforcedPause", world.relayer, "mintLeaves", 1, *batch.multi([0]))
    world.tx(world.pauser, "unpause")
    world.mint(batch)
    assert world.supply() == 10


# ------------------------------------------------------------------------------------ claim


def test_claim_success_by_anyone(world):
    batch = world.batch(1, [h.address for h in world.holders])
    world.commit(batch)
    receipt = world.tx(world.outsider, "claim", batch.leaf(1), batch.proof(1))
    [event] = world.events(receipt, "LeafMinted")
    assert event == {"batchId": 1, "leafIndex": 1, "firstSerial": 11, "lastSerial": 20}
    assert world.balance(world.holders[1].address) == 10 and world.call("batch", 1)[2] == 1
    assert world.call("leafHash", batch.leaf(1)).hex() == batch.tree.leaf_hash(batch.values[1])[2:]


def test_claim_reverts(world):
    batch = world.batch(1, [h.address for h in world.holders])
    other = world.batch(2, [h.address for h in world.holders])
    world.commit(batch)
    world.commit(other)
    world.tx(world.outsider, "claim", batch.leaf(0), batch.proof(0))
    world.reverts("LeafAlreadyMinted", world.outsider, "claim", batch.leaf(0), batch.proof(0))
    world.reverts("InvalidMerkleProof", world.outsider, "claim", batch.leaf(1), [b"\x02" * 32] * 2)
    # proof from another batch: batch 1's leaf relabelled as batch 2
    world.reverts("InvalidMerkleProof", world.outsider, "claim", (2, *batch.leaf(1)[1:]), batch.proof(1))
    world.reverts("BatchNotCommitted", world.outsider, "claim", (3, *batch.leaf(1)[1:]), batch.proof(1))
    bad_amount = list(batch.leaf(1))
    bad_amount[4] = 9
    world.reverts("LeafAmountMismatch", world.outsider, "claim", tuple(bad_amount), batch.proof(1))
    out_of_range = list(batch.leaf(1))
    out_of_range[1] = 3
    world.reverts("LeafOutOfRange", world.outsider, "claim", tuple(out_of_range), batch.proof(1))
    zero = list(batch.leaf(1))
    zero[3] = ZERO
    world.reverts("LeafRecipientZero", world.outsider, "claim", tuple(zero), batch.proof(1))
    world.tx(world.pauser, "pause")
    world.reverts("EnforcedPause", world.outsider, "claim", batch.leaf(1), batch.proof(1))
    assert world.supply() == 10


def test_claim_and_multiproof_mint_the_same_leaf_once(world):
    batch = world.batch(1, [h.address for h in world.holders])
    world.commit(batch)
    world.tx(world.outsider, "claim", batch.leaf(2), batch.proof(2))
    world.reverts("LeafAlreadyMinted", world.relayer, "mintLeaves", 1, *batch.multi([1, 2]))
    world.mint(batch, [0, 1])
    world.reverts("LeafAlreadyMinted", world.outsider, "claim", batch.leaf(0), batch.proof(0))
    assert world.supply() == 30 and world.call("batch", 1)[2] == 3


# ------------------------------------------------------------------------------------ revocation


def test_revoke_batch(world):
    batch = world.batch(1, [h.address for h in world.holders])
    world.commit(batch)
    world.mint(batch, [0])
    world.reverts("AccessControlUnauthorizedAccount", world.signer, "revokeBatch", 1)
    world.reverts("BatchNotCommitted", world.admin, "revokeBatch", 2)
    receipt = world.tx(world.admin, "revokeBatch", 1)
    assert world.events(receipt, "BatchRevoked") == [{"batchId": 1, "admin": world.admin.address}]
    assert world.call("batch", 1)[3] is True
    world.reverts("BatchIsRevoked", world.relayer, "mintLeaves", 1, *batch.multi([1]))
    world.reverts("BatchIsRevoked", world.outsider, "claim", batch.leaf(2), batch.proof(2))
    world.reverts("BatchIsRevoked", world.admin, "revokeBatch", 1)
    assert world.supply() == 10  # what was minted stays minted


# ------------------------------------------------------------------------------------ re-entrancy


def test_receiver_reentering_claim_during_mint_cannot_mint_twice(world):
    receiver = world.deploy_receiver(world.outsider.address)
    batch = world.batch(1, [receiver.address, world.holders[0].address, receiver.address])
    world.commit(batch)
    world.arm(receiver, "claim", batch.leaf(0), batch.proof(0))
    world.mint(batch)
    assert world.reentry_outcome(receiver) == (True, False, "LeafAlreadyMinted")
    assert world.balance(receiver.address) == 20 and world.supply() == 30
    assert receiver.functions.hookCalls().call() == 2


def test_receiver_reentering_mint_leaves_during_claim_cannot_mint_twice(world):
    receiver = world.deploy_receiver(world.outsider.address)
    batch = world.batch(1, [receiver.address, world.holders[0].address])
    world.commit(batch)
    world.arm(receiver, "mintLeaves", 1, *batch.multi([0, 1]))
    world.tx(world.outsider, "claim", batch.leaf(0), batch.proof(0))
    assert world.reentry_outcome(receiver) == (True, False, "LeafAlreadyMinted")
    assert world.balance(receiver.address) == 10 and world.supply() == 10


def test_receiver_reentering_for_another_leaf_mints_it_once(world):
    """Re-entry is not forbidden, only harmless: the hook may mint a different, valid leaf."""
    receiver = world.deploy_receiver(world.outsider.address)
    batch = world.batch(1, [receiver.address, world.holders[0].address])
    world.commit(batch)
    world.arm(receiver, "claim", batch.leaf(1), batch.proof(1))
    world.tx(world.outsider, "claim", batch.leaf(0), batch.proof(0))
    assert world.reentry_outcome(receiver) == (True, True, "")
    world.reverts("LeafAlreadyMinted", world.relayer, "mintLeaves", 1, *batch.multi([0, 1]))
    assert world.supply() == 20 and world.call("batch", 1)[2] == 2


def test_receiver_refusing_tokens_reverts_the_whole_mint(world):
    receiver = world.deploy_receiver(world.outsider.address)
    world.chain.transact(world.outsider, receiver.functions.setRejectTokens(True), "reject", gas=100_000)
    batch = world.batch(1, [world.holders[0].address, receiver.address])
    world.commit(batch)
    world.reverts("ERC1155InvalidReceiver", world.relayer, "mintLeaves", 1, *batch.multi([0, 1]))
    assert world.supply() == 0 and not world.call("isLeafMinted", 1, 0)


def test_token_contract_itself_cannot_receive_a_leaf(world):
    batch = world.batch(1, [world.token.address])
    world.commit(batch)
    world.reverts("ERC1155InvalidReceiver", world.relayer, "mintLeaves", 1, *batch.multi([0]))
    assert world.call("escrowedSupply", STANDARD.token_id) == 0


def test_leaf_hash_matches_python_for_random_recipients(world):
    values = [[1, i, STANDARD.token_id, Account.create().address, 5, 5 * i + 1, 5 * i + 5] for i in range(4)]
    tree = StandardMerkleTree.of(values, LEAF_ENCODING, sort_leaves=False)
    for value in values:
        assert "0x" + world.call("leafHash", tuple(value)).hex() == tree.leaf_hash(value)
