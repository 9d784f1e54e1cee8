"""The bridge's main job, end to end, on whatever registry database and chain it is given.

Deploy the token; issue 1,000 ICCs in the registry; link a wallet; tokenize 400 into bridge
custody; batch, commit and mint them; move 150 on-chain to a second wallet which retires 100
for a named beneficiary; sync that retirement back into the registry; summarize.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from web3 import Web3

from bridge.chain.client import Chain
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.demo_article6 import add_article6_demo
from bridge.engine import batcher
from bridge.engine.deploy import BridgeKeys, deploy
from bridge.engine.reconcile import conservation
from bridge.engine.sync import sync_once
from registry.bridged import custody
from registry.db import transaction
from registry.domain.classes import Purpose
from registry.domain.wallets import sign_wallet_link
from registry.operations import holdings
from registry.operations.accounts import create_organization, link_wallet, open_account
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_chain
from registry.operations.projects import register_project
from registry.operations.retirements import retirement_blocks
from registry.tables.core import CreditClass, Retirement

ISSUED = 1_000
TOKENIZED = 400
TRANSFERRED = 150
RETIRED = 100

Step = Callable[[str], None]


@dataclass
class DemoWallets:
    holder: LocalAccount
    second: LocalAccount
    beneficiary: LocalAccount


def _noop(_: str) -> None:
    pass


def run_demo(engine: Engine, w3: Web3, step: Step = _noop) -> dict:
    """Run the whole loop and return the summary (see :func:`summarize`)."""
    chain = Chain(w3)
    keys = BridgeKeys(Account.create(), Account.create(), Account.create())
    wallets = DemoWallets(Account.create(), Account.create(), Account.create())
    chain.fund_from_dev_account(
        keys.admin.address, keys.registry_signer.address, keys.relayer.address,
        wallets.holder.address, wallets.second.address,
    )

    step("deploy the ICC token contract")
    deployment = deploy(engine, chain, keys)

    step("registry: organization, account, project, ex-post issuance of 1,000 ICCs")
    with transaction(engine) as session:
        org = create_organization(session, "Nordic Removals hf.")
        account = open_account(session, org.id, "Nordic Removals main holding account")
        project = register_project(
            session,
            project_number=78040,
            name="Demo direct air capture and storage project",
            country="ISL",
            dial_code="354",
            sector=14,
            credit_type="R",
            methodology="ICR-DAC-CCS v1.0",
        )
        issuance = issue_ex_post(session, project_id=project.id, vintage=2023, quantity=ISSUED, account_id=account.id,
                                 monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 12, 31),
                                 verification_reference="Demo verification report 2023",
                                 verification_body="Demo Verification Body", verified_on=date(2024, 3, 1))
        credit_class = session.exec(
            select(CreditClass).where(CreditClass.serialization_id == issuance.serialization_id)
        ).one()

    step("link a wallet to the account (EIP-712 signature)")
    now = int(time.time())
    address, signature = sign_wallet_link(wallets.holder.key, account.id, now)
    with transaction(engine) as session:
        link_wallet(session, account.id, address, now, signature, now)

    step("tokenize 400 ICCs: serials move to bridge custody")
    with transaction(engine) as session:
        request, _moved = custody.request_tokenization(
            session,
            account_id=account.id,
            wallet=address,
            class_id=credit_class.id,
            quantity=TOKENIZED,
            custody_account_id=deployment.custody_account_id,
        )

    step("build the Merkle batch, commit its root, mint against proofs")
    with transaction(engine) as session:
        batch = batcher.build_batch(session, deployment)
    batcher.commit_batch(engine, chain, batch.id, keys.registry_signer, keys.relayer)
    batcher.mint_batch(engine, chain, batch.id, keys.relayer)
    sync_once(engine, chain)

    step("on-chain: transfer 150 to a second wallet, which retires 100 for a beneficiary")
    token_id = int(credit_class.token_id)
    token = chain.token
    chain.transact(
        wallets.holder,
        token.functions.safeTransferFrom(wallets.holder.address, wallets.second.address, token_id, TRANSFERRED, b""),
        "transfer 150 ICC",
    )
    details = RetirementData(
        purpose=Purpose.voluntary,
        beneficiary_name="Reykjavik Harbour Ferries ehf.",
        beneficiary_address="Geirsgata 1, 101 Reykjavik, Iceland",
        organization_id=str(org.id),
    )
    retire_receipt = chain.transact(
        wallets.second,
        token.functions.retire(
            token_id,
            RETIRED,
            wallets.beneficiary.address,
            "Second wallet holder",
            "",
            "Offsetting 2023 ferry operations",
            encode_retirement_data(details),
        ),
        "retire 100 ICC",
    )

    step("sync: ingest the retirement into the registry")
    sync_once(engine, chain)

    step("Article 6.2: letter of authorization, 200 Article 6.2 ICCs of 2024, a CORSIA retirement, CA applied")
    article6 = add_article6_demo(engine, project.id, account.id)

    labels = {
        wallets.holder.address: "linked wallet",
        wallets.second.address: "second wallet",
        wallets.beneficiary.address: "beneficiary",
    }
    summary = summarize(engine, chain, labels)
    summary["chain"]["lookup_contract"] = deployment.lookup_address
    summary["article6"] = asdict(article6)
    summary["retire_tx"] = retire_receipt.tx_hash
    return summary


def summarize(engine: Engine, chain: Chain, wallet_labels: dict[str, str]) -> dict:
    """Registry balances, on-chain balances, retirements and the conservation check."""
    with Session(engine) as session:
        balances = [b.__dict__ for b in holdings.balances(session)]
        classes = session.exec(select(CreditClass).order_by(CreditClass.id)).all()
        retirements = []
        for r in session.exec(select(Retirement).order_by(Retirement.id)):
            blocks = retirement_blocks(session, r.id)
            retirements.append(
                {
                    "retirement_id": r.id,
                    "quantity": r.quantity,
                    "serial_blocks": [b.serial_block for b in blocks],
                    "purpose": r.purpose,
                    "beneficiary_name": r.beneficiary_name,
                    "beneficiary_wallet": r.beneficiary_wallet,
                    "retiree": r.retiree,
                    "chain_id": r.chain_id,
                    "tx_hash": r.tx_hash,
                    "log_index": r.log_index,
                    "block_number": r.block_number,
                }
            )
        ledger = verify_chain(session)
    onchain = []
    for credit_class in classes:
        for address, label in wallet_labels.items():
            balance = chain.call(chain.token.functions.balanceOf(address, int(credit_class.token_id)), "balanceOf")
            onchain.append({"wallet": address, "label": label, "token_id": credit_class.token_id, "balance": int(balance)})
    checks = [c.as_json() for c in conservation(engine, chain)]
    return {
        "chain": {"chain_id": chain.chain_id, "contract": chain.address, "block": chain.w3.eth.block_number},
        "registry_balances": balances,
        "onchain_balances": onchain,
        "retirements": retirements,
        "conservation": checks,
        "ledger": {"entries": ledger.entries, "head": ledger.head, "ok": ledger.ok, "problems": ledger.problems},
        "ok": bool(checks) and all(c["ok"] for c in checks) and ledger.ok,
    }
