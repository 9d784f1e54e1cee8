"""The registry's HTTP API: API keys (401 / 403), organization scoping, administrator-only
operations, write endpoints for the lifecycle, pagination and problem+json errors."""

import hashlib
import time

import pytest
from eth_account import Account as EthAccount
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.schema import create_schema
from registry.api.auth import create_api_key
from registry.api.pagination import DEFAULT_LIMIT
from registry.db import make_engine, transaction
from registry.domain.enums import ApiKeyRole
from registry.domain.wallets import sign_wallet_link
from registry.tables.core import ApiKey

S23 = "ICR-ISL-354-78040-14-R-0-2023"
#: The world's issuance: the first half of 2023, verified.
H1 = {"monitoring_start": "2023-01-01", "monitoring_end": "2023-06-30", "verification_reference": "VR-2023-H1",
      "verification_body": "VVB hf.", "verified_on": "2023-09-01"}
JULY = {**H1, "monitoring_start": "2023-07-01", "monitoring_end": "2023-07-31", "verification_reference": "VR-2023-07"}


@pytest.fixture
def api(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    create_schema(engine)
    with transaction(engine) as s:
        _, admin_key = create_api_key(s, name="registry operator", role=ApiKeyRole.administrator)
    with TestClient(create_app(engine)) as client:
        client.engine = engine
        client.admin = {"X-API-Key": admin_key}
        yield client
    engine.dispose()


def ok(response, status=200):
    assert response.status_code == status, response.json()
    return response.json()


def problem(response, status):
    assert response.status_code == status, response.json()
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


@pytest.fixture
def world(api):
    """Two organizations with keys and accounts, a project and 1,000 ICCs in org one's account."""
    admin = api.admin
    one = ok(api.post("/organizations", json={"name": "Nordic Removals hf."}, headers=admin), 201)
    two = ok(api.post("/organizations", json={"name": "Buyer AG"}, headers=admin), 201)
    key_one = ok(api.post("/api-keys", json={"name": "one", "organization_id": one["id"]}, headers=admin), 201)["key"]
    key_two = ok(api.post("/api-keys", json={"name": "two", "organization_id": two["id"]}, headers=admin), 201)["key"]
    h1, h2 = {"X-API-Key": key_one}, {"X-API-Key": key_two}
    acc_one = ok(api.post(f"/organizations/{one['id']}/accounts", json={"name": "main"}, headers=h1), 201)
    acc_two = ok(api.post(f"/organizations/{two['id']}/accounts", json={"name": "main"}, headers=h2), 201)
    buffer = ok(api.post("/system-accounts", json={"name": "buffer", "type": "buffer"}, headers=admin), 201)
    project = ok(api.post("/projects", json={"project_number": 78040, "name": "Glacier", "country": "ISL",
                                             "dial_code": "354", "sector": 14, "credit_type": "R",
                                             "methodology": "ICR-M-1"}, headers=admin), 201)
    issuance = ok(api.post("/issuances", json={"project_id": project["id"], "vintage": 2023, "quantity": 1000,
                                               "account_id": acc_one["id"], **H1}, headers=admin), 201)
    return dict(one=one, two=two, h1=h1, h2=h2, acc_one=acc_one["id"], acc_two=acc_two["id"], buffer=buffer["id"],
                project=project["id"], issuance=issuance, key_one=key_one)


# --------------------------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------------------------


def test_a_write_without_a_key_is_401(api, world):
    body = problem(api.post("/retirements", json={"account_id": world["acc_one"], "serialization": S23,
                                                  "quantity": 1}), 401)
    assert body["rule"] == "api-key-required" and body["field"] == "X-API-Key"
    assert api.post("/retirements", json={}).headers["www-authenticate"].startswith("ApiKey")


@pytest.mark.parametrize("key", ["nonsense", "icr_000000000000_" + "A" * 43])
def test_a_malformed_or_unknown_key_is_401(api, world, key):
    body = problem(api.post("/transfers", json={}, headers={"X-API-Key": key}), 401)
    assert body["rule"] == "api-key-invalid"


def test_a_key_with_the_right_id_but_wrong_secret_is_401(api, world):
    key = world["key_one"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert problem(api.get("/api-keys", headers={"X-API-Key": forged}), 401)["rule"] == "api-key-invalid"


def test_keys_are_stored_hashed_and_revocation_is_immediate(api, world):
    key = world["key_one"]
    with Session(api.engine) as s:
        rows = s.exec(select(ApiKey)).all()
    assert all(key not in (r.key_hash, r.key_id, r.name) for r in rows)
    row = next(r for r in rows if key.startswith(f"icr_{r.key_id}_"))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    ok(api.get("/api-keys", headers=world["h1"]))
    ok(api.delete(f"/api-keys/{row.id}", headers=world["h1"]))  # an organization revokes its own key
    assert problem(api.get("/api-keys", headers=world["h1"]), 401)["rule"] == "api-key-invalid"


# --------------------------------------------------------------------------------------------
# Authorization
# --------------------------------------------------------------------------------------------


def test_an_organization_cannot_act_on_another_organizations_accounts(api, world):
    h2 = world["h2"]
    cases = [
        api.post("/retirements", json={"account_id": world["acc_one"], "serialization": S23, "quantity": 1},
                 headers=h2),
        api.post("/transfers", json={"from_account_id": world["acc_one"], "to_account_id": world["acc_two"],
                                     "serialization": S23, "quantity": 1}, headers=h2),
        api.post(f"/organizations/{world['one']['id']}/accounts", json={"name": "sneaky"}, headers=h2),
        api.get(f"/accounts/{world['acc_one']}/wallets", headers=h2),
        api.get("/transfers", params={"account_id": world["acc_one"]}, headers=h2),
        api.post("/api-keys", json={"name": "x", "organization_id": world["one"]["id"]}, headers=h2),
        api.post("/tokenizations", json={"account_id": world["acc_one"], "wallet": "0x" + "11" * 20,
                                         "serialization": S23, "quantity": 1, "custody_account_id": 1}, headers=h2),
    ]
    for response in cases:
        body = problem(response, 403)
        assert body["rule"] == "own-accounts-only", body
    # nothing moved
    balances = ok(api.get("/balances", params={"account_id": world["acc_one"]}))["items"]
    assert [(b["status"], b["quantity"]) for b in balances] == [("active", 1000)]


def test_an_organization_cannot_use_registry_accounts(api, world):
    body = problem(api.post("/transfers", json={"from_account_id": world["buffer"], "to_account_id": world["acc_one"],
                                                "serialization": S23, "quantity": 1}, headers=world["h1"]), 403)
    assert body["rule"] == "own-accounts-only" and body["field"] == "from_account_id"
    body = problem(api.post("/transfers", json={"from_account_id": world["acc_one"], "to_account_id": world["buffer"],
                                                "serialization": S23, "quantity": 1}, headers=world["h1"]), 403)
    assert body["rule"] == "administrator-only" and body["field"] == "to_account_id"


@pytest.mark.parametrize("method, path, body", [
    ("post", "/organizations", {"name": "X"}),
    ("post", "/system-accounts", {"name": "b", "type": "buffer"}),
    ("post", "/projects", {"project_number": 1, "name": "p", "country": "ISL", "dial_code": "354", "sector": 1,
                           "credit_type": "R", "methodology": "m"}),
    ("post", "/issuances", {"project_id": 1, "vintage": 2023, "quantity": 1, "account_id": 1, **JULY}),
    ("post", "/issuances/1/conversions", {"verified_quantity": 1, "verification_reference": "v",
                                          "verification_body": "b", "verified_on": "2023-09-01",
                                          "monitoring_start": "2023-01-01", "monitoring_end": "2023-01-31"}),
    ("post", "/cancellations", {"account_id": 1, "serialization": S23, "quantity": 1, "reason": "correction"}),
    ("post", "/api-keys", {"name": "root", "role": "administrator"}),
])
def test_administrator_only_operations(api, world, method, path, body):
    response = getattr(api, method)(path, json=body, headers=world["h1"])
    assert problem(response, 403)["rule"] == "administrator-only"


def test_reads_stay_public(api, world):
    for path in ("/organizations", "/accounts", "/balances", "/projects", "/serial-blocks", "/issuances",
                 "/retirements", "/cancellations", "/ledger/verify", "/ledger/entries", f"/accounts/{world['acc_one']}"):
        ok(api.get(path))


# --------------------------------------------------------------------------------------------
# The lifecycle through the API
# --------------------------------------------------------------------------------------------


def test_transfer_retire_and_cancel_through_the_api(api, world):
    h1, h2 = world["h1"], world["h2"]
    t = ok(api.post("/transfers", json={"from_account_id": world["acc_one"], "to_account_id": world["acc_two"],
                                        "serialization": S23, "quantity": 250}, headers=h1), 201)
    assert t["serial_blocks"] == [f"{S23}-000001-000250"]
    r = ok(api.post("/retirements", json={
        "account_id": world["acc_two"], "serialization": "icr" + S23[3:], "quantity": 100,
        "beneficiary_name": "Reykjavik Ferries", "consumption_start": "2024-01-01", "consumption_end": "2024-12-31",
        "jurisdiction": "ISL", "comment": "2024 crossings"}, headers=h2), 201)
    assert r["serial_blocks"] == [f"{S23}-000001-000100"] and r["retiree"] == "Buyer AG"
    assert ok(api.get(f"/retirements/{r['id']}"))["consumption_end"] == "2024-12-31"
    # both organizations involved see the transfer in their history, and so does the administrator
    assert ok(api.get("/transfers", headers=h2))["page"]["total"] == 1
    assert ok(api.get("/transfers", headers=h1))["page"]["total"] == 1
    assert ok(api.get("/transfers", headers=api.admin))["page"]["total"] == 1
    c = ok(api.post("/cancellations", json={"account_id": world["acc_one"], "serialization": S23, "quantity": 10,
                                            "reason": "correction", "note": "issuance error"},
                    headers=api.admin), 201)
    assert c["serial_blocks"] == [f"{S23}-000251-000260"] and c["reason"] == "correction"
    assert ok(api.get("/cancellations"))["items"][0]["id"] == c["id"]
    status = ok(api.get("/ledger/verify"))
    assert status["ok"] and status["balances_ok"] and status["moves_replayed"] == 4


def test_refusals_are_problems_naming_the_rule_or_field(api, world):
    h1 = world["h1"]
    body = problem(api.post("/retirements", json={"account_id": world["acc_one"], "serialization": S23,
                                                  "quantity": 1001}, headers=h1), 422)
    assert body["rule"] == "sufficient-credits" and body["field"] == "quantity"
    body = problem(api.post("/retirements", json={"account_id": world["acc_one"], "serialization": S23,
                                                  "quantity": 1, "purpose": "corsia"}, headers=h1), 422)
    assert body["rule"] == "purpose-authorized-for-class" and body["field"] == "purpose"
    body = problem(api.post("/retirements", json={"account_id": world["acc_one"], "serialization": "ICR-XX",
                                                  "quantity": 1}, headers=h1), 422)
    assert body["field"] == "serialization"
    body = problem(api.post("/retirements", json={"account_id": world["acc_one"], "serialization": S23,
                                                  "quantity": 0}, headers=h1), 422)
    assert body["field"] == "quantity"
    body = problem(api.post("/issuances", json={"project_id": world["project"], "vintage": 2023, "quantity": 5,
                                                "account_id": world["acc_one"], "first_unit": 999, **JULY},
                            headers=api.admin), 409)
    assert body["rule"] == "no-overlapping-serials"
    body = problem(api.post("/transfers", json={"from_account_id": world["acc_one"], "to_account_id": 999,
                                                "serialization": S23, "quantity": 1}, headers=h1), 404)
    assert body["field"] == "to_account_id"


def test_ex_ante_issuance_and_conversion_through_the_api(api, world):
    admin = api.admin
    ex_ante = ok(api.post("/issuances", json={"project_id": world["project"], "vintage": 2023, "quantity": 100,
                                              "account_id": world["acc_one"], "kind": "ex_ante",
                                              "monitoring_start": "2023-08-01", "monitoring_end": "2023-12-31"},
                          headers=admin), 201)
    assert (ex_ante["monitoring_start"], ex_ante["verification_reference"]) == ("2023-08-01", None)
    assert ex_ante["serial_block"] == f"{S23}-001001-001100" and ex_ante["kind"] == "ex_ante"
    # inactive credits cannot be retired
    body = problem(api.post("/retirements", json={"account_id": world["acc_one"], "serialization": S23,
                                                  "quantity": 1001}, headers=world["h1"]), 422)
    assert body["rule"] == "sufficient-credits"
    conv = ok(api.post(f"/issuances/{ex_ante['id']}/conversions",
                       json={"verified_quantity": 90, "final": True, "verification_reference": "VR-1",
                             "verification_body": "VVB hf.", "verified_on": "2024-02-01",
                             "monitoring_start": "2023-08-01", "monitoring_end": "2023-10-31"}, headers=admin), 201)
    assert (conv["monitoring_start"], conv["verification_body"]) == ("2023-08-01", "VVB hf.")
    assert conv["converted_serial_blocks"] == [f"{S23}-001001-001090"] and conv["shortfall_cancelled"] == 10
    assert ok(api.get(f"/issuances/{ex_ante['id']}"))["closed"] is True
    body = problem(api.post(f"/issuances/{ex_ante['id']}/conversions",
                            json={"verified_quantity": 1, "verification_reference": "VR-2",
                                  "verification_body": "VVB hf.", "verified_on": "2024-02-01",
                                  "monitoring_start": "2023-11-01", "monitoring_end": "2023-12-31"}, headers=admin), 422)
    assert body["rule"] == "ex-ante-issuance-closed"
    balances = ok(api.get("/balances", params={"account_id": world["acc_one"]}))["items"]
    assert [(b["status"], b["quantity"]) for b in balances] == [("active", 1090)]
    # blocks of different issuances stay apart even when they touch (each block names its issuance)
    blocks = ok(api.get("/serial-blocks", params={"account_id": world["acc_one"]}))["items"]
    assert [(b["unit_first"], b["unit_last"]) for b in blocks] == [(1, 1000), (1001, 1090)]


def test_wallet_link_and_tokenization_through_the_api(api, world):
    wallet = EthAccount.create()
    now = int(time.time())
    address, signature = sign_wallet_link(wallet.key, world["acc_one"], now)
    link = ok(api.post(f"/accounts/{world['acc_one']}/wallets",
                       json={"wallet": address, "signed_at": now, "signature": signature}, headers=world["h1"]), 201)
    assert link["wallet"] == address
    assert ok(api.get(f"/accounts/{world['acc_one']}/wallets", headers=world["h1"]))["page"]["total"] == 1
    body = {"account_id": world["acc_one"], "wallet": address, "serialization": S23, "quantity": 400}
    # no custody account named: the registry's only one is the default; none or several is a 422
    refused = problem(api.post("/tokenizations", json=body, headers=world["h1"]), 422)
    assert (refused["field"], refused["rule"]) == ("custody_account_id", "custody-account-required")
    custody = ok(api.post("/system-accounts", json={"name": "custody", "type": "bridge_custody"},
                          headers=api.admin), 201)
    t = ok(api.post("/tokenizations", json=body, headers=world["h1"]), 201)
    assert t["serial_blocks"] == [f"{S23}-000001-000400"] and t["status"] == "pending"
    assert t["token_id_hex"] == f"{int(t['token_id']):064x}"
    ok(api.post("/system-accounts", json={"name": "custody 2", "type": "bridge_custody"}, headers=api.admin), 201)
    assert "several" in problem(api.post("/tokenizations", json=body, headers=world["h1"]), 422)["detail"]
    named = ok(api.post("/tokenizations", json={**body, "quantity": 1, "custody_account_id": custody["id"]},
                        headers=world["h1"]), 201)
    assert named["serial_blocks"] == [f"{S23}-000401-000401"]
    assert ok(api.get(f"/tokenizations/{t['id']}", headers=world["h1"]))["quantity"] == 400
    assert problem(api.get(f"/tokenizations/{t['id']}", headers=world["h2"]), 403)["rule"] == "own-accounts-only"


def test_bulk_tokenization_through_the_api_is_all_or_nothing(api, world):
    wallet = EthAccount.create()
    now = int(time.time())
    address, signature = sign_wallet_link(wallet.key, world["acc_one"], now)
    ok(api.post(f"/accounts/{world['acc_one']}/wallets",
                json={"wallet": address, "signed_at": now, "signature": signature}, headers=world["h1"]), 201)
    ok(api.post("/system-accounts", json={"name": "custody", "type": "bridge_custody"}, headers=api.admin), 201)
    item = {"account_id": world["acc_one"], "wallet": address, "serialization": S23}
    balance = lambda: ok(api.get("/balances", params={"account_id": world["acc_one"]}))["items"]  # noqa: E731
    before = balance()
    refused = problem(api.post("/tokenizations/bulk", json={"requests": [
        {**item, "quantity": 600}, {**item, "quantity": 500}, {**item, "quantity": 10, "wallet": "0x" + "11" * 20},
        {**item, "quantity": 5, "serialization": "ICR-ISL-354-78040-14-R-0-2019"}, {**item, "quantity": 400},
    ]}, headers=world["h1"]), 422)
    assert refused["rule"] == "bulk-atomic"
    assert [(p["index"], p["status"], p.get("rule")) for p in refused["problems"]] == [
        (1, 422, "sufficient-active-credits"), (2, 422, "wallet-must-be-linked"), (3, 404, None)]
    assert balance() == before  # nothing applied
    made = ok(api.post("/tokenizations/bulk", json={"requests": [{**item, "quantity": 600}, {**item, "quantity": 1},
                                                                 {**item, "quantity": 399}]},
                       headers=world["h1"]), 201)["tokenizations"]
    assert [t["serial_blocks"] for t in made] == [[f"{S23}-000001-000600"], [f"{S23}-000601-000601"],
                                                  [f"{S23}-000602-001000"]]
    assert [ok(api.get(f"/tokenizations/{t['id']}", headers=world["h1"]))["quantity"] for t in made] == [600, 1, 399]
    # the key's own accounts only, a bounded count, and the OpenAPI document names the problems
    assert problem(api.post("/tokenizations/bulk", json={"requests": [{**item, "quantity": 1}]},
                            headers=world["h2"]), 403)["rule"] == "own-accounts-only"
    assert problem(api.post("/tokenizations/bulk", json={"requests": [{**item, "quantity": 1}] * 1001},
                            headers=world["h1"]), 422)["field"] == "requests"
    assert problem(api.post("/tokenizations/bulk", json={"requests": []}, headers=world["h1"]), 422)
    operation = api.get("/openapi.json").json()["paths"]["/tokenizations/bulk"]["post"]
    assert "All or nothing" in operation["description"]
    assert operation["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/BulkProblem")


def test_key_management(api, world):
    h1 = world["h1"]
    created = ok(api.post("/api-keys", json={"name": "rotation", "organization_id": world["one"]["id"]}, headers=h1),
                 201)
    assert created["key"].startswith(f"icr_{created['key_id']}_")
    ok(api.get("/organizations", headers={"X-API-Key": created["key"]}))
    own = ok(api.get("/api-keys", headers=h1))
    assert {k["organization_id"] for k in own["items"]} == {world["one"]["id"]} and "key" not in own["items"][0]
    assert ok(api.get("/api-keys", headers=api.admin))["page"]["total"] == 4
    body = problem(api.post("/api-keys", json={"name": "x", "role": "organization"}, headers=api.admin), 422)
    assert body["rule"] == "key-scope"


# --------------------------------------------------------------------------------------------
# Pagination and the OpenAPI document
# --------------------------------------------------------------------------------------------


def test_every_list_is_paginated(api, world):
    for i in range(3):
        ok(api.post(f"/organizations/{world['one']['id']}/accounts", json={"name": f"extra {i}"}, headers=world["h1"]),
           201)
    first = api.get("/accounts", params={"limit": 4})  # 2 + 3 holding accounts and the buffer
    assert first.json()["page"] == {"offset": 0, "limit": 4, "total": 6} and len(first.json()["items"]) == 4
    assert first.headers["x-total-count"] == "6"
    assert 'rel="next"' in first.headers["link"] and "offset=4" in first.headers["link"]
    last = api.get("/accounts", params={"limit": 4, "offset": 4})
    assert len(last.json()["items"]) == 2 and "link" not in last.headers
    assert {a["id"] for a in first.json()["items"]}.isdisjoint(a["id"] for a in last.json()["items"])
    page = api.get("/ledger/entries", params={"limit": 3})
    assert len(page.json()["items"]) == 3 and page.json()["page"]["total"] > 3 and page.json()["items"][0]["seq"] == 1
    assert page.headers["x-total-count"] == str(page.json()["page"]["total"])
    assert ok(api.get("/organizations"))["page"] == {"offset": 0, "limit": DEFAULT_LIMIT, "total": 2}
    assert problem(api.get("/issuances", params={"limit": 501}), 422)["field"] == "limit"


def test_openapi_documents_the_writes_and_the_key(api):
    doc = ok(api.get("/openapi.json"))
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": doc["components"]["securitySchemes"]["ApiKey"]["description"]}
    for path, method in [("/transfers", "post"), ("/retirements", "post"), ("/cancellations", "post"),
                         ("/issuances", "post"), ("/issuances/{issuance_id}/conversions", "post"),
                         ("/api-keys", "post"), ("/organizations", "post"), ("/system-accounts", "post")]:
        operation = doc["paths"][path][method]
        assert operation["security"] == [{"ApiKey": []}], path
        assert {"401", "403"} <= set(operation["responses"]), path
    for name in ("TransferCreate", "TransferPublic", "RetirementCreate", "RetirementPublic", "CancellationCreate",
                 "CancellationPublic", "IssuanceCreate", "IssuancePublic", "ApiKeyCreate", "ApiKeyPublic"):
        assert name in doc["components"]["schemas"], name


# --------------------------------------------------------------------------------------------
# Unit holds
# --------------------------------------------------------------------------------------------


def test_a_hold_stops_use_of_its_units_shows_in_blocks_and_balances_and_is_released(api, world):
    body = {"account_id": world["acc_one"], "serialization": S23, "quantity": 900, "reason": "KYC case 12",
            "reference": "KYC-12"}
    assert problem(api.post("/holds", json=body, headers=world["h1"]), 403)["rule"] == "administrator-only"
    hold = ok(api.post("/holds", json=body, headers=api.admin), 201)
    assert (hold["status"], hold["origin"], hold["serial_blocks"]) == ("placed", "operator", [f"{S23}-000001-000900"])
    blocks = ok(api.get("/serial-blocks", params={"account_id": world["acc_one"], "status": "held"}))["items"]
    assert [(b["unit_first"], b["unit_last"], b["hold_id"]) for b in blocks] == [(1, 900, hold["id"])]
    balances = ok(api.get("/balances", params={"account_id": world["acc_one"]}))["items"]
    assert sorted((b["status"], b["quantity"]) for b in balances) == [("active", 100), ("held", 900)]
    refused = problem(api.post("/retirements", json={"account_id": world["acc_one"], "serialization": S23,
                                                     "quantity": 101}, headers=world["h1"]), 422)
    assert refused["rule"] == "unit-held" and f"hold {hold['id']}" in refused["detail"]
    transfer = {"from_account_id": world["acc_one"], "to_account_id": world["acc_two"], "serialization": S23,
                "quantity": 101}
    assert problem(api.post("/transfers", json=transfer, headers=world["h1"]), 422)["rule"] == "unit-held"
    assert ok(api.get(f"/holds/{hold['id']}"))["quantity"] == 900
    assert [h["id"] for h in ok(api.get("/holds", params={"status": "placed"}))["items"]] == [hold["id"]]
    released = ok(api.post(f"/holds/{hold['id']}/release", json={"note": "cleared"}, headers=api.admin))
    assert (released["status"], released["serial_blocks"]) == ("released", [])
    assert problem(api.post(f"/holds/{hold['id']}/release", json={"note": "again"}, headers=api.admin),
                   409)["rule"] == "hold-released"
    ok(api.post("/transfers", json=transfer, headers=world["h1"]), 201)
    assert ok(api.get("/ledger/verify"))["ok"]


def test_hold_refusals_are_problems_naming_the_rule(api, world):
    body = {"account_id": world["acc_one"], "serialization": S23, "quantity": 1001, "reason": "KYC"}
    assert problem(api.post("/holds", json=body, headers=api.admin), 422)["rule"] == "sufficient-active-credits"
    body.update(quantity=5, reason="   ")
    assert problem(api.post("/holds", json=body, headers=api.admin), 422)["rule"] == "hold-reason"
    assert problem(api.post("/holds/999/release", json={"note": "x"}, headers=api.admin), 404)["field"] == "hold_id"
    assert ok(api.get("/holds"))["page"]["total"] == 0
