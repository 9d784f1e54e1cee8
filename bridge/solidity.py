"""Compile the Solidity sources in contracts/ and load the committed artifacts.

Running the bridge never needs node: it loads ``contracts/artifacts/*.json``. Rebuilding them
(``icr-bridge contracts build``) drives solc-js from contracts/node_modules through
py-solc-x's standard-JSON interface, with ``contracts/bin/solc`` standing in for native solc.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
SOURCES_DIR = CONTRACTS_DIR / "src"
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

#: Contracts whose artifacts are written (the rest are libraries and test helpers inlined).
CONTRACT_NAMES = ("ICCToken",)


class CompilationError(RuntimeError):
    """solc reported errors; the message lists them."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


def standard_json_input(source_dir: Path = SOURCES_DIR) -> dict[str, Any]:
    sources = {
        f"src/{path.relative_to(source_dir).as_posix()}": {"content": path.read_text()}
        for path in sorted(source_dir.rglob("*.sol"))
    }
    return {"language": "Solidity", "sources": sources, "settings": COMPILER_SETTINGS}


def compile_contracts(source_dir: Path = SOURCES_DIR) -> dict[str, dict[str, Any]]:
    """Compile every source and return artifact documents keyed by contract name."""
    import solcx
    from solcx.wrapper import get_solc_version

    if not (CONTRACTS_DIR / "node_modules" / "solc").exists():
        raise CompilationError("contracts/node_modules is missing: run `make contracts-deps` (npm ci)")
    version = get_solc_version(SOLC_STAND_IN, with_commit_hash=True)
    try:
        output = solcx.compile_standard(
            standard_json_input(source_dir),
            solc_binary=SOLC_STAND_IN,
            base_path=str(CONTRACTS_DIR),
            allow_paths=[str(CONTRACTS_DIR)],
        )
    except solcx.exceptions.SolcError as exc:
        output = json.loads(exc.stdout_data) if exc.stdout_data else {"errors": [{"message": str(exc)}]}
    errors = [e for e in output.get("errors", []) if e.get("severity", "error") == "error"]
    if errors:
        raise CompilationError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in output["contracts"].items():
        for name, compiled in contracts.items():
            if name not in CONTRACT_NAMES or not source.startswith("src/"):
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
