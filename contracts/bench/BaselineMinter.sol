// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Supply} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Supply.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title Benchmark baseline: one transaction per serial block, no Merkle batching
/// @notice Never deployed by the bridge; scripts/bench_gas.py compares ICCToken's multiproof and
/// claim paths with it. The plain design: a minter role mints each serial block in its own
/// transaction, guarded against a second mint of the same block by one mapping entry, and
/// emits the block's serial range.
contract BaselineMinter is ERC1155Supply, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    mapping(bytes32 blockKey => bool) public minted;

    error SerialBlockAlreadyMinted(uint256 classId, uint256 firstSerial, uint256 lastSerial);
    error EmptySerialBlock(uint256 firstSerial, uint256 lastSerial);

    event SerialBlockMinted(uint256 indexed classId, address indexed recipient, uint256 firstSerial, uint256 lastSerial);

    constructor(address minter) ERC1155("") {
        _grantRole(DEFAULT_ADMIN_ROLE, minter);
        _grantRole(MINTER_ROLE, minter);
    }

    /// @notice Mints the serial block `firstSerial..lastSerial` of class `classId` to `to`.
    /// @dev Requirements: caller has MINTER_ROLE; `lastSerial` >= `firstSerial`; the block was
    /// not minted before.
    function mintSerialBlock(address to, uint256 classId, uint256 firstSerial, uint256 lastSerial)
        external
        onlyRole(MINTER_ROLE)
    {
        if (lastSerial < firstSerial) revert EmptySerialBlock(firstSerial, lastSerial);
        bytes32 key = keccak256(abi.encode(classId, firstSerial, lastSerial));
        if (minted[key]) revert SerialBlockAlreadyMinted(classId, firstSerial, lastSerial);
        minted[key] = true;
        _mint(to, classId, lastSerial - firstSerial + 1, "");
        emit SerialBlockMinted(classId, to, firstSerial, lastSerial);
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC1155, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
