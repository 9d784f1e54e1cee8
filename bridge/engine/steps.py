"""The engine cycle's steps fail alone: a step's chain error is caught, classified and reported
in one line naming the key or the contract, and the cycle goes on with its other steps.

- **Permanent** failures need the operator: a key without the role it needs
  (``AccessControlUnauthorizedAccount``, a commit signature by a key without REGISTRY_ROLE), a
  key without ether to pay for gas, no contract at the token address, or an error the bridge
  does not know (a bug: logged with its traceback). Retrying them every few seconds only
  fills the logs.
- **Transient** failures go away on their own: the node unreachable or slow, a nonce race with
  another sender, a transaction that failed once, the contract paused.

Database errors are not a step's failure: the registry database is what every step records
its work in, so an error there (connection lost, integrity) stops the whole cycle, as it did
before, and the follow loop retries the cycle with its backoff. A :class:`SimulatedCrash`
(tests) is a ``BaseException`` and passes through too.

:class:`StepSchedule` is the follow loop's memory between cycles: a step that failed waits
before it runs again, exponentially for transient failures (from the poll interval, doubling,
capped) and ``permanent_retry`` seconds for permanent ones (so topping up a key or granting a
role heals the bridge without a restart). ``icr-bridge sync --once`` has no schedule: every
step runs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from eth_utils import keccak, to_checksum_address
from sqlalchemy.exc import SQLAlchemyError
from web3.exceptions import BadFunctionCallOutput, TimeExhausted, Web3Exception

from bridge.chain.client import Chain, ChainRevert, InsufficientFunds, SendRefused, TransactionFailed
from bridge.engine.deploy import BridgeKeys

log = logging.getLogger("icr_bridge.engine")

PERMANENT = "permanent"
TRANSIENT = "transient"

#: The engine's steps, in cycle order (the reorganization check and batch building come first
#: and are not steps: a cycle that cannot do them does nothing else).
STEPS = ("commit", "mint", "ca_push", "uses_push", "sync", "redemptions")

#: Contract reverts that go away without the operator: a pause ends, a race is lost once, a
#: commit reorganized away is sent again by the next commit step.
TRANSIENT_REVERTS = {"EnforcedPause", "LeafAlreadyMinted", "RedemptionNotPending", "BatchNotCommitted"}
#: Node refusals that are races with another sender of the same key, or a node's hiccup.
_TRANSIENT_REFUSALS = ("nonce too low", "nonce too high", "replacement transaction underpriced", "already known",
                       "underpriced", "txpool is full", "header not found", "timeout")

ROLE_NAMES = {
    bytes(32): "DEFAULT_ADMIN_ROLE",
    **{keccak(text=name): name for name in ("REGISTRY_ROLE", "BRIDGE_OPERATOR_ROLE", "PAUSER_ROLE")},
}


@dataclass(frozen=True)
class StepFailure:
    step: str
    kind: str  # PERMANENT or TRANSIENT
    reason: str  # one line naming the key and its address, or the contract
    error: str  # the exception's type name

    def line(self) -> str:
        return f"{self.step} failed ({self.kind}): {self.reason}"


def key_name(keys: BridgeKeys | None, address: str | None) -> str:
    """``relayer 0xABC...`` for one of the bridge's keys, ``key 0xABC...`` for another address."""
    if address is None:
        return "a key"
    address = to_checksum_address(address)
    if keys is not None:
        for role, account in (("relayer", keys.relayer), ("registry signer", keys.registry_signer),
                              ("admin", keys.admin)):
            if account is not None and account.address == address:
                return f"{role} {address}"
    return f"key {address}"


def _contract(chain: Chain) -> str:
    return f"ICCToken {chain.address} on chain {chain.chain_id}"


def _revert_reason(exc: ChainRevert, chain: Chain, keys: BridgeKeys | None) -> tuple[str, str]:
    if exc.error == "AccessControlUnauthorizedAccount" and len(exc.args_) == 2:
        account, role = exc.args_
        role_name = ROLE_NAMES.get(bytes(role), "0x" + bytes(role).hex())
        return PERMANENT, f"{key_name(keys, account)} lacks {role_name} on {_contract(chain)} ({exc.action})"
    if exc.error == "SignerNotRegistry" and exc.args_:
        return PERMANENT, (f"{key_name(keys, exc.args_[0])} signed the commit but lacks REGISTRY_ROLE on "
                           f"{_contract(chain)} ({exc.action}: SignerNotRegistry)")
    if exc.error == "EnforcedPause":
        return TRANSIENT, f"{_contract(chain)} is paused ({exc.action} waits for the unpause)"
    kind = TRANSIENT if exc.error in TRANSIENT_REVERTS else PERMANENT
    sender = f" sent by {key_name(keys, exc.sender)}" if exc.sender else ""
    return kind, f"{exc}{sender} on {_contract(chain)}"


