"""What the operator commands do (``icr-bridge deploy | sync | status | reconcile``), apart
from the command line: opening the chain from settings, the bridge's status, the follow
loop, and its Prometheus metrics.

The commands talk to a chain another process can see: a JSON-RPC URL. The in-process
eth-tester chain lives and dies with one process, so these commands refuse it by name
(``icr-bridge demo`` is the way to run the whole loop on it).
"""

from __future__ import annotations

import logging
import platform
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain.client import Chain, http_web3
from bridge.deployments import deployment_on
from bridge.engine.cycle import CycleReport, run_cycle
from bridge.engine.deploy import BridgeKeys
from bridge.engine.locks import hold
from bridge.engine.steps import StepSchedule
from bridge.liveness import Liveness, MetricsServer, bridge_version
from bridge.settings import BridgeSettings
from bridge.tables import BatchStatus, ChainCursor, ChainEvent, MintBatch, MintLeaf, QuarantinedEvent, Redemption
from registry.domain.enums import TokenizationStatus
from registry.tables.core import Retirement, TokenizationRequest

log = logging.getLogger("icr_bridge.operator")


class OperatorError(RuntimeError):
    """A setting or the bridge's state stops an operator command; the message names which."""


class NodeUnreachable(OperatorError):
    """No JSON-RPC node answers at the configured URL (infrastructure, not a setting's value)."""


def open_chain(settings: BridgeSettings, engine: Engine | None = None, *, need_contract: bool = True) -> Chain:
    """A :class:`Chain` on ``settings.rpc_url`` with the token address from ``settings.contract``
    or, failing that, the deployment the registry recorded for that chain."""
    if settings.rpc_url in ("", "eth-tester"):
        raise OperatorError(
            "ICR_RPC_URL / --rpc-url: the in-process eth-tester chain ends with each command; "
            "give a JSON-RPC URL (anvil: http://127.0.0.1:8545), or run `icr-bridge demo`"
        )
    w3 = http_web3(settings.rpc_url, settings.rpc_timeout)
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # connection refused, DNS, not JSON-RPC
        raise NodeUnreachable(f"ICR_RPC_URL / --rpc-url: no JSON-RPC node answers at {settings.rpc_url} "
                              f"({type(exc).__name__})") from None
    address = settings.contract
    if address is None and engine is not None:
        with Session(engine) as session:
            deployment = deployment_on(session, chain_id)
        address = deployment.address if deployment else None
    if address is None and need_contract:
        raise OperatorError(f"no ICC token deployment for chain {chain_id} in this registry: run `icr-bridge deploy`"
                            " or set ICR_CONTRACT / --contract")
    if address is not None and not w3.is_checksum_address(address):
        if not w3.is_address(address):
            raise OperatorError(f"ICR_CONTRACT / --contract: {address!r} is not an address")
        address = w3.to_checksum_address(address)
    if address is not None and w3.eth.get_code(address) in (b"", None):
        raise OperatorError(f"ICR_CONTRACT / --contract: no contract at {address} on chain {chain_id}")
    return Chain(w3, address)


def bridge_keys(settings: BridgeSettings) -> BridgeKeys:
    return BridgeKeys(settings.account("admin"), settings.account("registry_signer"), settings.account("relayer"))


# ------------------------------------------------------------------------------------------
# Status
# ------------------------------------------------------------------------------------------


@dataclass
class BridgeStatus:
    chain_id: int
    contract: str
    deployed_block: int
    paused: bool
    head: int
    final_head: int
    last_processed_block: int
    sync_lag_blocks: int  # final blocks not yet applied
    chain_lag_blocks: int  # blocks between the chain head and the last applied (not final ones included)
    pending_requests: int  # tokenization requests waiting for a batch
    batches: dict[str, int] = field(default_factory=dict)  # by status
    leaves_awaiting_mint: int = 0
    events_applied: dict[str, int] = field(default_factory=dict)
    flagged_retirements: int = 0  # recorded with changes to what the chain said (see Retirement.input_flags)
    flagged_redemptions: int = 0  # requests whose account reference had to be changed to be stored
    quarantined_events: int = 0  # final events that could not be applied (icr-bridge quarantine list)
    # Leaves mintLeaves cannot mint (their recipient refuses the tokens): left for claim, not
    # retried until `icr-bridge batch retry-refused`; one line each (the first MAX_LISTED).
    mint_refused_leaves: int = 0
    mint_refused: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


