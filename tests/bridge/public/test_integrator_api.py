"""What an integrator finds from the API alone (issue 18): token ids in either form, tokenizations
with their batch, leaves, proofs and mint transactions, batches, retirements filtered by
transaction, wallets, class and time with their on-chain and certificate ids, and a receipt by
transaction hash before the retirement is final."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.chain.client import eth_tester_web3
from bridge.chain.solidity import load_artifact
from bridge.engine.cycle import run_cycle
from bridge.schema import create_schema
from bridge.tables import MintLeaf
from registry.api.auth import create_api_key
from registry.db import make_engine, transaction
from registry.domain.classes import CERTIFICATE_FLAG
from registry.domain.enums import ApiKeyRole
from registry.domain.wallets import wallet_link_digest, wallet_link_typed_data
from registry.tables.core import Account, CreditClass, Serialization
from tests.bridge.engine.test_steps import delegate_code
from tests.support.world import make_world, seeded


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('integrator') / 'registry.sqlite'}")
    create_schema(engine)
    world = make_world(engine, eth_tester_web3(), seed="integrator", issued=1_000)
    with transaction(engine) as s:
        organization_id = s.get(Account, world.account_id).organization_id
        _, world.org_key = create_api_key(s, name="org", role=ApiKeyRole.organization, organization_id=organization_id)
        _, world.admin_key = create_api_key(s, name="admin", role=ApiKeyRole.administrator)
        other = create_api_key(s, name="stranger", role=ApiKeyRole.administrator)[1]
    world.organization_id = organization_id
    world.stranger_admin = other
    world.minted_id = world.tokenize(300)
    run_cycle(engine, world.chain, world.keys)
    world.transfer(world.holder, world.others[0].address, 100)
    world.retire_receipt = world.retire(world.others[0], 40, beneficiary=world.others[1].address)
    run_cycle(engine, world.chain, world.keys)
    world.pending_id = world.tokenize(20)  # after the last cycle: no batch yet
    yield world
    engine.dispose()


def test_token_ids_are_read_in_decimal_hex_and_the_uri_form_and_served_as_both(client, world):
    forms = [str(world.token_id), hex(world.token_id), f"{world.token_id:064x}", "0X" + f"{world.token_id:X}"]
    answers = [client.get(f"/metadata/{form}.json") for form in forms]
    assert [a.status_code for a in answers] == [200] * 4 and len({a.text for a in answers}) == 1
    for bad in ("ff", "0xzz", str(1 << 256), "-1"):
        answer = client.get(f"/metadata/{bad}.json")
        assert answer.status_code == 422 and answer.json()["field"] == "id", bad
    (made,) = client.get("/tokenizations", params={"status": "pending"}, headers={"X-API-Key": world.org_key}
                         ).json()["items"]
    assert made["token_id"] == str(world.token_id) and made["token_id_hex"] == f"{world.token_id:064x}"


def test_a_tokenization_names_its_batch_leaves_proofs_and_mint_transactions(client, world):
    own = {"X-API-Key": world.org_key}
    detail = client.get(f"/tokenizations/{world.minted_id}", headers=own).json()
    assert detail["status"] == "minted" and detail["batch_ids"] and detail["organization_id"] == world.organization_id
    with Session(world.engine) as s:
        leaves = s.exec(select(MintLeaf).where(MintLeaf.tokenization_id == world.minted_id)
                        .order_by(MintLeaf.batch_id, MintLeaf.leaf_index)).all()
    assert [(leaf["batch_id"], leaf["leaf_index"], leaf["mint_tx"]) for leaf in detail["leaves"]] == [
        (m.batch_id, m.leaf_index, m.mint_tx) for m in leaves]
    assert all(leaf["mint_tx"] and leaf["minted"] and not leaf["claimable"] for leaf in detail["leaves"])
    assert sum(leaf["amount"] for leaf in detail["leaves"]) == 300
    proof = client.get(detail["leaves"][0]["proof_url"]).json()
    assert (proof["batch_id"], proof["leaf_index"]) == (leaves[0].batch_id, leaves[0].leaf_index)
    pending = client.get(f"/tokenizations/{world.pending_id}", headers=own).json()
    assert pending["status"] == "pending" and pending["leaves"] == [] and pending["batch_ids"] == []


def test_tokenizations_are_listed_by_organization_wallet_class_and_status(client, world):
    own = {"X-API-Key": world.org_key}
    every = client.get("/tokenizations", headers=own).json()
    assert [t["id"] for t in every["items"]] == [world.pending_id, world.minted_id]
    assert every["page"]["total"] == 2
    by = lambda **params: [t["id"] for t in client.get("/tokenizations", params=params, headers=own).json()["items"]]  # noqa: E731
    assert by(status="minted") == [world.minted_id]
    assert by(wallet=world.holder.address.lower()) == [world.pending_id, world.minted_id]
    assert by(wallet=world.others[0].address) == []
    assert by(token_id=hex(world.token_id)) == by(token_id=str(world.token_id)) == [world.pending_id, world.minted_id]
    assert by(token_id="12345") == []
    assert by(organization_id=world.organization_id) == [world.pending_id, world.minted_id]
    # an organization key sees its own only; naming another organization is 403
    refused = client.get("/tokenizations", params={"organization_id": world.organization_id + 1}, headers=own)
    assert refused.status_code == 403 and refused.json()["rule"] == "own-accounts-only"
    assert client.get("/tokenizations").status_code == 401
    assert client.get("/tokenizations", params={"wallet": "0x12"}, headers=own).json()["field"] == "wallet"


def test_batches_are_public_with_their_status_and_links(client, world):
    batches = client.get("/batches").json()
    assert batches["page"]["total"] == len(batches["items"]) >= 1
    batch = client.get(f"/batches/{batches['items'][-1]['id']}").json()
    assert batch["status"] == "minted" and batch["leaves_minted"] == batch["leaf_count"] and batch["commit_tx"]
    assert client.get(batch["tree_url"]).json()["format"] == "standard-v1"
    assert client.get(batch["proof_url_template"].replace("{leaf_index}", "0")).status_code == 200
    assert client.get("/batches", params={"status": "built"}).json()["items"] == []
    missing = client.get("/batches/999")
    assert missing.status_code == 404 and missing.json()["field"] == "batch_id"


def test_retirements_are_filtered_and_carry_their_onchain_and_certificate_ids(client, world):
    tx = world.retire_receipt.tx_hash
    (record,) = client.get("/retirements", params={"tx_hash": tx.upper().replace("0X", "0x")}).json()["items"]
    assert record["tx_hash"] == tx and record["quantity"] == 40
    assert record["onchain_retirement_id"] is not None
    certificate = CERTIFICATE_FLAG | record["onchain_retirement_id"]
    assert record["certificate_token_id"] == str(certificate) and record["certificate_token_id_hex"] == f"{certificate:064x}"
    assert record["token_id"] == str(world.token_id)
    assert client.get(f"/metadata/{record['certificate_token_id']}.json").status_code == 200

    def ids(**params):
        answer = client.get("/retirements", params=params)
        assert answer.status_code == 200, answer.json()
        return [r["id"] for r in answer.json()["items"]]

    assert ids(holder=world.others[0].address.lower()) == [record["id"]]
    assert ids(holder=world.holder.address) == []
    assert ids(beneficiary=world.others[1].address) == [record["id"]]
    assert ids(token_id=f"{world.token_id:064x}") == [record["id"]] and ids(token_id="1") == []
    assert ids(chain_id=world.chain.chain_id) == [record["id"]]
    now = datetime.now(timezone.utc)
    assert ids(since=(now - timedelta(hours=1)).isoformat()) == [record["id"]]
    assert ids(since=(now + timedelta(hours=1)).isoformat()) == []
    assert ids(until=(now - timedelta(hours=1)).isoformat()) == []
    for field, bad in (("tx_hash", "0x12"), ("holder", "nobody"), ("token_id", "0xq")):
        answer = client.get("/retirements", params={field: bad})
        assert answer.status_code == 422 and answer.json()["field"] == field


def test_a_retirement_has_a_receipt_before_it_is_final_then_the_record(world):
    receipt = world.retire(world.others[0], 5)
    path = f"/retirements/by-transaction/{receipt.tx_hash}"
    with TestClient(create_app(world.engine)) as blind:
        answer = blind.get(path)
        assert answer.status_code == 404 and "--rpc-url" in answer.json()["detail"]
    with TestClient(create_app(world.engine, chains=[world.chain], finality=(3, False))) as waiting:
        seen = waiting.get(path).json()
        assert (seen["state"], seen["confirmations"], seen["confirmations_required"], seen["final"]) == (
            "awaiting_finality", 0, 3, False)
        assert seen["message"] == "seen on-chain, 0 of 3 confirmations; the registry records it once final"
        (event,) = seen["events"]
        assert (event["amount"], event["holder"], event["token_id"]) == (5, world.others[0].address, str(world.token_id))
        assert event["certificate_token_id"] == str(CERTIFICATE_FLAG | event["onchain_retirement_id"])
        world.transfer(world.holder, world.others[2].address, 1)  # one block on top
        assert waiting.get(path).json()["confirmations"] == 1
        transfer = world.transfer(world.holder, world.others[2].address, 1)
        not_retirement = waiting.get(f"/retirements/by-transaction/{transfer.tx_hash}")
        assert not_retirement.status_code == 404 and not_retirement.json()["rule"] == "not-a-retirement"
        unknown = waiting.get("/retirements/by-transaction/0x" + "ab" * 32)
        assert unknown.status_code == 404 and unknown.json()["rule"] == "not-recorded"
    with TestClient(create_app(world.engine, chains=[world.chain], finality=(0, False))) as final:
        assert final.get(path).json()["state"] == "final_awaiting_sync"
        run_cycle(world.engine, world.chain, world.keys)
        recorded = final.get(path).json()
        assert recorded["state"] == "recorded" and recorded["message"] == "recorded in the registry"
        assert [r["quantity"] for r in recorded["retirements"]] == [5]
        assert recorded["retirements"][0]["onchain_retirement_id"] == event["onchain_retirement_id"]
    bad = TestClient(create_app(world.engine)).get("/retirements/by-transaction/0x1234")
    assert bad.status_code == 422 and bad.json()["field"] == "tx_hash"


def _deploy_contract_wallet(world, owner: str) -> str:
    """A contract wallet (the test ReentrantReceiver) whose isValidSignature accepts ``owner``'s signatures."""
    artifact = load_artifact("ReentrantReceiver")
    factory = world.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = world.chain.transact(world.keys.admin, factory.constructor(owner), "deploy wallet", gas=3_000_000)
    return receipt.raw["contractAddress"]