def _no_contract(chain: Chain) -> bool:
    try:
        return chain.address is None or chain.w3.eth.get_code(chain.address) in (b"", None)
    except Exception:  # noqa: BLE001 - the node itself is not answering: not this question
        return False


def classify(exc: Exception, chain: Chain, keys: BridgeKeys | None) -> tuple[str, str]:
    """``(kind, one-line reason)`` of a step's chain error."""
    if isinstance(exc, InsufficientFunds):
        try:
            balance = chain.w3.eth.get_balance(exc.sender)
        except Exception:  # noqa: BLE001 - the reason stands without the balance
            balance = None
        has = "no ether" if balance == 0 else "too little ether" + (f" ({balance} wei)" if balance else "")
        return PERMANENT, f"{key_name(keys, exc.sender)} has {has} on chain {chain.chain_id} to pay for {exc.action}"
    if isinstance(exc, SendRefused):
        transient = any(m in exc.message.lower() for m in _TRANSIENT_REFUSALS)
        return (TRANSIENT if transient else PERMANENT), (
            f"the node refused {exc.action} from {key_name(keys, exc.sender)} on chain {chain.chain_id}: {exc.message}")
    if isinstance(exc, ChainRevert):
        return _revert_reason(exc, chain, keys)
    if isinstance(exc, TransactionFailed):
        return TRANSIENT, f"{exc} (sent by {key_name(keys, exc.sender)})"
    if isinstance(exc, BadFunctionCallOutput) and _no_contract(chain):
        return PERMANENT, f"no contract at {chain.address} on chain {chain.chain_id}"
    if isinstance(exc, (ConnectionError, TimeoutError, OSError, TimeExhausted)):
        return TRANSIENT, f"the node for chain {chain.chain_id} did not answer: {type(exc).__name__}: {exc}"
    if isinstance(exc, Web3Exception):
        if _no_contract(chain):
            return PERMANENT, f"no contract at {chain.address} on chain {chain.chain_id}"
        return TRANSIENT, f"{type(exc).__name__}: {exc}"
    return PERMANENT, f"unexpected {type(exc).__name__}: {exc}"


T = TypeVar("T")


def run_step(failures: dict[str, StepFailure], name: str, chain: Chain, keys: BridgeKeys | None,
             action: Callable[[], T]) -> T | None:
    """Run one step; a chain error becomes ``failures[name]`` (logged) and None is returned.
    Database errors, and anything that is not an ``Exception``, propagate."""
    try:
        return action()
    except SQLAlchemyError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below; the cycle's other steps go on
        kind, reason = classify(exc, chain, keys)
        failures[name] = failure = StepFailure(name, kind, _one_line(reason), type(exc).__name__)
        # The traceback of an error the bridge does not know, at DEBUG only: one line otherwise.
        unexpected = not isinstance(exc, (SendRefused, ChainRevert, TransactionFailed, Web3Exception, OSError))
        log.error("step failed", exc_info=exc if unexpected and log.isEnabledFor(logging.DEBUG) else None,
                  extra={"step": name, "kind": kind, "reason": failure.reason, "error": failure.error})
        return None


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass
class _StepState:
    failures: int
    kind: str
    next_at: float


class StepSchedule:
    """When each step may run again after failing (the follow loop keeps one across cycles).

    A transient failure waits ``base``, then twice that, ... up to ``cap`` seconds; a permanent
    one waits ``permanent_retry`` seconds. A success forgets the step's failures."""

    def __init__(self, base: float, cap: float = 60.0, permanent_retry: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.base = base
        self.cap = cap
        self.permanent_retry = permanent_retry
        self.clock = clock
        self._state: dict[str, _StepState] = {}

    def due(self, step: str) -> bool:
        state = self._state.get(step)
        return state is None or self.clock() >= state.next_at

    def waiting(self, step: str) -> float:
        """Seconds until ``step`` runs again (0 when due)."""
        state = self._state.get(step)
        return 0.0 if state is None else max(state.next_at - self.clock(), 0.0)

    def record(self, step: str, failure: StepFailure | None) -> None:
        if failure is None:
            self._state.pop(step, None)
            return
        previous = self._state.get(step)
        count = previous.failures + 1 if previous is not None else 1
        if failure.kind == PERMANENT:
            delay = self.permanent_retry
        else:
            delay = min(self.base * 2 ** (count - 1), self.cap)
        self._state[step] = _StepState(count, failure.kind, self.clock() + delay)
