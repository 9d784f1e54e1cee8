"""Checks before ``sync``, ``serve --relay`` and ``deploy`` start, and their start-up banner.

Each check that fails is one line naming the setting, the key and its address, or the node:

- schema: the registry database is at the migrations' head (bridge/migrations);
- code: the contract recorded for the chain (or ``ICR_CONTRACT``) has code on the node;
- roles: admin holds DEFAULT_ADMIN_ROLE and PAUSER_ROLE, the registry signer REGISTRY_ROLE,
  the relayer BRIDGE_OPERATOR_ROLE;
- balance: the relayer holds at least ``ICR_RELAYER_MIN_BALANCE`` ether (``deploy``: the admin,
  which pays for the deployment, holds some);
- history: the node still has the state at the sync's cursor block (``reconcile`` and
  ``snapshot verify`` read the chain there: a pruned node cannot answer);
- finality: events wait for the ``finalized`` block, or ``ICR_CONFIRMATIONS`` blocks; zero
  confirmations without the tag is refused outside development chains.

Problems are *fatal* (the command cannot do its job: a schema behind, no code, no history, no
finality) or *warnings*: a key without its role or its ether stops only the engine steps that
need it (bridge/engine/steps.py), so the sync still ingests retirements, and the warning names
the key at start-up instead of at the first failing step. A fatal problem's ``infrastructure``
says whether the node or database is at fault (the missing history) rather than a setting.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Mapping

from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain.client import Chain
from bridge.deployments import deployment_on
from bridge.engine.deploy import BridgeKeys
from bridge.engine.steps import ROLE_NAMES
from bridge.redaction import redact_url
from bridge.settings import BridgeSettings
from bridge.tables import ChainCursor

log = logging.getLogger("icr_bridge.preflight")

#: Chain ids of development nodes (anvil and hardhat, ganache, eth-tester), where zero
#: confirmations are allowed.
DEV_CHAIN_IDS = frozenset({31337, 1337, 131277322940537})
ROLE_IDS = {name: role for role, name in ROLE_NAMES.items()}
#: The role each key needs, by the name ``BridgeKeys`` gives it.
KEY_ROLES = {"admin": ("DEFAULT_ADMIN_ROLE", "PAUSER_ROLE"), "registry_signer": ("REGISTRY_ROLE",),
             "relayer": ("BRIDGE_OPERATOR_ROLE",)}
WEI = 10**18


@dataclass(frozen=True)
class Problem:
    check: str  # schema, code, roles, balance, history, finality
    line: str
    fatal: bool
    infrastructure: bool = False


@dataclass
class Preflight:
    """What the checks found; ``banner`` is what the command prints and logs at start-up, and
