// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Test-only contract wallet that re-enters the token from its ERC-1155 receive hooks
/// @notice Never deployed by the bridge. Tests use it as a hostile token holder: `arm` stores one
/// call that the next receive hook makes back into a target (e.g. `claim` of the leaf being
/// minted, or `retire` of more than is left), records how that call ended and then accepts the
/// tokens (or refuses them when `rejectTokens` is set). `execute` lets the test act as this
/// contract, and `isValidSignature` makes it an ERC-1271 wallet of `owner`.
contract ReentrantReceiver is IERC1155Receiver, IERC1271 {
    address public owner;
    address public target;
    bytes public reentryCall;
    bool public armed;
    bool public reentered;
    bool public reentrySucceeded;
    bytes public reentryResult;
    uint256 public hookCalls;
    bool public rejectTokens;

    error ExecutionFailed(bytes reason);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice Makes the next receive hook call `target_` with `call`, once.
    function arm(address target_, bytes calldata call) external {
        target = target_;
        reentryCall = call;
        armed = true;
        reentered = false;
    }

    /// @notice Makes the receive hooks refuse (wrong magic value) or accept tokens.
    function setRejectTokens(bool reject) external {
        rejectTokens = reject;
    }

    /// @notice Calls `to` with `call` as this contract; bubbles a revert up unchanged.
    function execute(address to, bytes calldata call) external returns (bytes memory result) {
        bool ok;
        (ok, result) = to.call(call);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        _hook();
        return rejectTokens ? bytes4(0xdeadbeef) : IERC1155Receiver.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        returns (bytes4)
    {
        _hook();
        return rejectTokens ? bytes4(0xdeadbeef) : IERC1155Receiver.onERC1155BatchReceived.selector;
    }

    /// @notice ERC-1271: valid when `owner` signed `hash`.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }

    function _hook() private {
        hookCalls += 1;
        if (!armed) return;
        armed = false;
        reentered = true;
        (reentrySucceeded, reentryResult) = target.call(reentryCall);
    }
}
