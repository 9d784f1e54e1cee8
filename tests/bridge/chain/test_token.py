"""The packed calldata of ``ICCToken.mintLeaves`` (bridge.chain.token.pack_leaves / pack_proof_flags)."""

import pytest

from bridge.chain.token import PACKED_LEAF_BYTES, Leaf, UnpackableLeaf, pack_leaves, pack_proof_flags

ALICE = "0x" + "11" * 20
BOB = "0x" + "22" * 20


def _leaf(index, class_id=7, recipient=ALICE, amount=10, first=1, batch=3):
    return Leaf(batch, index, class_id, recipient, amount, first, first + amount - 1).value()


def test_layout_and_class_table():
    packed = pack_leaves([_leaf(5), _leaf(6, class_id=9, recipient=BOB, amount=2**64 - 1, first=2**64 - 2**63),
                          _leaf(7, class_id=7, amount=1, first=0)])
    assert packed.first_leaf_index == 5 and packed.class_ids == [7, 9]
    assert len(packed.leaves) == 3 * PACKED_LEAF_BYTES
    first, second, third = (packed.leaves[i * 37:(i + 1) * 37] for i in range(3))
    assert first == bytes.fromhex("11" * 20) + b"\x00" + (10).to_bytes(8, "big") + (1).to_bytes(8, "big")
    assert second[:21] == bytes.fromhex("22" * 20) + b"\x01" and second[21:29] == b"\xff" * 8
    assert third[20] == 0 and third[29:] == bytes(8)


@pytest.mark.parametrize("leaves, message", [
    ([], "no leaves"),
    ([_leaf(0), _leaf(2)], "consecutive leaves from leaf 0"),
    ([_leaf(1), _leaf(0)], "consecutive"),
    ([_leaf(0), _leaf(1, batch=4)], "several batches"),
    ([_leaf(0, amount=2**64)], "amount 18446744073709551616 does not fit in 64 bits"),
    ([_leaf(0, first=2**64)], "firstSerial"),
    ([[3, 0, 7, ALICE, 0, 5, 4]], "amount 0 is not the size of serials 5-4"),
    ([[3, 0, 7, ALICE, 3, 5, 9]], "amount 3"),
    ([_leaf(i, class_id=i) for i in range(257)], "more than 256 classes"),
])
def test_unpackable_leaves_are_refused_with_the_reason(leaves, message):
    with pytest.raises(UnpackableLeaf, match=message):
        pack_leaves(leaves)


def test_proof_flags_pack_256_to_a_word_lowest_bit_first():
    assert pack_proof_flags([]) == []
    assert pack_proof_flags([True, False, True]) == [0b101]
    flags = [i % 3 == 0 for i in range(300)]
    words = pack_proof_flags(flags)
    assert len(words) == 2
    assert [(words[i >> 8] >> (i & 0xFF)) & 1 == 1 for i in range(300)] == flags
    assert pack_proof_flags([False] * 256 + [True]) == [0, 1]
