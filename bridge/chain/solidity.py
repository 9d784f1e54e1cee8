"""Compile the Solidity sources in contracts/ and load the committed artifacts.

Running the bridge never needs node: it loads ``contracts/artifacts/*.json``. Rebuilding them
(``icr-bridge contracts build``) drives solc-js from contracts/node_modules through
py-solc-x's standard-JSON interface, with ``contracts/bin/solc`` standing in for native solc.

Sources live in ``contracts/src`` (deployed by the bridge), ``contracts/test`` (test-only
helpers, e.g. a re-entering receiver) and ``contracts/bench`` (benchmark baselines); each
folder is compiled on its own with the same settings, and each named contract gets an
artifact, so tests and benchmarks never need node either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
SOURCES_DIR = CONTRACTS_DIR / "src"
#: Folders under contracts/ whose ``*.sol`` files are compiled (deployed, test-only, benchmark).
SOURCE_FOLDERS = ("src", "test", "bench")
#: Sources of the Foundry suite (contracts/foundry.toml), compiled by forge only: its tests
#: (``*.t.sol``) and their helpers under ``test/foundry/``. Left out of the artifacts' inputs, so
#: the test helpers' bytecode does not depend on them.
FORGE_TEST_SUFFIX = ".t.sol"
FORGE_SUPPORT_DIR = "test/foundry"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
SOLC_STAND_IN = CONTRACTS_DIR / "bin" / "solc"

#: Compiler settings recorded in every artifact. evmVersion is pinned to prague because
#: py-evm (eth-tester) runs Prague and solc 0.8.37 would default to osaka.
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "prague",
    "viaIR": True,
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"]}
    },
}

#: Contracts whose artifacts are written (the rest are libraries and interfaces inlined):
#: the token, a test-only re-entering receiver and a benchmark baseline.
CONTRACT_NAMES = ("ICCToken", "ICRCarbonContractRegistry", "ReentrantReceiver", "ICRAdapterProbe", "BaselineMinter")


class CompilationError(RuntimeError):
    """solc reported errors; the message lists them."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


def standard_json_input(folder: str = "src", contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The compiler input for one source folder. Each folder compiles on its own: solc's
    optimizer output depends on every source in the input (AST ids), so the token's bytecode
    must not change when a test helper does, and verifying it on an explorer needs src/ only."""
    sources = {
        path.relative_to(contracts_dir).as_posix(): {"content": path.read_text()}
        for path in sorted((contracts_dir / folder).rglob("*.sol"))
        if not is_forge_source(path.relative_to(contracts_dir).as_posix())
    }
    return {"language": "Solidity", "sources": sources, "settings": COMPILER_SETTINGS}


def is_forge_source(relative_path: str) -> bool:
    """Whether a source (path relative to contracts/) belongs to the Foundry suite only."""
    return relative_path.endswith(FORGE_TEST_SUFFIX) or relative_path.startswith(FORGE_SUPPORT_DIR + "/")


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, dict[str, Any]]:
    """Compile every source folder and return artifact documents keyed by contract name."""
    from solcx.wrapper import get_solc_version

    if not (CONTRACTS_DIR / "node_modules" / "solc").exists():
        raise CompilationError("contracts/node_modules is missing: run `make setup` (npm install from the lock)")
    version = get_solc_version(SOLC_STAND_IN, with_commit_hash=True)
    artifacts: dict[str, dict[str, Any]] = {}
    for folder in SOURCE_FOLDERS:
        if not (contracts_dir / folder).is_dir():
            continue
        output = _compile(standard_json_input(folder, contracts_dir))
        for source, contracts in output["contracts"].items():
            for name, compiled in contracts.items():
                if name not in CONTRACT_NAMES or not source.startswith(f"{folder}/"):
                    continue
                artifacts[name] = {
                    "contractName": name,
                    "sourceName": source,
                    "compiler": {"name": "solc-js", "version": str(version)},
                    "settings": COMPILER_SETTINGS,
                    "abi": compiled["abi"],
                    "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                    "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                    "methodIdentifiers": compiled["evm"]["methodIdentifiers"],
                }
    return artifacts


def _compile(standard_input: dict[str, Any]) -> dict[str, Any]:
    import solcx

    try:
        output = solcx.compile_standard(
            standard_input,
            solc_binary=SOLC_STAND_IN,
            base_path=str(CONTRACTS_DIR),
            allow_paths=[str(CONTRACTS_DIR)],
        )
    except solcx.exceptions.SolcError as exc:
        output = json.loads(exc.stdout_data) if exc.stdout_data else {"errors": [{"message": str(exc)}]}
    errors = [e for e in output.get("errors", []) if e.get("severity", "error") == "error"]
    if errors:
        raise CompilationError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    return output


def render_artifact(document: dict[str, Any]) -> str:
    """The exact text committed for an artifact (stable key order, trailing newline)."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict[str, Any]], target: Path = ARTIFACTS_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in sorted(artifacts.items()):
        path = target / f"{name}.json"
        path.write_text(render_artifact(document))
        written.append(path)
    return written


@cache
def load_artifact(name: str = "ICCToken") -> Artifact:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"contract artifact {path} is missing: run `icr-bridge contracts build`")
    document = json.loads(path.read_text())
    return Artifact(
        name=name,
        abi=document["abi"],
        bytecode=document["bytecode"],
        deployed_bytecode=document["deployedBytecode"],
    )
