// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @dev Test-only Merkle trees in the layout of OpenZeppelin's StandardMerkleTree with
/// `sortLeaves: false` (as bridge/merkle/tree.py builds the bridge's batches): 2n - 1 nodes, leaf
/// `i` at node `2n - 2 - i`, node `k` the commutative hash of nodes `2k + 1` and `2k + 2`.
library MerkleTrees {
    /// @dev OpenZeppelin's StandardMerkleTree leaf hash of an ICCToken leaf (as `leafHash`).
    function leafHash(
        uint256 batchId,
        uint256 leafIndex,
        uint256 classId,
        address recipient,
        uint256 amount,
        uint256 firstSerial,
        uint256 lastSerial
    ) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(keccak256(abi.encode(batchId, leafIndex, classId, recipient, amount, firstSerial, lastSerial)))
        );
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function build(bytes32[] memory leafHashes) internal pure returns (bytes32[] memory tree) {
        uint256 n = leafHashes.length;
        require(n > 0, "empty tree");
        tree = new bytes32[](2 * n - 1);
        for (uint256 i = 0; i < n; ++i) {
            tree[2 * n - 2 - i] = leafHashes[i];
        }
        for (uint256 k = n - 1; k > 0; --k) {
            tree[k - 1] = hashPair(tree[2 * k - 1], tree[2 * k]);
        }
    }

    function root(bytes32[] memory tree) internal pure returns (bytes32) {
        return tree[0];
    }

    /// @dev StandardMerkleTree's `getMultiProof` for leaves `indices` (strictly ascending leaf
    /// indices, so the proof takes them in ascending order, as {ICCToken-mintLeaves} hashes them).
    function multiProof(bytes32[] memory tree, uint256[] memory indices)
        internal
        pure
        returns (bytes32[] memory proof, bool[] memory flags)
    {
        uint256 n = (tree.length + 1) / 2;
        uint256 count = indices.length;
        require(count > 0, "empty multiproof");
        // The queue of tree positions, front at `head`; at most count + steps entries ever.
        uint256[] memory queue = new uint256[](2 * count + tree.length);
        for (uint256 i = 0; i < count; ++i) {
            if (i > 0) require(indices[i] > indices[i - 1], "indices not ascending");
            queue[i] = 2 * n - 2 - indices[i];
        }
        uint256 head = 0;
        uint256 tail = count;
        proof = new bytes32[](tree.length);
        flags = new bool[](tree.length);
        uint256 proofLength = 0;
        uint256 flagLength = 0;
        while (head < tail && queue[head] > 0) {
            uint256 j = queue[head++];
            uint256 s = j & 1 == 1 ? j + 1 : j - 1;
            if (head < tail && queue[head] == s) {
                flags[flagLength++] = true;
                ++head;
            } else {
                flags[flagLength++] = false;
                proof[proofLength++] = tree[s];
            }
            queue[tail++] = (j - 1) >> 1;
        }
        assembly ("memory-safe") {
            mstore(proof, proofLength)
            mstore(flags, flagLength)
        }
    }

    /// @dev The multiproof of the contiguous range `first` .. `first + count - 1`.
    function rangeProof(bytes32[] memory tree, uint256 first, uint256 count)
        internal
        pure
        returns (bytes32[] memory proof, bool[] memory flags)
    {
        uint256[] memory indices = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) {
            indices[i] = first + i;
        }
        return multiProof(tree, indices);
    }

    /// @dev The single-leaf proof of leaf `index` (StandardMerkleTree's `getProof`).
    function proofOf(bytes32[] memory tree, uint256 index) internal pure returns (bytes32[] memory proof) {
        uint256 n = (tree.length + 1) / 2;
        uint256 ti = 2 * n - 2 - index;
        uint256 depth = 0;
        for (uint256 t = ti; t > 0; t = (t - 1) >> 1) {
            ++depth;
        }
        proof = new bytes32[](depth);
        for (uint256 d = 0; ti > 0; ++d) {
            proof[d] = tree[ti & 1 == 1 ? ti + 1 : ti - 1];
            ti = (ti - 1) >> 1;
        }
    }

    /// @dev Flags packed as {ICCToken-mintLeaves} takes them: flag `i` in bit `i % 256` of word `i / 256`.
    function packFlags(bool[] memory flags) internal pure returns (uint256[] memory words) {
        words = new uint256[]((flags.length + 255) / 256);
        for (uint256 i = 0; i < flags.length; ++i) {
            if (flags[i]) words[i / 256] |= uint256(1) << (i % 256);
        }
    }

    /// @dev The plain reference: OpenZeppelin's multiproof algorithm written out with the rules
    /// ICCToken states for its own loop (a step never reads a hash not yet computed, and the proof
    /// is used exactly); `ok` false where the multiproof is malformed by those rules.
    function referenceRoot(bytes32[] memory leaves, bytes32[] memory proof, bool[] memory flags)
        internal
        pure
        returns (bytes32 result, bool ok)
    {
        if (leaves.length == 0 || leaves.length + proof.length != flags.length + 1) return (bytes32(0), false);
        bytes32[] memory values = new bytes32[](leaves.length + flags.length);
        uint256 produced = 0;
        for (; produced < leaves.length; ++produced) {
            values[produced] = leaves[produced];
        }
        uint256 consumed = 0;
        uint256 used = 0;
        for (uint256 i = 0; i < flags.length; ++i) {
            if (consumed >= produced) return (bytes32(0), false);
            bytes32 a = values[consumed++];
            bytes32 b;
            if (flags[i]) {
                if (consumed >= produced) return (bytes32(0), false);
                b = values[consumed++];
            } else {
                if (used >= proof.length) return (bytes32(0), false);
                b = proof[used++];
            }
            values[produced++] = hashPair(a, b);
        }
        if (used != proof.length) return (bytes32(0), false);
        return (values[produced - 1], true);
    }
}

/// @dev OpenZeppelin's verifier behind an external call, so that a test can catch its reverts.
contract OpenZeppelinMultiProof {
    function processMultiProof(bytes32[] memory proof, bool[] memory flags, bytes32[] memory leaves)
        external
        pure
        returns (bytes32)
    {
        return MerkleProof.processMultiProof(proof, flags, leaves);
    }
}
