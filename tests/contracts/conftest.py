"""One deployed token per test module, reset to a snapshot before every test (eth-tester
takes seconds to start; a snapshot revert takes milliseconds)."""

from __future__ import annotations

import pytest

from bridge.chain.client import eth_tester_web3
from tests.contracts.helpers import TokenWorld, deploy_world


@pytest.fixture(scope="module")
def _deployed():
    w3 = eth_tester_web3()
    world = deploy_world(w3)
    snapshot = w3.provider.ethereum_tester.take_snapshot()
    return world, snapshot


@pytest.fixture
def world(_deployed) -> TokenWorld:
    world, snapshot = _deployed
    world.w3.provider.ethereum_tester.revert_to_snapshot(snapshot)
    world.chain._nonces.clear()  # the chain's nonces went back with the snapshot
    world._serial = 0
    world._next_batch = 1000
    return world
