// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";

/// @notice The two calls an adapter written for ICR makes (shapes as in ICR's published
/// interfaces): the registry lookup and the project token's retire.
interface IICRProjectRegistry {
    function getProjectIdFromAddress(address projectAddress) external view returns (uint256);
}

interface IICRProjectToken {
    function retire(
        uint256 tokenId,
        uint256 amount,
        address beneficiary,
        string memory retireeName,
        string memory customUri,
        string memory comment,
        bytes memory data
    ) external returns (uint256 nftTokenId);
}

/// @title Test-only marketplace adapter that retires ICR credits the way KlimaDAO's LibICRCarbon does
/// @notice Never deployed by the bridge. It holds the credits it retires (as an aggregator's
/// contract does), accepts a token only when the ICR registry knows it
/// (`getProjectIdFromAddress(token) != 0`), and retires with an empty custom URI and empty `data`.
contract ICRAdapterProbe is ERC1155Holder {
    address public immutable registry;

    error NotAnICRProject(address token);

    constructor(address registry_) {
        registry = registry_;
    }

    function isValid(address token) public view returns (bool) {
        return IICRProjectRegistry(registry).getProjectIdFromAddress(token) != 0;
    }

    function retireICR(
        address projectToken,
        uint256 tokenId,
        uint256 amount,
        address beneficiaryAddress,
        string memory beneficiaryString,
        string memory retirementMessage
    ) external returns (uint256 nftTokenId) {
        if (!isValid(projectToken)) revert NotAnICRProject(projectToken);
        bytes memory data;
        nftTokenId = IICRProjectToken(projectToken).retire(
            tokenId, amount, beneficiaryAddress, beneficiaryString, "", retirementMessage, data
        );
    }
}
