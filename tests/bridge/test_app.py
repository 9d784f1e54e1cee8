"""The HTTP API over the demo's registry: reads, token metadata, proofs, problem+json errors."""

import pytest
from fastapi.testclient import TestClient

from bridge.app import create_app
from bridge.demo import run_demo
from bridge.merkle.proofs import verify_proof
from bridge.merkle.tree import StandardMerkleTree


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from bridge.chain.client import eth_tester_web3
    from bridge.schema import create_schema
    from registry.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('api') / 'registry.sqlite'}")
    create_schema(engine)
    summary = run_demo(engine, eth_tester_web3())
    with TestClient(create_app(engine)) as c:
        c.summary = summary
        yield c


def test_openapi_document_lists_every_route(client):
    doc = client.get("/openapi.json").json()
    for path in ("/balances", "/retirements", "/retirements/{retirement_id}", "/serial-blocks",
                 "/metadata/{hex_id}.json", "/batches/{batch_id}/tree", "/batches/{batch_id}/leaves/{leaf_index}/proof",
                 "/ledger/verify", "/deployments"):
        assert path in doc["paths"], path


def test_openapi_document_describes_every_success_and_error_body(client):
    doc = client.get("/openapi.json").json()
    missing, undocumented_errors = [], []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for code, response in op["responses"].items():
                for media, content in response.get("content", {}).items():
                    if not content.get("schema"):
                        missing.append(f"{method.upper()} {path} {code} {media}")
            takes_input = op.get("parameters") or op.get("requestBody") or op.get("security")
            if takes_input and not any(code.startswith("4") for code in op["responses"]):
                undocumented_errors.append(f"{method.upper()} {path}")
    assert missing == [], missing
    assert undocumented_errors == [], undocumented_errors


def test_balances_and_retirements(client):
    balances = {(b["account_type"], b["status"]): b["quantity"] for b in client.get("/balances").json()["items"]}
    assert balances[("bridge_custody", "active")] == 300
    page = client.get("/retirements").json()
    assert page["page"]["total"] == 2  # the on-chain one and the demo's Article 6.2 CORSIA retirement
    (item,) = [r for r in page["items"] if r["serial_blocks"][0].startswith("ICR-ISL-354-78040-14-R-0-2023")]
    assert item["serial_blocks"] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000100"]
    assert client.get(f"/retirements/{item['id']}").json()["tx_hash"] == client.summary["retire_tx"]


def test_serial_blocks_are_paginated(client):
    page = client.get("/serial-blocks", params={"limit": 1}).json()
    assert page["page"]["total"] >= 3 and len(page["items"]) == 1
    second = client.get("/serial-blocks", params={"limit": 1, "offset": 1}).json()
    assert second["items"][0] != page["items"][0]


def test_errors_are_problem_json_naming_the_field(client):
    missing = client.get("/retirements/999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["field"] == "retirement_id"
    bad = client.get("/serial-blocks", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "limit"
    assert client.get("/metadata/zz.json").json()["field"] == "id"


def test_token_metadata_follows_erc1155_conventions(client):
    token_id = int(client.summary["conservation"][0]["token_id"])
    hex_id = f"{token_id:064x}"
    meta = client.get(f"/metadata/{hex_id}.json").json()
    assert {"name", "description", "properties"} <= set(meta)
    assert meta["decimals"] == 0
    props = meta["properties"]
    assert props["unit"] == "tCO2e" and props["vintage"] == 2023 and props["host_country"] == "ISL"
    assert props["article6"] is False and props["authorized_uses"] == ["voluntary"]
    assert props["supply"]["in_custody"] == 300 and props["supply"]["onchain"] == 300
    assert props["supply"]["retired"] == 100 and props["supply"]["conserved"] is True


def test_claim_proof_verifies_against_the_batch_root(client):
    proof = client.get("/batches/1/leaves/0/proof").json()
    tree = StandardMerkleTree.load(client.get("/batches/1/tree").json())
    assert tree.root == proof["root"]
    leaf_hash = tree.leaf_hash([int(proof["leaf"][0]), int(proof["leaf"][1]), int(proof["leaf"][2]), proof["leaf"][3],
                                int(proof["leaf"][4]), int(proof["leaf"][5]), int(proof["leaf"][6])])
    assert verify_proof(proof["root"], leaf_hash, proof["proof"])
    assert proof["minted"] is True
    assert client.get("/ledger/verify").json()["ok"] is True


def test_deployments_are_paginated(client):
    response = client.get("/deployments", params={"limit": 1})
    assert response.status_code == 200 and len(response.json()["items"]) == 1
    assert response.headers["X-Total-Count"] == "1" and "Link" not in response.headers
    bad = client.get("/deployments", params={"limit": 0})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_the_api_docs_are_served_by_the_app_without_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    assert "script-src 'self' 'unsafe-inline'" in page.headers["content-security-policy"]
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert b'"5.' in asset.content  # Swagger UI 5: version 4 cannot render an OpenAPI 3.1 document
    assert client.get("/docs/assets/../../registry.sqlite").status_code == 404
    assert client.get("/docs/assets/redoc.standalone.js").status_code == 404  # only the patched one at /redoc
    reference = client.get("/redoc")
    assert reference.status_code == 200 and "/redoc/assets/redoc.standalone.js" in reference.text
    assert "cdn." not in reference.text and "fonts.googleapis" not in reference.text
    assert "worker-src 'self' blob:" in reference.headers["content-security-policy"]
    bundle = client.get("/redoc/assets/redoc.standalone.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert b"cdn.redoc.ly" not in bundle.content  # the one foreign image it would load
