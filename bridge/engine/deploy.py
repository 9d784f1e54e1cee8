"""Deploying the token contract and recording it with its custody account in the registry."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine

from bridge.chain.client import Chain
from bridge.chain.lookup import deploy_lookup, register_token
from bridge.deployments import deployment_on
from bridge.tables import Deployment
from registry.db import transaction
from registry.domain.enums import AccountType
from registry.operations.accounts import open_system_account
from registry.operations.ledger import append_entry

DEFAULT_METADATA_URI = "http://127.0.0.1:8000/metadata/{id}.json"


class AlreadyDeployed(RuntimeError):
    """The registry already records a deployment on this chain."""


@dataclass
class BridgeKeys:
    """The three keys the bridge uses: they are separate on purpose.

    ``admin`` holds DEFAULT_ADMIN_ROLE and PAUSER_ROLE; ``registry_signer`` holds REGISTRY_ROLE
    and signs batch roots; ``relayer`` pays gas for commits and mints (which need no role) and
    holds BRIDGE_OPERATOR_ROLE, the bridge's answers to redemption requests."""

    admin: LocalAccount
    registry_signer: LocalAccount
    relayer: LocalAccount


def deploy(engine: Engine, chain: Chain, keys: BridgeKeys, metadata_uri: str = DEFAULT_METADATA_URI) -> Deployment:
    """Deploy ICCToken and the ICR-compatible lookup contract (the token registered in it by the
    registry signer), then open the bridge custody account for this chain and record both
    addresses, in one registry transaction after the contracts are mined. Refuses
    (:class:`AlreadyDeployed`) a chain that already has a deployment."""
    with transaction(engine) as session:
        existing = deployment_on(session, chain.chain_id)
        if existing:
            raise AlreadyDeployed(f"chain {chain.chain_id} already has a deployment in this registry "
                                  f"({existing.address})")
    receipt = chain.deploy(
        keys.admin, metadata_uri, keys.admin.address, keys.registry_signer.address,
        pauser=keys.admin.address, bridge_operator=keys.relayer.address,
    )
    _, lookup_address = deploy_lookup(chain, keys.admin, keys.admin.address, keys.registry_signer.address)
    register_token(chain, keys.registry_signer, lookup_address, chain.address)
    with transaction(engine) as session:
        custody = open_system_account(session, AccountType.bridge_custody, f"Bridge custody (chain {chain.chain_id})")
        deployment = Deployment(
            chain_id=chain.chain_id,
            address=chain.address,
            deployed_block=receipt.block_number,
            custody_account_id=custody.id,
            lookup_address=lookup_address,
        )
        session.add(deployment)
        session.flush()
        append_entry(
            session,
            "bridge.deployed",
            {"chain_id": chain.chain_id, "address": chain.address, "lookup_address": lookup_address,
             "block": receipt.block_number,
             "custody_account_id": custody.id, "tx_hash": receipt.tx_hash},
        )
    return deployment
