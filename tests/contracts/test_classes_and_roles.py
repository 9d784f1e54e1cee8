"""Deployment, roles, credit classes, CA status, metadata URI and pausing."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from bridge.chain.client import Chain, ChainRevert
from registry.domain.classes import ClassKey, Purpose
from tests.contracts.helpers import ARTICLE6, STANDARD, TIMEOUT, ZERO, class_info


def test_deployment_grants_each_role_to_its_own_key(world):
    roles = {
        "DEFAULT_ADMIN_ROLE": world.admin, "PAUSER_ROLE": world.pauser,
        "REGISTRY_ROLE": world.signer, "BRIDGE_OPERATOR_ROLE": world.operator,
    }
    everyone = [world.admin, world.pauser, world.signer, world.operator, world.relayer, world.outsider]
    for role_name, holder in roles.items():
        role = world.role(role_name)
        assert role_name == "DEFAULT_ADMIN_ROLE" or role == keccak(text=role_name)
        assert [a for a in everyone if world.call("hasRole", role, a.address)] == [holder]
    assert world.call("redemptionTimeout") == TIMEOUT
    assert world.call("MIN_REDEMPTION_TIMEOUT") == 3600
    assert world.call("MAX_REDEMPTION_TIMEOUT") == 90 * 24 * 3600


def test_unit_is_discoverable_on_chain(world):
    assert world.call("decimals") == 0
    assert world.call("UNIT") == "tCO2e"
    assert world.call("TONNES_PER_TOKEN") == 1


@pytest.mark.parametrize("bad", ["admin", "pauser", "registry", "operator", "timeout_low", "timeout_high"])
def test_constructor_rejects_zero_role_holders_and_timeouts_out_of_bounds(world, bad):
    chain = Chain(world.w3)
    a = world.admin.address
    kwargs = dict(pauser=a, bridge_operator=a, redemption_timeout=TIMEOUT)
    admin, registry = a, a
    if bad == "admin":
        admin = ZERO
    elif bad == "registry":
        registry = ZERO
    elif bad == "pauser":
        kwargs["pauser"] = ZERO
    elif bad == "operator":
        kwargs["bridge_operator"] = ZERO
    elif bad == "timeout_low":
        kwargs["redemption_timeout"] = 3599
    else:
        kwargs["redemption_timeout"] = 90 * 24 * 3600 + 1
    with pytest.raises(ChainRevert) as info:
        chain.deploy(world.admin, "u", admin, registry, **kwargs)
    expected = "RedemptionTimeoutOutOfRange" if bad.startswith("timeout") else "ZeroAddressRoleHolder"
    assert info.value.error == expected


def test_only_the_admin_grants_roles(world):
    registry_role = world.role("REGISTRY_ROLE")
    world.reverts("AccessControlUnauthorizedAccount", world.signer, "grantRole", registry_role, world.outsider.address)
    world.tx(world.admin, "grantRole", registry_role, world.outsider.address)
    assert world.call("hasRole", registry_role, world.outsider.address)


def test_class_id_encoding_matches_the_registry(world):
    for key in (STANDARD, ARTICLE6, ClassKey(2**64 - 1, 65535, True, 2**32 - 1)):
        assert world.call("classIdOf", key.project_number, key.vintage, key.article6, key.letter_number) == key.token_id
    stored = world.call("creditClass", ARTICLE6.token_id)
    assert stored == (78040, 2024, True, 7, b"ISL", 0b0111, 1, True)
    assert world.call("creditClass", 12345)[-1] is False


def test_register_class_success_emits_registered_and_uri(world):
    key = ClassKey(project_number=1, vintage=2030)
    receipt = world.tx(world.signer, "registerClass", key.token_id, class_info(key, 1))
    [registered] = world.events(receipt, "ClassRegistered")
    assert (registered["classId"], registered["projectNumber"], registered["vintage"]) == (key.token_id, 1, 2030)
    [uri] = world.events(receipt, "URI")
    assert (uri["id"], uri["value"]) == (key.token_id, "https://registry.example/metadata/{id}.json")


def test_register_class_reverts(world):
    key = ClassKey(project_number=1, vintage=2030)
    world.reverts("AccessControlUnauthorizedAccount", world.admin, "registerClass", key.token_id, class_info(key, 1))
    world.reverts("ClassIdMismatch", world.signer, "registerClass", key.token_id + 1, class_info(key, 1))
    world.reverts("ClassAlreadyRegistered", world.signer, "registerClass", STANDARD.token_id, class_info(STANDARD, 1))
    world.reverts("InvalidCAStatus", world.signer, "registerClass", key.token_id, class_info(key, 1, ca_status=4))


def test_set_ca_status_records_the_evidence_and_refreshes_metadata(world):
    evidence = keccak(text="host country report 2025")
    receipt = world.tx(world.signer, "setCAStatus", ARTICLE6.token_id, 2, evidence)
    [changed] = world.events(receipt, "CAStatusChanged")
    assert changed == {"classId": ARTICLE6.token_id, "previousStatus": 1, "newStatus": 2, "evidenceHash": evidence}
    assert [e["id"] for e in world.events(receipt, "URI")] == [ARTICLE6.token_id]
    assert world.call("creditClass", ARTICLE6.token_id)[6] == 2


def test_set_ca_status_reverts(world):
    world.reverts("AccessControlUnauthorizedAccount", world.operator, "setCAStatus", ARTICLE6.token_id, 2, bytes(32))
    world.reverts("ClassNotRegistered", world.signer, "setCAStatus", 999, 2, bytes(32))
    world.reverts("InvalidCAStatus", world.signer, "setCAStatus", ARTICLE6.token_id, 4, bytes(32))


def test_set_class_uses_records_the_registry_uses_and_refreshes_metadata(world):
    corsia_ndc = (1 << Purpose.corsia) | (1 << Purpose.ndc)
    receipt = world.tx(world.signer, "setClassUses", ARTICLE6.token_id, 1 << Purpose.ndc)
    [changed] = world.events(receipt, "ClassUsesChanged")
    assert changed == {"classId": ARTICLE6.token_id, "previousUses": 0b0111, "newUses": 1 << Purpose.ndc}
    assert [e["id"] for e in world.events(receipt, "URI")] == [ARTICLE6.token_id]
    assert world.call("creditClass", ARTICLE6.token_id)[5] == 1 << Purpose.ndc
    receipt = world.tx(world.signer, "setClassUses", ARTICLE6.token_id, corsia_ndc)  # reinstated: uses return
    assert world.events(receipt, "ClassUsesChanged")[0]["previousUses"] == 1 << Purpose.ndc
    assert world.call("creditClass", ARTICLE6.token_id)[5] == corsia_ndc


def test_set_class_uses_reverts(world):
    world.reverts("AccessControlUnauthorizedAccount", world.operator, "setClassUses", ARTICLE6.token_id, 0)
    world.reverts("AccessControlUnauthorizedAccount", world.admin, "setClassUses", ARTICLE6.token_id, 0)
    assert world.reverts("ClassNotRegistered", world.signer, "setClassUses", 999, 0) == (999,)
    assert world.reverts("InvalidClassUses", world.signer, "setClassUses", ARTICLE6.token_id, 0b10000) == (16,)
    assert world.call("creditClass", ARTICLE6.token_id)[5] == 0b0111


def test_set_uri_by_admin_and_announce_metadata_updates(world):
    new = "https://registry.example/v2/metadata/{id}.json"
    receipt = world.tx(world.admin, "setURI", new)
    [changed] = world.events(receipt, "MetadataURIChanged")
    assert changed == {"previousUri": "https://registry.example/metadata/{id}.json", "newUri": new}
    assert world.call("uri", STANDARD.token_id) == new
    receipt = world.tx(world.signer, "announceMetadataUpdate", [STANDARD.token_id, ARTICLE6.token_id])
    assert [(e["value"], e["id"]) for e in world.events(receipt, "URI")] == [
        (new, STANDARD.token_id), (new, ARTICLE6.token_id)]


def test_set_uri_and_announce_reverts(world):
    world.reverts("AccessControlUnauthorizedAccount", world.signer, "setURI", "x")
    world.reverts("AccessControlUnauthorizedAccount", world.admin, "announceMetadataUpdate", [STANDARD.token_id])
    world.reverts("ClassNotRegistered", world.signer, "announceMetadataUpdate", [STANDARD.token_id, 5])


def test_pause_and_unpause_only_by_the_pauser(world):
    world.reverts("AccessControlUnauthorizedAccount", world.admin, "pause")
    receipt = world.tx(world.pauser, "pause")
    assert world.events(receipt, "Paused") and world.call("paused")
    world.reverts("EnforcedPause", world.pauser, "pause")
    world.reverts("AccessControlUnauthorizedAccount", world.admin, "unpause")
    world.tx(world.pauser, "unpause")
    assert not world.call("paused")
    world.reverts("ExpectedPause", world.pauser, "unpause")


def test_paused_keeps_transfers_retirements_and_commits_open(world):
    holder, other = world.holders[0], world.holders[1]
    world.give(holder.address, 10)
    world.tx(world.pauser, "pause")
    world.tx(holder, "safeTransferFrom", holder.address, other.address, STANDARD.token_id, 3, b"")
    world.tx(other, "retire", STANDARD.token_id, 1, ZERO, "n", "", "", b"")
    batch = world.batch(1, [holder.address])
    world.commit(batch)  # commits mint nothing, so they stay open
    world.reverts("EnforcedPause", world.relayer, "mintLeaves", 1, *batch.multi([0]))
    assert (world.balance(holder.address), world.balance(other.address), world.supply()) == (7, 2, 9)


def test_supports_erc1155_and_access_control_interfaces(world):
    for interface in ("d9b67a26", "0e89341c", "7965db0b", "01ffc9a7"):
        assert world.call("supportsInterface", bytes.fromhex(interface))
    assert not world.call("supportsInterface", bytes.fromhex("ffffffff"))


def test_purpose_constants_match_the_registry(world):
    for purpose in Purpose:
        assert world.call(f"PURPOSE_{purpose.name.upper()}") == purpose.value