def _link(client, world, wallet: str, signer) -> dict:
    message = client.get("/wallet-links/typed-data", params={"account_id": world.account_id, "wallet": wallet}).json()
    signature = signer.sign_typed_data(full_message=message["typed_data"]).signature.hex()
    body = {**message["link_body"], "signature": "0x" + signature.removeprefix("0x")}
    return client.post(message["link_path"], json=body, headers={"X-API-Key": world.org_key})


def test_the_typed_data_is_the_message_the_registry_checks(client, world):
    fresh = seeded("integrator/fresh")
    message = client.get("/wallet-links/typed-data", params={"account_id": world.account_id,
                                                              "wallet": fresh.address.lower(), "signed_at": 1_900_000_000})
    assert message.status_code == 200, message.json()
    body = message.json()
    assert body["typed_data"] == wallet_link_typed_data(world.account_id, fresh.address, 1_900_000_000)
    assert body["digest"] == "0x" + wallet_link_digest(world.account_id, fresh.address, 1_900_000_000).hex()
    assert body["valid_until"] == 1_900_000_000 + 24 * 3600
    assert (body["link_path"], body["link_body"]) == (f"/accounts/{world.account_id}/wallets",
                                                      {"wallet": fresh.address, "signed_at": 1_900_000_000})
    linked = _link(client, world, fresh.address, fresh)
    assert linked.status_code == 201 and linked.json()["wallet"] == fresh.address
    for params, field in (({"account_id": world.account_id, "wallet": "0x12"}, "wallet"),
                          ({"account_id": world.deployment.custody_account_id, "wallet": fresh.address}, "account_id")):
        answer = client.get("/wallet-links/typed-data", params=params)
        assert answer.status_code == 422 and answer.json()["field"] == field
    assert client.get("/wallet-links/typed-data", params={"account_id": 999, "wallet": fresh.address}).status_code == 404


