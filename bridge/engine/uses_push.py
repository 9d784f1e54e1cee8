"""Pushing the registry's current uses of Article 6.2 credit classes on-chain (an engine step).

The registry derives a class's uses from its letter's current scope, the uses requested at
designation and the holds (registry/domain/article6/uses.py) and keeps them in
``CreditClass.authorized_uses``. For every Article 6.2 class registered on-chain whose on-chain
``authorizedUses`` differs, the registry signer (REGISTRY_ROLE) sends ``setClassUses(classId,
uses)``, which emits ``ClassUsesChanged`` and the ERC-1155 ``URI`` event; ``retire`` then checks
purposes against the new uses.

As with the CA push (bridge/engine/ca_push.py), the chain is compared with the registry every
cycle rather than trusting a "pushed" flag, so a push lost with a crash or a reorganization is
sent again, and a repeated cycle sends nothing. Each push is recorded in the ledger
(``article6.class_uses.pushed``) once its transaction is mined.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain import token
from bridge.chain.client import Chain
from bridge.engine import faults
from bridge.engine.locks import claim
from registry.db import transaction
from registry.operations.ledger import append_entry
from registry.tables.core import CreditClass

log = logging.getLogger("icr_bridge.uses_push")

GAS_SET_CLASS_USES = 100_000


@dataclass
class UsesPushReport:
    pushed: dict[str, int] = field(default_factory=dict)  # token id -> uses mask sent
    transactions: list[str] = field(default_factory=list)


def push_class_uses(engine: Engine, chain: Chain, registry_signer: LocalAccount) -> UsesPushReport:
    report = UsesPushReport()
    with Session(engine) as session:
        classes = session.exec(
            select(CreditClass.token_id, CreditClass.authorized_uses)
            .where(CreditClass.registered_on_chain == True, CreditClass.letter_number > 0)  # noqa: E712
            .order_by(CreditClass.id)
        ).all()
    for token_id, desired in classes:
        if token.credit_class(chain, token_id)["authorizedUses"] == desired:
            continue
        # One sender per registry-signer key at a time: workers would race for its nonce.
        with claim(engine, f"registry-signer:{chain.chain_id}", wait=True):
            previous = token.credit_class(chain, token_id)["authorizedUses"]
            if previous == desired:
                continue
            fn = chain.token.functions.setClassUses(int(token_id), desired)
            receipt = chain.transact(registry_signer, fn, f"setClassUses {token_id}", gas=GAS_SET_CLASS_USES)
        report.pushed[token_id] = desired
        report.transactions.append(receipt.tx_hash)
        log.info("class uses pushed", extra={"token_id": token_id, "uses": desired, "tx_hash": receipt.tx_hash})
        faults.point("uses.pushed")
        with transaction(engine) as session:
            append_entry(session, "article6.class_uses.pushed", {
                "token_id": token_id, "from": previous, "to": desired, "chain_id": chain.chain_id,
                "tx_hash": receipt.tx_hash})
    return report
