"""The bridge's answers to redemption requests (an engine step after the sync).

For each request whose ``RedemptionRequested`` event is applied (final) and still open:
1. decide, in one registry transaction, and record the decision before anything is sent:
   finalize into the referenced holding account, or reject with the reason it is not one;
2. if the chain still shows the request pending, send ``finalizeRedemption`` (burn) or
   ``rejectRedemption`` (tokens back to the holder) with the relayer, which holds
   BRIDGE_OPERATOR_ROLE.
The registry's credits move only when the answer's event is final (bridge/engine/sync.py), so a
crash between any two steps, or a reorganization of the answer, leaves a request that the
next cycle answers again with the decision already recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain import token
from bridge.chain.client import Chain, ChainRevert
from bridge.engine import faults
from bridge.engine.deploy import BridgeKeys
from bridge.engine.locks import claim
from bridge.tables import Redemption, RedemptionStatus
from registry.bridged import redemption
from registry.db import transaction
from registry.operations.ledger import append_entry
from registry.tables.core import utcnow

log = logging.getLogger("icr_bridge.redemptions")

GAS_ANSWER = 200_000


@dataclass
class RedemptionAnswers:
    finalized: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)  # finalize decided, contract paused


def decide(engine: Engine, chain_id: int, redemption_id: int) -> Redemption | None:
    """Record the registry's decision on an open request (once); returns the row."""
    with transaction(engine) as session:
        row = session.exec(
            select(Redemption).where(Redemption.chain_id == chain_id, Redemption.redemption_id == redemption_id)
            .with_for_update()
        ).first()
        if row is None or row.status is not RedemptionStatus.requested:
            return None
        if row.decision is None:
            account_id, reason = redemption.check_destination(session, row.account_reference)
            row.decision = "finalize" if reason is None else "reject"
            row.decided_account_id = account_id if reason is None else None
            row.decision_reason = reason
            row.decided_at = utcnow()
            session.add(row)
            append_entry(session, "redemption.decided", {
                "chain_id": chain_id, "redemption_id": redemption_id, "decision": row.decision,
                "account_id": row.decided_account_id, "reason": reason, "amount": row.amount,
                "token_id": row.token_id,
            })
        session.flush()
        session.expunge(row)
        return row


def answer_redemptions(engine: Engine, chain: Chain, keys: BridgeKeys) -> RedemptionAnswers:
    answers = RedemptionAnswers()
    with Session(engine) as session:
        open_ids = session.exec(
            select(Redemption.redemption_id)
            .where(Redemption.chain_id == chain.chain_id, Redemption.status == RedemptionStatus.requested)
            .order_by(Redemption.redemption_id)
        ).all()
    if not open_ids:
        return answers
    contract = chain.token
    paused = bool(chain.call(contract.functions.paused(), "paused"))
    for redemption_id in open_ids:
        with claim(engine, f"redemption:{chain.chain_id}:{redemption_id}") as mine:
            if not mine:
                continue
            row = decide(engine, chain.chain_id, redemption_id)
            if row is None:
                continue
            faults.point("redemptions.decided")
            if token.redemption(chain, redemption_id)["status"] != token.REDEMPTION_PENDING:
                continue  # answered or reclaimed: the sync will apply its event
            if row.decision == "finalize":
                if paused:
                    answers.waiting.append(redemption_id)
                    continue
                fn, action = contract.functions.finalizeRedemption(redemption_id), f"finalize redemption {redemption_id}"
            else:
                fn = contract.functions.rejectRedemption(redemption_id, row.decision_reason)
                action = f"reject redemption {redemption_id}"
            try:
                receipt = chain.transact(keys.relayer, fn, action, gas=GAS_ANSWER)
            except ChainRevert as exc:
                if exc.error == "RedemptionNotPending":  # a previous attempt or the holder got there first
                    continue
                raise
            faults.point("redemptions.answered")
            with transaction(engine) as session:
                stored = session.get(Redemption, row.id)
                stored.answer_tx = receipt.tx_hash
                session.add(stored)
            (answers.finalized if row.decision == "finalize" else answers.rejected).append(redemption_id)
            log.info("redemption answered", extra={"redemption_id": redemption_id, "decision": row.decision,
                                                   "tx_hash": receipt.tx_hash})
    return answers
