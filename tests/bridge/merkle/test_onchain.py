"""Python-built Merkle trees verified by the deployed ICCToken contract (claim and multiproof)."""

import random

import pytest
from eth_account import Account

from bridge.chain.client import Chain, ChainRevert
from bridge.chain.token import LEAF_ENCODING, Leaf, class_info, mint_leaves_arguments
from bridge.engine.batcher import minted_on_chain, sign_commit
from bridge.merkle.proofs import MultiProof, verify_multi_proof
from bridge.merkle.tree import StandardMerkleTree
from registry.domain.classes import ClassKey

KEY = ClassKey(project_number=78040, vintage=2023)
CLASS_INFO = class_info(project_number=78040, vintage=2023, article6=False, letter_number=0,
                        host_country="ISL", authorized_uses=1, ca_status=0)


@pytest.fixture
def deployed(w3):
    chain = Chain(w3)
    admin, signer, relayer = Account.create(), Account.create(), Account.create()
    holders = [Account.create() for _ in range(3)]
    chain.fund_from_dev_account(admin.address, signer.address, relayer.address)
    chain.deploy(admin, "http://localhost/metadata/{id}.json", admin.address, signer.address)
    chain.transact(signer, chain.token.functions.registerClass(KEY.token_id, CLASS_INFO), "registerClass", gas=300_000)
    return chain, signer, relayer, holders


def _tree(batch_id, holders, n=13):
    values = [Leaf(batch_id, i, KEY.token_id, holders[i % len(holders)].address, 10, 10 * i + 1, 10 * i + 10).value()
              for i in range(n)]
    return values, StandardMerkleTree.of(values, LEAF_ENCODING, sort_leaves=False)


def _mint_args(tree, indices, proof=None, flags=None) -> tuple:
    """``mintLeaves``' arguments after the batch id for consecutive leaves ``indices``, with the
    multiproof's hashes (hex) or flags replaced when given."""
    multi = tree.get_multi_proof(list(indices))
    return mint_leaves_arguments(MultiProof(multi.leaves, multi.proof if proof is None else proof,
                                            multi.proof_flags if flags is None else flags))


def test_packed_multiproof_verifier_agrees_with_openzeppelins_on_random_trees(deployed):
    """The contract's own multiproof loop (packed flags) against OpenZeppelin's algorithm in
    Python (bridge.merkle.proofs.verify_multi_proof, checked against the npm library elsewhere): every
    valid contiguous range mints, and every single-bit change to a flag or a proof hash that
    the OpenZeppelin algorithm rejects is rejected, without minting anything."""
    chain, signer, relayer, holders = deployed
    token = chain.token
    rng = random.Random(20261123)
    batch_id = 100
    for n in (1, 2, 3, 5, 8, 13, 31, 64, 257, 300):
        batch_id += 1
        values, tree = _tree(batch_id, holders, n=n)
        chain.transact(signer, token.functions.commitBatch(batch_id, bytes.fromhex(tree.root[2:]), n), "commit", gas=200_000)
        start = rng.randrange(n)
        indices = list(range(start, rng.randint(start + 1, n)))
        multi = tree.get_multi_proof(indices)
        flags = list(multi.proof_flags)
        leaf_hashes = [tree.leaf_hash(v) for v in multi.leaves]
        tampered = []
        if flags:
            i = rng.randrange(len(flags))
            tampered.append((multi.proof, flags[:i] + [not flags[i]] + flags[i + 1:]))
        if multi.proof:
            j = rng.randrange(len(multi.proof))
            flipped = bytearray.fromhex(multi.proof[j][2:])
            flipped[rng.randrange(32)] ^= 1 << rng.randrange(8)
            tampered.append((multi.proof[:j] + ["0x" + flipped.hex()] + multi.proof[j + 1:], flags))
        for bad_proof, bad_flags in tampered:
            try:
                accepted = verify_multi_proof(tree.root, leaf_hashes, bad_proof, bad_flags)
            except ValueError:
                accepted = False
            assert not accepted
            with pytest.raises(ChainRevert) as info:
                chain.transact(relayer, token.functions.mintLeaves(batch_id, *_mint_args(tree, indices, bad_proof, bad_flags)),
                               "tampered mint", gas=29_000_000)
            assert info.value.error in {"InvalidMerkleProof", "MalformedMultiproof"}, (n, indices)
        chain.transact(relayer, token.functions.mintLeaves(batch_id, *_mint_args(tree, indices)), "mint", gas=29_000_000)
        assert minted_on_chain(chain, batch_id, list(range(n))) == set(indices), (n, indices)


