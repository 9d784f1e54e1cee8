"""The committed artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import shutil

import pytest

from bridge.chain.solidity import ARTIFACTS_DIR, CONTRACT_NAMES, CONTRACTS_DIR, compile_contracts, render_artifact

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def fresh_build():
    if shutil.which("node") is None or not (CONTRACTS_DIR / "node_modules" / "solc").exists():
        pytest.skip("needs node and contracts/node_modules (make setup)")
    return compile_contracts()


def test_every_named_contract_is_built(fresh_build):
    assert sorted(fresh_build) == sorted(CONTRACT_NAMES)
    assert sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json")) == sorted(CONTRACT_NAMES)


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_committed_artifact_is_byte_identical_to_a_fresh_build(fresh_build, name):
    committed = (ARTIFACTS_DIR / f"{name}.json").read_text()
    assert committed == render_artifact(fresh_build[name]), f"{name}.json is stale: run `icr-bridge contracts build`"


def test_the_token_is_compiled_for_prague_within_the_size_limit(fresh_build):
    token = fresh_build["ICCToken"]
    assert token["settings"]["evmVersion"] == "prague"
    assert token["compiler"]["version"].startswith("0.8.37")
    assert len(bytes.fromhex(token["deployedBytecode"][2:])) <= 24_576  # EIP-170
