"""Batch commits (direct and EIP-712 relayed), multiproof minting, the claim path, revocation,
and a receiver re-entering during a mint."""

from __future__ import annotations

import pytest
from eth_account import Account

from bridge.batcher import LEAF_ENCODING
from bridge.chain import ChainRevert
from bridge.merkle import StandardMerkleTree

from .helpers import ARTICLE6, STANDARD, ZERO


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
    # the same leaf twice in one call (the proof is built over the pair, the bitmap catches it)
    leaves, proof, flags = batch.multi([2])
    world.reverts("LeafAlreadyMinted", world.relayer, "mintLeaves", 1, leaves * 2, proof, flags)
    world.mint(batch, [2])
    assert world.supply() == 30


def test_mint_leaves_proof_from_another_batch(world):
    first = world.batch(1, [world.holders[0].address, world.holders[1].address])
    second = world.batch(2, [world.holders[0].address, world.holders[1].address])
    world.commit(first)
    world.commit(second)
    leaves, proof, flags = first.multi([0, 1])
    # leaves of batch 1 presented as batch 2
    world.reverts("LeafFromOtherBatch", world.relayer, "mintLeaves", 2, leaves, proof, flags)
    # leaves relabelled with batch 2's id keep batch 1's proof: the root does not match
    relabelled = [(2, *leaf[1:]) for leaf in leaves]
    world.reverts("InvalidMerkleProof", world.relayer, "mintLeaves", 2, relabelled, proof, flags)
    assert world.supply() == 0


def test_mint_leaves_reverts_on_bad_leaves(world):
    holder = world.holders[0].address
    batch = world.batch(1, [holder, holder, holder])
    world.commit(batch)
    leaves, proof, flags = batch.multi([0, 1])

    def with_leaf(index, field, value):
        changed = [list(leaf) for leaf in leaves]
        changed[index][field] = value
        return [tuple(leaf) for leaf in changed]

    world.reverts("EmptyBatch", world.relayer, "mintLeaves", 1, [], [_root(batch)], [])
    world.reverts("BatchNotCommitted", world.relayer, "mintLeaves", 9, leaves, proof, flags)
    world.reverts("LeafOutOfRange", world.relayer, "mintLeaves", 1, with_leaf(0, 1, 3), proof, flags)
    world.reverts("LeafAmountMismatch", world.relayer, "mintLeaves", 1, with_leaf(1, 4, 11), proof, flags)
    world.reverts("LeafAmountMismatch", world.relayer, "mintLeaves", 1, with_leaf(1, 4, 0), proof, flags)
    world.reverts("LeafAmountMismatch", world.relayer, "mintLeaves", 1, with_leaf(1, 6, 0), proof, flags)
    world.reverts("LeafRecipientZero", world.relayer, "mintLeaves", 1, with_leaf(0, 3, ZERO), proof, flags)
    # a leaf of a class the registry never registered on-chain (valid proof, committed root)
    unregistered = world.batch(2, [holder], class_id=77)
    world.commit(unregistered)
    world.reverts("ClassNotRegistered", world.relayer, "mintLeaves", 2, *unregistered.multi([0]))
    world.reverts("ClassNotRegistered", world.outsider, "claim", unregistered.leaf(0), unregistered.proof(0))
    world.reverts("InvalidMerkleProof", world.relayer, "mintLeaves", 1, with_leaf(0, 3, world.holders[1].address),
                  proof, flags)
    world.reverts("InvalidMerkleProof", world.relayer, "mintLeaves", 1, leaves, [b"\x01" * 32] * len(proof), flags)
    world.reverts("MerkleProofInvalidMultiproof", world.relayer, "mintLeaves", 1, leaves, proof, flags + [True])
    assert world.supply() == 0 and not any(world.call("isLeafMinted", 1, i) for i in range(3))


def test_mint_leaves_rejects_a_dirty_recipient_word(world):
    """The hot path reads leaves in assembly: a recipient word with bits above 160 must fail."""
    holder = world.holders[0].address
    batch = world.batch(1, [holder])
    world.commit(batch)
    leaves, proof, flags = batch.multi([0])
    data = bytearray(bytes.fromhex(world.token.encode_abi("mintLeaves", args=[1, leaves, proof, flags])[2:]))
    word = bytes.fromhex(holder[2:].lower().rjust(64, "0"))
    at = data.index(word)
    data[at] = 0x01  # dirty the top byte of the recipient word
    tx = {"from": world.relayer.address, "to": world.token.address, "data": bytes(data), "gas": 1_000_000,
          "chainId": world.chain.chain_id, "nonce": world.chain._next_nonce(world.relayer.address),
          **world.chain._fees()}
    with pytest.raises(ChainRevert) as info:
        world.chain.send_signed(world.relayer, tx, "dirty mint")
    assert info.value.error == "LeafRecipientZero"
    assert world.supply() == 0


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
