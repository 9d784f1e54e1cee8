// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Supply} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Supply.sol";
import {ERC1155Utils} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Utils.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title International Carbon Credit (ICC) token mirrored from the International Carbon Registry
/// @notice One token is one whole tonne of CO2-e (`decimals() == 0`, `UNIT == "tCO2e"`,
/// `TONNES_PER_TOKEN == 1`); ICR's own contracts count 10^18 units per tonne, this bridge counts
/// whole tonnes because every tonne has a serial. The off-chain registry is the source of truth:
/// it registers credit classes, commits one Merkle root per batch of serial blocks held in bridge
/// custody, and tokens are minted only against proofs of those leaves. Retirements burn tokens
/// and redemptions return them to a registry account; the bridge's sync turns both events back
/// into registry records. See contracts/README.md for the full reference.
///
/// Token id encoding (see {classIdOf}):
///   bits   0..31  letter of authorization number (0 for standard ICCs)
///   bits  32..39  designation: 0 standard ICC, 1 Article 6.2 ICC
///   bits  40..55  vintage year
///   bits  56..119 ICR project number
///   bit   255     set for retirement certificate tokens (id = bit 255 | retirement id)
contract ICCToken is ERC1155Supply, AccessControl, Pausable, EIP712, Nonces {
    /// @notice May register credit classes, commit batch roots (directly or by signature), set
    /// CA status and announce metadata updates.
    bytes32 public constant REGISTRY_ROLE = keccak256("REGISTRY_ROLE");
    /// @notice Answers redemption requests: finalizes (burns) or rejects (returns) escrows.
    bytes32 public constant BRIDGE_OPERATOR_ROLE = keccak256("BRIDGE_OPERATOR_ROLE");
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

    /// @notice Bounds of {redemptionTimeout}: long enough for the bridge to answer, short enough
    /// that an unanswered escrow never traps tokens for long.
    uint64 public constant MIN_REDEMPTION_TIMEOUT = 1 hours;
    uint64 public constant MAX_REDEMPTION_TIMEOUT = 90 days;
    /// @notice Longest registry account reference a redemption may carry, in bytes.
    uint256 public constant MAX_ACCOUNT_REFERENCE_LENGTH = 64;

    bytes32 private constant COMMIT_BATCH_TYPEHASH =
        keccak256("CommitBatch(uint256 batchId,bytes32 root,uint256 leafCount)");
    bytes32 private constant RETIRE_TYPEHASH = keccak256(
        "Retire(address holder,uint256 tokenId,uint256 amount,address beneficiary,string retireeName,"
        "string customUri,string comment,bytes data,uint256 nonce,uint256 deadline)"
    );

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
        bool revoked;
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

    /// @notice A retirement signed by its holder for {retireWithSignature}: the arguments of
    /// {retire} plus the holder, its nonce and a deadline (unix seconds).
    struct RetireRequest {
        address holder;
        uint256 tokenId;
        uint256 amount;
        address beneficiary;
        string retireeName;
        string customUri;
        string comment;
        bytes data;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Life of a redemption: Pending until the bridge operator finalizes or rejects it,
    /// or the holder reclaims it after `reclaimableAt`. The three answers are final.
    enum RedemptionStatus {
        None,
        Pending,
        Finalized,
        Rejected,
        Reclaimed
    }

    struct Redemption {
        address holder;
        uint64 reclaimableAt;
        RedemptionStatus status;
        uint256 classId;
        uint256 amount;
        string accountReference;
    }

    mapping(uint256 classId => CreditClass) private _classes;
    mapping(uint256 batchId => Batch) private _batches;
    mapping(bytes32 root => bool) private _rootCommitted;
    mapping(uint256 batchId => mapping(uint256 word => uint256)) private _mintedBitmap;
    mapping(uint256 redemptionId => Redemption) private _redemptions;
    mapping(uint256 classId => uint256) private _escrowed;
    uint256 public retirementCount;
    uint256 public redemptionCount;
    /// @notice Seconds after a redemption request from which its holder may reclaim it if the
    /// bridge has not answered. Each request records its own deadline (`reclaimableAt`).
    uint64 public redemptionTimeout;

    error ZeroAddressRoleHolder(bytes32 role);
    error ClassAlreadyRegistered(uint256 classId);
    error ClassNotRegistered(uint256 classId);
    error ClassIdMismatch(uint256 classId, uint256 expected);
    error InvalidCAStatus(uint8 status);
    error EmptyBatch(uint256 batchId);
    error BatchAlreadyCommitted(uint256 batchId);
    error BatchRootAlreadyCommitted(bytes32 root);
    error BatchNotCommitted(uint256 batchId);
    error BatchIsRevoked(uint256 batchId);
    error SignerNotRegistry(address signer);
    error LeafOutOfRange(uint256 batchId, uint256 leafIndex);
    error LeafFromOtherBatch(uint256 batchId, uint256 leafBatchId);
    error LeafAlreadyMinted(uint256 batchId, uint256 leafIndex);
    error LeafAmountMismatch(uint256 batchId, uint256 leafIndex);
    error LeafRecipientZero(uint256 batchId, uint256 leafIndex);
    error InvalidMerkleProof(uint256 batchId);
    error ZeroAmount();
    error NotACreditClass(uint256 tokenId);
    error MalformedRetirementData();
    error UnknownRetirementPurpose(uint8 purpose);
    error PurposeNotAuthorized(uint256 classId, uint8 purpose);
    error CertificateNonTransferable(uint256 certificateId);
    error RetirementSignatureExpired(uint256 deadline);
    error InvalidRetirementSignature(address holder);
    error InvalidAccountReference();
    error EmptyRejectionReason();
    error RedemptionNotFound(uint256 redemptionId);
    error RedemptionNotPending(uint256 redemptionId, RedemptionStatus status);
    error NotRedemptionHolder(uint256 redemptionId, address caller);
    error RedemptionNotYetReclaimable(uint256 redemptionId, uint64 reclaimableAt);
    error RedemptionTimeoutOutOfRange(uint64 timeout);

    event ClassRegistered(
        uint256 indexed classId, uint64 projectNumber, uint16 vintage, bool article6, uint32 letterNumber
    );
    event CAStatusChanged(uint256 indexed classId, uint8 previousStatus, uint8 newStatus, bytes32 evidenceHash);
    event MetadataURIChanged(string previousUri, string newUri);
    event BatchCommitted(uint256 indexed batchId, bytes32 root, uint256 leafCount, address indexed signer);
    event BatchRevoked(uint256 indexed batchId, address indexed admin);
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
    event RedemptionRequested(
        uint256 indexed redemptionId,
        address indexed holder,
        uint256 indexed classId,
        uint256 amount,
        string accountReference,
        uint64 reclaimableAt
    );
    event RedemptionFinalized(
        uint256 indexed redemptionId,
        address indexed holder,
        uint256 indexed classId,
        uint256 amount,
        string accountReference
    );
    event RedemptionRejected(
        uint256 indexed redemptionId,
        address indexed holder,
        uint256 indexed classId,
        uint256 amount,
        string accountReference,
        string reason
    );
    event RedemptionReclaimed(
        uint256 indexed redemptionId,
        address indexed holder,
        uint256 indexed classId,
        uint256 amount,
        string accountReference
    );
    event RedemptionTimeoutChanged(uint64 previousTimeout, uint64 newTimeout);

    /// @param metadataUri ERC-1155 metadata URI with `{id}` substitution, served by the registry API.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants and revokes every role, sets the URI and
    /// the redemption timeout, revokes batches).
    /// @param pauser Receives PAUSER_ROLE.
    /// @param registrySigner Receives REGISTRY_ROLE.
    /// @param bridgeOperator Receives BRIDGE_OPERATOR_ROLE.
    /// @param redemptionTimeout_ Initial {redemptionTimeout} in seconds, within the published bounds.
    /// @dev Requirements: no role holder is the zero address; the timeout is within bounds.
    constructor(
        string memory metadataUri,
        address admin,
        address pauser,
        address registrySigner,
        address bridgeOperator,
        uint64 redemptionTimeout_
    ) ERC1155(metadataUri) EIP712("ICR Bridge ICC", "1") {
        _grantNonZero(DEFAULT_ADMIN_ROLE, admin);
        _grantNonZero(PAUSER_ROLE, pauser);
        _grantNonZero(REGISTRY_ROLE, registrySigner);
        _grantNonZero(BRIDGE_OPERATOR_ROLE, bridgeOperator);
        _setRedemptionTimeout(redemptionTimeout_);
    }

    // ----------------------------------------------------------------------------------------
    // Credit classes and metadata
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
    /// fields; the class is not yet registered; `caStatus` is a known status. Emits
    /// {ClassRegistered} and {URI}.
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
        emit URI(uri(classId), classId);
    }

    /// @notice The registered metadata of a credit class (`registered` is false if unknown).
    function creditClass(uint256 classId) external view returns (CreditClass memory) {
        return _classes[classId];
    }

    /// @notice Records a registry decision on the corresponding adjustment status of a class.
    /// @dev Requirements: caller has REGISTRY_ROLE; class registered; `status` is a known status.
    /// Emits {CAStatusChanged} with the hash of the evidence document and the ERC-1155 {URI}
    /// event so indexers refresh the metadata.
    function setCAStatus(uint256 classId, uint8 status, bytes32 evidenceHash) external onlyRole(REGISTRY_ROLE) {
        CreditClass storage info = _requireClass(classId);
        if (status > CA_NOT_APPLIED) revert InvalidCAStatus(status);
        uint8 previous = info.caStatus;
        info.caStatus = status;
        emit CAStatusChanged(classId, previous, status, evidenceHash);
        emit URI(uri(classId), classId);
    }

    /// @notice Replaces the ERC-1155 metadata URI template (`{id}` substitution) of every token.
    /// @dev Requirements: caller has DEFAULT_ADMIN_ROLE. Emits {MetadataURIChanged}; per-class
    /// {URI} events follow with {announceMetadataUpdate} (the class list is unbounded).
    function setURI(string calldata newUri) external onlyRole(DEFAULT_ADMIN_ROLE) {
        string memory previous = uri(0);
        _setURI(newUri);
        emit MetadataURIChanged(previous, newUri);
    }

    /// @notice Emits the ERC-1155 {URI} event for classes whose registry metadata changed off-chain
    /// (or after {setURI}), so indexers refresh them.
    /// @dev Requirements: caller has REGISTRY_ROLE; every class is registered.
    function announceMetadataUpdate(uint256[] calldata classIds) external onlyRole(REGISTRY_ROLE) {
        string memory current = uri(0);
        for (uint256 i = 0; i < classIds.length; ++i) {
            _requireClass(classIds[i]);
            emit URI(current, classIds[i]);
        }
    }

    /// @notice Token amounts have no fractional part: one unit is one tonne (see {UNIT}).
    function decimals() external pure returns (uint8) {
        return 0;
    }

    // ----------------------------------------------------------------------------------------
    // Merkle-batched minting
    // ----------------------------------------------------------------------------------------

    /// @notice Commits the Merkle root of a batch of serial-block leaves.
    /// @dev Requirements: caller has REGISTRY_ROLE; `root` non-zero and `leafCount` > 0; neither
    /// the batch id nor the root was committed before. Allowed while paused (nothing is minted).
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

    /// @notice Voids a committed batch so none of its remaining leaves can be minted (incident
    /// response, e.g. a root committed with a compromised registry key). Leaves already minted
    /// stay minted.
    /// @dev Requirements: caller has DEFAULT_ADMIN_ROLE; the batch is committed and not revoked.
    function revokeBatch(uint256 batchId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Batch storage committed = _requireMintableBatch(batchId);
        committed.revoked = true;
        emit BatchRevoked(batchId, _msgSender());
    }

    /// @notice The committed root, leaf count, minted-leaf count and revocation of a batch.
    function batch(uint256 batchId) external view returns (Batch memory) {
        return _batches[batchId];
    }

    /// @notice Whether a leaf of a batch has been minted.
    function isLeafMinted(uint256 batchId, uint256 leafIndex) public view returns (bool) {
        return (_mintedBitmap[batchId][leafIndex >> 8] >> (leafIndex & 0xff)) & 1 == 1;
    }

    /// @notice The minted-leaf bitmap of a batch, `count` 256-leaf words from word `firstWord`:
    /// bit `i % 256` of word `i / 256` is set once leaf `i` is minted. Lets the bridge learn the
    /// state of a whole batch in one call instead of one {isLeafMinted} call per leaf.
    /// @dev Requirements: none; words past the batch's last leaf read as zero.
    function mintedLeafWords(uint256 batchId, uint256 firstWord, uint256 count)
        external
        view
        returns (uint256[] memory words)
    {
        mapping(uint256 => uint256) storage bitmap = _mintedBitmap[batchId];
        words = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) {
            words[i] = bitmap[firstWord + i];
        }
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

    /// @notice Mints many leaves of one batch with a multiproof (the bridge's path; anyone may
    /// relay it, the proof is the authority). Consecutive leaves for the same recipient and class
    /// are credited with one balance update and one TransferSingle; every leaf emits {LeafMinted}.
    /// @dev Requirements: not paused; batch committed and not revoked; `leaves` non-empty, in
    /// multiproof order, all of this batch, none minted before or repeated, each with a non-zero
    /// recipient, a registered class and an amount equal to its serial range; the multiproof
    /// verifies against the batch root. Every leaf is marked and every balance written before any
    /// receiver hook runs, so a hook re-entering cannot mint a leaf twice.
    function mintLeaves(
        uint256 batchId,
        Leaf[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external whenNotPaused {
        Batch storage committed = _requireMintableBatch(batchId);
        uint256 count = leaves.length;
        if (count == 0) revert EmptyBatch(batchId);
        bytes32[] memory hashes = _checkAndMarkLeaves(batchId, committed.leafCount, leaves);
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, committed.root, hashes)) {
            revert InvalidMerkleProof(batchId);
        }
        // Cannot overflow: count <= leafCount < 2^64 leaves, each minted once.
        unchecked {
            committed.mintedLeaves += uint64(count);
        }
        _creditLeaves(leaves);
    }

    /// @notice Mints one leaf with its proof (the claim path: holders pull their own tokens).
    /// @dev Requirements: as {mintLeaves} for a single leaf and a single-leaf proof.
    function claim(Leaf calldata leaf, bytes32[] calldata proof) external whenNotPaused {
        uint256 batchId = leaf.batchId;
        Batch storage committed = _requireMintableBatch(batchId);
        _checkLeafFields(batchId, committed.leafCount, leaf);
        _requireClass(leaf.classId);
        mapping(uint256 => uint256) storage bitmap = _mintedBitmap[batchId];
        uint256 word = leaf.leafIndex >> 8;
        uint256 bit = 1 << (leaf.leafIndex & 0xff);
        uint256 current = bitmap[word];
        if (current & bit != 0) revert LeafAlreadyMinted(batchId, leaf.leafIndex);
        if (!MerkleProof.verifyCalldata(proof, committed.root, _leafHashCalldata(leaf))) {
            revert InvalidMerkleProof(batchId);
        }
        bitmap[word] = current | bit;
        unchecked {
            committed.mintedLeaves += 1; // cannot overflow: bounded by leafCount < 2^64
        }
        _credit(leaf.recipient, leaf.classId, leaf.amount);
        emit LeafMinted(batchId, leaf.leafIndex, leaf.firstSerial, leaf.lastSerial);
        ERC1155Utils.checkOnERC1155Received(_msgSender(), address(0), leaf.recipient, leaf.classId, leaf.amount, "");
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
    /// class authorizes; a contract beneficiary accepts ERC-1155 tokens. Emits {Retired} with
    /// everything the registry needs. Allowed while paused.
    function retire(
        uint256 tokenId,
        uint256 amount,
        address beneficiary,
        string calldata retireeName,
        string calldata customUri,
        string calldata comment,
        bytes calldata data
    ) external returns (uint256 certificateId) {
        address holder = _msgSender();
        (uint256 retirementId, address owner) = _retireTokens(holder, tokenId, amount, beneficiary, data);
        emit Retired(retirementId, tokenId, holder, owner, amount, retireeName, customUri, comment, data);
        certificateId = _mintCertificate(owner, retirementId);
    }

    /// @notice Retires on behalf of `request.holder`, who signed the EIP-712 message
    /// `Retire(address holder,uint256 tokenId,uint256 amount,address beneficiary,string retireeName,
    /// string customUri,string comment,bytes data,uint256 nonce,uint256 deadline)` (domain
    /// "ICR Bridge ICC" version "1", this chain and contract); anyone may relay it and pays the gas.
    /// ERC-1271 contract wallets are supported. Emits the same {Retired} event as {retire}.
    /// @return certificateId The id of the retirement certificate token.
    /// @dev Requirements: `block.timestamp` <= `deadline`; the signature is valid for `holder`;
    /// `nonce` equals {nonces}(holder) (used up by this call, so the signature cannot be
    /// replayed); then as {retire} with `holder` as the caller. Allowed while paused.
    function retireWithSignature(RetireRequest calldata request, bytes calldata signature)
        external
        returns (uint256 certificateId)
    {
        if (block.timestamp > request.deadline) revert RetirementSignatureExpired(request.deadline);
        address holder = request.holder;
        if (!SignatureChecker.isValidSignatureNowCalldata(holder, _hashTypedDataV4(_retireStructHash(request)), signature)) {
            revert InvalidRetirementSignature(holder);
        }
        _useCheckedNonce(holder, request.nonce);
        (uint256 retirementId, address owner) =
            _retireTokens(holder, request.tokenId, request.amount, request.beneficiary, request.data);
        emit Retired(
            retirementId,
            request.tokenId,
            holder,
            owner,
            request.amount,
            request.retireeName,
            request.customUri,
            request.comment,
            request.data
        );
        certificateId = _mintCertificate(owner, retirementId);
    }

    /// @notice Decodes the `data` argument of {retire}; reverts if it is malformed.
    function decodeRetirementData(bytes calldata data) external pure returns (RetirementDetails memory) {
        return abi.decode(data, (RetirementDetails));
    }

    // ----------------------------------------------------------------------------------------
    // Redemption back to a registry account
    // ----------------------------------------------------------------------------------------

    /// @notice Escrows `amount` of the caller's credits of class `classId` in this contract and
    /// asks the bridge to return them to the registry account `accountReference`. The bridge
    /// operator answers with {finalizeRedemption} (burn, once the registry has a place for the
    /// credits) or {rejectRedemption} (tokens returned); unanswered, the caller may
    /// {reclaimRedemption} from `block.timestamp + redemptionTimeout`.
    /// Escrowed tokens stay in {totalSupply} (they exist, held by this contract) and are counted
    /// in {escrowedSupply}.
    /// @return redemptionId The id of the request (1, 2, ...).
    /// @dev Requirements: not paused; `amount` > 0; `classId` is a registered credit class; the
    /// caller holds `amount`; `accountReference` is 1 to MAX_ACCOUNT_REFERENCE_LENGTH bytes.
    /// Emits {RedemptionRequested}.
    function requestRedemption(uint256 classId, uint256 amount, string calldata accountReference)
        external
        whenNotPaused
        returns (uint256 redemptionId)
    {
        if (amount == 0) revert ZeroAmount();
        if (classId & CERTIFICATE_FLAG != 0) revert NotACreditClass(classId);
        _requireClass(classId);
        uint256 referenceLength = bytes(accountReference).length;
        if (referenceLength == 0 || referenceLength > MAX_ACCOUNT_REFERENCE_LENGTH) revert InvalidAccountReference();
        address holder = _msgSender();
        // No acceptance check: this contract is the receiver and knows the tokens.
        _update(holder, address(this), _single(classId), _single(amount));
        _escrowed[classId] += amount;
        redemptionId = ++redemptionCount;
        uint64 reclaimableAt = uint64(block.timestamp) + redemptionTimeout;
        _redemptions[redemptionId] = Redemption({
            holder: holder,
            reclaimableAt: reclaimableAt,
            status: RedemptionStatus.Pending,
            classId: classId,
            amount: amount,
            accountReference: accountReference
        });
        emit RedemptionRequested(redemptionId, holder, classId, amount, accountReference, reclaimableAt);
    }

    /// @notice The bridge's acceptance of a redemption: the escrowed tokens are burned. The
    /// registry moves the serials from bridge custody to the account from the
    /// {RedemptionFinalized} event, so call this only once the registry has a place for them.
    /// Allowed after `reclaimableAt` as long as the holder has not reclaimed.
    /// @dev Requirements: not paused; caller has BRIDGE_OPERATOR_ROLE; the redemption is Pending.
    function finalizeRedemption(uint256 redemptionId) external whenNotPaused onlyRole(BRIDGE_OPERATOR_ROLE) {
        Redemption storage r = _requirePending(redemptionId);
        r.status = RedemptionStatus.Finalized;
        uint256 classId = r.classId;
        uint256 amount = r.amount;
        // Cannot underflow: every pending redemption's amount is part of the escrowed total.
        unchecked {
            _escrowed[classId] -= amount;
        }
        _update(address(this), address(0), _single(classId), _single(amount)); // a burn: no receiver hook
        emit RedemptionFinalized(redemptionId, r.holder, classId, amount, r.accountReference);
    }

    /// @notice The bridge's refusal of a redemption: the escrowed tokens go back to the holder.
    /// @dev Requirements: caller has BRIDGE_OPERATOR_ROLE; the redemption is Pending; `reason`
    /// is not empty; a contract holder accepts the tokens back. Allowed while paused, so
    /// pausing never traps escrowed tokens. Emits {RedemptionRejected} before the receiver hook.
    function rejectRedemption(uint256 redemptionId, string calldata reason)
        external
        onlyRole(BRIDGE_OPERATOR_ROLE)
    {
        if (bytes(reason).length == 0) revert EmptyRejectionReason();
        Redemption storage r = _requirePending(redemptionId);
        r.status = RedemptionStatus.Rejected;
        (address holder, uint256 classId, uint256 amount) = _releaseEscrow(r);
        emit RedemptionRejected(redemptionId, holder, classId, amount, r.accountReference, reason);
        ERC1155Utils.checkOnERC1155Received(_msgSender(), address(this), holder, classId, amount, "");
    }

    /// @notice Takes back the tokens of a redemption the bridge has not answered in time.
    /// @dev Requirements: caller is the redemption's holder; the redemption is Pending;
    /// `block.timestamp` >= its `reclaimableAt`. Allowed while paused. Emits {RedemptionReclaimed}.
    function reclaimRedemption(uint256 redemptionId) external {
        Redemption storage r = _requirePending(redemptionId);
        address caller = _msgSender();
        if (caller != r.holder) revert NotRedemptionHolder(redemptionId, caller);
        if (block.timestamp < r.reclaimableAt) revert RedemptionNotYetReclaimable(redemptionId, r.reclaimableAt);
        r.status = RedemptionStatus.Reclaimed;
        (address holder, uint256 classId, uint256 amount) = _releaseEscrow(r);
        emit RedemptionReclaimed(redemptionId, holder, classId, amount, r.accountReference);
        ERC1155Utils.checkOnERC1155Received(caller, address(this), holder, classId, amount, "");
    }

    /// @notice Sets the reclaim timeout of future redemption requests (pending ones keep theirs).
    /// @dev Requirements: caller has DEFAULT_ADMIN_ROLE; MIN_REDEMPTION_TIMEOUT <= `timeout` <=
    /// MAX_REDEMPTION_TIMEOUT. Emits {RedemptionTimeoutChanged}.
    function setRedemptionTimeout(uint64 timeout) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRedemptionTimeout(timeout);
    }

    /// @notice A redemption request (status None if the id is unknown).
    function redemption(uint256 redemptionId) external view returns (Redemption memory) {
        return _redemptions[redemptionId];
    }

    /// @notice Tonnes of class `classId` held in redemption escrow by this contract (pending
    /// requests). Always equals `balanceOf(address(this), classId)` and is part of `totalSupply`.
    function escrowedSupply(uint256 classId) external view returns (uint256) {
        return _escrowed[classId];
    }

    // ----------------------------------------------------------------------------------------
    // Pausing and interfaces
    // ----------------------------------------------------------------------------------------

    /// @notice Stops minting (mintLeaves, claim), redemption requests and their finalization.
    /// Transfers, retirements, rejections and reclaims stay open so no one's tokens are trapped.
    /// @dev Requirements: caller has PAUSER_ROLE; not paused.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes minting and redemption.
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

    function _grantNonZero(bytes32 role, address account) private {
        if (account == address(0)) revert ZeroAddressRoleHolder(role);
        _grantRole(role, account);
    }

    function _setRedemptionTimeout(uint64 timeout) private {
        if (timeout < MIN_REDEMPTION_TIMEOUT || timeout > MAX_REDEMPTION_TIMEOUT) {
            revert RedemptionTimeoutOutOfRange(timeout);
        }
        uint64 previous = redemptionTimeout;
        redemptionTimeout = timeout;
        emit RedemptionTimeoutChanged(previous, timeout);
    }

    function _commitBatch(uint256 batchId, bytes32 root, uint256 leafCount, address signer) private {
        if (root == bytes32(0) || leafCount == 0 || leafCount > type(uint64).max) revert EmptyBatch(batchId);
        if (_batches[batchId].root != bytes32(0)) revert BatchAlreadyCommitted(batchId);
        if (_rootCommitted[root]) revert BatchRootAlreadyCommitted(root);
        _batches[batchId] = Batch({root: root, leafCount: uint64(leafCount), mintedLeaves: 0, revoked: false});
        _rootCommitted[root] = true;
        emit BatchCommitted(batchId, root, leafCount, signer);
    }

    function _requireMintableBatch(uint256 batchId) private view returns (Batch storage committed) {
        committed = _batches[batchId];
        if (committed.root == bytes32(0)) revert BatchNotCommitted(batchId);
        if (committed.revoked) revert BatchIsRevoked(batchId);
    }

    function _requireClass(uint256 classId) private view returns (CreditClass storage info) {
        info = _classes[classId];
        if (!info.registered) revert ClassNotRegistered(classId);
    }

    function _requirePending(uint256 redemptionId) private view returns (Redemption storage r) {
        r = _redemptions[redemptionId];
        if (r.status == RedemptionStatus.None) revert RedemptionNotFound(redemptionId);
        if (r.status != RedemptionStatus.Pending) revert RedemptionNotPending(redemptionId, r.status);
    }

    /// @dev Moves an escrow back to its holder's balance (no receiver hook: callers run it last).
    function _releaseEscrow(Redemption storage r) private returns (address holder, uint256 classId, uint256 amount) {
        holder = r.holder;
        classId = r.classId;
        amount = r.amount;
        // Cannot underflow: every pending redemption's amount is part of the escrowed total.
        unchecked {
            _escrowed[classId] -= amount;
        }
        _update(address(this), holder, _single(classId), _single(amount));
    }

    /// @dev Field checks shared by both mint paths (the bitmap and class checks differ).
    function _checkLeafFields(uint256 batchId, uint256 leafCount, Leaf calldata leaf) private pure {
        uint256 leafIndex = leaf.leafIndex;
        if (leaf.batchId != batchId) revert LeafFromOtherBatch(batchId, leaf.batchId);
        if (leafIndex >= leafCount) revert LeafOutOfRange(batchId, leafIndex);
        uint256 amount = leaf.amount;
        uint256 first = leaf.firstSerial;
        uint256 last = leaf.lastSerial;
        // Cannot wrap: the subtractions run only once amount > 0 and last >= first hold, and
        // the check has no `+ 1` that a range ending at 2^256 - 1 could overflow.
        unchecked {
            if (amount == 0 || last < first || last - first != amount - 1) {
                revert LeafAmountMismatch(batchId, leafIndex);
            }
        }
        // Reading the address also rejects one with dirty upper bits (ABI decoder check).
        if (leaf.recipient == address(0)) revert LeafRecipientZero(batchId, leafIndex);
    }

    /// @dev Checks every leaf's fields, marks it in the bitmap and returns the leaf hashes (the
    /// bridge's hot path, hence assembly; {_checkLeafFields} and {leafHash} are the same rules in
    /// Solidity for the claim path, and the tests hold both to the same cases). A Leaf is seven
    /// static words in calldata, which is exactly its `abi.encode`, so it is hashed in place. The
    /// bitmap word is kept on the stack while consecutive leaves share it and written back before
    /// any token moves; a leaf repeated in the same call finds its own bit set. Classes are checked
    /// per run in {_creditLeaves}, before any balance changes.
    function _checkAndMarkLeaves(uint256 batchId, uint256 leafCount, Leaf[] calldata leaves)
        private
        returns (bytes32[] memory hashes)
    {
        hashes = new bytes32[](leaves.length);
        uint256 failure; // (LeafCheck code << 128) | position of the failing leaf, 0 if all passed
        assembly ("memory-safe") {
            // Slot of _mintedBitmap[batchId] (Solidity's mapping layout).
            mstore(0x00, batchId)
            mstore(0x20, _mintedBitmap.slot)
            let bitmapSlot := keccak256(0x00, 0x40)
            let wordIndex := not(0) // no leaf index reaches it: leafCount < 2^64
            let word := 0
            for { let i := 0 } lt(i, leaves.length) { i := add(i, 1) } {
                let leaf := add(leaves.offset, mul(i, 0xe0)) // in bounds: the ABI decoder checked the array
                let leafIndex := calldataload(add(leaf, 0x20))
                if iszero(eq(calldataload(leaf), batchId)) {
                    failure := or(shl(128, 1), i)
                    break
                }
                if iszero(lt(leafIndex, leafCount)) {
                    failure := or(shl(128, 2), i)
                    break
                }
                {
                    let amount := calldataload(add(leaf, 0x80))
                    let first := calldataload(add(leaf, 0xa0))
                    let last := calldataload(add(leaf, 0xc0))
                    // sub() wraps only when the earlier terms already failed the check.
                    if or(or(iszero(amount), lt(last, first)), iszero(eq(sub(last, first), sub(amount, 1)))) {
                        failure := or(shl(128, 3), i)
                        break
                    }
                }
                {
                    // Zero, or not a clean 20-byte address (its hash could not match the tree anyway).
                    let recipient := calldataload(add(leaf, 0x60))
                    if or(iszero(recipient), shr(160, recipient)) {
                        failure := or(shl(128, 4), i)
                        break
                    }
                }
                if iszero(eq(shr(8, leafIndex), wordIndex)) {
                    if iszero(eq(wordIndex, not(0))) {
                        mstore(0x00, wordIndex)
                        mstore(0x20, bitmapSlot)
                        sstore(keccak256(0x00, 0x40), word)
                    }
                    wordIndex := shr(8, leafIndex)
                    mstore(0x00, wordIndex)
                    mstore(0x20, bitmapSlot)
                    word := sload(keccak256(0x00, 0x40))
                }
                {
                    let bit := shl(and(leafIndex, 0xff), 1)
                    if and(word, bit) {
                        failure := or(shl(128, 5), i)
                        break
                    }
                    word := or(word, bit)
                }
                // Hash in place: calldata -> temporary memory above the free memory pointer.
                let scratch := mload(0x40)
                calldatacopy(scratch, leaf, 0xe0)
                mstore(0x00, keccak256(scratch, 0xe0))
                mstore(add(add(hashes, 0x20), mul(i, 0x20)), keccak256(0x00, 0x20))
            }
            if iszero(failure) {
                mstore(0x00, wordIndex)
                mstore(0x20, bitmapSlot)
                sstore(keccak256(0x00, 0x40), word)
            }
        }
        if (failure != 0) _revertLeafCheck(failure >> 128, batchId, leaves[uint128(failure)]);
    }

    /// @dev The custom error for a failed check of {_checkAndMarkLeaves}.
    function _revertLeafCheck(uint256 failure, uint256 batchId, Leaf calldata leaf) private pure {
        if (failure == 1) revert LeafFromOtherBatch(batchId, leaf.batchId);
        if (failure == 2) revert LeafOutOfRange(batchId, leaf.leafIndex);
        if (failure == 3) revert LeafAmountMismatch(batchId, leaf.leafIndex);
        if (failure == 4) revert LeafRecipientZero(batchId, leaf.leafIndex);
        revert LeafAlreadyMinted(batchId, leaf.leafIndex);
    }

    /// @dev Same value as {leafHash}, hashed in place (the caller checked the recipient is clean).
    function _leafHashCalldata(Leaf calldata leaf) private pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, leaf, 0xe0)
            mstore(0x00, keccak256(ptr, 0xe0))
            hash := keccak256(0x00, 0x20)
        }
    }

    /// @dev Credits checked and marked leaves: first all balances, supplies and events (runs of
    /// consecutive leaves with the same recipient and class share one balance update and one
    /// TransferSingle; every leaf has its {LeafMinted}), then the receiver hooks, so that a hook
    /// only ever sees the finished state.
    function _creditLeaves(Leaf[] calldata leaves) private {
        uint256 count = leaves.length;
        // One pair of single-element arrays for every balance update: no memory growth per leaf.
        uint256[] memory ids = new uint256[](1);
        uint256[] memory values = new uint256[](1);
        uint256 checkedClass = leaves[0].classId;
        _requireClass(checkedClass);
        bool anyContractRecipient = false;
        uint256 i = 0;
        while (i < count) {
            (uint256 end, address to, uint256 classId, uint256 total) = _run(leaves, i);
            if (classId != checkedClass) {
                _requireClass(classId);
                checkedClass = classId;
            }
            ids[0] = classId;
            values[0] = total;
            _update(address(0), to, ids, values);
            _emitLeavesMinted(leaves, i, end);
            if (to.code.length != 0) anyContractRecipient = true;
            i = end;
        }
        if (!anyContractRecipient) return; // EOAs have no hook: the usual case ends here
        address operator = _msgSender();
        i = 0;
        while (i < count) {
            (uint256 end, address to, uint256 classId, uint256 total) = _run(leaves, i);
            ERC1155Utils.checkOnERC1155Received(operator, address(0), to, classId, total, "");
            i = end;
        }
    }

    /// @dev The run of consecutive leaves from `start` with the same recipient and class (fields
    /// already checked by {_checkAndMarkLeaves}) and its total amount.
    function _run(Leaf[] calldata leaves, uint256 start)
        private
        pure
        returns (uint256 end, address to, uint256 classId, uint256 total)
    {
        assembly ("memory-safe") {
            let leaf := add(leaves.offset, mul(start, 0xe0))
            classId := calldataload(add(leaf, 0x40))
            to := calldataload(add(leaf, 0x60))
            total := calldataload(add(leaf, 0x80))
            for { end := add(start, 1) } lt(end, leaves.length) { end := add(end, 1) } {
                leaf := add(leaf, 0xe0)
                if iszero(and(eq(calldataload(add(leaf, 0x60)), to), eq(calldataload(add(leaf, 0x40)), classId))) {
                    break
                }
                let sum := add(total, calldataload(add(leaf, 0x80)))
                if lt(sum, total) {
                    // Panic(0x11), as checked arithmetic would revert.
                    mstore(0x00, shl(224, 0x4e487b71))
                    mstore(0x04, 0x11)
                    revert(0x00, 0x24)
                }
                total := sum
            }
        }
    }

    /// @dev {LeafMinted} for leaves[start..end), encoded in place.
    function _emitLeavesMinted(Leaf[] calldata leaves, uint256 start, uint256 end) private {
        bytes32 topic = LeafMinted.selector;
        assembly ("memory-safe") {
            let scratch := mload(0x40) // temporary, above the free memory pointer
            for { let i := start } lt(i, end) { i := add(i, 1) } {
                let leaf := add(leaves.offset, mul(i, 0xe0))
                mstore(scratch, calldataload(add(leaf, 0x20)))
                mstore(add(scratch, 0x20), calldataload(add(leaf, 0xa0)))
                mstore(add(scratch, 0x40), calldataload(add(leaf, 0xc0)))
                log2(scratch, 0x60, topic, calldataload(leaf))
            }
        }
    }

    /// @dev Mints without the receiver hook (callers run it after all effects).
    function _credit(address to, uint256 id, uint256 amount) private {
        _update(address(0), to, _single(id), _single(amount));
    }

    function _single(uint256 value) private pure returns (uint256[] memory array) {
        array = new uint256[](1);
        array[0] = value;
    }

    /// @dev Checks and burns a retirement (see {retire}); the caller emits {Retired} and then
    /// mints the certificate.
    function _retireTokens(address holder, uint256 tokenId, uint256 amount, address beneficiary, bytes calldata data)
        private
        returns (uint256 retirementId, address owner)
    {
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

        owner = beneficiary == address(0) ? holder : beneficiary;
        if (owner != holder) {
            // ICR semantics: the credits pass to the beneficiary and are burned there. No
            // acceptance check: the beneficiary never holds them past this call.
            _update(holder, owner, _single(tokenId), _single(amount));
        }
        // A burn never calls a receiver hook: no external call happens before the certificate.
        _update(owner, address(0), _single(tokenId), _single(amount));
        retirementId = ++retirementCount;
    }

    /// @dev The certificate's receiver hook runs last, after every effect of the retirement.
    function _mintCertificate(address owner, uint256 retirementId) private returns (uint256 certificateId) {
        certificateId = CERTIFICATE_FLAG | retirementId;
        _mint(owner, certificateId, 1, "");
    }

    /// @dev EIP-712 struct hash of a {RetireRequest} (strings and bytes hashed, as the standard says).
    function _retireStructHash(RetireRequest calldata r) private pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(RETIRE_TYPEHASH, r.holder, r.tokenId, r.amount, r.beneficiary),
                abi.encode(
                    keccak256(bytes(r.retireeName)),
                    keccak256(bytes(r.customUri)),
                    keccak256(bytes(r.comment)),
                    keccak256(r.data),
                    r.nonce,
                    r.deadline
                )
            )
        );
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
