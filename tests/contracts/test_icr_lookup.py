"""The ICR-compatible lookup contract (contracts/src/ICRCarbonContractRegistry.sol), deployed with
the token by ``deploy``: it answers the views of ICR's CarbonContractRegistry, and an adapter
that calls the token exactly as KlimaDAO's LibICRCarbon does (the validity check
``getProjectIdFromAddress(token) != 0``, then ``retire`` with an empty custom URI and empty
``data``, from a contract holding the credits) retires them, and the sync records the retirement."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from sqlmodel import Session, select

from bridge.chain.client import ChainRevert
from bridge.chain.lookup import BRIDGE_PROJECT_ID, lookup_contract, register_token
from bridge.chain.solidity import load_artifact
from bridge.engine.cycle import run_cycle
from registry.tables.core import Retirement
from tests.support.world import make_world

ZERO = "0x" + "00" * 20


@pytest.fixture
def bridge_world(sqlite_engine, w3):
    world = make_world(sqlite_engine, w3, seed="icr-lookup")
    world.tokenize(200)
    run_cycle(sqlite_engine, world.chain, world.keys)
    return world


def _lookup(world):
    return lookup_contract(world.chain, world.deployment.lookup_address)


def test_deploy_registers_the_token_in_the_lookup_contract(bridge_world):
    world = bridge_world
    lookup = _lookup(world)
    token = world.chain.address
    assert world.deployment.lookup_address and world.deployment.lookup_address != token
    assert lookup.functions.getProjectIdFromAddress(token).call() == BRIDGE_PROJECT_ID != 0
    assert lookup.functions.getProjectIdFromAddress(world.holder.address).call() == 0
    assert lookup.functions.getProjectAddressFromId(BRIDGE_PROJECT_ID).call() == token
    assert lookup.functions.getProjectAddressFromId(2).call() == ZERO
    assert lookup.functions.getBeaconAddress().call() == ZERO
    assert lookup.functions.getTokenVaultBeaconAddress().call() == ZERO
    assert lookup.functions.getVerifiedVaultAddress(1).call() == ZERO
    # The engine registered the minted class's serialization when it registered the class.
    assert lookup.functions.getSerializationAddress("ICR-ISL-354-78040-14-R-0-2023").call() == token


def test_registration_rules(bridge_world):
    world = bridge_world
    chain, lookup, token = world.chain, _lookup(world), world.chain.address

    def refused(signer, fn) -> str:
        with pytest.raises(ChainRevert) as revert:
            chain.transact(signer, fn, "register", gas=200_000)
        return revert.value.error

    signer = world.keys.registry_signer
    assert refused(world.holder, lookup.functions.registerProjectContract(5, token)) == \
        "AccessControlUnauthorizedAccount"
    assert refused(signer, lookup.functions.registerProjectContract(0, lookup.address)) == "ZeroProjectId"
    assert refused(signer, lookup.functions.registerProjectContract(5, world.holder.address)) == "NotAContract"
    assert refused(signer, lookup.functions.registerProjectContract(BRIDGE_PROJECT_ID, lookup.address)) == \
        "ProjectIdTaken"
    with pytest.raises(ChainRevert) as again:
        register_token(chain, signer, lookup.address, token, project_id=5)
    assert again.value.error == "ProjectContractTaken"
    serialization = "ICR-ISL-354-78040-14-R-0-2030"
    assert refused(signer, lookup.functions.registerSerialization(serialization, lookup.address)) == \
        "UnknownProjectContract"
    assert refused(signer, lookup.functions.registerSerialization("", token)) == "EmptySerialization"
    chain.transact(signer, lookup.functions.registerSerialization(serialization, token), "register", gas=200_000)
    assert lookup.functions.getSerializationAddress(serialization).call() == token
    assert lookup.functions.getSerializationAddress(serialization + "-x").call() == ZERO
    assert refused(signer, lookup.functions.registerSerialization(serialization, token)) == "SerializationTaken"
    assert lookup.functions.getProjectIdFromAddress(token).call() == BRIDGE_PROJECT_ID  # refusals changed nothing


def test_an_adapter_written_for_icr_retires_the_bridge_token_with_only_the_address_changed(bridge_world):
    world = bridge_world
    chain = world.chain
    _, probe_address = chain.deploy_artifact(world.holder, load_artifact("ICRAdapterProbe"),
                                             world.deployment.lookup_address, gas=1_500_000)
    probe = chain.w3.eth.contract(address=probe_address, abi=load_artifact("ICRAdapterProbe").abi)
    assert probe.functions.isValid(chain.address).call() is True
    assert probe.functions.isValid(world.deployment.lookup_address).call() is False
    world.transfer(world.holder, probe_address, 30)  # the aggregator's contract holds the credits
    beneficiary = world.others[0].address
    retire = probe.functions.retireICR(chain.address, world.token_id, 30, beneficiary, "Klima Beneficiary",
                                       "retired through an ICR adapter")
    chain.transact(world.holder, retire, "adapter retire", gas=600_000)
    assert chain.token.functions.balanceOf(probe_address, world.token_id).call() == 0
    with pytest.raises(ChainRevert) as refused:
        chain.transact(world.holder, probe.functions.retireICR(world.deployment.lookup_address, world.token_id, 1,
                                                               beneficiary, "x", "y"), "adapter retire", gas=600_000)
    assert refused.value.error == f"unknown error 0x{keccak(text='NotAnICRProject(address)')[:4].hex()}"  # test-only
    run_cycle(world.engine, chain, world.keys)
    with Session(world.engine) as s:
        (retirement,) = s.exec(select(Retirement)).all()
    assert (retirement.quantity, retirement.holder_wallet, retirement.beneficiary_wallet) == (30, probe_address,
                                                                                              beneficiary)
    assert retirement.beneficiary_name == "Klima Beneficiary" and retirement.comment == "retired through an ICR adapter"
    assert retirement.purpose == "voluntary"  # empty data: a voluntary retirement, as ICR reads it
