// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICCToken} from "../../src/ICCToken.sol";
import {MerkleTrees} from "./MerkleTrees.sol";

/// @dev Test-only mint batches for ICCToken: leaves, their tree, and the packed calldata of
/// {ICCToken-mintLeaves} (as bridge.engine.batcher.pack_leaves and pack_proof_flags build it).
library Batches {
    struct Batch {
        uint256 batchId;
        ICCToken.Leaf[] leaves;
        uint8[] classIndexes; // index of each leaf's class in `classIds`
        uint256[] classIds;
        bytes32[] tree;
    }

    /// @dev A batch of `n` leaves drawn from `seed`: recipients from `recipients`, classes from
    /// `classIds`, amounts 1 .. `maxAmount`, first serials below 2^62. Consecutive leaves often
    /// share recipient and class (runs), as the bridge's sorted batches do.
    function random(
        uint256 seed,
        uint256 batchId,
        uint256 n,
        address[] memory recipients,
        uint256[] memory classIds,
        uint64 maxAmount
    ) internal pure returns (Batch memory b) {
        b.batchId = batchId;
        b.classIds = classIds;
        b.leaves = new ICCToken.Leaf[](n);
        b.classIndexes = new uint8[](n);
        bytes32[] memory hashes = new bytes32[](n);
        uint256 pick = 0; // recipient index << 8 | class index
        for (uint256 i = 0; i < n; ++i) {
            pick = _pick(seed, i, pick, recipients.length, classIds.length);
            b.classIndexes[i] = uint8(pick);
            b.leaves[i] = _leaf(seed, batchId, i, classIds[pick & 0xff], recipients[pick >> 8], maxAmount);
            hashes[i] = hashOf(b.leaves[i]);
        }
        b.tree = MerkleTrees.build(hashes);
    }

    /// @dev The recipient and class of leaf `i`: the previous leaf's two times in three.
    function _pick(uint256 seed, uint256 i, uint256 previous, uint256 recipientCount, uint256 classCount)
        private
        pure
        returns (uint256)
    {
        uint256 r = uint256(keccak256(abi.encode(seed, i, "pick")));
        if (i > 0 && r % 3 != 0) return previous;
        return ((r >> 8) % recipientCount) << 8 | (r >> 16) % classCount;
    }

    function _leaf(uint256 seed, uint256 batchId, uint256 i, uint256 classId, address recipient, uint64 maxAmount)
        private
        pure
        returns (ICCToken.Leaf memory)
    {
        uint256 r = uint256(keccak256(abi.encode(seed, i)));
        uint256 amount = 1 + (r >> 64) % maxAmount;
        uint256 first = (r >> 128) % (1 << 62);
        return ICCToken.Leaf(batchId, i, classId, recipient, amount, first, first + amount - 1);
    }

    function hashOf(ICCToken.Leaf memory l) internal pure returns (bytes32) {
        return MerkleTrees.leafHash(l.batchId, l.leafIndex, l.classId, l.recipient, l.amount, l.firstSerial, l.lastSerial);
    }

    function root(Batch memory b) internal pure returns (bytes32) {
        return b.tree[0];
    }

    /// @dev Leaves `first` .. `first + count - 1` packed: recipient (20) | class index (1) |
    /// amount (8) | first serial (8).
    function pack(Batch memory b, uint256 first, uint256 count) internal pure returns (bytes memory) {
        return packLeaves(b.leaves, b.classIndexes, first, count);
    }

    function packLeaves(ICCToken.Leaf[] memory leaves, uint8[] memory classIndexes, uint256 first, uint256 count)
        internal
        pure
        returns (bytes memory packed)
    {
        packed = new bytes(count * 37 + 32); // each leaf's last word store spills into the padding
        for (uint256 i = 0; i < count; ++i) {
            _packLeaf(packed, i * 37, leaves[first + i], classIndexes[first + i]);
        }
        assembly ("memory-safe") {
            mstore(packed, mul(count, 37))
        }
    }

    function _packLeaf(bytes memory packed, uint256 offset, ICCToken.Leaf memory l, uint256 classIndex) private pure {
        address recipient = l.recipient;
        uint256 amount = uint64(l.amount);
        uint256 firstSerial = uint64(l.firstSerial);
        assembly ("memory-safe") {
            let p := add(add(packed, 0x20), offset)
            mstore(p, shl(96, recipient))
            mstore8(add(p, 20), classIndex)
            mstore(add(p, 21), shl(192, amount))
            mstore(add(p, 29), shl(192, firstSerial))
        }
    }

    /// @dev The honest {ICCToken-mintLeaves} arguments of a contiguous range.
    function rangeCall(Batch memory b, uint256 first, uint256 count)
        internal
        pure
        returns (bytes memory leaves, bytes32[] memory proof, uint256[] memory flagWords)
    {
        leaves = packLeaves(b.leaves, b.classIndexes, first, count);
        (proof, flagWords) = packedRangeProof(b.tree, first, count);
    }

    function packedRangeProof(bytes32[] memory tree, uint256 first, uint256 count)
        internal
        pure
        returns (bytes32[] memory proof, uint256[] memory flagWords)
    {
        bool[] memory flags;
        (proof, flags) = MerkleTrees.rangeProof(tree, first, count);
        flagWords = MerkleTrees.packFlags(flags);
    }

    function proofOf(Batch memory b, uint256 index) internal pure returns (bytes32[] memory) {
        return MerkleTrees.proofOf(b.tree, index);
    }
}
