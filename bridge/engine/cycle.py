"""One cycle of the bridge engine, as `icr-bridge sync` runs it: outbound work (batch the
pending tokenizations, commit roots, mint leaves, push CA decisions), inbound work (apply final events), then
the answers to redemption requests those events opened.

Each step is restartable on its own; a crash anywhere leaves the registry consistent, and
the next cycle finishes what the crashed one started (see tests/bridge/engine/test_crash_safety.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain.client import Chain
from bridge.engine import batcher, faults
from bridge.engine.ca_push import CAPushReport, push_ca_statuses
from bridge.engine.deploy import BridgeKeys
from bridge.engine.locks import claim
from bridge.engine.redemptions import RedemptionAnswers, answer_redemptions
from bridge.engine.sync import SyncReport, check_reorg, deployment_for, sync_once
from bridge.tables import BatchStatus, MintBatch
from registry.db import transaction

log = logging.getLogger("icr_bridge.engine")


@dataclass
class CycleReport:
    batches_built: list[int] = field(default_factory=list)
    batches_committed: list[int] = field(default_factory=list)
    rolled_back: int = 0  # events undone because of a reorganization
    leaves_minted: int = 0
    mint_transactions: int = 0
    revoked_batches: list[int] = field(default_factory=list)  # voided on-chain; skipped
    sync: SyncReport | None = None
    redemptions: RedemptionAnswers | None = None
    ca: CAPushReport | None = None


def run_cycle(
    engine: Engine,
    chain: Chain,
    keys: BridgeKeys,
    confirmations: int = 0,
    use_finalized_tag: bool = False,
    mint_chunk: int = batcher.DEFAULT_CHUNK,
    mint_progress: Callable[[int], None] | None = None,
    sync_progress: Callable[[int, int], None] | None = None,
) -> CycleReport:
    """One cycle; ``mint_progress(leaves)`` is called after each mint transaction and
    ``sync_progress(blocks_done, blocks_total)`` after each block range the sync applies."""
    report = CycleReport()
    deployment = deployment_for(engine, chain)
    report.rolled_back = check_reorg(engine, chain).rolled_back
    with transaction(engine) as session:
        batch = batcher.build_batch(session, deployment)
        if batch is not None:
            report.batches_built.append(batch.id)
    faults.point("engine.batch_built")
    with Session(engine) as session:
        open_batches = session.exec(
            select(MintBatch.id, MintBatch.status)
            .where(MintBatch.chain_id == chain.chain_id, MintBatch.status.not_in([BatchStatus.minted, BatchStatus.revoked]))
            .order_by(MintBatch.id)
        ).all()
    for batch_id, status in open_batches:
        with claim(engine, f"batch:{chain.chain_id}:{batch_id}") as mine:
            if not mine:
                continue
            if status is BatchStatus.committed and not batcher.root_on_chain(chain, batch_id):
                # The block holding the commit was reorganized away: commit it again.
                batcher.mark_uncommitted(engine, batch_id)
                status = BatchStatus.built
            if status is BatchStatus.committed and batcher.batch_revoked(chain, batch_id):
                # Voided by the admin (incident response): minting would only revert. Once the
                # BatchRevoked event is final, the sync returns its unminted units to their accounts.
                report.revoked_batches.append(batch_id)
                log.warning("batch revoked on-chain: not minting", extra={"batch_id": batch_id})
                continue
            if status is BatchStatus.built:
                batcher.commit_batch(engine, chain, batch_id, keys.registry_signer, keys.relayer)
                report.batches_committed.append(batch_id)
                faults.point("engine.batch_committed")
            minted = batcher.mint_batch(engine, chain, batch_id, keys.relayer, chunk=mint_chunk,
                                        progress=mint_progress)
            report.leaves_minted += minted.leaves_sent
            report.mint_transactions += len(minted.transactions)
    report.ca = push_ca_statuses(engine, chain, keys.registry_signer)
    faults.point("engine.before_sync")
    report.sync = sync_once(engine, chain, confirmations=confirmations, use_finalized_tag=use_finalized_tag,
                            progress=sync_progress)
    report.rolled_back += report.sync.rolled_back
    faults.point("engine.before_redemptions")
    report.redemptions = answer_redemptions(engine, chain, keys)
    log.info("cycle", extra={"built": report.batches_built, "committed": report.batches_committed,
                             "leaves_minted": report.leaves_minted, "applied": report.sync.applied,
                             "redemptions_finalized": report.redemptions.finalized,
                             "redemptions_rejected": report.redemptions.rejected})
    return report