#: Refused leaves listed one by one in the status (the count covers all of them).
MAX_LISTED = 20


def status(engine: Engine, chain: Chain, settings: BridgeSettings) -> BridgeStatus:
    head = chain.w3.eth.block_number
    final_head = chain.safe_head(settings.confirmations, settings.use_finalized_tag)
    with Session(engine) as session:
        deployment = deployment_on(session, chain.chain_id)
        if deployment is None:
            raise OperatorError(f"no ICC token deployment for chain {chain.chain_id} in this registry")
        cursor = session.exec(
            select(ChainCursor).where(ChainCursor.chain_id == chain.chain_id, ChainCursor.address == deployment.address)
        ).first()
        last = cursor.last_block if cursor else deployment.deployed_block - 1
        pending = session.exec(
            select(func.count()).select_from(TokenizationRequest)
            .where(TokenizationRequest.status == TokenizationStatus.pending)
        ).one()
        batches = dict(session.exec(
            select(MintBatch.status, func.count()).where(MintBatch.chain_id == chain.chain_id).group_by(MintBatch.status)
        ).all())
        awaiting = session.exec(
            select(func.count()).select_from(MintLeaf).join(MintBatch, MintBatch.id == MintLeaf.batch_id)
            .where(MintBatch.chain_id == chain.chain_id, MintLeaf.minted == False)  # noqa: E712
        ).one()
        events = dict(session.exec(
            select(ChainEvent.event, func.count()).where(ChainEvent.chain_id == chain.chain_id).group_by(ChainEvent.event)
        ).all())
        flagged = session.exec(
            select(func.count()).select_from(Retirement)
            .where(Retirement.chain_id == chain.chain_id,
                   or_(Retirement.purpose == "malformed", Retirement.input_flags.is_not(None)))
        ).one()
        flagged_redemptions = session.exec(
            select(func.count()).select_from(Redemption)
            .where(Redemption.chain_id == chain.chain_id, Redemption.input_flags.is_not(None))
        ).one()
        quarantined = session.exec(
            select(func.count()).select_from(QuarantinedEvent).where(QuarantinedEvent.chain_id == chain.chain_id)
        ).one()
        refused_filter = (MintBatch.chain_id == chain.chain_id, MintLeaf.minted == False,  # noqa: E712
                          MintLeaf.mint_refused != None)  # noqa: E711 - SQL expression
        refused_count = session.exec(
            select(func.count()).select_from(MintLeaf).join(MintBatch, MintBatch.id == MintLeaf.batch_id)
            .where(*refused_filter)
        ).one()
        refused = session.exec(
            select(MintLeaf).join(MintBatch, MintBatch.id == MintLeaf.batch_id).where(*refused_filter)
            .order_by(MintLeaf.batch_id, MintLeaf.leaf_index).limit(MAX_LISTED)
        ).all()
        refused_lines = [f"batch {leaf.batch_id} leaf {leaf.leaf_index} ({leaf.amount} t, {leaf.serial_block}, "
                         f"to {leaf.recipient}): {leaf.mint_refused}" for leaf in refused]
    return BridgeStatus(
        chain_id=chain.chain_id,
        contract=deployment.address,
        deployed_block=deployment.deployed_block,
        paused=bool(chain.token.functions.paused().call()),
        head=head,
        final_head=final_head,
        last_processed_block=last,
        sync_lag_blocks=max(final_head - last, 0),
        chain_lag_blocks=max(head - last, 0),
        pending_requests=int(pending),
        batches={(s.value if isinstance(s, BatchStatus) else str(s)): int(n) for s, n in batches.items()},
        leaves_awaiting_mint=int(awaiting),
        events_applied={k: int(v) for k, v in events.items()},
        flagged_retirements=int(flagged),
        flagged_redemptions=int(flagged_redemptions),
        quarantined_events=int(quarantined),
        mint_refused_leaves=int(refused_count),
        mint_refused=refused_lines,
    )


# ------------------------------------------------------------------------------------------
# Metrics and the follow loop
# ------------------------------------------------------------------------------------------


