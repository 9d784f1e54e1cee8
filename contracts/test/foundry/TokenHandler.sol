// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {vm} from "./Vm.sol";
import {ICCToken} from "../../src/ICCToken.sol";
import {ReentrantReceiver} from "../ReentrantReceiver.sol";
import {Batches} from "./Batches.sol";

/// @dev The invariant runner's handler: random sequences of every state change of ICCToken
/// (commit, mint, claim, transfer, retire, redemption request / finalize / reject / reclaim,
/// revoke, pause, CA status), each with bounded inputs and tried as a holder would (a call that
/// reverts changes nothing), and ghost records of what succeeded for the invariants to check.
/// This contract holds every role; the holders are three accounts without code and a
/// ReentrantReceiver that re-enters a mint of the same leaves from its receive hook.
contract TokenHandler {
    ICCToken public immutable token;
    ReentrantReceiver public immutable receiver;
    address[] public holders; // three accounts and the receiver
    uint256[] public classIds;

    // Batches committed so far, as Batches.Batch in storage.
    uint256[] public batchIds;
    mapping(uint256 batchId => ICCToken.Leaf[]) internal _leaves;
    mapping(uint256 batchId => uint8[]) internal _classIndexes;
    mapping(uint256 batchId => bytes32[]) internal _trees;

    // Ghosts.
    mapping(uint256 classId => uint256) public minted;
    mapping(uint256 classId => uint256) public retired;
    mapping(uint256 classId => uint256) public burned;
    mapping(uint256 classId => uint256) public pending;
    mapping(uint256 batchId => mapping(uint256 leafIndex => uint256)) public mintCount;
    mapping(uint256 batchId => uint256) public mintedLeaves;
    uint256[] public certificates;
    mapping(uint256 certificateId => address) public certificateOwner;
    uint256[] public redemptions;
    bool public leafMintedTwice;
    bool public certificateMoved;
    bool public reentryMinted;
    bool public retiredOutsideUses; // a retirement for a purpose its class's uses did not allow succeeded
    uint256 public reentries; // re-entering mints attempted from a receive hook
    mapping(string action => uint256) public calls; // successful calls per action

    uint256 internal _nextBatchId = 1;

    constructor() {
        token = new ICCToken("ipfs://{id}", address(this), address(this), address(this), address(this), 1 hours);
        receiver = new ReentrantReceiver(address(this));
        holders.push(address(0xB0B1));
        holders.push(address(0xB0B2));
        holders.push(address(0xB0B3));
        holders.push(address(receiver));
        for (uint16 k = 0; k < 3; ++k) {
            uint256 id = token.classIdOf(uint64(500 + k), 2022 + k, k == 2, k == 2 ? 9 : 0);
            token.registerClass(
                id,
                ICCToken.CreditClass({
                    projectNumber: uint64(500 + k),
                    vintage: 2022 + k,
                    article6: k == 2,
                    letterNumber: k == 2 ? 9 : 0,
                    hostCountry: bytes3("ISL"),
                    authorizedUses: 0x0f,
                    caStatus: k == 2 ? 1 : 0,
                    registered: true
                })
            );
            classIds.push(id);
        }
    }

    function holderCount() external view returns (uint256) {
        return holders.length;
    }

    function classCount() external view returns (uint256) {
        return classIds.length;
    }

    function batchCount() external view returns (uint256) {
        return batchIds.length;
    }

    function certificateCount() external view returns (uint256) {
        return certificates.length;
    }

    function leafCount(uint256 batchId) external view returns (uint256) {
        return _leaves[batchId].length;
    }

    // ---------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------

    function commit(uint256 seed, uint256 nSeed) external {
        uint256 n = 1 + nSeed % 40;
        Batches.Batch memory b = Batches.random(seed, _nextBatchId++, n, holders, classIds, 1000);
        try token.commitBatch(b.batchId, Batches.root(b), n) {
            batchIds.push(b.batchId);
            for (uint256 i = 0; i < n; ++i) {
                _leaves[b.batchId].push(b.leaves[i]);
                _classIndexes[b.batchId].push(b.classIndexes[i]);
            }
            for (uint256 i = 0; i < b.tree.length; ++i) _trees[b.batchId].push(b.tree[i]);
            ++calls["commit"];
        } catch {}
    }

    function mintRange(uint256 batchSeed, uint256 firstSeed, uint256 countSeed, bool reenter) external {
        if (batchIds.length == 0) return;
        Batches.Batch memory b = _batch(batchIds[batchSeed % batchIds.length]);
        uint256 first = firstSeed % b.leaves.length;
        uint256 count = 1 + countSeed % (b.leaves.length - first);
        if (firstSeed % 4 != 0) {
            // Mostly a range of leaves not minted yet (else mostly LeafAlreadyMinted).
            while (first + 1 < b.leaves.length && mintCount[b.batchId][first] != 0) ++first;
            uint256 free = 0;
            while (first + free < b.leaves.length && mintCount[b.batchId][first + free] == 0) ++free;
            count = free == 0 ? 1 : 1 + countSeed % free;
        }
        (bytes memory packed, bytes32[] memory proof, uint256[] memory flagWords) = Batches.rangeCall(b, first, count);
        bytes memory call =
            abi.encodeCall(ICCToken.mintLeaves, (b.batchId, first, b.classIds, packed, proof, flagWords));
        if (_send(call, reenter && _paysReceiver(b, first, count), call)) {
            for (uint256 i = first; i < first + count; ++i) _recordMint(b.leaves[i]);
            ++calls["mintRange"];
        }
    }

    function claim(uint256 batchSeed, uint256 indexSeed, bool reenter) external {
        if (batchIds.length == 0) return;
        Batches.Batch memory b = _batch(batchIds[batchSeed % batchIds.length]);
        uint256 index = indexSeed % b.leaves.length;
        // Mostly a leaf not minted yet.
        for (uint256 k = 0; k < b.leaves.length && indexSeed % 4 != 0 && mintCount[b.batchId][index] != 0; ++k) {
            index = (index + 1) % b.leaves.length;
        }
        bytes memory call = abi.encodeCall(ICCToken.claim, (b.leaves[index], Batches.proofOf(b, index)));
        // The receive hook re-enters with the same claim, or with a range mint of the same leaf.
        bytes memory reentry = call;
        if (indexSeed % 2 == 0) {
            (bytes memory packed, bytes32[] memory proof, uint256[] memory flagWords) = Batches.rangeCall(b, index, 1);
            reentry = abi.encodeCall(ICCToken.mintLeaves, (b.batchId, index, b.classIds, packed, proof, flagWords));
        }
        if (_send(call, reenter && b.leaves[index].recipient == address(receiver), reentry)) {
            _recordMint(b.leaves[index]);
            ++calls["claim"];
        }
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 idSeed, uint256 amountSeed) external {
        address from = holders[fromSeed % holders.length];
        address to = holders[toSeed % holders.length];
        bool certificate = certificates.length > 0 && idSeed % 4 == 0;
        uint256 id = certificate ? certificates[(idSeed >> 8) % certificates.length] : classIds[idSeed % classIds.length];
        if (certificate) from = certificateOwner[id];
        uint256 amount = _amount(amountSeed, token.balanceOf(from, id));
        if (_as(from, abi.encodeCall(token.safeTransferFrom, (from, to, id, amount, "")))) {
            if (certificate && from != to && amount > 0) certificateMoved = true;
            ++calls["transfer"];
        }
    }

    function retire(uint256 holderSeed, uint256 classSeed, uint256 amountSeed, uint256 beneficiarySeed) external {
        address holder = holders[holderSeed % holders.length];
        uint256 classId = _heldClass(holder, classSeed);
        address beneficiary = beneficiarySeed % 3 == 0 ? address(0) : holders[beneficiarySeed % holders.length];
        uint256 amount = _amount(amountSeed, token.balanceOf(holder, classId));
        uint256 certificateId = (1 << 255) | (token.retirementCount() + 1);
        // a purpose drawn from the seed (empty data is a voluntary retirement), with the details
        // the contract requires of it, so only the class's authorized uses decide
        uint8 purpose = uint8((beneficiarySeed >> 8) % 5);
        bytes memory data = purpose == 4 ? bytes("") : _details(purpose);
        if (purpose == 4) purpose = 0;
        bool allowed = (token.creditClass(classId).authorizedUses >> purpose) & 1 == 1;
        bytes memory call = abi.encodeCall(token.retire, (classId, amount, beneficiary, "name", "", "", data));
        if (_as(holder, call)) {
            if (!allowed) retiredOutsideUses = true;
            retired[classId] += amount;
            certificates.push(certificateId);
            certificateOwner[certificateId] = beneficiary == address(0) ? holder : beneficiary;
            ++calls["retire"];
        }
    }

    function requestRedemption(uint256 holderSeed, uint256 classSeed, uint256 amountSeed) external {
        address holder = holders[holderSeed % holders.length];
        uint256 classId = _heldClass(holder, classSeed);
        uint256 amount = _amount(amountSeed, token.balanceOf(holder, classId));
        uint256 id = token.redemptionCount() + 1;
        if (_as(holder, abi.encodeCall(token.requestRedemption, (classId, amount, "ICR-ACCOUNT-1")))) {
            pending[classId] += amount;
            redemptions.push(id);
            ++calls["requestRedemption"];
        }
    }

    function finalizeRedemption(uint256 idSeed) external {
        if (redemptions.length == 0) return;
        uint256 id = redemptions[idSeed % redemptions.length];
        ICCToken.Redemption memory r = token.redemption(id);
        try token.finalizeRedemption(id) {
            pending[r.classId] -= r.amount;
            burned[r.classId] += r.amount;
            ++calls["finalizeRedemption"];
        } catch {}
    }

    function rejectRedemption(uint256 idSeed) external {
        if (redemptions.length == 0) return;
        uint256 id = redemptions[idSeed % redemptions.length];
        ICCToken.Redemption memory r = token.redemption(id);
        try token.rejectRedemption(id, "no registry account") {
            pending[r.classId] -= r.amount;
            ++calls["rejectRedemption"];
        } catch {}
    }

    function reclaimRedemption(uint256 idSeed, uint256 waitSeed) external {
        if (redemptions.length == 0) return;
        uint256 id = redemptions[idSeed % redemptions.length];
        ICCToken.Redemption memory r = token.redemption(id);
        vm.warp(block.timestamp + waitSeed % 2 hours);
        if (_as(r.holder, abi.encodeCall(token.reclaimRedemption, (id)))) {
            pending[r.classId] -= r.amount;
            ++calls["reclaimRedemption"];
        }
    }

    function revokeBatch(uint256 batchSeed) external {
        if (batchIds.length == 0 || batchSeed % 4 != 0) return; // rarely: it ends a batch
        try token.revokeBatch(batchIds[batchSeed % batchIds.length]) {
            ++calls["revokeBatch"];
        } catch {}
    }

    function togglePause(uint256 seed) external {
        if (token.paused()) token.unpause();
        else if (seed % 3 == 0) token.pause();
        else return;
        ++calls["togglePause"];
    }

    /// @dev The registry narrows or restores a class's uses (a letter's scope, a hold, No CA
    /// applied), any combination of the four purpose bits.
    function setClassUses(uint256 classSeed, uint8 uses) external {
        try token.setClassUses(classIds[classSeed % classIds.length], uses & 0x0f) {
            ++calls["setClassUses"];
        } catch {}
    }

    function setCAStatus(uint256 classSeed, uint8 status) external {
        try token.setCAStatus(classIds[classSeed % classIds.length], status % 5, bytes32(classSeed)) {
            ++calls["setCAStatus"];
        } catch {}
    }

    // ---------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------

    /// @dev A mint call, with the receiver armed to make `reentry` from its next receive hook when
    /// `arm` is set. Arming and minting happen in one call ({armedCall}) that reverts whole if the
    /// mint reverts or the hook did not run, so the receiver is never left armed.
    function _send(bytes memory call, bool arm, bytes memory reentry) internal returns (bool ok) {
        if (!arm) {
            (ok,) = address(token).call(call);
            return ok;
        }
        try this.armedCall(call, reentry) {
            ok = true;
            ++reentries;
            if (receiver.reentrySucceeded()) reentryMinted = true;
        } catch {
            ok = false;
        }
    }

    function armedCall(bytes memory call, bytes memory reentry) external {
        require(msg.sender == address(this), "handler only");
        receiver.arm(address(token), reentry);
        (bool ok, bytes memory reason) = address(token).call(call);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(reason, 0x20), mload(reason))
            }
        }
        require(receiver.reentered() && !receiver.armed(), "the receive hook did not run");
    }

    /// @dev `call` to the token as `holder` (through the receiver's `execute` for the receiver).
    function _as(address holder, bytes memory call) internal returns (bool ok) {
        if (holder == address(receiver)) {
            try receiver.execute(address(token), call) {
                return true;
            } catch {
                return false;
            }
        }
        vm.prank(holder);
        (ok,) = address(token).call(call);
    }

    /// @dev Mostly 1 .. balance; one time in eight zero or one more than the balance (reverts).
    function _details(uint8 purpose) internal pure returns (bytes memory) {
        ICCToken.RetirementDetails memory d;
        d.purpose = purpose;
        d.beneficiaryName = "Harbour";
        if (purpose == 1) {
            d.corsiaOperator = "Icelandair";
            d.corsiaState = "ISL";
            d.compliancePeriodStart = 2024;
            d.compliancePeriodEnd = 2026;
        } else if (purpose == 2) {
            d.ndcParty = "ISL";
        }
        return abi.encode(d);
    }

    function _amount(uint256 seed, uint256 balance) internal pure returns (uint256) {
        if (balance == 0 || seed % 8 == 0) return seed % 2 == 0 ? 0 : balance + 1;
        return 1 + (seed >> 8) % balance;
    }

    /// @dev The first class from `seed` on that `holder` holds (else the one at `seed`).
    function _heldClass(address holder, uint256 seed) internal view returns (uint256) {
        for (uint256 k = 0; k < classIds.length; ++k) {
            uint256 classId = classIds[(seed % classIds.length + k) % classIds.length];
            if (token.balanceOf(holder, classId) > 0) return classId;
        }
        return classIds[seed % classIds.length];
    }

    function _recordMint(ICCToken.Leaf memory l) internal {
        if (++mintCount[l.batchId][l.leafIndex] > 1) leafMintedTwice = true;
        ++mintedLeaves[l.batchId];
        minted[l.classId] += l.amount;
    }

    function _paysReceiver(Batches.Batch memory b, uint256 first, uint256 count) internal view returns (bool) {
        for (uint256 i = first; i < first + count; ++i) {
            if (b.leaves[i].recipient == address(receiver)) return true;
        }
        return false;
    }

    function _batch(uint256 batchId) internal view returns (Batches.Batch memory b) {
        b.batchId = batchId;
        b.leaves = _leaves[batchId];
        b.classIndexes = _classIndexes[batchId];
        b.classIds = classIds;
        b.tree = _trees[batchId];
    }
}
