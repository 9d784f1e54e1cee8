// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
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
contract ICCToken is ERC1155, AccessControl, Pausable, EIP712, Nonces {
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
    /// @notice Bytes per leaf in the packed `leaves` of {mintLeaves}.
    uint256 public constant PACKED_LEAF_BYTES = 37;

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

    /// @dev Longest texts a retirement may carry, in bytes: what the registry's retirement record
    /// can store (its columns count characters, and a character takes at least one byte).
    /// `organizationId` has no registry column; its bound keeps it an identifier. These constants
    /// and the two below have no getters: nine more selectors in the dispatch cost ~200 gas on
    /// every {mintLeaves} transaction (one more, ~20). {RetirementTextTooLong} reports the limit;
    /// contracts/README.md lists them all.
    uint256 private constant MAX_RETIREE_NAME_LENGTH = 500;
    uint256 private constant MAX_CUSTOM_URI_LENGTH = 2000;
    uint256 private constant MAX_COMMENT_LENGTH = 2000;
    uint256 private constant MAX_BENEFICIARY_NAME_LENGTH = 500;
    uint256 private constant MAX_BENEFICIARY_ADDRESS_LENGTH = 500;
    uint256 private constant MAX_ORGANIZATION_ID_LENGTH = 100;
    uint256 private constant MAX_CORSIA_OPERATOR_LENGTH = 200;
    /// @dev Latest consumption time a retirement may name (unix seconds): 9999-12-31T23:59:59Z,
    /// the last second of the last day a registry date can hold.
    uint64 private constant MAX_CONSUMPTION_TIME = 253402300799;
    /// @dev The CORSIA compliance periods a CORSIA retirement may name
    /// (registry.domain.lifecycle.CORSIA_COMPLIANCE_PERIODS), packed 32 bits a period, first year
    /// << 16 | last year, the first period in the lowest bits: 2021-2023, 2024-2026, 2027-2029,
    /// 2030-2032, 2033-2035.
    uint256 private constant CORSIA_COMPLIANCE_PERIODS = (2021 << 16 | 2023) | (2024 << 16 | 2026) << 32
        | (2027 << 16 | 2029) << 64 | (2030 << 16 | 2032) << 96 | (2033 << 16 | 2035) << 128;

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

    /// @notice ABI layout of the `data` argument of {retire} when it is not empty. Strings are
    /// UTF-8; empty strings and zeros mean not given.
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
        string ndcParty;
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

    /// @notice The texts of a retirement that have a length limit: the `field` of
    /// {RetirementTextTooLong} (an ABI `uint8`, in this order).
    enum RetirementText {
        RetireeName,
        CustomUri,
        Comment,
        BeneficiaryName,
        BeneficiaryAddress,
        OrganizationId,
        CorsiaOperator
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

    /// @dev Balances and supplies are this contract's own storage, not OpenZeppelin's: ERC1155's
    /// `_balances` is private, and {mintLeaves} writes a whole batch's balances in one assembly loop
    /// and each class's supply once per transaction, where ERC1155 and ERC1155Supply write them per
    /// balance update (their cost was ~3,300 gas per minted leaf above the floor). Every other path
    /// goes through {_update}, which keeps OpenZeppelin's rules, errors and events; {balanceOf},
    /// {totalSupply} and {exists} read the same storage. Invariant: a holder's balance of a class
    /// never exceeds the class's supply, and the supplies sum to {totalSupply}.
    mapping(uint256 id => mapping(address account => uint256)) private _balanceOf;
    mapping(uint256 id => uint256) private _supply;
    uint256 private _supplyAll;
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
    error InvalidClassUses(uint8 uses);
    error EmptyBatch(uint256 batchId);
    error BatchAlreadyCommitted(uint256 batchId);
    error BatchRootAlreadyCommitted(bytes32 root);
    error BatchNotCommitted(uint256 batchId);
    error BatchIsRevoked(uint256 batchId);
    error SignerNotRegistry(address signer);
    error LeafOutOfRange(uint256 batchId, uint256 leafIndex);
    error LeafAlreadyMinted(uint256 batchId, uint256 leafIndex);
    error LeafAmountMismatch(uint256 batchId, uint256 leafIndex);
    error LeafRecipientZero(uint256 batchId, uint256 leafIndex);
    error InvalidMerkleProof(uint256 batchId);
    error MalformedLeaves(uint256 length);
    error MalformedMultiproof(uint256 batchId);
    error LeafClassIndexOutOfRange(uint256 batchId, uint256 leafIndex, uint256 classIndex);
    error ZeroAmount();
    error NotACreditClass(uint256 tokenId);
    error MalformedRetirementData();
    error UnknownRetirementPurpose(uint8 purpose);
    error PurposeNotAuthorized(uint256 classId, uint8 purpose);
    error RetirementTextTooLong(RetirementText field, uint256 length, uint256 maxLength);
    error CorsiaOperatorMissing();
    error InvalidCorsiaState(string state);
    error UnknownCorsiaCompliancePeriod(uint16 start, uint16 end);
    error CorsiaDetailsOnlyForCorsia(uint8 purpose);
    error InvalidNdcParty(string party);
    error NdcPartyOnlyForNdc(uint8 purpose);
    error IncompleteConsumptionPeriod(uint64 start, uint64 end);
    error ConsumptionPeriodReversed(uint64 start, uint64 end);
    error ConsumptionTimeOutOfRange(uint64 time);
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
    event ClassUsesChanged(uint256 indexed classId, uint8 previousUses, uint8 newUses);
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

    /// @notice Records the registry's current authorized uses of a class (bit `1 << purpose` per
    /// retirement purpose): a host country's letter narrowed or withdrawn, a project suspended or
    /// a vintage marked No CA applied takes uses away, reinstatement gives them back (seed 003
    /// §I.10, §V). {retire} and {retireWithSignature} check the purpose against these uses.
    /// @dev Requirements: caller has REGISTRY_ROLE; class registered ({ClassNotRegistered}); `uses`
    /// has no bit above `1 << PURPOSE_OTHER_INTERNATIONAL` ({InvalidClassUses}). Emits
    /// {ClassUsesChanged} and the ERC-1155 {URI} event so indexers refresh the metadata, also
    /// when the uses are unchanged (the bridge sends only differences).
    function setClassUses(uint256 classId, uint8 uses) external onlyRole(REGISTRY_ROLE) {
        CreditClass storage info = _requireClass(classId);
        if (uses >> (PURPOSE_OTHER_INTERNATIONAL + 1) != 0) revert InvalidClassUses(uses);
        uint8 previous = info.authorizedUses;
        info.authorizedUses = uses;
        emit ClassUsesChanged(classId, previous, uses);
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

    /// @inheritdoc ERC1155
    function balanceOf(address account, uint256 id) public view override returns (uint256) {
        return _balanceOf[id][account];
    }

    /// @notice Tokens of `id` in existence (as OpenZeppelin's ERC1155Supply): minted minus burned,
    /// including redemption escrow held by this contract.
    function totalSupply(uint256 id) public view returns (uint256) {
        return _supply[id];
    }

    /// @notice Tokens of every id in existence, certificates included (as ERC1155Supply).
    function totalSupply() external view returns (uint256) {
        return _supplyAll;
    }

    /// @notice Whether any token of `id` exists (as ERC1155Supply).
    function exists(uint256 id) external view returns (bool) {
        return _supply[id] > 0;
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

    /// @notice Mints a contiguous range of leaves of one batch with a multiproof (the bridge's
    /// path; anyone may relay it, the proof is the authority): leaves `firstLeafIndex`,
    /// `firstLeafIndex + 1`, ... in that order. The leaves are packed to cut calldata, and each is
    /// hashed as the same {Leaf} the tree holds: PACKED_LEAF_BYTES big-endian bytes, recipient
    /// (20) | index of its class in `classIds` (1) | amount (8) | first serial (8); its batch id
    /// is `batchId`, its leaf index follows from its position and its last serial is
    /// `first + amount - 1`. A leaf whose amount or serials do not fit in 64 bits can only be
    /// minted with {claim}. `proofFlagWords` packs the multiproof's flags, 256 to a word (see
    /// {_multiProofRoot}). Consecutive leaves for the same recipient and class are credited with
    /// one balance update and one TransferSingle; every leaf emits {LeafMinted}.
    /// @dev Requirements: not paused; batch committed and not revoked; `leaves` non-empty and a
    /// whole number of packed leaves ({MalformedLeaves}); the range inside the batch
    /// ({LeafOutOfRange}) and none of it minted before ({LeafAlreadyMinted}); every leaf with a
    /// non-zero amount ({LeafAmountMismatch}), a non-zero recipient and a class index into
    /// `classIds`; every class in `classIds` registered; the multiproof well-formed
    /// ({MalformedMultiproof}) and verifying against the batch root. Order: the range is checked
    /// and marked, every leaf checked and hashed, the proof verified, and only then are balances
    /// credited; all of them before any receiver hook runs, so a hook re-entering cannot mint a
    /// leaf twice.
    function mintLeaves(
        uint256 batchId,
        uint256 firstLeafIndex,
        uint256[] calldata classIds,
        bytes calldata leaves,
        bytes32[] calldata proof,
        uint256[] calldata proofFlagWords
    ) external whenNotPaused {
        Batch storage committed = _requireMintableBatch(batchId);
        if (leaves.length == 0) revert EmptyBatch(batchId);
        if (leaves.length % PACKED_LEAF_BYTES != 0) revert MalformedLeaves(leaves.length);
        uint256 count = leaves.length / PACKED_LEAF_BYTES;
        uint256 leafCount = committed.leafCount;
        if (firstLeafIndex >= leafCount || count > leafCount - firstLeafIndex) {
            revert LeafOutOfRange(batchId, firstLeafIndex >= leafCount ? firstLeafIndex : leafCount);
        }
        for (uint256 k = 0; k < classIds.length; ++k) {
            _requireClass(classIds[k]);
        }
        // A multiproof of `count` leaves and `proof.length` sibling hashes takes one hashing step
        // per flag (OpenZeppelin's rule; count >= 1 here).
        uint256 steps = count + proof.length - 1;
        if (proofFlagWords.length != (steps + 255) >> 8) revert MalformedMultiproof(batchId);
        _markRange(batchId, firstLeafIndex, count);
        bytes32[] memory queue = _hashLeaves(batchId, firstLeafIndex, classIds, leaves, steps);
        (bytes32 root, bool malformed) = _multiProofRoot(queue, count, proof, proofFlagWords);
        if (malformed) revert MalformedMultiproof(batchId);
        if (root != committed.root) revert InvalidMerkleProof(batchId);
        // Cannot overflow: count <= leafCount < 2^64 leaves, each minted once.
        unchecked {
            committed.mintedLeaves += uint64(count);
        }
        _creditLeaves(batchId, firstLeafIndex, classIds, leaves);
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
    /// @dev Requirements (the registry's own rules, so that every retirement the chain accepts is
    /// one the registry records as stated; see contracts/README.md "Retirement rules"):
    /// - `amount` > 0; `tokenId` is a registered credit class; the caller holds `amount`;
    /// - `retireeName` at most {MAX_RETIREE_NAME_LENGTH} bytes, `customUri` at most
    ///   {MAX_CUSTOM_URI_LENGTH}, `comment` at most {MAX_COMMENT_LENGTH} ({RetirementTextTooLong});
    /// - `data` is empty or decodes as {RetirementDetails} with UTF-8 strings
    ///   ({MalformedRetirementData}), a known purpose ({UnknownRetirementPurpose}) that the class
    ///   authorizes ({PurposeNotAuthorized}), and details that satisfy the registry's purpose rules (see {_checkRetirementDetails});
    /// - a contract beneficiary accepts ERC-1155 tokens.
    /// Emits {Retired} with everything the registry needs. Allowed while paused.
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
        _checkRetirementTexts(retireeName, customUri, comment);
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
        _checkRetirementTexts(request.retireeName, request.customUri, request.comment);
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

    /// @notice Decodes the `data` argument of {retire} (`abi.encode(RetirementDetails)`).
    /// bridge/chain/token.py `decode_retirement_data` accepts exactly the same bytes.
    /// @dev Requirements: `data` decodes as {RetirementDetails} (Solidity's ABI decoder: offsets and
    /// lengths inside `data`, integers within their types; padding bytes are not read), and every
    /// string is well-formed UTF-8, else it reverts ({MalformedRetirementData} for a string).
    /// The purpose is not checked here (see {retire}).
    function decodeRetirementData(bytes calldata data) external pure returns (RetirementDetails memory details) {
        details = abi.decode(data, (RetirementDetails));
        if (
            !_isUtf8(bytes(details.beneficiaryName)) || !_isUtf8(bytes(details.beneficiaryAddress))
                || !_isUtf8(bytes(details.organizationId)) || !_isUtf8(bytes(details.corsiaOperator))
                || !_isUtf8(bytes(details.corsiaState)) || !_isUtf8(bytes(details.ndcParty))
        ) revert MalformedRetirementData();
    }

    /// @dev Checks a retirement's details against the registry's purpose rules
    /// (registry.domain.lifecycle.validate_retirement), the class's authorization of the purpose
    /// aside; {retire} applies it to every non-empty `data`. Reverts with the first rule broken.
    /// Requirements, in this order:
    /// - `beneficiaryName` and `beneficiaryAddress` at most {MAX_BENEFICIARY_NAME_LENGTH} and
    ///   {MAX_BENEFICIARY_ADDRESS_LENGTH} bytes, `organizationId` at most
    ///   {MAX_ORGANIZATION_ID_LENGTH}, `corsiaOperator` at most {MAX_CORSIA_OPERATOR_LENGTH}
    ///   ({RetirementTextTooLong});
    /// - CORSIA: `corsiaOperator` is not blank ({CorsiaOperatorMissing}; blank as Python's
    ///   `str.strip` reads it), `corsiaState` is exactly three ASCII capital letters
    ///   ({InvalidCorsiaState}), and the compliance period is one of `CORSIA_COMPLIANCE_PERIODS`
    ///   ({UnknownCorsiaCompliancePeriod}); any other purpose carries no operator, state or
    ///   compliance year ({CorsiaDetailsOnlyForCorsia});
    /// - NDC: `ndcParty` is exactly three ASCII capital letters ({InvalidNdcParty}); any other
    ///   purpose leaves it empty ({NdcPartyOnlyForNdc});
    /// - the consumption period is not given (both zero) or complete ({IncompleteConsumptionPeriod}),
    ///   ordered ({ConsumptionPeriodReversed}) and ends by {MAX_CONSUMPTION_TIME}
    ///   ({ConsumptionTimeOutOfRange}).
    function _checkRetirementDetails(RetirementDetails memory details) private pure {
        _checkLength(RetirementText.BeneficiaryName, bytes(details.beneficiaryName).length, MAX_BENEFICIARY_NAME_LENGTH);
        _checkLength(RetirementText.BeneficiaryAddress, bytes(details.beneficiaryAddress).length, MAX_BENEFICIARY_ADDRESS_LENGTH);
        _checkLength(RetirementText.OrganizationId, bytes(details.organizationId).length, MAX_ORGANIZATION_ID_LENGTH);
        _checkLength(RetirementText.CorsiaOperator, bytes(details.corsiaOperator).length, MAX_CORSIA_OPERATOR_LENGTH);
        uint8 purpose = details.purpose;
        uint16 periodStart = details.compliancePeriodStart;
        uint16 periodEnd = details.compliancePeriodEnd;
        if (purpose == PURPOSE_CORSIA) {
            if (_isBlank(bytes(details.corsiaOperator))) revert CorsiaOperatorMissing();
            if (!_isAlpha3(bytes(details.corsiaState))) revert InvalidCorsiaState(details.corsiaState);
            if (!_isCorsiaCompliancePeriod(periodStart, periodEnd)) {
                revert UnknownCorsiaCompliancePeriod(periodStart, periodEnd);
            }
        } else if (
            bytes(details.corsiaOperator).length != 0 || bytes(details.corsiaState).length != 0 || periodStart != 0
                || periodEnd != 0
        ) {
            revert CorsiaDetailsOnlyForCorsia(purpose);
        }
        if (purpose == PURPOSE_NDC) {
            if (!_isAlpha3(bytes(details.ndcParty))) revert InvalidNdcParty(details.ndcParty);
        } else if (bytes(details.ndcParty).length != 0) {
            revert NdcPartyOnlyForNdc(purpose);
        }
        uint64 start = details.consumptionStart;
        uint64 end = details.consumptionEnd;
        if ((start == 0) != (end == 0)) revert IncompleteConsumptionPeriod(start, end);
        if (start > end) revert ConsumptionPeriodReversed(start, end);
        if (end > MAX_CONSUMPTION_TIME) revert ConsumptionTimeOutOfRange(end);
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

    /// @dev Field checks of the claim path ({_hashLeaves} applies the same rules to packed leaves,
    /// whose batch id, leaf index and last serial cannot disagree with the call).
    function _checkLeafFields(uint256 batchId, uint256 leafCount, Leaf calldata leaf) private pure {
        uint256 leafIndex = leaf.leafIndex;
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

    /// @dev Marks leaves `first` .. `first + count - 1` of a batch in its minted bitmap, a word at
    /// a time. Requirements: none of them minted before ({LeafAlreadyMinted} names the lowest).
    function _markRange(uint256 batchId, uint256 first, uint256 count) private {
        mapping(uint256 => uint256) storage bitmap = _mintedBitmap[batchId];
        uint256 end = first + count; // < 2^64: the caller checked the range against leafCount
        uint256 index = first;
        while (index < end) {
            uint256 wordIndex = index >> 8;
            uint256 wordEnd = (wordIndex + 1) << 8;
            uint256 span = (end < wordEnd ? end : wordEnd) - index; // 1..256 leaves in this word
            // `span` bits set from bit `index % 256`. A full word (span 256, from bit 0) shifts the 1
            // out to 0, and 0 - 1 wraps to all ones.
            uint256 mask;
            unchecked {
                mask = ((uint256(1) << span) - 1) << (index & 0xff);
            }
            uint256 word = bitmap[wordIndex];
            uint256 minted = word & mask;
            if (minted != 0) revert LeafAlreadyMinted(batchId, (wordIndex << 8) + _lowestBit(minted));
            bitmap[wordIndex] = word | mask;
            index += span;
        }
    }

    /// @dev Position of the lowest set bit of a non-zero word.
    function _lowestBit(uint256 word) private pure returns (uint256 bit) {
        while (word & 1 == 0) {
            word >>= 1;
            ++bit;
        }
    }

    /// @dev Checks every packed leaf of {mintLeaves} and returns its hash, in a queue with room
    /// for the multiproof's `steps` hashes after the leaf hashes (the bridge's hot path, hence
    /// assembly; {_checkLeafFields} and {leafHash} are the same rules in Solidity for the claim
    /// path, and the tests hold both to the same cases). Each leaf is unpacked into its
    /// `abi.encode(Leaf)` in temporary memory and hashed there.
    function _hashLeaves(
        uint256 batchId,
        uint256 firstLeafIndex,
        uint256[] calldata classIds,
        bytes calldata leaves,
        uint256 steps
    ) private pure returns (bytes32[] memory queue) {
        queue = new bytes32[](leaves.length / PACKED_LEAF_BYTES + steps);
        uint256 failedAt; // byte offset in `leaves` of the first leaf failing a check
        bool failed = false;
        assembly ("memory-safe") {
            let leaf := mload(0x40) // abi.encode(Leaf), temporary above the free memory pointer
            mstore(leaf, batchId)
            let leafIndex := firstLeafIndex
            let out := add(queue, 0x20)
            let end := add(leaves.offset, leaves.length) // leaves.length == count * 37
            let record := leaves.offset
            for {} lt(record, end) { record := add(record, 37) } {
                let head := calldataload(record) // a load past the last leaf reads zeros
                let amount := shr(192, calldataload(add(record, 21)))
                let classIndex := and(shr(88, head), 0xff)
                // Every field rule at once; _revertLeafCheck tells which one failed.
                if or(or(iszero(amount), iszero(shr(96, head))), iszero(lt(classIndex, classIds.length))) {
                    failed := 1
                    break
                }
                let first := shr(192, calldataload(add(record, 29)))
                mstore(add(leaf, 0x20), leafIndex)
                mstore(add(leaf, 0x40), calldataload(add(classIds.offset, shl(5, classIndex))))
                mstore(add(leaf, 0x60), shr(96, head))
                mstore(add(leaf, 0x80), amount)
                mstore(add(leaf, 0xa0), first)
                mstore(add(leaf, 0xc0), sub(add(first, amount), 1)) // both < 2^64: no wrap
                mstore(0x00, keccak256(leaf, 0xe0))
                mstore(out, keccak256(0x00, 0x20))
                out := add(out, 0x20)
                leafIndex := add(leafIndex, 1)
            }
            failedAt := sub(record, leaves.offset)
        }
        if (failed) _revertLeafCheck(batchId, firstLeafIndex, leaves, failedAt);
    }

    /// @dev The root a multiproof rebuilds from `queue`'s first `count` entries (leaf hashes, in
    /// multiproof order): OpenZeppelin's `processMultiProof` algorithm and pair hashing, so proofs
    /// from StandardMerkleTree's `getMultiProof` verify, with the flags packed 256 to a word (bit
    /// `i % 256` of word `i / 256` is flag `i`) and the queue in one array: step `i` hashes the next
    /// queued value with either the next queued value (flag set) or the next proof hash, and
    /// appends the result. Hand-written because OpenZeppelin's verifier takes one 32-byte calldata
    /// word per flag and its loop costs ~800 gas per leaf, a quarter of what {mintLeaves} spends
    /// above the floor. Stricter than OpenZeppelin's: a step may not read a value not yet computed,
    /// and every proof hash must be used (else `malformed`). `queue` holds `count + steps` words (see {mintLeaves}).
    /// tests/contracts/test_multiproof.py holds it to OpenZeppelin's verifier on random trees.
    function _multiProofRoot(
        bytes32[] memory queue,
        uint256 count,
        bytes32[] calldata proof,
        uint256[] calldata proofFlagWords
    ) private pure returns (bytes32 root, bool malformed) {
        assembly ("memory-safe") {
            // Pointers: `read` and `write` into the queue, `next` into the proof.
            let read := add(queue, 0x20)
            let write := add(read, shl(5, count))
            let last := add(read, shl(5, mload(queue))) // write reaches it after the last step
            let next := proof.offset
            let proofEnd := add(proof.offset, shl(5, proof.length))
            let flagWord := proofFlagWords.offset
            let flags := 0
            for { let i := 0 } lt(write, last) { i := add(i, 1) } {
                if iszero(and(i, 0xff)) {
                    flags := calldataload(flagWord)
                    flagWord := add(flagWord, 0x20)
                }
                let a := mload(read)
                let b := 0
                switch and(flags, 1)
                case 0 {
                    // Past the proof's end only on a malformed proof, which the check after the
                    // loop rejects (`next` only grows).
                    b := calldataload(next)
                    next := add(next, 0x20)
                    read := add(read, 0x20)
                }
                default {
                    b := mload(add(read, 0x20))
                    read := add(read, 0x40)
                }
                // Every queued value read must have been written already.
                if gt(read, write) {
                    malformed := 1
                    break
                }
                flags := shr(1, flags)
                // Hashes.commutativeKeccak256, branch-free: the smaller value first.
                let swap := mul(xor(a, b), lt(b, a))
                mstore(0x00, xor(a, swap))
                mstore(0x20, xor(b, swap))
                mstore(write, keccak256(0x00, 0x40))
                write := add(write, 0x20)
            }
            if iszero(eq(next, proofEnd)) { malformed := 1 }
            root := mload(sub(write, 0x20))
        }
    }

    /// @dev The custom error for the packed leaf at byte `offset` of `leaves` that failed a check
    /// of {_hashLeaves} (the checks again, one at a time, in its order; a leaf passing the first
    /// two failed the last, its class index).
    function _revertLeafCheck(
        uint256 batchId,
        uint256 firstLeafIndex,
        bytes calldata leaves,
        uint256 offset
    ) private pure {
        uint256 leafIndex = firstLeafIndex + offset / PACKED_LEAF_BYTES;
        if (uint64(bytes8(leaves[offset + 21:offset + 29])) == 0) revert LeafAmountMismatch(batchId, leafIndex);
        if (bytes20(leaves[offset:offset + 20]) == bytes20(0)) revert LeafRecipientZero(batchId, leafIndex);
        revert LeafClassIndexOutOfRange(batchId, leafIndex, uint8(leaves[offset + 20]));
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

    /// @dev Credits checked, verified and marked packed leaves: every balance, TransferSingle and
    /// {LeafMinted} in one assembly loop, then each class's supply once, then the receiver hooks,
    /// so a hook only ever sees the finished state. A run of consecutive leaves with the same
    /// recipient and class shares one balance update and one TransferSingle.
    function _creditLeaves(uint256 batchId, uint256 firstLeafIndex, uint256[] calldata classIds, bytes calldata leaves)
        private
    {
        uint256[] memory minted = new uint256[](classIds.length); // tonnes credited per class index
        bool anyContractRecipient = false;
        bytes32 transferSingle = TransferSingle.selector;
        bytes32 leafMinted = LeafMinted.selector;
        assembly ("memory-safe") {
            let scratch := mload(0x40) // event data, temporary above the free memory pointer
            let operator := caller()
            let innerIndex := not(0) // class index whose _balanceOf[classId] slot `inner` holds
            let inner := 0
            let end := add(leaves.offset, leaves.length)
            let leafIndex := firstLeafIndex
            for { let record := leaves.offset } lt(record, end) {} {
                let head := shr(88, calldataload(record)) // recipient | class index
                // The run of leaves from `record` with this recipient and class. Cannot overflow:
                // each amount is below 2^64 and calldata holds far fewer than 2^64 leaves.
                let total := shr(192, calldataload(add(record, 21)))
                let runEnd := add(record, 37)
                for {} lt(runEnd, end) { runEnd := add(runEnd, 37) } {
                    if iszero(eq(shr(88, calldataload(runEnd)), head)) { break }
                    total := add(total, shr(192, calldataload(add(runEnd, 21))))
                }
                let to := shr(8, head)
                let classIndex := and(head, 0xff)
                let classId := calldataload(add(classIds.offset, shl(5, classIndex)))
                if iszero(eq(classIndex, innerIndex)) {
                    mstore(0x00, classId)
                    mstore(0x20, _balanceOf.slot)
                    inner := keccak256(0x00, 0x40)
                    innerIndex := classIndex
                }
                mstore(0x00, to)
                mstore(0x20, inner)
                let slot := keccak256(0x00, 0x40)
                // Unchecked: the class supply, added with overflow checks after this loop, is at
                // least every balance of the class, so a balance that wrapped reverts there.
                sstore(slot, add(sload(slot), total))
                let mintedSlot := add(add(minted, 0x20), shl(5, classIndex))
                mstore(mintedSlot, add(mload(mintedSlot), total))
                mstore(scratch, classId)
                mstore(add(scratch, 0x20), total)
                log4(scratch, 0x40, transferSingle, operator, 0, to)
                for {} lt(record, runEnd) { record := add(record, 37) } {
                    let first := shr(192, calldataload(add(record, 29)))
                    mstore(scratch, leafIndex)
                    mstore(add(scratch, 0x20), first)
                    mstore(add(scratch, 0x40), sub(add(first, shr(192, calldataload(add(record, 21)))), 1))
                    log2(scratch, 0x60, leafMinted, batchId)
                    leafIndex := add(leafIndex, 1)
                }
                if extcodesize(to) { anyContractRecipient := 1 }
            }
        }
        uint256 mintedAll = 0;
        for (uint256 k = 0; k < minted.length; ++k) {
            uint256 amount = minted[k];
            if (amount != 0) {
                _supply[classIds[k]] += amount;
                mintedAll += amount;
            }
        }
        _supplyAll += mintedAll;
        if (anyContractRecipient) _runReceiverHooks(classIds, leaves);
    }

    /// @dev The ERC-1155 receiver hook of every run of {mintLeaves} (as credited: one call per run
    /// of consecutive leaves with the same recipient and class, for its total), after all effects.
    function _runReceiverHooks(uint256[] calldata classIds, bytes calldata leaves) private {
        address operator = _msgSender();
        uint256 count = leaves.length / PACKED_LEAF_BYTES;
        uint256 i = 0;
        while (i < count) {
            bytes21 head = bytes21(leaves[i * PACKED_LEAF_BYTES:]);
            uint256 total = 0;
            uint256 end = i;
            while (end < count && bytes21(leaves[end * PACKED_LEAF_BYTES:]) == head) {
                uint256 amountAt = end * PACKED_LEAF_BYTES + 21;
                total += uint64(bytes8(leaves[amountAt:amountAt + 8]));
                ++end;
            }
            address to = address(bytes20(head));
            ERC1155Utils.checkOnERC1155Received(operator, address(0), to, classIds[uint8(head[20])], total, "");
            i = end;
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
        if (data.length != 0) {
            // Decoded by a call first, so that data Solidity's decoder refuses reverts with
            // {MalformedRetirementData} and not with the decoder's empty revert; then once more
            // here, by the same decoder (reading the call's return data would take a second one).
            (bool decodes,) = address(this).staticcall(abi.encodeCall(this.decodeRetirementData, (data)));
            if (!decodes) revert MalformedRetirementData();
            RetirementDetails memory details = abi.decode(data, (RetirementDetails));
            uint8 purpose = details.purpose;
            if (purpose > PURPOSE_OTHER_INTERNATIONAL) revert UnknownRetirementPurpose(purpose);
            if ((info.authorizedUses >> purpose) & 1 == 0) revert PurposeNotAuthorized(tokenId, purpose);
            _checkRetirementDetails(details);
        } else if (info.authorizedUses & (1 << PURPOSE_VOLUNTARY) == 0) {
            revert PurposeNotAuthorized(tokenId, PURPOSE_VOLUNTARY);
        }

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

    /// @dev The length limits of the {Retired} event's own strings (see {retire}).
    function _checkRetirementTexts(string calldata retireeName, string calldata customUri, string calldata comment)
        private
        pure
    {
        _checkLength(RetirementText.RetireeName, bytes(retireeName).length, MAX_RETIREE_NAME_LENGTH);
        _checkLength(RetirementText.CustomUri, bytes(customUri).length, MAX_CUSTOM_URI_LENGTH);
        _checkLength(RetirementText.Comment, bytes(comment).length, MAX_COMMENT_LENGTH);
    }

    function _checkLength(RetirementText field, uint256 length, uint256 maxLength) private pure {
        if (length > maxLength) revert RetirementTextTooLong(field, length, maxLength);
    }

    /// @dev Whether `text` is exactly three ASCII capital letters (an ISO 3166-1 alpha-3 code's form).
    function _isAlpha3(bytes memory text) private pure returns (bool) {
        if (text.length != 3) return false;
        for (uint256 i = 0; i < 3; ++i) {
            bytes1 c = text[i];
            if (c < "A" || c > "Z") return false;
        }
        return true;
    }

    function _isCorsiaCompliancePeriod(uint16 start, uint16 end) private pure returns (bool) {
        uint256 period = uint256(start) << 16 | end;
        for (uint256 periods = CORSIA_COMPLIANCE_PERIODS; periods != 0; periods >>= 32) {
            if (periods & 0xffffffff == period) return true;
        }
        return false;
    }

    /// @dev Whether UTF-8 `text` is empty or only whitespace, as Python's `str.strip()` (the
    /// registry trims names with it) reads it: the characters of `str.isspace`, U+0009-000D,
    /// U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000.
    /// Stops at the first other character. `text` is well-formed UTF-8 ({decodeRetirementData}).
    function _isBlank(bytes memory text) private pure returns (bool blank) {
        assembly ("memory-safe") {
            let p := add(text, 0x20)
            let end := add(p, mload(text))
            blank := 1
            for {} lt(p, end) {} {
                let word := mload(p)
                let c := byte(0, word)
                // The character at `p` as two or three bytes: in `text`, since `text` is
                // well-formed UTF-8 and only a matching lead byte (C2, E1-E3) makes them count.
                let two := shr(240, word)
                let three := shr(232, word)
                let step := 0
                if or(and(gt(c, 0x08), lt(c, 0x0e)), and(gt(c, 0x1b), lt(c, 0x21))) { step := 1 }
                if or(eq(two, 0xc285), eq(two, 0xc2a0)) { step := 2 }
                if or(
                    or(eq(three, 0xe19a80), and(gt(three, 0xe2807f), lt(three, 0xe2808b))),
                    or(or(eq(three, 0xe280a8), eq(three, 0xe280a9)),
                       or(or(eq(three, 0xe280af), eq(three, 0xe2819f)), eq(three, 0xe38080)))
                ) { step := 3 }
                if iszero(step) {
                    blank := 0
                    break
                }
                p := add(p, step)
            }
        }
    }

    /// @dev Whether `text` is well-formed UTF-8 (Unicode Table 3-7: no overlong forms, no
    /// surrogates, nothing above U+10FFFF): exactly what Python's strict UTF-8 decoder accepts,
    /// so the registry can read every string the chain accepted. Assembly: 32 ASCII bytes are
    /// checked at once, and other text a character at a time.
    function _isUtf8(bytes memory text) private pure returns (bool valid) {
        assembly ("memory-safe") {
            let p := add(text, 0x20)
            let end := add(p, mload(text))
            valid := 1
            for {} lt(p, end) {} {
                let word := mload(p)
                let left := sub(end, p)
                // Bytes past the end do not count (an mload reads a whole word; only reads).
                if lt(left, 32) { word := and(word, not(shr(shl(3, left), not(0)))) }
                switch and(word, 0x8080808080808080808080808080808080808080808080808080808080808080)
                case 0 { p := add(p, 32) }
                default {
                    let lead := byte(0, word)
                    // Continuation bytes after the lead, and the range of the first of them.
                    let count := 0
                    let low := 0x80
                    let high := 0xbf
                    if lt(lead, 0x80) { p := add(p, 1) }
                    if and(gt(lead, 0xc1), lt(lead, 0xe0)) { count := 1 }
                    if and(gt(lead, 0xdf), lt(lead, 0xf0)) {
                        count := 2
                        if eq(lead, 0xe0) { low := 0xa0 } // no overlong 3-byte forms
                        if eq(lead, 0xed) { high := 0x9f } // no surrogates
                    }
                    if and(gt(lead, 0xef), lt(lead, 0xf5)) {
                        count := 3
                        if eq(lead, 0xf0) { low := 0x90 } // no overlong 4-byte forms
                        if eq(lead, 0xf4) { high := 0x8f } // nothing above U+10FFFF
                    }
                    if iszero(lt(lead, 0x80)) {
                        // An invalid lead byte (80-C1, F5-FF), or a character cut off by the end.
                        if or(iszero(count), iszero(lt(count, left))) {
                            valid := 0
                            break
                        }
                        let second := byte(1, word)
                        if or(lt(second, low), gt(second, high)) {
                            valid := 0
                            break
                        }
                        if and(gt(count, 1), iszero(eq(and(byte(2, word), 0xc0), 0x80))) {
                            valid := 0
                            break
                        }
                        if and(gt(count, 2), iszero(eq(and(byte(3, word), 0xc0), 0x80))) {
                            valid := 0
                            break
                        }
                        p := add(p, add(count, 1))
                    }
                }
            }
        }
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

    /// @dev OpenZeppelin's ERC1155 `_update` with ERC1155Supply's supply tracking, over this
    /// contract's own storage (see `_balanceOf`), plus the soulbound rule: retirement certificates
    /// can be minted, never moved or burned. Same errors and events as OpenZeppelin's.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
    {
        if (ids.length != values.length) revert ERC1155InvalidArrayLength(ids.length, values.length);
        uint256 mintedAll = 0;
        uint256 burnedAll = 0;
        for (uint256 i = 0; i < ids.length; ++i) {
            uint256 id = ids[i];
            uint256 value = values[i];
            if (from == address(0)) {
                _supply[id] += value;
                mintedAll += value;
            } else {
                if (id & CERTIFICATE_FLAG != 0) revert CertificateNonTransferable(id);
                uint256 fromBalance = _balanceOf[id][from];
                if (fromBalance < value) revert ERC1155InsufficientBalance(from, fromBalance, value, id);
                unchecked {
                    _balanceOf[id][from] = fromBalance - value;
                }
            }
            // Unchecked: the balances of an id sum to its supply, which the checked addition above
            // bounds, so a credit cannot overflow and a burn cannot take more than exists.
            unchecked {
                if (to == address(0)) {
                    _supply[id] -= value;
                    burnedAll += value;
                } else {
                    _balanceOf[id][to] += value;
                }
            }
        }
        _supplyAll += mintedAll;
        unchecked {
            _supplyAll -= burnedAll; // the burned tokens were part of the supplies, which sum to it
        }
        address operator = _msgSender();
        if (ids.length == 1) {
            emit TransferSingle(operator, from, to, ids[0], values[0]);
        } else {
            emit TransferBatch(operator, from, to, ids, values);
        }
    }
}
