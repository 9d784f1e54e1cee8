// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @dev The few Foundry cheatcodes the forge tests use (forge-std is not a dependency: npm's copy
/// is an old unofficial one). The cheatcode contract lives at this fixed address in every forge run.
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function assume(bool condition) external pure;
    function warp(uint256 timestamp) external;
    function expectRevert(bytes4 selector) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert() external;
    function label(address account, string calldata name) external;
    function etch(address target, bytes calldata code) external;
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
    function load(address target, bytes32 slot) external view returns (bytes32 data);
}

Vm constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