class BridgeMetrics:
    """Prometheus metrics of one bridge worker, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sync_lag = Gauge("icr_bridge_sync_lag_blocks", "Final blocks not yet applied by the sync",
                              registry=self.registry)
        self.pending = Gauge("icr_bridge_pending_tokenization_requests", "Tokenization requests waiting for a batch",
                             registry=self.registry)
        self.awaiting_mint = Gauge("icr_bridge_leaves_awaiting_mint", "Persisted leaves not yet minted on-chain",
                                   registry=self.registry)
        self.last_block = Gauge("icr_bridge_last_processed_block", "Last block whose events are applied",
                                registry=self.registry)
        self.head = Gauge("icr_bridge_chain_head_block", "Latest block of the chain", registry=self.registry)
        self.flagged = Gauge("icr_bridge_flagged_retirements",
                             "Retirements recorded with changes to what the chain said (input flags)",
                             registry=self.registry)
        self.quarantined = Gauge("icr_bridge_quarantined_events", "Final chain events that could not be applied",
                                 registry=self.registry)
        self.refused = Gauge("icr_bridge_mint_refused_leaves", "Leaves mintLeaves cannot mint, left for claim",
                             registry=self.registry)
        self.errors = Counter("icr_bridge_errors", "Cycles that failed, by exception type", ["kind"],
                              registry=self.registry)
        self.step_failures = Counter("icr_bridge_step_failures", "Engine steps that failed, by step and kind",
                                     ["step", "kind"], registry=self.registry)
        self.cycles = Counter("icr_bridge_cycles", "Completed engine cycles", registry=self.registry)
        self.applied = Counter("icr_bridge_events_applied", "Chain events applied to the registry", ["event"],
                               registry=self.registry)
        self.leaves_minted = Counter("icr_bridge_leaves_minted", "Leaves sent in mint transactions",
                                     registry=self.registry)
        self.rolled_back = Counter("icr_bridge_events_rolled_back", "Events undone by reorganizations",
                                   registry=self.registry)
        # Liveness (issue 17)
        self.build = Info("icr_bridge_build", "Version of the running bridge", registry=self.registry)
        self.build.info({"version": bridge_version(), "python": platform.python_version()})
        self.final_head = Gauge("icr_bridge_final_head_block", "Latest final block (finalized tag or confirmations)",
                                registry=self.registry)
        self.chain_lag = Gauge("icr_bridge_chain_lag_blocks",
                               "Blocks between the chain head and the last applied block (not final ones included)",
                               registry=self.registry)
        self.last_success = Gauge("icr_bridge_last_success_timestamp_seconds",
                                  "Unix time of the last successful cycle", registry=self.registry)
        self.cycle_duration = Histogram("icr_bridge_cycle_duration_seconds", "Duration of engine cycles, failed "
                                        "ones included", buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                                        registry=self.registry)
        self.failed_in_row = Gauge("icr_bridge_consecutive_failed_cycles", "Cycles failed in a row (0 after a success)",
                                   registry=self.registry)
        self.relayer_balance = Gauge("icr_bridge_relayer_balance_ether", "Ether held by the relayer key",
                                     registry=self.registry)
        self.flagged_redemptions = Gauge("icr_bridge_flagged_redemptions",
                                         "Redemption requests stored with changes to their account reference",
                                         registry=self.registry)
        self.follower_active = Gauge("icr_bridge_follower_active", "1 while this process holds the chain's "
                                     "follower claim and runs cycles, 0 as a standby", registry=self.registry)
        self.ready = Gauge("icr_bridge_ready", "1 when /readyz answers 200", registry=self.registry)

    def watch(self, liveness: Liveness) -> None:
        """Export ``liveness``'s verdict as ``icr_bridge_ready`` (read at each scrape)."""
        self.ready.set_function(lambda: 1.0 if liveness.ready()[0] else 0.0)

    def observe_status(self, current: BridgeStatus) -> None:
        self.sync_lag.set(current.sync_lag_blocks)
        self.pending.set(current.pending_requests)
        self.awaiting_mint.set(current.leaves_awaiting_mint)
        self.last_block.set(current.last_processed_block)
        self.head.set(current.head)
        self.final_head.set(current.final_head)
        self.chain_lag.set(current.chain_lag_blocks)
        self.flagged.set(current.flagged_retirements)
        self.flagged_redemptions.set(current.flagged_redemptions)
        self.quarantined.set(current.quarantined_events)
        self.refused.set(current.mint_refused_leaves)

    def observe_cycle(self, report: CycleReport) -> None:
        self.cycles.inc()
        self.leaves_minted.inc(report.leaves_minted)
        self.rolled_back.inc(report.rolled_back)
        for name, count in (report.sync.applied if report.sync else {}).items():
            self.applied.labels(event=name).inc(count)
        for failure in report.failures.values():
            self.step_failures.labels(step=failure.step, kind=failure.kind).inc()

    def serve(self, port: int, host: str = "127.0.0.1", liveness: Liveness | None = None) -> MetricsServer:
        """``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` (bridge/liveness.py)."""
        liveness = liveness or Liveness()
        self.watch(liveness)
        return MetricsServer(self.registry, liveness, host, port)


