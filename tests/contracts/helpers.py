"""A deployed ICCToken on eth-tester with one key per role, two registered classes, funded
holders, and shortcuts for batches, signatures, events and time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from bridge.chain.client import Chain, ChainRevert, Receipt, decode_revert
from bridge.chain.solidity import load_artifact
from bridge.chain.token import LEAF_ENCODING, Leaf, commit_typed_data, mint_leaves_arguments
from bridge.chain.token import class_info as token_class_info
from bridge.merkle.tree import StandardMerkleTree
from registry.domain.classes import ClassKey, Purpose

ZERO = "0x" + "00" * 20
GAS = 2_000_000
TIMEOUT = 3 * 24 * 3600

STANDARD = ClassKey(project_number=78040, vintage=2023)
#: Article 6.2 class under letter 7: voluntary, CORSIA and NDC uses authorized (not "other").
ARTICLE6 = ClassKey(project_number=78040, vintage=2024, article6=True, letter_number=7)
ARTICLE6_USES = (1 << Purpose.voluntary) | (1 << Purpose.corsia) | (1 << Purpose.ndc)


def class_info(key: ClassKey, uses: int, ca_status: int = 0) -> tuple:
    return token_class_info(project_number=key.project_number, vintage=key.vintage, article6=key.article6,
                            letter_number=key.letter_number, host_country="ISL", authorized_uses=uses,
                            ca_status=ca_status)


def seeded(seed: str) -> LocalAccount:
    return Account.from_key(keccak(text=f"tests/contracts/{seed}"))


@dataclass
class Batch:
    batch_id: int
    values: list[list]
    tree: StandardMerkleTree

    def leaf(self, index: int) -> tuple:
        return tuple(self.values[index])

    def proof(self, index: int) -> list[bytes]:
        return [bytes.fromhex(p[2:]) for p in self.tree.get_proof(index)]

    def multi(self, indices: list[int]) -> tuple[int, list[int], bytes, list[bytes], list[int]]:
        """``mintLeaves``' arguments after the batch id for consecutive leaves ``indices``:
        (firstLeafIndex, classIds, packed leaves, proof, packed proof flags)."""
        return mint_leaves_arguments(self.tree.get_multi_proof(indices))


@dataclass
class TokenWorld:
    w3: Web3
    chain: Chain
    admin: LocalAccount
    pauser: LocalAccount
    signer: LocalAccount
    operator: LocalAccount
    relayer: LocalAccount
    holders: list[LocalAccount]
    outsider: LocalAccount
    _serial: int = field(default=0)
    _next_batch: int = field(default=1000)

    @property
    def token(self) -> Contract:
        return self.chain.token

    # ------------------------------------------------------------------ transactions
    def tx(self, sender: LocalAccount, name: str, *args: Any, gas: int = GAS) -> Receipt:
        return self.chain.transact(sender, getattr(self.token.functions, name)(*args), name, gas=gas)

    def call(self, name: str, *args: Any) -> Any:
        return getattr(self.token.functions, name)(*args).call()

    def reverts(self, error: str, sender: LocalAccount, name: str, *args: Any, gas: int = GAS) -> tuple:
        """Send, expect a revert with custom error ``error``; return the error's arguments."""
        with pytest.raises(ChainRevert) as info:
            self.tx(sender, name, *args, gas=gas)
        assert info.value.error == error, f"expected {error}, got {info.value}"
        return info.value.args_

    def events(self, receipt: Receipt, name: str) -> list[dict]:
        return [dict(e["args"]) for e in getattr(self.token.events, name)().process_receipt(receipt.raw, errors=DISCARD)]

    def role(self, name: str) -> bytes:
        return self.call(name) if name != "DEFAULT_ADMIN_ROLE" else bytes(32)

    # ------------------------------------------------------------------ batches
    def batch(self, batch_id: int, recipients: list[str], amount: int = 10, class_id: int | None = None) -> Batch:
        """Leaves of ``amount`` tonnes each with fresh, contiguous serial ranges."""
        class_id = STANDARD.token_id if class_id is None else class_id
        values = []
        for index, recipient in enumerate(recipients):
            first = self._serial + 1
            self._serial += amount
            values.append(Leaf(batch_id, index, class_id, recipient, amount, first, first + amount - 1).value())
        return Batch(batch_id, values, StandardMerkleTree.of(values, LEAF_ENCODING, sort_leaves=False))

    def commit(self, batch: Batch) -> Receipt:
        return self.tx(self.signer, "commitBatch", batch.batch_id, bytes.fromhex(batch.tree.root[2:]), len(batch.values))

    def mint(self, batch: Batch, indices: list[int] | None = None, sender: LocalAccount | None = None) -> Receipt:
        indices = list(range(len(batch.values))) if indices is None else indices
        return self.tx(sender or self.relayer, "mintLeaves", batch.batch_id, *batch.multi(indices))

    def give(self, holder: str, amount: int, class_id: int | None = None) -> None:
        """Mint ``amount`` tonnes of a class to ``holder`` through a one-leaf batch."""
        self._next_batch += 1
        batch = self.batch(self._next_batch, [holder], amount=amount, class_id=class_id)
        self.commit(batch)
        self.mint(batch)

    def sign_commit(self, signer: LocalAccount, batch_id: int, root: str, leaf_count: int,
                    chain_id: int | None = None, contract: str | None = None) -> bytes:
        from eth_account.messages import encode_typed_data

        data = commit_typed_data(self.chain.chain_id, self.chain.address, batch_id, root, leaf_count)
        if chain_id is not None:
            data["domain"]["chainId"] = chain_id
        if contract is not None:
            data["domain"]["verifyingContract"] = contract
        return bytes(signer.sign_message(encode_typed_data(full_message=data)).signature)

    # ------------------------------------------------------------------ time and helpers
    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def time_travel(self, seconds: int) -> None:
        tester = self.w3.provider.ethereum_tester
        tester.time_travel(self.now() + seconds)
        tester.mine_blocks(1)

    def balance(self, holder: str, class_id: int | None = None) -> int:
        return self.call("balanceOf", holder, STANDARD.token_id if class_id is None else class_id)

    def supply(self, class_id: int | None = None) -> int:
        return self.call("totalSupply", STANDARD.token_id if class_id is None else class_id)

    def deploy_receiver(self, owner: str) -> Contract:
        artifact = load_artifact("ReentrantReceiver")
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = factory.constructor(owner).build_transaction(
            {"from": self.admin.address, "chainId": self.chain.chain_id, "gas": 3_000_000,
             "nonce": self.chain._next_nonce(self.admin.address), **self.chain._fees()}
        )
        receipt = self.chain.send_signed(self.admin, tx, "deploy ReentrantReceiver")
        return self.w3.eth.contract(address=receipt.raw["contractAddress"], abi=artifact.abi)

    def as_receiver(self, receiver: Contract, name: str, *args: Any) -> Receipt:
        """Call the token as the receiver contract (through its ``execute``)."""
        data = self.token.encode_abi(name, args=list(args))
        fn = receiver.functions.execute(self.token.address, data)
        return self.chain.transact(self.outsider, fn, f"{name} as receiver", gas=GAS)

    def arm(self, receiver: Contract, name: str, *args: Any) -> None:
        data = self.token.encode_abi(name, args=list(args))
        self.chain.transact(self.outsider, receiver.functions.arm(self.token.address, data), "arm", gas=GAS)

    def reentry_outcome(self, receiver: Contract) -> tuple[bool, bool, str]:
        """(reentered, succeeded, error name of the failed re-entry or '')."""
        reentered = receiver.functions.reentered().call()
        succeeded = receiver.functions.reentrySucceeded().call()
        result = receiver.functions.reentryResult().call()
        return reentered, succeeded, "" if succeeded else decode_revert(self.chain.abi, result)[0]


def deploy_world(w3: Web3) -> TokenWorld:
    chain = Chain(w3)
    roles = {name: seeded(name) for name in ("admin", "pauser", "signer", "operator", "relayer", "outsider")}
    holders = [seeded(f"holder{i}") for i in range(3)]
    chain.fund_from_dev_account(*(a.address for a in [*roles.values(), *holders]))
    chain.deploy(
        roles["admin"], "https://registry.example/metadata/{id}.json", roles["admin"].address,
        roles["signer"].address, pauser=roles["pauser"].address, bridge_operator=roles["operator"].address,
        redemption_timeout=TIMEOUT,
    )
    world = TokenWorld(w3, chain, roles["admin"], roles["pauser"], roles["signer"], roles["operator"],
                       roles["relayer"], holders, roles["outsider"])
    world.tx(world.signer, "registerClass", STANDARD.token_id, class_info(STANDARD, 1 << Purpose.voluntary))
    world.tx(world.signer, "registerClass", ARTICLE6.token_id, class_info(ARTICLE6, ARTICLE6_USES, ca_status=1))
    return world
