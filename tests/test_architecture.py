"""The house rules of the layout (README "Architecture"), checked so that they cannot drift.

Static rules walk every module's imports and calls with :mod:`ast`; the transaction rule is
checked at run time, because only running the engine shows which code holds a database
transaction when a JSON-RPC request leaves the process.
"""

from __future__ import annotations

import ast
import re
import sys
import traceback
from pathlib import Path

import pytest
from sqlalchemy import event
from web3.middleware import Web3Middleware

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("registry", "bridge")
# The two transaction helpers: the only code that commits a session or a connection.
COMMITTERS = {("registry/db.py", "transaction"), ("registry/api/deps.py", "committing")}
# Database code bridge/chain must not import (it does JSON-RPC and ABI only).
DATABASE_MODULES = ("sqlmodel", "sqlalchemy", "psycopg", "alembic", "registry.db", "registry.tables",
                    "registry.operations", "registry.bridged", "registry.api", "bridge.tables", "bridge.schema",
                    "bridge.engine", "bridge.webhooks", "bridge.public")
# Libraries the pure rules may use besides the standard library: Ethereum's (hashing, signatures)
# and pure numeric ones (numpy-financial's IRR for the additionality investment test).
DOMAIN_LIBRARIES = ("eth_abi", "eth_account", "eth_hash", "eth_keys", "eth_utils", "eth_typing", "numpy_financial",
                    "numpy")


def modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py")
                  if "migrations" not in p.relative_to(REPO).parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names; relative imports resolved), with its line."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                      if (REPO / base.replace(".", "/") / f"{alias.name}.py").exists()]
    return found


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations_of(folders: tuple[str, ...], allowed) -> list[str]:
    return [f"{p.relative_to(REPO)}:{line} imports {name}"
            for p in modules(*folders) for line, name in imported(p) if not allowed(name)]


def test_registry_imports_nothing_from_bridge():
    assert violations_of(("registry",), lambda name: not within(name, "bridge")) == []


def test_domain_imports_only_itself_the_standard_library_and_ethereum_libraries():
    def allowed(name: str) -> bool:
        top = name.split(".")[0]
        return (within(name, "registry.domain") or within(name, *DOMAIN_LIBRARIES)
                or top in sys.stdlib_module_names or top == "__future__")

    assert violations_of(("registry/domain",), allowed) == []


def test_chain_imports_no_database_code():
    assert violations_of(("bridge/chain",), lambda name: not within(name, *DATABASE_MODULES)) == []


def test_only_the_two_transaction_helpers_commit():
    found = []
    for path in modules(*PACKAGES):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"
                        and (str(path.relative_to(REPO)), function.name) not in COMMITTERS):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} commits in {function.name}()")
    assert found == []


# --- at run time: an engine step never holds a database transaction across a chain call ---


#: Longest a module of registry/ or bridge/ may be (migrations aside): past it, split by concept.
MAX_MODULE_LINES = 700


def test_no_module_is_over_700_lines():
    long = {str(p.relative_to(REPO)): n for p in modules(*PACKAGES) if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


# One definition per concept: the text that only the one place that defines a concept may hold.
ONE_PLACE = {
    "deployment by chain id": (r"Deployment\.chain_id ==", "bridge/deployments.py"),
    "credit class by token id": (r"CreditClass\.token_id ==", "registry/operations/classes.py"),
    "the EIP-712 domain name": (r'"ICR Bridge ICC"', "bridge/chain/token.py"),
    "the mint leaf encoding": (r'"uint256", "uint256", "uint256", "address"', "bridge/chain/token.py"),
    "ICCToken structs read from the chain": (r"functions\.(creditClass|batch|redemption)\(", "bridge/chain/token.py"),
    "the serial-block text": (r"UNIT_DIGITS|:0?6d\}", "registry/domain/serials.py"),
}


def holders_of(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return sorted(str(p.relative_to(REPO)) for p in modules(*PACKAGES, "scripts") if regex.search(p.read_text()))


@pytest.mark.parametrize("concept", sorted(ONE_PLACE))
def test_each_concept_is_defined_in_one_place(concept):
    pattern, home = ONE_PLACE[concept]
    assert holders_of(pattern) == [home], f"{concept} belongs in {home} only"


class TransactionWatch:
    """Open database transactions per connection, each with the engine frame that began it, and
    every JSON-RPC request made while one begun by the engine was open."""

    def __init__(self, engine):
        self.open: dict[int, str] = {}
        self.violations: list[str] = []
        self.requests = 0
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    @staticmethod
    def _engine_frame() -> str | None:
        for frame in reversed(traceback.extract_stack()):
            if "/bridge/engine/" in frame.filename.replace("\\", "/"):
                return f"{Path(frame.filename).relative_to(REPO)}:{frame.lineno} {frame.name}()"
        return None

    def _begin(self, connection) -> None:
        origin = self._engine_frame()
        if origin is not None:
            self.open[id(connection)] = origin

    def _end(self, connection) -> None:
        self.open.pop(id(connection), None)

    def request(self, method: str) -> None:
        self.requests += 1
        if self.open:
            self.violations.append(f"{method} from {self._engine_frame()} while a transaction begun at "
                                   f"{', '.join(sorted(set(self.open.values())))} was open")

    def middleware(self):
        watch = self

        class Watch(Web3Middleware):
            def wrap_make_request(self, make_request):
                def request(method, params):
                    watch.request(method)
                    return make_request(method, params)

                return request

        return Watch


@pytest.fixture
def watched_world(sqlite_engine, w3):
    from tests.support.world import make_world

    world = make_world(sqlite_engine, w3, seed="architecture")
    watch = TransactionWatch(sqlite_engine)
    w3.middleware_onion.add(watch.middleware(), name="transaction-watch")
    return world, watch


def test_an_engine_cycle_holds_no_transaction_across_a_chain_call(watched_world):
    """Tokenize, mint, transfer, retire, ask for a redemption, and sync it all back: the engine
    makes its chain calls with no database transaction of its own open."""
    from bridge.engine.cycle import run_cycle

    world, watch = watched_world
    world.tokenize(40)
    report = run_cycle(world.engine, world.chain, world.keys, confirmations=0)
    assert report.leaves_minted == 1
    world.transfer(world.holder, world.others[0].address, 5)
    world.retire(world.holder, 10)
    world.request_redemption(world.holder, 3)
    run_cycle(world.engine, world.chain, world.keys, confirmations=0)
    run_cycle(world.engine, world.chain, world.keys, confirmations=0)
    assert watch.requests > 0
    assert watch.violations == []


def test_the_watch_sees_a_chain_call_inside_a_transaction(watched_world, monkeypatch):
    """The rule's own check: a step that calls the chain inside the engine's transaction is seen."""
    from bridge.engine import batcher, cycle

    world, watch = watched_world
    real = batcher.build_batch

    def build_batch_asking_the_chain(session, deployment):
        session.connection()  # the engine's transaction (begun in bridge/engine/cycle.py) is open
        world.chain.w3.eth.block_number
        return real(session, deployment)

    monkeypatch.setattr(batcher, "build_batch", build_batch_asking_the_chain)
    cycle.run_cycle(world.engine, world.chain, world.keys, confirmations=0)
    assert any(v.startswith("eth_blockNumber") for v in watch.violations)
