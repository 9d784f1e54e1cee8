// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICCToken} from "../../src/ICCToken.sol";
import {TestBase} from "./TestBase.sol";
import {Batches} from "./Batches.sol";

/// @dev A deployed ICCToken whose every role is this test contract, with three registered credit
/// classes used by batches, one registered class no batch uses (foreign) and one id never
/// registered; four recipients without code.
abstract contract TokenFixture is TestBase {
    ICCToken internal token;
    uint256[] internal classIds;
    uint256 internal foreignClass;
    uint256 internal unregisteredClass;
    address[] internal recipients;
    uint256 internal nextBatchId = 1;

    function setUp() public virtual {
        token = new ICCToken("ipfs://{id}", address(this), address(this), address(this), address(this), 1 days);
        for (uint16 k = 0; k < 4; ++k) {
            uint256 id = registerClass(uint64(100 + k), 2021 + k, k == 1, k == 1 ? 7 : 0);
            if (k < 3) classIds.push(id);
            else foreignClass = id;
        }
        unregisteredClass = token.classIdOf(999, 2030, false, 0);
        for (uint160 k = 0; k < 4; ++k) {
            recipients.push(address(0xA11CE0 + k));
        }
    }

    function registerClass(uint64 project, uint16 vintage, bool article6, uint32 letter) internal returns (uint256 id) {
        id = token.classIdOf(project, vintage, article6, letter);
        token.registerClass(
            id,
            ICCToken.CreditClass({
                projectNumber: project,
                vintage: vintage,
                article6: article6,
                letterNumber: letter,
                hostCountry: bytes3("ISL"),
                authorizedUses: 0x0f,
                caStatus: article6 ? 1 : 0,
                registered: true
            })
        );
    }

    /// @dev A committed batch of `n` random leaves (seeded), amounts up to `maxAmount`.
    function commitRandom(uint256 seed, uint256 n, uint64 maxAmount) internal returns (Batches.Batch memory b) {
        b = Batches.random(seed, nextBatchId++, n, recipients, classIds, maxAmount);
        token.commitBatch(b.batchId, Batches.root(b), n);
    }

    /// @dev A hash of every balance and supply a mint can touch and of the batch's state and
    /// minted bitmap: two states with the same fingerprint minted the same.
    function fingerprint(uint256 batchId, uint256 leafCount) internal view returns (bytes32 h) {
        uint256[] memory all = new uint256[](5);
        all[0] = classIds[0];
        all[1] = classIds[1];
        all[2] = classIds[2];
        all[3] = foreignClass;
        all[4] = unregisteredClass;
        for (uint256 c = 0; c < all.length; ++c) {
            h = keccak256(abi.encode(h, token.totalSupply(all[c])));
            for (uint256 r = 0; r < recipients.length; ++r) {
                h = keccak256(abi.encode(h, token.balanceOf(recipients[r], all[c])));
            }
        }
        ICCToken.Batch memory state = token.batch(batchId);
        h = keccak256(
            abi.encode(
                h,
                token.totalSupply(),
                state,
                token.mintedLeafWords(batchId, 0, (leafCount + 255) / 256 + 1)
            )
        );
    }

    /// @dev Asserts the minted bitmap of a batch equals `naive` (one flag per leaf), word by word,
    /// and `isLeafMinted` leaf by leaf.
    function assertBitmap(uint256 batchId, bool[] memory naive, string memory what) internal view {
        uint256 words = (naive.length + 255) / 256 + 1; // one word past the batch reads zero
        uint256[] memory got = token.mintedLeafWords(batchId, 0, words);
        uint256[] memory expected = new uint256[](words);
        for (uint256 i = 0; i < naive.length; ++i) {
            if (naive[i]) expected[i >> 8] |= uint256(1) << (i & 0xff);
            assertTrue(token.isLeafMinted(batchId, i) == naive[i], what);
        }
        for (uint256 w = 0; w < words; ++w) {
            assertEq(got[w], expected[w], what);
        }
    }
}
