// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {vm} from "./foundry/Vm.sol";
import {ICCToken} from "../src/ICCToken.sol";
import {TokenFixture} from "./foundry/TokenFixture.sol";
import {Batches} from "./foundry/Batches.sol";

/// @dev Property fuzzing of {ICCToken-mintLeaves} and {ICCToken-claim} on real batches (up to
/// 600 leaves): honest ranges and claims mint exactly their leaves; every tampering either mints
/// exactly what the honest call mints or reverts; the minted bitmap equals a naive one.
contract MintPropertiesTest is TokenFixture {
    uint256 internal constant TAMPER_KINDS = 16;

    struct Call {
        uint256 batchId;
        uint256 first;
        uint256[] classIds;
        bytes leaves;
        bytes32[] proof;
        uint256[] flagWords;
    }

    function _honestCall(Batches.Batch memory b, uint256 first, uint256 count) internal pure returns (Call memory c) {
        c.batchId = b.batchId;
        c.first = first;
        c.classIds = b.classIds;
        c.leaves = Batches.packLeaves(b.leaves, b.classIndexes, first, count);
        (bytes32[] memory proof, uint256[] memory flagWords) = Batches.packedRangeProof(b.tree, first, count);
        c.proof = proof;
        c.flagWords = flagWords;
    }

    function _mint(Call memory c) internal {
        token.mintLeaves(c.batchId, c.first, c.classIds, c.leaves, c.proof, c.flagWords);
    }

    function _tryMint(Call memory c) internal returns (bool ok) {
        try token.mintLeaves(c.batchId, c.first, c.classIds, c.leaves, c.proof, c.flagWords) {
            ok = true;
        } catch {
            ok = false;
        }
    }

    /// @dev An honest range mints exactly its leaves: each recipient's balance of each class grows
    /// by its leaves' amounts, the supplies by their sum, the bitmap marks exactly the range, and
    /// the range cannot be minted again, in part or whole.
    /// forge-config: default.fuzz.runs = 128
    function testFuzz_honestRangeMintsExactlyItsLeaves(uint256 seed, uint256 nSeed, uint256 firstSeed, uint256 countSeed)
        public
    {
        uint256 n = bound(nSeed, 1, 600);
        Batches.Batch memory b = commitRandom(seed, n, type(uint64).max);
        uint256 first = bound(firstSeed, 0, n - 1);
        uint256 count = bound(countSeed, 1, n - first);
        uint256[3][4] memory expected; // recipient, class: the balance the mint must leave
        for (uint256 r = 0; r < 4; ++r) {
            for (uint256 c = 0; c < 3; ++c) expected[r][c] = token.balanceOf(recipients[r], classIds[c]);
        }
        uint256 total = 0;
        for (uint256 i = first; i < first + count; ++i) {
            ICCToken.Leaf memory l = b.leaves[i];
            uint256 r = uint160(l.recipient) - 0xA11CE0;
            expected[r][b.classIndexes[i]] += l.amount;
            total += l.amount;
        }
        uint256 supplyBefore = token.totalSupply();
        _mint(_honestCall(b, first, count));
        uint256 minted = 0;
        for (uint256 c = 0; c < 3; ++c) {
            uint256 classTotal = 0;
            for (uint256 r = 0; r < 4; ++r) {
                assertEq(token.balanceOf(recipients[r], classIds[c]), expected[r][c], "balance after honest mint");
                classTotal += expected[r][c];
            }
            assertEq(token.totalSupply(classIds[c]), classTotal, "class supply after honest mint");
            minted += classTotal;
        }
        assertEq(token.totalSupply(), supplyBefore + total, "total supply after honest mint");
        assertEq(token.totalSupply(foreignClass), 0, "foreign class untouched");
        bool[] memory naive = new bool[](n);
        for (uint256 i = first; i < first + count; ++i) naive[i] = true;
        assertBitmap(b.batchId, naive, "bitmap after honest mint");
        assertEq(token.batch(b.batchId).mintedLeaves, count, "minted leaf count");
        // Any range overlapping the minted one now reverts, naming its lowest minted leaf.
        uint256 again = bound(uint256(keccak256(abi.encode(seed, "again"))), first, first + count - 1);
        uint256 start = again > 0 && seed % 2 == 0 ? again - 1 : again;
        uint256 againCount = bound(seed >> 128, again - start + 1, n - start);
        Call memory call = _honestCall(b, start, againCount);
        uint256 lowest = start < first ? first : start;
        vm.expectRevert(abi.encodeWithSelector(ICCToken.LeafAlreadyMinted.selector, b.batchId, lowest));
        _mint(call);
    }

    /// @dev Every kind of tampering with a mint's arguments either mints exactly what the honest
    /// call mints, or reverts (and so mints nothing). Kinds: 0 a flag bit flipped (bits past the
    /// last flag are ignored), 1 a proof hash replaced, 2 another first index, 3 two leaves
    /// swapped, 4 a class index changed, 5 an amount changed, 6 a first serial changed, 7 a
    /// recipient changed (zero included), 8 a leaf dropped, 9 a leaf duplicated, 10 a leaf's class
    /// index pointed at a duplicate of its class id, 11 a class id replaced by a foreign
    /// (registered, unused) one, 12 by an unregistered one, 13 a flag word added or dropped,
    /// 14 a proof hash dropped or added, 15 another batch id.
    function testFuzz_tamperedMintMintsTheSameOrNothing(
        uint256 seed,
        uint256 nSeed,
        uint256 firstSeed,
        uint256 countSeed,
        uint256 kind,
        uint256 position
    ) public {
        uint256 n = bound(nSeed, 2, 400);
        Batches.Batch memory b = commitRandom(seed, n, 1000);
        Batches.Batch memory other = commitRandom(seed ^ 1, n, 1000); // a second batch, for kind 15
        uint256 first = bound(firstSeed, 0, n - 1);
        uint256 count = bound(countSeed, 1, n - first);
        Call memory honest = _honestCall(b, first, count);

        uint256 snapshot = vm.snapshotState();
        _mint(honest);
        bytes32 honestState = fingerprint(b.batchId, n);
        bytes32 otherState = fingerprint(other.batchId, n);
        vm.revertToState(snapshot);
        bytes32 beforeState = fingerprint(b.batchId, n);

        Call memory c = _tamper(honest, b, kind % TAMPER_KINDS, position, seed, other.batchId);
        if (_tryMint(c)) {
            assertEq(fingerprint(b.batchId, n), honestState, "a tampered mint minted something else");
            assertEq(fingerprint(other.batchId, n), otherState, "a tampered mint touched another batch");
        } else {
            assertEq(fingerprint(b.batchId, n), beforeState, "a reverted mint changed state");
        }
    }

    function _tamper(
        Call memory honest,
        Batches.Batch memory b,
        uint256 kind,
        uint256 position,
        uint256 seed,
        uint256 otherBatchId
    ) internal view returns (Call memory c) {
        c = Call(honest.batchId, honest.first, honest.classIds, honest.leaves, honest.proof, honest.flagWords);
        uint256 count = c.leaves.length / 37;
        uint256 leaf = position % count;
        uint256 offset = leaf * 37;
        uint256 r = uint256(keccak256(abi.encode(seed, position, "tamper")));
        if (kind == 0) {
            uint256[] memory words = _copy(c.flagWords);
            if (words.length > 0) words[position % words.length] ^= uint256(1) << (r % 256);
            c.flagWords = words;
        } else if (kind == 1) {
            bytes32[] memory proof = _copyHashes(c.proof);
            if (proof.length > 0) proof[position % proof.length] = bytes32(r);
            c.proof = proof;
        } else if (kind == 2) {
            c.first = r % 3 == 0 ? r : r % (b.leaves.length + 2);
        } else if (kind == 3) {
            c.leaves = _swapLeaves(c.leaves, leaf, (leaf + 1 + r % count) % count);
        } else if (kind == 4) {
            c.leaves = _setByte(c.leaves, offset + 20, uint8(r));
        } else if (kind == 5) {
            c.leaves = _setUint64(c.leaves, offset + 21, uint64(r));
        } else if (kind == 6) {
            c.leaves = _setUint64(c.leaves, offset + 29, uint64(r));
        } else if (kind == 7) {
            address to = r % 4 == 0 ? address(0) : recipients[r % recipients.length];
            c.leaves = _setRecipient(c.leaves, offset, to);
        } else if (kind == 8) {
            c.leaves = bytes.concat(_slice(c.leaves, 0, offset), _slice(c.leaves, offset + 37, c.leaves.length));
        } else if (kind == 9) {
            c.leaves = bytes.concat(_slice(c.leaves, 0, offset + 37), _slice(c.leaves, offset, c.leaves.length));
        } else if (kind == 10) {
            uint256[] memory ids = new uint256[](c.classIds.length + 1);
            for (uint256 k = 0; k < c.classIds.length; ++k) ids[k] = c.classIds[k];
            uint8 classIndex = uint8(c.leaves[offset + 20]);
            ids[c.classIds.length] = c.classIds[classIndex];
            c.classIds = ids;
            if (r % 2 == 0) c.leaves = _setByte(c.leaves, offset + 20, uint8(c.classIds.length - 1));
        } else if (kind == 11 || kind == 12) {
            uint256[] memory ids = _copy(c.classIds);
            ids[r % ids.length] = kind == 11 ? foreignClass : unregisteredClass;
            c.classIds = ids;
        } else if (kind == 13) {
            uint256[] memory words = new uint256[](r % 2 == 0 || c.flagWords.length == 0 ? c.flagWords.length + 1 : c.flagWords.length - 1);
            for (uint256 k = 0; k < words.length && k < c.flagWords.length; ++k) words[k] = c.flagWords[k];
            c.flagWords = words;
        } else if (kind == 14) {
            bytes32[] memory proof = new bytes32[](r % 2 == 0 || c.proof.length == 0 ? c.proof.length + 1 : c.proof.length - 1);
            for (uint256 k = 0; k < proof.length && k < c.proof.length; ++k) proof[k] = c.proof[k];
            if (proof.length > c.proof.length) proof[proof.length - 1] = bytes32(r);
            c.proof = proof;
        } else {
            c.batchId = otherBatchId;
        }
    }

    /// @dev An honest claim mints exactly its leaf; the leaf can then be neither claimed again nor
    /// minted in a range.
    /// forge-config: default.fuzz.runs = 128
    function testFuzz_honestClaimMintsExactlyItsLeaf(uint256 seed, uint256 nSeed, uint256 indexSeed) public {
        uint256 n = bound(nSeed, 1, 600);
        Batches.Batch memory b = commitRandom(seed, n, type(uint64).max);
        uint256 index = bound(indexSeed, 0, n - 1);
        ICCToken.Leaf memory l = b.leaves[index];
        uint256 before = token.balanceOf(l.recipient, l.classId);
        uint256 supply = token.totalSupply(l.classId);
        bytes32[] memory proof = Batches.proofOf(b, index);
        token.claim(l, proof);
        assertEq(token.balanceOf(l.recipient, l.classId), before + l.amount, "balance after claim");
        assertEq(token.totalSupply(l.classId), supply + l.amount, "supply after claim");
        bool[] memory naive = new bool[](n);
        naive[index] = true;
        assertBitmap(b.batchId, naive, "bitmap after claim");
        vm.expectRevert(abi.encodeWithSelector(ICCToken.LeafAlreadyMinted.selector, b.batchId, index));
        token.claim(l, proof);
        Call memory range = _honestCall(b, 0, n);
        vm.expectRevert(abi.encodeWithSelector(ICCToken.LeafAlreadyMinted.selector, b.batchId, index));
        _mint(range);
    }

    /// @dev Every tampering with a claim (each field of the leaf, a proof hash replaced, dropped
    /// or added) either mints exactly what the honest claim mints or reverts.
    function testFuzz_tamperedClaimMintsTheSameOrNothing(
        uint256 seed,
        uint256 nSeed,
        uint256 indexSeed,
        uint256 kind,
        uint256 value
    ) public {
        uint256 n = bound(nSeed, 1, 300);
        Batches.Batch memory b = commitRandom(seed, n, 1000);
        uint256 index = bound(indexSeed, 0, n - 1);
        ICCToken.Leaf memory l = b.leaves[index];
        bytes32[] memory proof = Batches.proofOf(b, index);
        uint256 snapshot = vm.snapshotState();
        token.claim(l, proof);
        bytes32 honestState = fingerprint(b.batchId, n);
        vm.revertToState(snapshot);
        bytes32 beforeState = fingerprint(b.batchId, n);

        kind = kind % 10;
        if (kind == 0) l.batchId = value;
        else if (kind == 1) l.leafIndex = value % 2 == 0 ? value : value % (n + 1);
        else if (kind == 2) l.classId = [foreignClass, unregisteredClass, classIds[value % 3], value][value % 4];
        else if (kind == 3) l.recipient = address(uint160(value % 2 == 0 ? value : value % 4 + 0xA11CE0));
        else if (kind == 4) l.amount = value;
        else if (kind == 5) l.firstSerial = value;
        else if (kind == 6) l.lastSerial = value;
        else if (kind == 7 && proof.length > 0) proof[value % proof.length] = bytes32(value);
        else if (kind == 8 && proof.length > 0) {
            assembly ("memory-safe") {
                mstore(proof, sub(mload(proof), 1))
            }
        } else if (kind == 9) {
            bytes32[] memory longer = new bytes32[](proof.length + 1);
            for (uint256 k = 0; k < proof.length; ++k) longer[k] = proof[k];
            longer[proof.length] = bytes32(value);
            proof = longer;
        }
        try token.claim(l, proof) {
            assertEq(fingerprint(b.batchId, n), honestState, "a tampered claim minted something else");
        } catch {
            assertEq(fingerprint(b.batchId, n), beforeState, "a reverted claim changed state");
        }
    }

    /// @dev Random sequences of range mints and claims on one batch: each succeeds exactly when
    /// none of its leaves was minted before, and the bitmap equals a naive one after every step.
    /// forge-config: default.fuzz.runs = 128
    function testFuzz_mintSequencesMatchNaiveBitmap(uint256 seed, uint256 nSeed, uint256 stepsSeed) public {
        uint256 n = bound(nSeed, 1, 600);
        Batches.Batch memory b = commitRandom(seed, n, 1000);
        bool[] memory naive = new bool[](n);
        uint256 steps = bound(stepsSeed, 1, 12);
        for (uint256 s = 0; s < steps; ++s) {
            uint256 r = draw(seed, 100 + s);
            uint256 first = r % n;
            uint256 count = r % 3 == 0 ? 1 : 1 + (r >> 16) % (n - first < 300 ? n - first : 300);
            bool free = true;
            for (uint256 i = first; i < first + count; ++i) {
                if (naive[i]) free = false;
            }
            bool ok;
            if (count == 1 && (r >> 8) % 2 == 0) {
                try token.claim(b.leaves[first], Batches.proofOf(b, first)) {
                    ok = true;
                } catch {
                    ok = false;
                }
            } else {
                ok = _tryMint(_honestCall(b, first, count));
            }
            assertTrue(ok == free, "a mint succeeded exactly when its leaves were free");
            if (ok) {
                for (uint256 i = first; i < first + count; ++i) naive[i] = true;
            }
            assertBitmap(b.batchId, naive, "bitmap after a step");
        }
    }

    function _copy(uint256[] memory a) internal pure returns (uint256[] memory out) {
        out = new uint256[](a.length);
        for (uint256 i = 0; i < a.length; ++i) out[i] = a[i];
    }

    function _copyHashes(bytes32[] memory a) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](a.length);
        for (uint256 i = 0; i < a.length; ++i) out[i] = a[i];
    }

    function _slice(bytes memory data, uint256 from, uint256 to) internal pure returns (bytes memory out) {
        out = new bytes(to - from);
        for (uint256 i = from; i < to; ++i) out[i - from] = data[i];
    }

    function _setByte(bytes memory data, uint256 offset, uint8 value) internal pure returns (bytes memory out) {
        out = _slice(data, 0, data.length);
        out[offset] = bytes1(value);
    }

    function _setUint64(bytes memory data, uint256 offset, uint64 value) internal pure returns (bytes memory out) {
        out = _slice(data, 0, data.length);
        for (uint256 i = 0; i < 8; ++i) out[offset + i] = bytes1(uint8(value >> (56 - 8 * i)));
    }

    function _setRecipient(bytes memory data, uint256 offset, address to) internal pure returns (bytes memory out) {
        out = _slice(data, 0, data.length);
        for (uint256 i = 0; i < 20; ++i) out[offset + i] = bytes1(uint8(uint160(to) >> (152 - 8 * i)));
    }

    function _swapLeaves(bytes memory data, uint256 i, uint256 j) internal pure returns (bytes memory out) {
        out = _slice(data, 0, data.length);
        for (uint256 k = 0; k < 37; ++k) {
            (out[i * 37 + k], out[j * 37 + k]) = (data[j * 37 + k], data[i * 37 + k]);
        }
    }
}
