"""A small world for bridge tests: a registry with one project, a deployed token, keys and
wallets derived from a seed (so two runs are comparable), and helpers for the user side."""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlmodel import Session, select
from web3.logs import DISCARD

from bridge.chain.client import Chain
from bridge.engine import batcher
from bridge.engine.deploy import BridgeKeys, deploy
from bridge.engine.reconcile import conservation
from bridge.tables import Deployment, MintLeaf, Redemption
from registry.bridged import custody
from registry.db import transaction
from registry.domain.wallets import sign_wallet_link
from registry.operations.accounts import create_organization, link_wallet, open_account
from registry.operations.issuances import issue_ex_post
from registry.operations.projects import register_project
from registry.operations.retirements import retirement_blocks
from registry.tables.core import CreditClass, Retirement, SerialBlock
from tests.support.periods import verified


def seeded(seed: str) -> LocalAccount:
    return Account.from_key(keccak(text=seed))


@dataclass
class World:
    engine: object
    chain: Chain
    keys: BridgeKeys
    deployment: Deployment
    account_id: int
    class_id: int
    token_id: int
    holder: LocalAccount
    others: list[LocalAccount]

    def tokenize(self, quantity: int) -> int:
        with transaction(self.engine) as s:
            request, _ = custody.request_tokenization(
                s, account_id=self.account_id, wallet=self.holder.address, class_id=self.class_id,
                quantity=quantity, custody_account_id=self.deployment.custody_account_id,
            )
        return request.id

    def transfer(self, sender: LocalAccount, to: str, amount: int):
        fn = self.chain.token.functions.safeTransferFrom(sender.address, to, self.token_id, amount, b"")
        return self.chain.transact(sender, fn, "transfer", gas=200_000)

    def retire(self, holder: LocalAccount, amount: int, beneficiary: str | None = None, name: str = "Beneficiary"):
        fn = self.chain.token.functions.retire(
            self.token_id, amount, beneficiary or "0x" + "00" * 20, name, "", "test retirement", b""
        )
        return self.chain.transact(holder, fn, "retire", gas=400_000)

    def request_redemption(self, holder: LocalAccount, amount: int, reference: str | None = None) -> int:
        """Escrow ``amount`` tokens for the registry account ``reference`` (default: the holder's own)."""
        reference = str(self.account_id) if reference is None else reference
        fn = self.chain.token.functions.requestRedemption(self.token_id, amount, reference)
        receipt = self.chain.transact(holder, fn, "requestRedemption", gas=300_000)
        (event,) = self.chain.token.events.RedemptionRequested().process_receipt(receipt.raw, errors=DISCARD)
        return event["args"]["redemptionId"]

    def outcome(self) -> dict:
        """Everything that must be equal between a run with a crash and one without."""
        with Session(self.engine) as s:
            blocks = sorted(
                (b.unit_first, b.unit_last, b.status.value, b.account_id, b.mirrored)
                for b in s.exec(select(SerialBlock))
            )
            retirements = sorted(
                (r.quantity, r.beneficiary_name, tuple(m.serial_block for m in retirement_blocks(s, r.id)))
                for r in s.exec(select(Retirement))
            )
            leaves = sorted((l.batch_id, l.leaf_index, l.unit_first, l.unit_last, l.minted)
                            for l in s.exec(select(MintLeaf)))
            redemptions = sorted((r.redemption_id, r.status.value, r.decision, r.amount, r.moved_ranges)
                                 for r in s.exec(select(Redemption)))
        balances = {a.address: self.chain.token.functions.balanceOf(a.address, self.token_id).call()
                    for a in [self.holder, *self.others]}
        checks = [(c.registry_custody, c.awaiting_mint, c.onchain_supply, c.ok) for c in conservation(self.engine, self.chain)]
        return {"blocks": _merged(blocks), "retirements": retirements, "leaves": leaves, "balances": balances,
                "conservation": checks, "redemptions": redemptions}


def _merged(blocks):
    """Serial blocks as (status, account, mirrored) -> total units, so splits don't matter."""
    totals: dict = {}
    for first, last, status, account, mirrored in blocks:
        key = (status, account, mirrored)
        totals[key] = totals.get(key, 0) + last - first + 1
    return sorted(totals.items(), key=str)


def make_world(engine, w3, seed: str = "world", issued: int = 1_000) -> World:
    chain = Chain(w3)
    keys = BridgeKeys(seeded(f"{seed}/admin"), seeded(f"{seed}/signer"), seeded(f"{seed}/relayer"))
    holder = seeded(f"{seed}/holder")
    others = [seeded(f"{seed}/other{i}") for i in range(3)]
    chain.fund_from_dev_account(keys.admin.address, keys.registry_signer.address, keys.relayer.address,
                                holder.address, *(o.address for o in others))
    deployment = deploy(engine, chain, keys)
    with transaction(engine) as s:
        org = create_organization(s, "Org")
        account = open_account(s, org.id, "holding")
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=issued, account_id=account.id)
        credit_class = s.exec(select(CreditClass).where(CreditClass.serialization_id == issuance.serialization_id)).one()
    now = int(time.time())
    address, signature = sign_wallet_link(holder.key, account.id, now)
    with transaction(engine) as s:
        link_wallet(s, account.id, address, now, signature, now)
    return World(engine, chain, keys, deployment, account.id, credit_class.id, int(credit_class.token_id), holder, others)


__all__ = ["World", "make_world", "seeded", "batcher"]
