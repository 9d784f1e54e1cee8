"""One cycle of the bridge engine, as `icr-bridge sync` runs it: the reorganization check,
outbound work (batch the pending tokenizations, commit roots, mint leaves, push CA decisions
and the classes' current uses),
inbound work (apply final events), then the answers to redemption requests those events opened.

Each step is restartable on its own; a crash anywhere leaves the registry consistent, and
the next cycle finishes what the crashed one started (see tests/bridge/engine/test_crash_safety.py).

The steps fail alone (bridge/engine/steps.py): a chain error in committing, minting, the CA
push, the uses push, the sync or the redemption answers is recorded in ``CycleReport.failures`` with one line
naming the key or the contract, and the other steps still run, so one wallet that refuses its
tokens or an unfunded relayer does not stop retirements from being ingested. Database errors
still stop the cycle. A mint chunk that reverts because of one leaf is bisected down to that
leaf, which is flagged and left for ``claim`` (bridge/engine/batcher.py).
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
from bridge.engine.steps import STEPS, StepFailure, StepSchedule, run_step
from bridge.engine.sync import SyncReport, check_reorg, deployment_for, sync_once
from bridge.engine.uses_push import UsesPushReport, push_class_uses
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
    mint_refused: list[batcher.RefusedLeaf] = field(default_factory=list)  # flagged in this cycle
    sync: SyncReport | None = None
    redemptions: RedemptionAnswers | None = None
    ca: CAPushReport | None = None
    uses: UsesPushReport | None = None
    #: Each step's outcome: "ok", "failed" (see ``failures``) or "waiting" (backing off after
    #: an earlier failure, under ``--follow``).
    steps: dict[str, str] = field(default_factory=dict)
    failures: dict[str, StepFailure] = field(default_factory=dict)

    @property
    def step_errors(self) -> dict[str, str]:
        """Step -> one line naming why it failed (the key and its address, or the contract)."""
        return {name: failure.reason for name, failure in self.failures.items()}

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def idle(self) -> bool:
        """Nothing happened: no batch, commit, mint, event, flag, rollback, answer, push or failure
        (the follow loop logs such cycles at debug level, with a periodic heartbeat at info)."""
        sync, answers = self.sync, self.redemptions
        busy = (self.batches_built or self.batches_committed or self.leaves_minted or self.rolled_back
                or self.revoked_batches or self.mint_refused or self.failures
                or (sync is not None and (sync.applied_total or sync.flagged or sync.quarantined))
                or (answers is not None and (answers.finalized or answers.rejected))
                or (self.ca is not None and self.ca.pushed))
        return not busy


def run_cycle(
    engine: Engine,
    chain: Chain,
    keys: BridgeKeys,
    confirmations: int = 0,
    use_finalized_tag: bool = False,
    mint_chunk: int = batcher.DEFAULT_CHUNK,
    mint_progress: Callable[[int], None] | None = None,
    sync_progress: Callable[[int, int], None] | None = None,
    schedule: StepSchedule | None = None,
) -> CycleReport:
    """One cycle; ``mint_progress(leaves)`` is called after each mint transaction and
    ``sync_progress(blocks_done, blocks_total)`` after each block range the sync applies.

    With a ``schedule`` (the follow loop's), a step that failed recently is skipped until it
    is due again; without one every step runs. A step's chain error does not raise: it is in
    ``report.failures``."""
    report = CycleReport()
    deployment = deployment_for(engine, chain)
    report.rolled_back = check_reorg(engine, chain).rolled_back
    with transaction(engine) as session:
        batch = batcher.build_batch(session, deployment)
        if batch is not None:
            report.batches_built.append(batch.id)
    faults.point("engine.batch_built")

    def due(step: str) -> bool:
        if step in report.failures:
            return False  # failed earlier in this cycle (another batch): not again
        if schedule is not None and not schedule.due(step):
            report.steps[step] = "waiting"
            return False
        return True

    def step(name: str, action: Callable[[], object]):
        result = run_step(report.failures, name, chain, keys, action)
        report.steps[name] = "failed" if name in report.failures else "ok"
        return result

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
            if not due("commit"):
                if status is BatchStatus.built:
                    continue
            else:
                status = step("commit", lambda: _commit(engine, chain, keys, batch_id, status, report))
                if status is None or status is BatchStatus.revoked:
                    continue
            if status is BatchStatus.committed and due("mint"):
                step("mint", lambda: _mint(engine, chain, keys, batch_id, mint_chunk, mint_progress, report))
    if due("ca_push"):
        report.ca = step("ca_push", lambda: push_ca_statuses(engine, chain, keys.registry_signer))
    if due("uses_push"):
        report.uses = step("uses_push", lambda: push_class_uses(engine, chain, keys.registry_signer))
    faults.point("engine.before_sync")
    if due("sync"):
        report.sync = step("sync", lambda: sync_once(engine, chain, confirmations=confirmations,
                                                     use_finalized_tag=use_finalized_tag, progress=sync_progress))
    if report.sync is not None:
        report.rolled_back += report.sync.rolled_back
    faults.point("engine.before_redemptions")
    if due("redemptions"):
        report.redemptions = step("redemptions", lambda: answer_redemptions(engine, chain, keys))
    if schedule is not None:
        for name in STEPS:
            if report.steps.get(name) in ("ok", "failed"):
                schedule.record(name, report.failures.get(name))
    log.log(logging.DEBUG if report.idle else logging.INFO, "cycle", extra={"built": report.batches_built, "committed": report.batches_committed,
                             "leaves_minted": report.leaves_minted,
                             "applied": report.sync.applied if report.sync else None,
                             "redemptions_finalized": report.redemptions.finalized if report.redemptions else None,
                             "redemptions_rejected": report.redemptions.rejected if report.redemptions else None,
                             "mint_refused": len(report.mint_refused),
                             "failed_steps": sorted(report.failures)})
    return report


def _commit(engine: Engine, chain: Chain, keys: BridgeKeys, batch_id: int, status: BatchStatus,
            report: CycleReport) -> BatchStatus:
    """Make sure an open batch's root is on-chain; answers the batch's status (``revoked``: skip it)."""
    if status is BatchStatus.committed and not batcher.root_on_chain(chain, batch_id):
        # The block holding the commit was reorganized away: commit it again.
        batcher.mark_uncommitted(engine, batch_id)
        status = BatchStatus.built
    if status is BatchStatus.committed and batcher.batch_revoked(chain, batch_id):
        # Voided by the admin (incident response): minting would only revert. Once the
        # BatchRevoked event is final, the sync returns its unminted units to their accounts.
        report.revoked_batches.append(batch_id)
        log.warning("batch revoked on-chain: not minting", extra={"batch_id": batch_id})
        return BatchStatus.revoked
    if status is BatchStatus.built:
        batcher.commit_batch(engine, chain, batch_id, keys.registry_signer, keys.relayer)
        report.batches_committed.append(batch_id)
        faults.point("engine.batch_committed")
    return BatchStatus.committed


def _mint(engine: Engine, chain: Chain, keys: BridgeKeys, batch_id: int, chunk: int,
          progress: Callable[[int], None] | None, report: CycleReport) -> None:
    def counted(leaves: int) -> None:
        report.leaves_minted += leaves
        report.mint_transactions += 1
        if progress is not None:
            progress(leaves)

    minted = batcher.mint_batch(engine, chain, batch_id, keys.relayer, chunk=chunk, progress=counted)
    report.mint_refused.extend(minted.refused)
