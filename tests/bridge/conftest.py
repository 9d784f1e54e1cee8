"""Fixtures of the bridge's tests that run the operator commands as an operator does."""

from __future__ import annotations

import os

import pytest

from tests.support.world import seeded


def operator_environment(tmp_path, rpc_url: str, poll_interval: str = "0.2") -> dict:
    """The ICR_* environment of operator commands against ``rpc_url``, with a registry file in
    ``tmp_path`` (``deploy`` creates it) and seeded keys (unfunded until deployed with
    ``--fund-from-dev-account``)."""
    env = {
        **os.environ,
        "ICR_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite'}",
        "ICR_RPC_URL": rpc_url,
        "ICR_CONFIRMATIONS": "0",
        "ICR_USE_FINALIZED_TAG": "false",
        "ICR_POLL_INTERVAL": poll_interval,
        "ICR_ADMIN_KEY": seeded("op/admin").key.hex(),
        "ICR_REGISTRY_SIGNER_KEY": seeded("op/signer").key.hex(),
        "ICR_RELAYER_KEY": seeded("op/relayer").key.hex(),
    }
    env.pop("ICR_CONTRACT", None)
    return env


@pytest.fixture
def operator_env(tmp_path, anvil_url):
    return operator_environment(tmp_path, anvil_url)