``fatal`` the problems that stop it."""

    command: str
    chain_id: int
    contract: str | None
    database: str  # redacted
    finality: str
    keys: dict[str, str] = field(default_factory=dict)  # role -> address
    relayer_balance_ether: float | None = None
    cursor_block: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.fatal]

    @property
    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    def banner(self) -> list[str]:
        keys = ", ".join(f"{role.replace('_', ' ')} {address}" for role, address in self.keys.items()) or "none"
        balance = "" if self.relayer_balance_ether is None else f" (relayer {self.relayer_balance_ether:.4f} ETH)"
        return [f"icr-bridge {self.command}: chain {self.chain_id}, contract {self.contract or 'not deployed yet'}",
                f"database {self.database}",
                f"finality: {self.finality}",
                f"keys: {keys}{balance}"]

    def as_json(self) -> dict:
        return {**asdict(self), "problems": [asdict(p) for p in self.problems]}


def redacted_database(url: str) -> str:
    """The database URL as the banner shows it: without its password, query values or key-like
    path segments (:func:`bridge.redaction.redact_url`, the CLI's own rule)."""
    return redact_url(url)


def schema_problem(engine: Engine, database: str) -> Problem | None:
    """The registry database's schema against the migrations' heads."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bridge.schema import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return None
    if not current:
        return Problem("schema", f"ICR_DATABASE_URL / --db: {database} holds no registry schema "
                                 "(`icr-bridge deploy` creates it)", fatal=True)
    return Problem("schema", f"ICR_DATABASE_URL / --db: {database} is at schema revision "
                             f"{', '.join(sorted(current))}, this icr-bridge needs {', '.join(sorted(heads))}: "
                             "run `icr-bridge db upgrade`", fatal=True)


def finality(chain: Chain, settings: BridgeSettings) -> tuple[str, Problem | None]:
    """How events become final on this chain, and a problem with that when there is one."""
    head = chain.w3.eth.block_number
    if settings.use_finalized_tag:
        try:
            final = int(chain.w3.eth.get_block("finalized")["number"])
        except Exception:  # noqa: BLE001 - nodes without the tag answer with an error
            final = None
        if final is not None:
            mode = f"the node's finalized block ({final}, {head - final} behind head {head})"
            return mode, _idle_anvil(chain)
        mode = f"{settings.confirmations} confirmations (the node has no finalized block)"
    else:
        mode = f"{settings.confirmations} confirmations (ICR_USE_FINALIZED_TAG=false)"
    if settings.confirmations == 0 and chain.chain_id not in DEV_CHAIN_IDS:
        return mode, Problem("finality", f"ICR_CONFIRMATIONS=0 without a finalized block on chain {chain.chain_id}: "
                                         "events would apply before they are final; set ICR_CONFIRMATIONS "
                                         "or ICR_USE_FINALIZED_TAG=true", fatal=True)
    return mode, None


def bridge_key_map(keys: BridgeKeys) -> dict[str, LocalAccount]:
    return {"admin": keys.admin, "registry_signer": keys.registry_signer, "relayer": keys.relayer}


def _idle_anvil(chain: Chain) -> Problem | None:
    """anvil answers ``finalized`` with head - 64 and, without ``--block-time``, mines only when a
    transaction arrives: a sync waiting for finality there waits for 64 more transactions."""
    try:
        client = str(chain.w3.client_version)
        interval = chain.w3.provider.make_request("anvil_getIntervalMining", []).get("result") \
            if client.startswith("anvil") else 0
    except Exception:  # noqa: BLE001 - not anvil, or an anvil without the method: nothing to say
        return None
    if not client.startswith("anvil") or interval:
        return None
    return Problem("finality", "the node (ICR_RPC_URL) is anvil without --block-time: its finalized block trails the "
                               "head by 64 and it mines only on transactions, so events wait; start it with "
                               "--block-time 1, or set ICR_USE_FINALIZED_TAG=false with ICR_CONFIRMATIONS", fatal=False)


def key_problems(chain: Chain, keys: Mapping[str, LocalAccount], settings: BridgeSettings, *,
                 roles: bool = True) -> list[Problem]:
    """Roles of each key on the token, the relayer's ether against the floor, and before a
    deployment (no contract yet) the admin's ether, which pays for it."""
    problems = []
    where = f"on {chain.address} (chain {chain.chain_id})"
    if roles and chain.address is not None:
        for name, account in keys.items():
            for role in KEY_ROLES[name]:
                if not chain.token.functions.hasRole(ROLE_IDS[role], account.address).call():
                    problems.append(Problem("roles", f"{name.replace('_', ' ')} {account.address} lacks {role} "
                                                     f"{where}", fatal=False))
    if "relayer" in keys:
        balance = chain.w3.eth.get_balance(keys["relayer"].address)
        if balance < settings.relayer_min_balance * WEI:
            problems.append(Problem("balance", f"relayer {keys['relayer'].address} holds {balance / WEI:.6f} ETH on "
                                               f"chain {chain.chain_id}, below ICR_RELAYER_MIN_BALANCE "
                                               f"{settings.relayer_min_balance:g}: the transactions it pays for "
                                               "fail until it is funded", fatal=False))
    if chain.address is None and "admin" in keys and chain.w3.eth.get_balance(keys["admin"].address) == 0:
        problems.append(Problem("balance", f"admin {keys['admin'].address} holds no ether on chain {chain.chain_id} "
                                           "to pay for the deployment (anvil: --fund-from-dev-account)", fatal=True))
    return problems


def cursor_block(engine: Engine, chain: Chain) -> int | None:
    """The last block whose events the registry applied (the deployment block before any)."""
    with Session(engine) as session:
        deployment = deployment_on(session, chain.chain_id)
        if deployment is None:
            return None
        cursor = session.exec(select(ChainCursor).where(ChainCursor.chain_id == chain.chain_id,
                                                        ChainCursor.address == deployment.address)).first()
    return cursor.last_block if cursor is not None else deployment.deployed_block


def history_problem(chain: Chain, block: int) -> Problem | None:
    """Whether the node can still read the token's state at ``block``."""
    try:
        chain.token.functions.paused().call(block_identifier=block)
    except Exception as exc:  # noqa: BLE001 - whatever the node says, it cannot answer there
        message = " ".join(str(exc).split())[:200]
        return Problem("history", f"the node (ICR_RPC_URL) has no state at block {block}, the sync's cursor "
                                  f"({type(exc).__name__}: {message}): reconcile and snapshots read there; use an "
                                  "archive node", fatal=True, infrastructure=True)
    return None


def run(command: str, engine: Engine, chain: Chain, settings: BridgeSettings, keys: Mapping[str, LocalAccount], *,
        schema: bool = True, roles: bool = True, history: bool = True) -> Preflight:
    """Every check that applies to ``command``; the caller prints the banner and the problems,
    and stops on a fatal one (bridge/cli/startup.py)."""
    database = redacted_database(settings.database_url)
    mode, finality_problem = finality(chain, settings)
    report = Preflight(command, chain.chain_id, chain.address, database, mode)
    if schema:
        problem = schema_problem(engine, database)
        report.problems += [problem] if problem else []
    if finality_problem is not None:
        report.problems.append(finality_problem)
    if chain.address is not None and chain.w3.eth.get_code(chain.address) in (b"", None):
        report.problems.append(Problem("code", f"ICR_CONTRACT / the recorded deployment: no contract at "
                                               f"{chain.address} on chain {chain.chain_id}", fatal=True))
        return report
    report.keys = {name: account.address for name, account in keys.items()}
    if "relayer" in keys:
        report.relayer_balance_ether = chain.w3.eth.get_balance(keys["relayer"].address) / WEI
    report.problems += key_problems(chain, keys, settings, roles=roles)
    if history and chain.address is not None and not any(p.check == "schema" for p in report.problems):
        report.cursor_block = cursor_block(engine, chain)
        problem = history_problem(chain, report.cursor_block) if report.cursor_block is not None else None
        report.problems += [problem] if problem else []
    return report


def log_start(report: Preflight) -> None:
    """The start-up line of the JSON log, and one warning line per non-fatal problem."""
    log.info("start-up", extra={"command": report.command, "chain_id": report.chain_id, "contract": report.contract,
                                "database": report.database, "finality": report.finality, "keys": report.keys,
                                "relayer_balance_ether": report.relayer_balance_ether})
    for problem in report.warnings:
        log.warning("preflight", extra={"check": problem.check, "problem": problem.line})