def test_contract_wallets_link_through_erc1271_when_the_server_reads_the_chain(client, world):
    owner, stranger = seeded("integrator/vault owner"), seeded("integrator/stranger")
    vault = _deploy_contract_wallet(world, owner.address)
    with TestClient(create_app(world.engine)) as blind:  # no chain: an ECDSA signature is all it can check
        refused = _link(blind, world, vault, owner)
        assert refused.status_code == 422 and "serve --rpc-url" in refused.json()["detail"]
    wrong = _link(client, world, vault, stranger)
    assert wrong.status_code == 422 and "does not accept it under ERC-1271" in wrong.json()["detail"]
    linked = _link(client, world, vault, owner)
    assert linked.status_code == 201, linked.json()
    assert linked.json()["wallet"] == vault and linked.json()["account_id"] == world.account_id


def test_an_eip7702_delegated_account_links_with_its_own_key(client, world):
    account = seeded("integrator/7702")
    world.chain.fund_from_dev_account(account.address)
    delegate_code(world.chain.w3, account, _deploy_contract_wallet(world, world.keys.admin.address))
    assert world.chain.w3.eth.get_code(account.address)  # it has code now
    linked = _link(client, world, account.address, account)
    assert linked.status_code == 201 and linked.json()["wallet"] == account.address
    tokenized = client.post("/tokenizations", json={"account_id": world.account_id, "wallet": account.address,
                                                     "serialization": world_serialization(world), "quantity": 1},
                            headers={"X-API-Key": world.org_key})
    assert tokenized.status_code == 201, tokenized.json()  # the only custody account is the default
    assert tokenized.json()["token_id_hex"] == f"{world.token_id:064x}"


def world_serialization(world) -> str:
    with Session(world.engine) as s:
        return s.get(Serialization, s.get(CreditClass, world.class_id).serialization_id).text
