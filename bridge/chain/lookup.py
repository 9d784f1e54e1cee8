"""The ICR-compatible lookup contract (``ICRCarbonContractRegistry``): deploying it beside the
token and registering the token in it, so adapters written for ICR's CarbonContractRegistry
(``getProjectIdFromAddress(token) != 0``) accept the bridge's token. ABI and calls only."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from bridge.chain.client import Chain, Receipt
from bridge.chain.solidity import load_artifact

LOOKUP_CONTRACT = "ICRCarbonContractRegistry"
#: The project id the bridge's token answers to (any non-zero id marks a registered contract).
BRIDGE_PROJECT_ID = 1


def lookup_contract(chain: Chain, address: str) -> Contract:
    return chain.w3.eth.contract(address=address, abi=load_artifact(LOOKUP_CONTRACT).abi)


def deploy_lookup(chain: Chain, deployer: LocalAccount, admin: str, registrar: str) -> tuple[Receipt, str]:
    """Deploy the lookup contract: ``admin`` holds its admin role, ``registrar`` REGISTRAR_ROLE."""
    return chain.deploy_artifact(deployer, load_artifact(LOOKUP_CONTRACT), admin, registrar, gas=2_000_000)


def register_token(chain: Chain, registrar: LocalAccount, lookup_address: str, token_address: str,
                   project_id: int = BRIDGE_PROJECT_ID) -> Receipt:
    """Register the token contract under ``project_id`` (once; a second registration reverts)."""
    fn = lookup_contract(chain, lookup_address).functions.registerProjectContract(project_id, token_address)
    return chain.transact(registrar, fn, "register the token in the ICR lookup", gas=150_000)


def serialization_registered(chain: Chain, lookup_address: str, serialization: str) -> bool:
    address = lookup_contract(chain, lookup_address).functions.getSerializationAddress(serialization).call()
    return int(address, 16) != 0


def register_serialization(chain: Chain, registrar: LocalAccount, lookup_address: str, serialization: str,
                           token_address: str) -> Receipt:
    """Make ``getSerializationAddress(serialization)`` answer the token (once per serialization)."""
    fn = lookup_contract(chain, lookup_address).functions.registerSerialization(serialization, token_address)
    return chain.transact(registrar, fn, "register the serialization in the ICR lookup", gas=200_000)
