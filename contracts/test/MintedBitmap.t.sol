// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {vm} from "./foundry/Vm.sol";
import {TestBase} from "./foundry/TestBase.sol";
import {ICCToken} from "../src/ICCToken.sol";
import {ICCTokenHarness} from "./foundry/generated/ICCTokenHarness.sol";

/// @dev ICCToken's `_markRange` (the minted bitmap, marked a word at a time) against a naive
/// bitmap of one flag per leaf, over random ranges in a window of four words anywhere below 2^64
/// leaves, so ranges start, end and cross word boundaries; and `_lowestBit` against a plain loop.
contract MintedBitmapTest is TestBase {
    uint256 internal constant WINDOW = 1024; // four bitmap words
    uint256 internal constant BATCH = 7;
    ICCTokenHarness internal harness;

    function setUp() public {
        harness = new ICCTokenHarness("ipfs://{id}", address(1), address(1), address(1), address(1), 1 days);
    }

    /// @dev Each mark succeeds exactly when its range is free in the naive bitmap, reverts naming
    /// the lowest marked leaf otherwise (changing nothing), and the words equal the naive ones.
    /// forge-config: default.fuzz.runs = 128
    function testFuzz_markRangeMatchesNaiveBitmap(uint256 seed, uint256 baseSeed, uint256 stepsSeed) public {
        // The window starts on a word boundary, anywhere up to the last words below 2^64 leaves.
        uint256 base = bound(baseSeed, 0, ((uint256(1) << 64) - WINDOW) >> 8) << 8;
        bool[] memory naive = new bool[](WINDOW);
        uint256 steps = bound(stepsSeed, 1, 24);
        for (uint256 s = 0; s < steps; ++s) {
            uint256 r = draw(seed, s);
            uint256 first = r % WINDOW;
            // Short ranges mostly, whole words and multi-word ranges sometimes.
            uint256 longest = WINDOW - first;
            uint256 count = 1 + (r >> 16) % ((r >> 8) % 4 == 0 ? longest : (longest < 40 ? longest : 40));
            uint256 lowest = type(uint256).max;
            for (uint256 i = first + count; i > first; --i) {
                if (naive[i - 1]) lowest = i - 1;
            }
            if (lowest == type(uint256).max) {
                harness.exposedMarkRange(BATCH, base + first, count);
                for (uint256 i = first; i < first + count; ++i) naive[i] = true;
            } else {
                vm.expectRevert(abi.encodeWithSelector(ICCToken.LeafAlreadyMinted.selector, BATCH, base + lowest));
                harness.exposedMarkRange(BATCH, base + first, count);
            }
            _assertWords(base, naive);
        }
    }

    function _assertWords(uint256 base, bool[] memory naive) internal view {
        // One word either side of the window stays empty.
        uint256[] memory words = harness.mintedLeafWords(BATCH, (base >> 8) == 0 ? 0 : (base >> 8) - 1, WINDOW / 256 + 2);
        uint256 offset = (base >> 8) == 0 ? 0 : 1;
        if (offset == 1) assertEq(words[0], 0, "word before the window");
        for (uint256 w = 0; w < WINDOW / 256; ++w) {
            uint256 expected = 0;
            for (uint256 b = 0; b < 256; ++b) {
                if (naive[w * 256 + b]) expected |= uint256(1) << b;
            }
            assertEq(words[offset + w], expected, "bitmap word");
        }
        assertEq(words[offset + WINDOW / 256], 0, "word after the window");
    }

    function testFuzz_lowestBit(uint256 word) public view {
        vm.assume(word != 0);
        uint256 bit = 0;
        while ((word >> bit) & 1 == 0) ++bit;
        assertEq(harness.exposedLowestBit(word), bit, "lowest set bit");
    }
}
