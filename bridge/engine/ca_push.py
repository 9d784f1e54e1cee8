"""Pushing the registry's corresponding-adjustment (CA) decisions on-chain (an engine step).

The registry is the source of truth: each credit class carries the CA status of its project
and vintage (``CreditClass.ca_status``, kept by :mod:`registry.operations.article6.adjustments`).
For every class registered on-chain whose on-chain status differs, the registry signer
(REGISTRY_ROLE) sends ``setCAStatus(classId, status, evidenceHash)``, where the evidence hash
is the sha256 of the latest evidence reference of the CA record. The change emits ``CAStatusChanged`` and
the ERC-1155 ``URI`` event so indexers refresh the metadata.

Comparing with the chain each cycle, rather than trusting a "pushed" flag alone, makes the
step restartable and reorg-safe: a push lost with a crash or an abandoned block is sent
again. The history rows a push covers are marked pushed (with the transaction) afterwards.
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
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6.adjustments import ZERO_HASH
from registry.tables.core import CreditClass

log = logging.getLogger("icr_bridge.ca_push")

GAS_SET_CA_STATUS = 150_000


@dataclass
class CAPushReport:
    pushed: dict[str, int] = field(default_factory=dict)  # token id -> status sent
    transactions: list[str] = field(default_factory=list)


def push_ca_statuses(engine: Engine, chain: Chain, registry_signer: LocalAccount) -> CAPushReport:
    report = CAPushReport()
    with Session(engine) as session:
        classes = session.exec(
            select(CreditClass.id, CreditClass.token_id, CreditClass.ca_status)
            .where(CreditClass.registered_on_chain == True)  # noqa: E712
            .order_by(CreditClass.id)
        ).all()
        pending = {push.class_id: push for push in adjustment_ops.pending_ca_pushes(session, limit=len(classes) or 1)}
    contract = chain.token
    for class_id, token_id, desired in classes:
        push = pending.get(class_id)
        onchain = token.credit_class(chain, token_id)["caStatus"]
        tx_hash = None
        if onchain != desired:
            evidence = push.evidence_hash if push is not None else ZERO_HASH
            # One sender per registry-signer key at a time: workers would race for its nonce.
            with claim(engine, f"registry-signer:{chain.chain_id}", wait=True):
                current = token.credit_class(chain, token_id)["caStatus"]
                if current != desired:
                    fn = contract.functions.setCAStatus(int(token_id), desired, bytes.fromhex(evidence[2:]))
                    receipt = chain.transact(registry_signer, fn, f"setCAStatus {token_id}", gas=GAS_SET_CA_STATUS)
                    tx_hash = receipt.tx_hash
                    report.pushed[token_id] = desired
                    report.transactions.append(tx_hash)
                    log.info("CA status pushed", extra={"token_id": token_id, "status": desired, "tx_hash": tx_hash})
            faults.point("ca.pushed")
        if push is not None:
            with transaction(engine) as session:
                adjustment_ops.mark_ca_pushed(session, push.history_ids, tx_hash=tx_hash)
    return report