class StopFlag:
    """Set by SIGTERM / SIGINT so the follow loop ends between cycles, never inside one."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self, signum: int | None = None, *_: Any) -> None:
        if signum is not None and not self._event.is_set():
            log.info("shutdown requested: stopping after the running cycle",
                     extra={"signal": signal.Signals(signum).name})
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.set)
        signal.signal(signal.SIGINT, self.set)


#: The follow loop's backoff cap (seconds), for failed cycles and transiently failing steps.
MAX_BACKOFF = 60.0


def follow(
    engine: Engine,
    chain: Chain,
    keys: BridgeKeys,
    settings: BridgeSettings,
    metrics: BridgeMetrics,
    stop: StopFlag,
    on_cycle: Callable[[CycleReport, BridgeStatus], None] | None = None,
    max_cycles: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    liveness: Liveness | None = None,
) -> int:
    """Run engine cycles until ``stop`` is set, or ``max_cycles`` cycles were attempted (failed
    ones count: a loop whose every cycle fails still stops); returns the number completed.

    One follower per chain and contract runs cycles: it holds the claim
    ``follower:<chain>:<contract>`` (bridge/engine/locks.py: a PostgreSQL advisory lock, or a
    lock file beside a SQLite database) for as long as it runs. Another follower started on the
    same registry is a standby: it tries the claim every ``standby_poll`` seconds and takes over
    when the active one ends (its connection or process gone), picking up where the cursor is.

    A step that fails (bridge/engine/steps.py) does not fail the cycle: the other steps go on
    every ``poll_interval``, and the failed step waits in a :class:`StepSchedule` (transient:
    from the poll interval doubling up to a minute; permanent: ``permanent_retry`` seconds,
    its one-line reason logged each time it fails). A cycle that fails as a whole (the node
    unreachable for the reorganization check, a database error) is logged and counted, and the
    next one starts after a backoff (doubling up to a minute): every step is restartable, so
    retrying is always safe. ``clock`` and ``stop.wait`` are the loop's only sense of time."""
    liveness = liveness or Liveness(settings.ready_max_age, settings.ready_failures)
    metrics.watch(liveness)
    where = {"chain_id": chain.chain_id, "contract": chain.address}
    last_note = None
    done, remaining = 0, max_cycles
    while not stop.is_set and (remaining is None or remaining > 0):
        with hold(engine, f"follower:{chain.chain_id}:{chain.address}") as held:
            if held is not None:
                liveness.activate()
                metrics.follower_active.set(1)
                log.info("follower active: holding the chain's follower claim", extra=where)
                try:
                    attempted, completed, lost = _run_cycles(engine, chain, keys, settings, metrics, stop, on_cycle,
                                                             remaining, clock, liveness, held)
                finally:
                    liveness.role = "stopping"
                    metrics.follower_active.set(0)
                done += completed
                remaining = None if remaining is None else remaining - attempted
                if lost:  # another follower may hold it now: wait as a standby like any other
                    log.error("follower claim lost (its database connection ended): standby again", extra=where)
                    liveness.role, last_note = "standby", None
                    continue
                log.info("follower stopped", extra={**where, "cycles": done,
                                                    "reason": "shutdown" if stop.is_set else "max cycles"})
                return done
        liveness.role = "standby"
        if last_note is None or clock() - last_note >= settings.heartbeat_interval:
            log.info("standby: another follower holds the chain's follower claim", extra=where)
            last_note = clock()
        stop.wait(settings.standby_poll)
    log.info("follower stopped", extra={**where, "cycles": done, "reason": "shutdown while standby"})
    return done