def test_contract_leaf_hash_and_proofs_match_python(deployed):
    chain, signer, relayer, holders = deployed
    token = chain.token
    values, tree = _tree(7, holders)
    for i, value in enumerate(values):
        assert "0x" + token.functions.leafHash(tuple(value)).call().hex() == tree.leaf_hash(value)
    chain.transact(signer, token.functions.commitBatch(7, bytes.fromhex(tree.root[2:]), len(values)), "commit", gas=200_000)

    # claim path: one leaf, one proof, sent by anyone
    proof = [bytes.fromhex(p[2:]) for p in tree.get_proof(3)]
    chain.transact(relayer, token.functions.claim(tuple(values[3]), proof), "claim", gas=300_000)
    assert token.functions.balanceOf(values[3][3], KEY.token_id).call() == 10
    assert token.functions.isLeafMinted(7, 3).call()

    # multiproof path: a contiguous run of leaves in one transaction
    chain.transact(relayer, token.functions.mintLeaves(7, *_mint_args(tree, range(5, 10))), "mintLeaves", gas=1_000_000)
    assert [token.functions.isLeafMinted(7, i).call() for i in range(13)] == [i == 3 or 5 <= i <= 9 for i in range(13)]
    assert minted_on_chain(chain, 7, list(range(13))) == {3, 5, 6, 7, 8, 9}
    assert minted_on_chain(chain, 7, [0, 4, 9, 10]) == {9} and minted_on_chain(chain, 7, []) == set()
    assert token.functions.totalSupply(KEY.token_id).call() == 60

    # replayed leaf, tampered proof, proof against another batch
    with pytest.raises(ChainRevert) as info:
        chain.transact(relayer, token.functions.claim(tuple(values[3]), proof), "claim again", gas=300_000)
    assert info.value.error == "LeafAlreadyMinted"
    bad = list(proof)
    bad[0] = bytes(32)
    with pytest.raises(ChainRevert) as info:
        chain.transact(relayer, token.functions.claim(tuple(values[4]), bad), "claim tampered", gas=300_000)
    assert info.value.error == "InvalidMerkleProof"
    other_values, other_tree = _tree(8, holders, n=4)
    chain.transact(signer, token.functions.commitBatch(8, bytes.fromhex(other_tree.root[2:]), 4), "commit 8", gas=200_000)
    forged = list(values[4])
    forged[0] = 8  # leaf of batch 7 presented with batch 8's id
    with pytest.raises(ChainRevert) as info:
        chain.transact(relayer, token.functions.claim(tuple(forged), [bytes.fromhex(p[2:]) for p in tree.get_proof(4)]),
                       "claim cross-batch", gas=300_000)
    assert info.value.error in {"InvalidMerkleProof", "LeafOutOfRange"}


def test_commit_by_registry_signature_relayed_by_anyone(deployed):
    chain, signer, relayer, holders = deployed
    values, tree = _tree(9, holders, n=3)
    signature = sign_commit(signer, chain, 9, tree.root, 3)
    fn = chain.token.functions.commitBatchWithSignature(9, bytes.fromhex(tree.root[2:]), 3, signature)
    chain.transact(relayer, fn, "commit by signature", gas=200_000)
    assert "0x" + bytes(chain.token.functions.batch(9).call()[0]).hex() == tree.root
    with pytest.raises(ChainRevert) as info:  # the same signature cannot commit twice
        chain.transact(relayer, fn, "replay", gas=200_000)
    assert info.value.error == "BatchAlreadyCommitted"
    forged = sign_commit(relayer, chain, 10, tree.root, 3)  # relayer lacks REGISTRY_ROLE
    with pytest.raises(ChainRevert) as info:
        chain.transact(relayer, chain.token.functions.commitBatchWithSignature(10, bytes.fromhex(tree.root[2:]), 3, forged),
                       "forged", gas=200_000)
    assert info.value.error == "SignerNotRegistry"


def test_minted_on_chain_reads_whole_words_from_the_first_needed_one():
    """Bitmap words are indexed from the lowest pending leaf's word, in calls of at most
    BITMAP_WORDS_PER_CALL words (a fake chain holding the bitmap of leaves 300, 511, 512, 70,000)."""
    from types import SimpleNamespace

    from bridge.engine import batcher

    minted = {300, 511, 512, 70_000}
    calls = []

    def words(batch_id, first, count):
        calls.append((batch_id, first, count))
        return [sum(1 << (i & 0xFF) for i in minted if i >> 8 == w) for w in range(first, first + count)]

    fake = SimpleNamespace(token=SimpleNamespace(functions=SimpleNamespace(mintedLeafWords=words)),
                           call=lambda result, action: result)
    pending = [299, 300, 511, 512, 513, 70_000, 70_001]
    assert batcher.minted_on_chain(fake, 4, pending) == {300, 511, 512, 70_000}
    assert calls == [(4, 1, 256), (4, 257, 17)]  # words 1..273, one call per 256 words
