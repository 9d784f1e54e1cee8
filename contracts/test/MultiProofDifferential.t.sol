// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {TestBase} from "./foundry/TestBase.sol";
import {MerkleTrees, OpenZeppelinMultiProof} from "./foundry/MerkleTrees.sol";
import {ICCTokenHarness} from "./foundry/generated/ICCTokenHarness.sol";
import {ICCToken} from "../src/ICCToken.sol";
import {Batches} from "./foundry/Batches.sol";

/// @dev Differential fuzzing of ICCToken's own multiproof loop (`_multiProofRoot`, flags packed
/// 256 to a word) against OpenZeppelin's `MerkleProof.processMultiProof` and a plain reference
/// (MerkleTrees.referenceRoot), on arbitrary shapes and on real trees of up to 600 leaves. The
/// loop is reached through ICCTokenHarness, generated from src/ICCToken.sol (scripts/forge_harness.py).
///
/// Properties: the contract's loop and the plain reference agree exactly (same verdict on
/// malformed input, same root otherwise); whenever the contract's loop accepts, OpenZeppelin's
/// does not revert and computes the same root (it never accepts what OpenZeppelin rejects);
/// honest multiproofs of real trees rebuild the tree's root.
contract MultiProofDifferentialTest is TestBase {
    ICCTokenHarness internal harness;
    OpenZeppelinMultiProof internal openZeppelin;

    function setUp() public {
        harness = new ICCTokenHarness("ipfs://{id}", address(1), address(1), address(1), address(1), 1 days);
        openZeppelin = new OpenZeppelinMultiProof();
    }

    /// @dev The three verdicts on one multiproof, compared; returns the contract's.
    function _compare(bytes32[] memory leaves, bytes32[] memory proof, bool[] memory flags)
        internal
        view
        returns (bytes32 root, bool malformed)
    {
        (root, malformed) = harness.exposedMultiProofRoot(leaves, proof, MerkleTrees.packFlags(flags));
        (bytes32 plainRoot, bool ok) = MerkleTrees.referenceRoot(leaves, proof, flags);
        assertEq(malformed ? 0 : 1, ok ? 1 : 0, "contract and reference disagree on malformed");
        if (!malformed) {
            assertEq(root, plainRoot, "contract and reference roots differ");
            try openZeppelin.processMultiProof(proof, flags, leaves) returns (bytes32 ozRoot) {
                assertEq(root, ozRoot, "contract and OpenZeppelin roots differ");
            } catch {
                revert("the contract accepts a multiproof OpenZeppelin rejects");
            }
        }
    }

    function _randomHashes(uint256 seed, uint256 salt, uint256 length) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](length);
        for (uint256 i = 0; i < length; ++i) {
            out[i] = bytes32(draw(seed, salt + i));
        }
    }

    function _randomTree(uint256 seed, uint256 n) internal pure returns (bytes32[] memory tree) {
        return MerkleTrees.build(_randomHashes(seed, 1 << 128, n));
    }

    /// @dev Leaf hashes of a tree at `indices`, in multiproof (ascending) order.
    function _leavesAt(bytes32[] memory tree, uint256[] memory indices) internal pure returns (bytes32[] memory out) {
        uint256 n = (tree.length + 1) / 2;
        out = new bytes32[](indices.length);
        for (uint256 i = 0; i < indices.length; ++i) {
            out[i] = tree[2 * n - 2 - indices[i]];
        }
    }

    /// @dev Arbitrary shapes: random leaves, proof hashes and flags, with as many flags as
    /// {ICCToken-mintLeaves} lets through (count + proof length - 1). Mostly malformed; the
    /// verdicts must agree anyway. Half the runs take at most 4 leaves and 4 proof hashes, and half
    /// place exactly count - 1 + d true flags (d in -1, 0, 1) at random: count - 1 is the number a
    /// proof used exactly needs, so these are the near misses of well-formed shapes. A small hash
    /// alphabet makes repeated values (and so accidental agreements) likely.
    function testFuzz_arbitraryShapes(uint256 seed, uint256 countSeed, uint256 proofSeed, bool smallAlphabet)
        public
        view
    {
        bool small = seed % 2 == 0;
        uint256 count = bound(countSeed, 1, small ? 4 : 40);
        uint256 proofLength = bound(proofSeed, 0, small ? 4 : 40);
        bytes32[] memory leaves = _randomHashes(seed, 0, count);
        bytes32[] memory proof = _randomHashes(seed, 1000, proofLength);
        if (smallAlphabet) {
            for (uint256 i = 0; i < count; ++i) leaves[i] = bytes32(uint256(leaves[i]) % 3);
            for (uint256 i = 0; i < proofLength; ++i) proof[i] = bytes32(uint256(proof[i]) % 3);
        }
        bool[] memory flags = new bool[](count + proofLength - 1);
        if ((seed >> 1) % 2 == 0) {
            // Flags biased by a per-run density, so that runs of all-true and all-false occur.
            uint256 density = draw(seed, 2000) % 5;
            for (uint256 i = 0; i < flags.length; ++i) {
                flags[i] = draw(seed, 3000 + i) % 4 < density;
            }
        } else {
            uint256 t = count + draw(seed, 2001) % 3; // count - 1 + d is t - 2
            uint256 trues = t >= 2 ? t - 2 : 0;
            for (uint256 k = 0; k < trues && k < flags.length; ++k) {
                // The k-th true flag at a random free position (linear probing).
                uint256 slot = draw(seed, 4000 + k) % flags.length;
                while (flags[slot]) slot = (slot + 1) % flags.length;
                flags[slot] = true;
            }
        }
        _compare(leaves, proof, flags);
    }

    /// @dev The smallest multiproofs that read a hash before it is computed and leave a proof hash
    /// unused: malformed (each of the loop's two rules alone rejects them).
    function test_readAheadWithUnusedProofIsMalformed() public view {
        bytes32[] memory leaves = _randomHashes(1, 0, 1);
        bytes32[] memory proof = _randomHashes(1, 10, 1);
        bool[] memory flags = new bool[](1);
        flags[0] = true; // the leaf paired with the hash this very step writes; the proof unread
        (, bool malformed) = _compare(leaves, proof, flags);
        assertTrue(malformed, "one leaf, one unused proof hash, one true flag");
        leaves = _randomHashes(2, 0, 2);
        proof = _randomHashes(2, 10, 2);
        flags = new bool[](3);
        flags[0] = true;
        flags[1] = true; // the first step's output and this step's own, not yet computed
        flags[2] = false;
        (, malformed) = _compare(leaves, proof, flags);
        assertTrue(malformed, "two leaves, a read ahead, a proof hash unused");
    }

    /// @dev Honest multiproofs of contiguous ranges (the bridge's mints) of real trees of 1 to 600
    /// leaves rebuild the root in all three; ranges longer than 256 leaves have flags in more than
    /// one word.
    function testFuzz_realTreeRanges(uint256 seed, uint256 nSeed, uint256 firstSeed, uint256 countSeed) public view {
        uint256 n = bound(nSeed, 1, 600);
        uint256 first = bound(firstSeed, 0, n - 1);
        uint256 count = bound(countSeed, 1, n - first);
        bytes32[] memory tree = _randomTree(seed, n);
        (bytes32[] memory proof, bool[] memory flags) = MerkleTrees.rangeProof(tree, first, count);
        uint256[] memory indices = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) indices[i] = first + i;
        (bytes32 root, bool malformed) = _compare(_leavesAt(tree, indices), proof, flags);
        assertTrue(!malformed, "honest range multiproof malformed");
        assertEq(root, tree[0], "honest range multiproof root");
    }

    /// @dev Honest multiproofs of arbitrary leaf subsets of real trees (up to 300 leaves).
    function testFuzz_realTreeSubsets(uint256 seed, uint256 nSeed, uint256 densitySeed) public view {
        uint256 n = bound(nSeed, 1, 300);
        bytes32[] memory tree = _randomTree(seed, n);
        uint256[] memory indices = _randomSubset(seed, n, bound(densitySeed, 1, 100));
        (bytes32[] memory proof, bool[] memory flags) = MerkleTrees.multiProof(tree, indices);
        (bytes32 root, bool malformed) = _compare(_leavesAt(tree, indices), proof, flags);
        assertTrue(!malformed, "honest subset multiproof malformed");
        assertEq(root, tree[0], "honest subset multiproof root");
    }

    /// @dev A non-empty subset of 0..n-1, ascending, each index kept with `percent`% chance.
    function _randomSubset(uint256 seed, uint256 n, uint256 percent) internal pure returns (uint256[] memory indices) {
        indices = new uint256[](n);
        uint256 length = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (draw(seed, 5000 + i) % 100 < percent) indices[length++] = i;
        }
        if (length == 0) indices[length++] = draw(seed, 4999) % n;
        assembly ("memory-safe") {
            mstore(indices, length)
        }
    }

    /// @dev Tampered multiproofs of real trees (a flag flipped, a proof hash replaced, a proof hash
    /// dropped or added, two leaves swapped, a leaf replaced, flags shifted): the three verdicts
    /// agree, and none of them rebuilds the root from leaves that are not the tree's.
    function testFuzz_tamperedRealTrees(uint256 seed, uint256 nSeed, uint256 densitySeed, uint8 kind, uint256 position)
        public
        view
    {
        uint256 n = bound(nSeed, 2, 300);
        bytes32[] memory tree = _randomTree(seed, n);
        uint256[] memory indices = _randomSubset(seed, n, bound(densitySeed, 1, 100));
        (bytes32[] memory proof, bool[] memory flags) = MerkleTrees.multiProof(tree, indices);
        bytes32[] memory leaves = _leavesAt(tree, indices);
        bool leavesChanged = false;
        kind = kind % 7;
        if (kind == 0 && flags.length > 0) {
            flags[position % flags.length] = !flags[position % flags.length];
        } else if (kind == 1 && proof.length > 0) {
            proof[position % proof.length] = bytes32(draw(seed, 9000));
        } else if (kind == 2 && proof.length > 0) {
            // The last proof hash dropped, and one flag with it so the shape stays what mintLeaves passes.
            assembly ("memory-safe") {
                mstore(proof, sub(mload(proof), 1))
                mstore(flags, sub(mload(flags), 1))
            }
        } else if (kind == 3) {
            bytes32[] memory longer = new bytes32[](proof.length + 1);
            for (uint256 i = 0; i < proof.length; ++i) longer[i] = proof[i];
            longer[position % longer.length] = bytes32(draw(seed, 9001));
            if (position % longer.length < proof.length) longer[proof.length] = proof[position % longer.length];
            proof = longer;
            bool[] memory moreFlags = new bool[](flags.length + 1);
            for (uint256 i = 0; i < flags.length; ++i) moreFlags[i] = flags[i];
            flags = moreFlags;
        } else if (kind == 4 && leaves.length > 1) {
            uint256 i = position % leaves.length;
            uint256 j = (i + 1 + (position >> 128) % (leaves.length - 1)) % leaves.length;
            (leaves[i], leaves[j]) = (leaves[j], leaves[i]);
            leavesChanged = true;
        } else if (kind == 5) {
            leaves[position % leaves.length] = bytes32(draw(seed, 9002));
            leavesChanged = true;
        } else if (kind == 6 && flags.length > 1) {
            bool firstFlag = flags[0];
            for (uint256 i = 0; i + 1 < flags.length; ++i) flags[i] = flags[i + 1];
            flags[flags.length - 1] = firstFlag;
        }
        if (leaves.length + proof.length == 0 || flags.length + 1 != leaves.length + proof.length) return;
        (bytes32 root, bool malformed) = _compare(leaves, proof, flags);
        if (leavesChanged && !malformed && root == tree[0]) {
            // Only a swap of two leaves whose hashes meet in one commutative hash keeps the root:
            // the same leaf set, so nothing foreign is accepted.
            assertTrue(kind == 4, "a replaced leaf rebuilds the root");
        }
    }

    /// @dev The leaves the multiproof starts from: `_hashLeaves` hashes packed leaves (batch id and
    /// leaf index implied, last serial computed) exactly as StandardMerkleTree hashes the full leaf
    /// (MerkleTrees.leafHash, the tree builder's), for amounts and first serials anywhere in 64
    /// bits, any recipient and class id.
    function testFuzz_packedLeafHashesMatchLeafHash(uint256 seed, uint256 nSeed, uint256 firstSeed) public view {
        uint256 n = bound(nSeed, 1, 60);
        uint256[] memory classIds = new uint256[](2);
        classIds[0] = seed >> 160;
        classIds[1] = type(uint256).max;
        ICCToken.Leaf[] memory leaves = new ICCToken.Leaf[](n);
        uint8[] memory classIndexes = new uint8[](n);
        uint256 batchId = seed % 1000;
        for (uint256 i = 0; i < n; ++i) {
            classIndexes[i] = uint8(draw(seed, i) % 2);
            leaves[i] = _packableLeaf(draw(seed, n + i), batchId, i, classIds[classIndexes[i]]);
        }
        uint256 first = bound(firstSeed, 0, n - 1);
        uint256 count = n - first;
        bytes memory packed = Batches.packLeaves(leaves, classIndexes, first, count);
        bytes32[] memory queue = harness.exposedHashLeaves(batchId, first, classIds, packed, 5);
        assertEq(queue.length, count + 5, "queue length: leaves and steps");
        for (uint256 i = 0; i < count; ++i) {
            assertEq(queue[i], Batches.hashOf(leaves[first + i]), "packed leaf hash == tree leaf hash");
        }
    }

    /// @dev A leaf whose amount (1 .. 2^64 - 1) and first serial (0 .. 2^64 - 1) fit the packing.
    function _packableLeaf(uint256 r, uint256 batchId, uint256 index, uint256 classId)
        internal
        pure
        returns (ICCToken.Leaf memory l)
    {
        uint256 amount = 1 + uint64(r) % type(uint64).max;
        uint256 first = uint64(r >> 64);
        address recipient = address(uint160(r >> 96) | 1);
        l = ICCToken.Leaf(batchId, index, classId, recipient, amount, first, first + amount - 1);
    }
}