def _run_cycles(engine: Engine, chain: Chain, keys: BridgeKeys, settings: BridgeSettings, metrics: BridgeMetrics,
                stop: StopFlag, on_cycle: Callable[[CycleReport, BridgeStatus], None] | None,
                max_cycles: int | None, clock: Callable[[], float], liveness: Liveness,
                held: Callable[[], bool]) -> tuple[int, int, bool]:
    """The active follower's loop (see :func:`follow`): cycles, metrics, liveness and log lines;
    answers (cycles attempted, cycles completed, whether the claim was lost). Before each cycle
    it asks ``held`` whether the follower claim is still its own.

    Busy cycles log at info, idle ones at debug with a ``heartbeat`` at info every
    ``heartbeat_interval`` seconds; the first success after failures logs ``recovered``."""
    done = attempted = 0
    backoff = settings.poll_interval
    schedule = StepSchedule(settings.poll_interval, cap=MAX_BACKOFF, permanent_retry=settings.permanent_retry,
                            clock=clock)
    last_heartbeat = clock()
    idle_since_heartbeat = 0
    down_since: float | None = None
    while not stop.is_set and (max_cycles is None or attempted < max_cycles):
        if not held():
            return attempted, done, True
        attempted += 1
        started = clock()
        try:
            report = run_cycle(engine, chain, keys, confirmations=settings.confirmations,
                               use_finalized_tag=settings.use_finalized_tag, mint_chunk=settings.mint_chunk,
                               schedule=schedule, mint_progress=lambda _n: liveness.progressed(),
                               sync_progress=lambda _done, _total: liveness.progressed())
            current = status(engine, chain, settings)
            metrics.relayer_balance.set(chain.w3.eth.get_balance(keys.relayer.address) / 10**18)
        except Exception as exc:  # noqa: BLE001 - any failure: log, count, back off, retry
            metrics.cycle_duration.observe(clock() - started)
            metrics.errors.labels(kind=type(exc).__name__).inc()
            liveness.failed()
            metrics.failed_in_row.set(liveness.failures_in_row)
            down_since = started if down_since is None else down_since
            log.error("cycle failed", extra={"error": str(exc), "kind": type(exc).__name__, "retry_in": backoff,
                                             "failed_in_row": liveness.failures_in_row})
            if max_cycles is not None and attempted >= max_cycles:
                break
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        metrics.cycle_duration.observe(clock() - started)
        if down_since is not None:
            log.info("recovered", extra={"failed_cycles": liveness.failures_in_row,
                                         "down_seconds": round(clock() - down_since, 3)})
            down_since = None
        liveness.succeeded()
        metrics.failed_in_row.set(0)
        metrics.last_success.set(time.time())
        backoff = settings.poll_interval
        done += 1
        metrics.observe_cycle(report)
        metrics.observe_status(current)
        for failure in report.failures.values():
            log.warning("step waits", extra={"step": failure.step, "kind": failure.kind, "reason": failure.reason,
                                             "retry_in": round(schedule.waiting(failure.step), 3)})
        if report.idle:
            idle_since_heartbeat += 1
            log.debug("idle cycle", extra={"last_block": current.last_processed_block})
        if clock() - last_heartbeat >= settings.heartbeat_interval:
            log.info("heartbeat", extra={"cycles": done, "idle_cycles": idle_since_heartbeat, "head": current.head,
                                         "final_head": current.final_head,
                                         "last_block": current.last_processed_block,
                                         "sync_lag_blocks": current.sync_lag_blocks,
                                         "chain_lag_blocks": current.chain_lag_blocks})
            last_heartbeat, idle_since_heartbeat = clock(), 0
        if on_cycle is not None:
            on_cycle(report, current)
        if max_cycles is None or attempted < max_cycles:
            stop.wait(settings.poll_interval)
    return attempted, done, False
