// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ICR-compatible lookup of the bridge's credit token contracts
/// @notice Answers the views of ICR's CarbonContractRegistry (Polygon) that marketplace adapters
/// call, so an adapter written for ICR needs only this contract's address: KlimaDAO's ICR
/// adapter, for one, accepts a token only when `getProjectIdFromAddress(token) != 0` and then
/// calls the token's ICR-compatible `retire(...)`. ICR deploys one ERC-1155 contract per project;
/// this bridge has one ICCToken holding every project's classes, so the token is registered as
/// one project contract under a non-zero registry id (the bridge's deployment uses 1), and
/// serializations may be registered to resolve to it. ICR's vaults and beacons have no
/// counterpart here: those views answer the zero address.
contract ICRCarbonContractRegistry is AccessControl {
    /// @notice May register project contracts and serializations.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    mapping(address projectAddress => uint256 projectId) private _projectIdOf;
    mapping(uint256 projectId => address projectAddress) private _projectAddressOf;
    mapping(bytes32 serializationHash => address projectAddress) private _serializationAddressOf;

    /// @notice `projectAddress` answers to `projectId` from now on.
    event ProjectContractRegistered(uint256 indexed projectId, address indexed projectAddress);
    /// @notice `serialization` (an ICR vintage serialization) resolves to `projectAddress`.
    event SerializationRegistered(string serialization, address indexed projectAddress);

    error ZeroProjectId();
    error NotAContract(address account);
    error ProjectIdTaken(uint256 projectId, address registeredAddress);
    error ProjectContractTaken(address projectAddress, uint256 registeredId);
    error UnknownProjectContract(address projectAddress);
    error EmptySerialization();
    error SerializationTaken(string serialization, address registeredAddress);

    constructor(address admin, address registrar) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, registrar);
    }

    /// @notice Registers a token contract under a project id. Both are registered once: an id or
    /// an address already registered reverts, as do id 0 (the "not registered" answer) and an
    /// address without code.
    function registerProjectContract(uint256 projectId, address projectAddress) external onlyRole(REGISTRAR_ROLE) {
        if (projectId == 0) revert ZeroProjectId();
        if (projectAddress.code.length == 0) revert NotAContract(projectAddress);
        address registeredAddress = _projectAddressOf[projectId];
        if (registeredAddress != address(0)) revert ProjectIdTaken(projectId, registeredAddress);
        uint256 registeredId = _projectIdOf[projectAddress];
        if (registeredId != 0) revert ProjectContractTaken(projectAddress, registeredId);
        _projectIdOf[projectAddress] = projectId;
        _projectAddressOf[projectId] = projectAddress;
        emit ProjectContractRegistered(projectId, projectAddress);
    }

    /// @notice Makes {getSerializationAddress} answer `projectAddress` (a registered project
    /// contract) for `serialization`; a serialization is registered once.
    function registerSerialization(string calldata serialization, address projectAddress)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        if (bytes(serialization).length == 0) revert EmptySerialization();
        if (_projectIdOf[projectAddress] == 0) revert UnknownProjectContract(projectAddress);
        bytes32 key = keccak256(bytes(serialization));
        address registeredAddress = _serializationAddressOf[key];
        if (registeredAddress != address(0)) revert SerializationTaken(serialization, registeredAddress);
        _serializationAddressOf[key] = projectAddress;
        emit SerializationRegistered(serialization, projectAddress);
    }

    /// @notice The project id of a registered token contract; 0 for any other address.
    function getProjectIdFromAddress(address projectAddress) external view returns (uint256) {
        return _projectIdOf[projectAddress];
    }

    /// @notice The token contract registered under `projectId`; the zero address if none.
    function getProjectAddressFromId(uint256 projectId) external view returns (address) {
        return _projectAddressOf[projectId];
    }

    /// @notice The token contract a serialization was registered to; the zero address if none.
    function getSerializationAddress(string calldata serialization) external view returns (address) {
        return _serializationAddressOf[keccak256(bytes(serialization))];
    }

    /// @notice ICR's verified vaults have no counterpart in this bridge: always the zero address.
    function getVerifiedVaultAddress(uint256) external pure returns (address) {
        return address(0);
    }

    /// @notice ICR's token vault beacon has no counterpart in this bridge: the zero address.
    function getTokenVaultBeaconAddress() external pure returns (address) {
        return address(0);
    }

    /// @notice ICR's project beacon has no counterpart in this bridge: the zero address.
    function getBeaconAddress() external pure returns (address) {
        return address(0);
    }
}
