// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Supply} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Supply.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title International Carbon Credit (ICC) token mirrored from the International Carbon Registry
/// @notice One token is one whole tonne of CO2-e (`decimals() == 0`); ICR's own contracts count
/// 10^18 units per tonne, this bridge counts whole tonnes because every tonne has a serial.
/// The off-chain registry is the source of truth: it registers credit classes, commits one
/// Merkle root per batch of serial blocks held in bridge custody, and tokens are minted only
/// against proofs of those leaves. Retirements burn tokens and are turned back into registry
/// retirements by the bridge's sync from the {Retired} event.
///
/// Token id encoding (see {classIdOf}):
///   bits   0..31  letter of authorization number (0 for standard ICCs)
///   bits  32..39  designation: 0 standard ICC, 1 Article 6.2 ICC
///   bits  40..55  vintage year
///   bits  56..119 ICR project number
///   bit   255     set for retirement certificate tokens (id = bit 255 | retirement id)
contract ICCToken is ERC1155Supply, AccessControl, Pausable, EIP712 {
    /// @notice May register credit classes, commit batch roots and set CA status.
    bytes32 public constant REGISTRY_ROLE = keccak256("REGISTRY_ROLE");
    /// @notice May pause and unpause minting and redemption.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Tonnes of CO2-e per token unit: 1 (whole tonnes; ICR's own contracts use 10^18 units).
    uint256 public constant TONNES_PER_TOKEN = 1;
    /// @notice Unit of account of every credit token.
    string public constant UNIT = "tCO2e";

    uint256 public constant CERTIFICATE_FLAG = 1 << 255;

    /// @notice Retirement purposes (`RetirementDetails.purpose`) and bits of `CreditClass.authorizedUses`.
    uint8 public constant PURPOSE_VOLUNTARY = 0;
    uint8 public constant PURPOSE_CORSIA = 1;
    uint8 public constant PURPOSE_NDC = 2;
    uint8 public constant PURPOSE_OTHER_INTERNATIONAL = 3;

    /// @notice Corresponding adjustment status of an Article 6.2 class (seed 003 §II.2).
    uint8 public constant CA_NOT_APPLICABLE = 0;
    uint8 public constant CA_PENDING = 1;
    uint8 public constant CA_APPLIED = 2;
    uint8 public constant CA_NOT_APPLIED = 3;

    bytes32 private constant COMMIT_BATCH_TYPEHASH =
        keccak256("CommitBatch(uint256 batchId,bytes32 root,uint256 leafCount)");

    struct CreditClass {
        uint64 projectNumber;
        uint16 vintage;
        bool article6;
        uint32 letterNumber;
        bytes3 hostCountry;
        uint8 authorizedUses;
        uint8 caStatus;
        bool registered;
    }

    struct Batch {
        bytes32 root;
        uint64 leafCount;
        uint64 mintedLeaves;
    }

    /// @notice One leaf of a mint batch: a serial block (inclusive unit range) for a recipient.
    struct Leaf {
        uint256 batchId;
        uint256 leafIndex;
        uint256 classId;
        address recipient;
        uint256 amount;
        uint256 firstSerial;
        uint256 lastSerial;
    }

    /// @notice ABI layout of the `data` argument of {retire} when it is not empty.
    struct RetirementDetails {
        uint8 purpose;
        string beneficiaryName;
        string beneficiaryAddress;
        string organizationId;
        uint64 consumptionStart;
        uint64 consumptionEnd;
        string corsiaOperator;
        string corsiaState;
        uint16 compliancePeriodStart;
        uint16 compliancePeriodEnd;
    }

    mapping(uint256 classId => CreditClass) private _classes;
    mapping(uint256 batchId => Batch) private _batches;
    mapping(bytes32 root => bool) private _rootCommitted;
    mapping(uint256 batchId => mapping(uint256 word => uint256)) private _mintedBitmap;
    uint256 public retirementCount;

    error ClassAlreadyRegistered(uint256 classId);
    error ClassNotRegistered(uint256 classId);
    error ClassIdMismatch(uint256 classId, uint256 expected);
    error InvalidCAStatus(uint8 status);
    error EmptyBatch(uint256 batchId);
    error BatchAlreadyCommitted(uint256 batchId);
    error BatchRootAlreadyCommitted(bytes32 root);
    error BatchNotCommitted(uint256 batchId);
    error SignerNotRegistry(address signer);
    error LeafOutOfRange(uint256 batchId, uint256 leafIndex);
    error LeafFromOtherBatch(uint256 batchId, uint256 leafBatchId);
    error LeafAlreadyMinted(uint256 batchId, uint256 leafIndex);
    error LeafAmountMismatch(uint256 batchId, uint256 leafIndex);
    error InvalidMerkleProof(uint256 batchId);
    error ZeroAmount();
    error NotACreditClass(uint256 tokenId);
    error MalformedRetirementData();
    error UnknownRetirementPurpose(uint8 purpose);
    error PurposeNotAuthorized(uint256 classId, uint8 purpose);
    error CertificateNonTransferable(uint256 certificateId);

    event ClassRegistered(
        uint256 indexed classId, uint64 projectNumber, uint16 vintage, bool article6, uint32 letterNumber
    );
    event CAStatusChanged(uint256 indexed classId, uint8 previousStatus, uint8 newStatus, bytes32 evidenceHash);
    event BatchCommitted(uint256 indexed batchId, bytes32 root, uint256 leafCount, address indexed signer);
    event LeafMinted(uint256 indexed batchId, uint256 leafIndex, uint256 firstSerial, uint256 lastSerial);
    event Retired(
        uint256 indexed retirementId,
        uint256 indexed tokenId,
        address indexed holder,
        address beneficiary,
        uint256 amount,
        string retireeName,
        string customUri,
        string comment,
        bytes data
    );

    /// @param metadataUri ERC-1155 metadata URI with `{id}` substitution, served by the registry API.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and PAUSER_ROLE.
    /// @param registrySigner Receives REGISTRY_ROLE.
    constructor(string memory metadataUri, address admin, address registrySigner)
        ERC1155(metadataUri)
        EIP712("ICR Bridge ICC", "1")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(REGISTRY_ROLE, registrySigner);
    }

    // ----------------------------------------------------------------------------------------
    // Credit classes
    // ----------------------------------------------------------------------------------------

    /// @notice Token id of a credit class (see the encoding in the contract documentation).
    function classIdOf(uint64 projectNumber, uint16 vintage, bool article6, uint32 letterNumber)
        public
        pure
        returns (uint256)
    {
        return (uint256(projectNumber) << 56) | (uint256(vintage) << 40) | (uint256(article6 ? 1 : 0) << 32)
            | uint256(letterNumber);
    }

    /// @notice Registers a credit class before its first mint.
    /// @dev Requirements: caller has REGISTRY_ROLE; `classId` equals {classIdOf} of the class
    /// fields; the class is not yet registered; `caStatus` is a known status.
    function registerClass(uint256 classId, CreditClass calldata info) external onlyRole(REGISTRY_ROLE) {
        uint256 expected = classIdOf(info.projectNumber, info.vintage, info.article6, info.letterNumber);
        if (classId != expected) revert ClassIdMismatch(classId, expected);
        if (_classes[classId].registered) revert ClassAlreadyRegistered(classId);
        if (info.caStatus > CA_NOT_APPLIED) revert InvalidCAStatus(info.caStatus);
        CreditClass storage stored = _classes[classId];
        stored.projectNumber = info.projectNumber;
        stored.vintage = info.vintage;
        stored.article6 = info.article6;
        stored.letterNumber = info.letterNumber;
        stored.hostCountry = info.hostCountry;
        stored.authorizedUses = info.authorizedUses;
        stored.caStatus = info.caStatus;
        stored.registered = true;
        emit ClassRegistered(classId, info.projectNumber, info.vintage, info.article6, info.letterNumber);
    }

    /// @notice The registered metadata of a credit class (`registered` is false if unknown).
    function creditClass(uint256 classId) external view returns (CreditClass memory) {
        return _classes[classId];
    }

    /// @notice Records a registry decision on the corresponding adjustment status of a class.
    /// @dev Requirements: caller has REGISTRY_ROLE; class registered; `status` is a known status.
    /// Emits {CAStatusChanged} and the ERC-1155 {URI} event so indexers refresh the metadata.
    function setCAStatus(uint256 classId, uint8 status, bytes32 evidenceHash) external onlyRole(REGISTRY_ROLE) {
        CreditClass storage info = _requireClass(classId);
        if (status > CA_NOT_APPLIED) revert InvalidCAStatus(status);
        uint8 previous = info.caStatus;
        info.caStatus = status;
        emit CAStatusChanged(classId, previous, status, evidenceHash);
        emit URI(uri(classId), classId);
    }

    /// @notice Token amounts have no fractional part: one unit is one tonne.
    function decimals() external pure returns (uint8) {
        return 0;
    }

    // ----------------------------------------------------------------------------------------
    // Merkle-batched minting
    // ----------------------------------------------------------------------------------------

    /// @notice Commits the Merkle root of a batch of serial-block leaves.
    /// @dev Requirements: caller has REGISTRY_ROLE; `root` non-zero and `leafCount` > 0; neither
    /// the batch id nor the root was committed before.
    function commitBatch(uint256 batchId, bytes32 root, uint256 leafCount) external onlyRole(REGISTRY_ROLE) {
        _commitBatch(batchId, root, leafCount, _msgSender());
    }

    /// @notice Commits a batch root signed off-chain by the registry signer (EIP-712
    /// `CommitBatch(uint256 batchId,bytes32 root,uint256 leafCount)`, domain bound to this chain
    /// and contract); anyone may relay it. A signature cannot be replayed because a batch id
    /// commits once.
    /// @dev Requirements: the recovered signer has REGISTRY_ROLE; same as {commitBatch}.
    function commitBatchWithSignature(uint256 batchId, bytes32 root, uint256 leafCount, bytes calldata signature)
        external
    {
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(COMMIT_BATCH_TYPEHASH, batchId, root, leafCount)));
        address signer = ECDSA.recover(digest, signature);
        if (!hasRole(REGISTRY_ROLE, signer)) revert SignerNotRegistry(signer);
        _commitBatch(batchId, root, leafCount, signer);
    }

    /// @notice The committed root, leaf count and minted-leaf count of a batch.
    function batch(uint256 batchId) external view returns (Batch memory) {
        return _batches[batchId];
    }

    /// @notice Whether a leaf of a batch has been minted.
    function isLeafMinted(uint256 batchId, uint256 leafIndex) public view returns (bool) {
        return (_mintedBitmap[batchId][leafIndex >> 8] >> (leafIndex & 0xff)) & 1 == 1;
    }

    /// @notice Leaf hash as in OpenZeppelin's StandardMerkleTree: keccak256(keccak256(abi.encode(leaf))).
    function leafHash(Leaf calldata leaf) public pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        leaf.batchId,
                        leaf.leafIndex,
                        leaf.classId,
                        leaf.recipient,
                        leaf.amount,
                        leaf.firstSerial,
                        leaf.lastSerial
                    )
                )
            )
        );
    }

    /// @notice Mints many leaves of one batch with a multiproof (the bridge's path; anyone may call).
    /// @dev Requirements: not paused; batch committed; `leaves` non-empty, in multiproof order, all
    /// of this batch, none minted before, each amount equal to its serial range; the multiproof
    /// verifies against the batch root. All leaves are marked before any token is minted, so a
    /// receiver hook re-entering cannot mint a leaf twice.
    function mintLeaves(
        uint256 batchId,
        Leaf[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external whenNotPaused {
        Batch storage committed = _requireBatch(batchId);
        uint256 count = leaves.length;
        if (count == 0) revert EmptyBatch(batchId);
        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            _checkLeaf(committed, batchId, leaves[i]);
            hashes[i] = leafHash(leaves[i]);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, committed.root, hashes)) {
            revert InvalidMerkleProof(batchId);
        }
        for (uint256 i = 0; i < count; ++i) {
            _markMinted(batchId, leaves[i].leafIndex);
        }
        committed.mintedLeaves += uint64(count);
        for (uint256 i = 0; i < count; ++i) {
            _mintLeaf(leaves[i]);
        }
    }

    /// @notice Mints one leaf with its proof (the claim path: holders pull their own tokens).
    /// @dev Requirements: as {mintLeaves} for a single leaf and a single-leaf proof.
    function claim(Leaf calldata leaf, bytes32[] calldata proof) external whenNotPaused {
        Batch storage committed = _requireBatch(leaf.batchId);
        _checkLeaf(committed, leaf.batchId, leaf);
        if (!MerkleProof.verifyCalldata(proof, committed.root, leafHash(leaf))) {
            revert InvalidMerkleProof(leaf.batchId);
        }
        _markMinted(leaf.batchId, leaf.leafIndex);
        committed.mintedLeaves += 1;
        _mintLeaf(leaf);
    }

    // ----------------------------------------------------------------------------------------
    // Retirement
    // ----------------------------------------------------------------------------------------

    /// @notice Retires `amount` tonnes of the caller's credits of class `tokenId`, with the same
    /// selector and semantics as ICR's own retire interface (amounts here are whole tonnes).
    /// If `beneficiary` is neither zero nor the caller, the credits pass to the beneficiary and
    /// are burned there. A non-transferable retirement certificate token
    /// (`CERTIFICATE_FLAG | retirementId`) is minted to the beneficiary.
    /// @param data Empty for a voluntary retirement, else `abi.encode(RetirementDetails)`.
    /// @return certificateId The id of the retirement certificate token.
    /// @dev Requirements: `amount` > 0; `tokenId` is a registered credit class; the caller holds
    /// `amount`; `data` is empty or decodes as {RetirementDetails} with a known purpose that the
    /// class authorizes. Emits {Retired} with everything the registry needs. Allowed while paused.
    function retire(
        uint256 tokenId,
        uint256 amount,
        address beneficiary,
        string calldata retireeName,
        string calldata customUri,
        string calldata comment,
        bytes calldata data
    ) external returns (uint256 certificateId) {
        if (amount == 0) revert ZeroAmount();
        if (tokenId & CERTIFICATE_FLAG != 0) revert NotACreditClass(tokenId);
        CreditClass storage info = _requireClass(tokenId);
        uint8 purpose = PURPOSE_VOLUNTARY;
        if (data.length != 0) {
            try this.decodeRetirementData(data) returns (RetirementDetails memory details) {
                purpose = details.purpose;
            } catch {
                revert MalformedRetirementData();
            }
        }
        if (purpose > PURPOSE_OTHER_INTERNATIONAL) revert UnknownRetirementPurpose(purpose);
        if ((info.authorizedUses >> purpose) & 1 == 0) revert PurposeNotAuthorized(tokenId, purpose);

        address holder = _msgSender();
        address owner = beneficiary == address(0) ? holder : beneficiary;
        if (owner != holder) {
            // ICR semantics: the credits pass to the beneficiary and are burned there. No
            // acceptance check: the beneficiary never holds them past this call.
            uint256[] memory ids = new uint256[](1);
            uint256[] memory values = new uint256[](1);
            ids[0] = tokenId;
            values[0] = amount;
            _update(holder, owner, ids, values);
        }
        _burn(owner, tokenId, amount);
        uint256 retirementId = ++retirementCount;
        emit Retired(retirementId, tokenId, holder, owner, amount, retireeName, customUri, comment, data);
        certificateId = CERTIFICATE_FLAG | retirementId;
        _mint(owner, certificateId, 1, "");
    }

    /// @notice Decodes the `data` argument of {retire}; reverts if it is malformed.
    function decodeRetirementData(bytes calldata data) external pure returns (RetirementDetails memory) {
        return abi.decode(data, (RetirementDetails));
    }

    // ----------------------------------------------------------------------------------------
    // Pausing and interfaces
    // ----------------------------------------------------------------------------------------

    /// @notice Stops minting. Transfers and retirements stay open so no one's tokens are trapped.
    /// @dev Requirements: caller has PAUSER_ROLE; not paused.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes minting.
    /// @dev Requirements: caller has PAUSER_ROLE; paused.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc ERC1155
    function supportsInterface(bytes4 interfaceId) public view override(ERC1155, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    // ----------------------------------------------------------------------------------------
    // Internals
    // ----------------------------------------------------------------------------------------

    function _commitBatch(uint256 batchId, bytes32 root, uint256 leafCount, address signer) private {
        if (root == bytes32(0) || leafCount == 0) revert EmptyBatch(batchId);
        if (_batches[batchId].root != bytes32(0)) revert BatchAlreadyCommitted(batchId);
        if (_rootCommitted[root]) revert BatchRootAlreadyCommitted(root);
        _batches[batchId] = Batch({root: root, leafCount: uint64(leafCount), mintedLeaves: 0});
        _rootCommitted[root] = true;
        emit BatchCommitted(batchId, root, leafCount, signer);
    }

    function _requireBatch(uint256 batchId) private view returns (Batch storage committed) {
        committed = _batches[batchId];
        if (committed.root == bytes32(0)) revert BatchNotCommitted(batchId);
    }

    function _requireClass(uint256 classId) private view returns (CreditClass storage info) {
        info = _classes[classId];
        if (!info.registered) revert ClassNotRegistered(classId);
    }

    function _checkLeaf(Batch storage committed, uint256 batchId, Leaf calldata leaf) private view {
        if (leaf.batchId != batchId) revert LeafFromOtherBatch(batchId, leaf.batchId);
        if (leaf.leafIndex >= committed.leafCount) revert LeafOutOfRange(batchId, leaf.leafIndex);
        if (isLeafMinted(batchId, leaf.leafIndex)) revert LeafAlreadyMinted(batchId, leaf.leafIndex);
        if (leaf.amount == 0 || leaf.lastSerial < leaf.firstSerial || leaf.lastSerial - leaf.firstSerial + 1 != leaf.amount) {
            revert LeafAmountMismatch(batchId, leaf.leafIndex);
        }
        if (!_classes[leaf.classId].registered) revert ClassNotRegistered(leaf.classId);
    }

    function _markMinted(uint256 batchId, uint256 leafIndex) private {
        uint256 word = leafIndex >> 8;
        uint256 bit = 1 << (leafIndex & 0xff);
        uint256 current = _mintedBitmap[batchId][word];
        // A repeated leaf inside one call passes _checkLeaf (nothing marked yet) and fails here.
        if (current & bit != 0) revert LeafAlreadyMinted(batchId, leafIndex);
        _mintedBitmap[batchId][word] = current | bit;
    }

    function _mintLeaf(Leaf calldata leaf) private {
        _mint(leaf.recipient, leaf.classId, leaf.amount, "");
        emit LeafMinted(leaf.batchId, leaf.leafIndex, leaf.firstSerial, leaf.lastSerial);
    }

    /// @dev Retirement certificates are soulbound: they can be minted, never moved or burned.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
    {
        if (from != address(0)) {
            for (uint256 i = 0; i < ids.length; ++i) {
                if (ids[i] & CERTIFICATE_FLAG != 0) revert CertificateNonTransferable(ids[i]);
            }
        }
        super._update(from, to, ids, values);
    }
}
