// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm, vm} from "./Vm.sol";

/// @dev The assertions and input shaping the forge tests use (in place of forge-std's Test).
/// A failed assertion reverts with a message naming the values, which fails the test.
abstract contract TestBase {
    error AssertionFailed(string what, uint256 left, uint256 right);
    error AssertionFailedBytes32(string what, bytes32 left, bytes32 right);

    function assertEq(uint256 left, uint256 right, string memory what) internal pure {
        if (left != right) revert AssertionFailed(what, left, right);
    }

    function assertEq(bytes32 left, bytes32 right, string memory what) internal pure {
        if (left != right) revert AssertionFailedBytes32(what, left, right);
    }

    function assertEq(address left, address right, string memory what) internal pure {
        if (left != right) revert AssertionFailed(what, uint160(left), uint160(right));
    }

    function assertTrue(bool condition, string memory what) internal pure {
        if (!condition) revert AssertionFailed(what, 0, 1);
    }

    /// @dev `x` mapped into [lo, hi] (uniformly enough for fuzzing; keeps every input usable
    /// instead of rejecting it).
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (lo == 0 && hi == type(uint256).max) return x;
        return lo + x % (hi - lo + 1);
    }

    /// @dev The `i`-th pseudo-random word of a stream derived from `seed` (deterministic).
    function draw(uint256 seed, uint256 i) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, i)));
    }

    /// @dev The revert data's selector (zero for an empty revert).
    function selectorOf(bytes memory reason) internal pure returns (bytes4 selector) {
        if (reason.length >= 4) {
            assembly ("memory-safe") {
                selector := mload(add(reason, 0x20))
            }
        }
    }
}
