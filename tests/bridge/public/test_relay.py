"""Gasless retirement: a marketplace posts the holder's EIP-712 signature, the bridge's relayer
pays the gas, the sync records the retirement, and the certificate token links to it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.chain.client import eth_tester_web3
from bridge.chain.retire_signature import RetireRequest, sign_retirement
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine.cycle import run_cycle
from bridge.webhooks.tables import WebhookEvent
from registry.api.auth import create_api_key
from registry.db import transaction
from registry.domain.classes import Purpose
from registry.domain.enums import ApiKeyRole
from registry.tables.core import Retirement
from tests.support.world import make_world, seeded


@pytest.fixture
def relayed(sqlite_engine):
    world = make_world(sqlite_engine, eth_tester_web3(), seed="relay")
    world.tokenize(200)
    run_cycle(sqlite_engine, world.chain, world.keys)
    with transaction(sqlite_engine) as s:
        _, key = create_api_key(s, name="marketplace", role=ApiKeyRole.administrator)
    client = TestClient(create_app(sqlite_engine, chains=[world.chain], relayer=world.keys.relayer))
    client.headers["X-API-Key"] = key
    return world, client


def _body(world, amount=25, nonce=None, deadline=None, signer=None, data=b"", beneficiary=None,
          retiree_name="Marketplace buyer"):
    token = world.chain.token
    if nonce is None:
        nonce = token.functions.nonces(world.holder.address).call()
    if deadline is None:
        deadline = world.chain.w3.eth.get_block("latest")["timestamp"] + 3600
    request = RetireRequest(holder=world.holder.address, token_id=world.token_id, amount=amount, nonce=nonce,
                            deadline=deadline, beneficiary=beneficiary, retiree_name=retiree_name,
                            comment="retired through a marketplace", data=data)
    if signer is None:
        signature = sign_retirement(world.holder, request, world.chain.chain_id, world.chain.address)
    else:  # someone else signs the holder's request
        signature = _foreign_signature(signer, request, world)
    return {"chain_id": world.chain.chain_id, "holder": request.holder, "token_id": world.token_id,
            "amount": amount, "beneficiary": beneficiary, "retiree_name": request.retiree_name,
            "comment": request.comment, "data": "0x" + data.hex(), "nonce": nonce, "deadline": deadline,
            "signature": "0x" + signature.hex()}


def _foreign_signature(signer, request, world) -> bytes:
    from eth_account.messages import encode_typed_data

    from bridge.chain.retire_signature import retire_typed_data

    typed = retire_typed_data(request, world.chain.chain_id, world.chain.address)
    return bytes(signer.sign_message(encode_typed_data(full_message=typed)).signature)


def test_relayed_retirement_is_gasless_synced_and_certified(relayed):
    world, client = relayed
    w3 = world.chain.w3
    eth_before = w3.eth.get_balance(world.holder.address)
    relayer_before = w3.eth.get_balance(world.keys.relayer.address)
    response = client.post("/relay/retirements", json={**_body(world), "token_id": hex(world.token_id)})  # or decimal
    assert response.status_code == 202, response.text
    relayed_tx = response.json()
    assert relayed_tx["amount"] == 25 and relayed_tx["gas_used"] > 0
    assert (relayed_tx["token_id"], relayed_tx["token_id_hex"]) == (str(world.token_id), f"{world.token_id:064x}")
    assert relayed_tx["certificate_token_id_hex"] == f"{int(relayed_tx['certificate_token_id']):064x}"
    assert w3.eth.get_balance(world.holder.address) == eth_before  # the holder paid nothing
    assert w3.eth.get_balance(world.keys.relayer.address) < relayer_before
    assert world.chain.token.functions.balanceOf(world.holder.address, world.token_id).call() == 175
    certificate = int(relayed_tx["certificate_token_id"])
    assert world.chain.token.functions.balanceOf(world.holder.address, certificate).call() == 1
    # Not in the registry until the sync applies the event ...
    assert client.get(relayed_tx["certificate_metadata_url"]).status_code == 404
    run_cycle(world.engine, world.chain, world.keys)
    with Session(world.engine) as s:
        retirement = s.exec(select(Retirement)).one()
        assert retirement.tx_hash == relayed_tx["tx_hash"] and retirement.holder_wallet == world.holder.address
        assert retirement.beneficiary_name == "Marketplace buyer" and retirement.quantity == 25
        assert s.exec(select(WebhookEvent.kind).order_by(WebhookEvent.id)).all() == ["tokenization.minted",
                                                                                 "retirement.recorded"]
    # ... then the certificate token's metadata links to the registry certificate.
    meta = client.get(relayed_tx["certificate_metadata_url"]).json()
    assert meta["properties"]["retirement_id"] == retirement.id
    assert client.get(meta["external_url"]).status_code == 200
    # The same signature again: its nonce is used up.
    again = client.post("/relay/retirements", json=_body(world, nonce=0))
    assert again.status_code == 409 and again.json()["field"] == "nonce"


def test_relay_refuses_before_paying_gas(relayed):
    world, client = relayed
    relayer_before = world.chain.w3.eth.get_balance(world.keys.relayer.address)
    cases = [
        (_body(world, signer=seeded("relay/stranger")), 422, "signature", "signature-by-holder"),
        (_body(world, deadline=1), 422, "deadline", "signature-not-expired"),
        (_body(world, nonce=5), 422, "nonce", "nonce-current"),
        (_body(world, amount=201), 422, "amount", "holder-balance"),
        # Simulated on-chain: a CORSIA retirement of a class authorized for voluntary use only.
        (_body(world, data=encode_retirement_data(RetirementData(purpose=Purpose.corsia))), 422, "data",
         "PurposeNotAuthorized"),
        # ... details the registry would refuse, and texts it could not store (500 characters, 1,000 bytes)
        (_body(world, data=encode_retirement_data(RetirementData(consumption_start=9, consumption_end=8))), 422,
         "data", "ConsumptionPeriodReversed"),
        (_body(world, data=encode_retirement_data(RetirementData(organization_id="o" * 101))), 422, "data",
         "RetirementTextTooLong"),
        (_body(world, retiree_name="é" * 500), 422, "retiree_name", "RetirementTextTooLong"),
        ({**_body(world), "token_id": world.token_id + 1}, 404, "token_id", None),
        ({**_body(world), "token_id": "0xzz"}, 422, "token_id", None),
        ({**_body(world), "chain_id": 1}, 404, "chain_id", None),
        ({**_body(world), "data": "0xzz"}, 422, "data", None),
        ({**_body(world), "holder": "0x1234"}, 422, "holder", None),
    ]
    for body, status, field, rule in cases:
        response = client.post("/relay/retirements", json=body)
        assert response.status_code == status, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["field"] == field, problem
        if rule:
            assert problem["rule"] == rule, problem
    assert world.chain.w3.eth.get_balance(world.keys.relayer.address) == relayer_before  # no gas spent
    # After all those refusals the relay still works (the relayer's nonces are in order).
    assert client.post("/relay/retirements", json=_body(world, amount=5)).status_code == 202
    assert client.post("/relay/retirements", json=_body(world, amount=5)).status_code == 202


def test_relay_needs_a_key_and_a_configured_relayer(relayed, sqlite_engine):
    world, client = relayed
    body = _body(world)
    assert client.post("/relay/retirements", json=body, headers={"X-API-Key": ""}).status_code == 401
    with transaction(sqlite_engine) as s:
        _, key = create_api_key(s, name="admin 2", role=ApiKeyRole.administrator)
    without_relayer = TestClient(create_app(sqlite_engine, chains=[world.chain]))
    response = without_relayer.post("/relay/retirements", json=body, headers={"X-API-Key": key})
    assert response.status_code == 503 and response.json()["field"] == "chain_id"


@pytest.mark.parametrize("signature, detail", [
    ("0x" + "00" * 65, "does not recover to an account"),
    ("0x" + "11" * 64, "65 bytes (r, s, v), not 64"),
    ("0x" + "22" * 66, "not 66"),
])
def test_a_malformed_signature_is_refused_as_input(relayed, signature, detail):
    world, client = relayed
    response = client.post("/relay/retirements", json={**_body(world), "signature": signature})
    assert response.status_code == 422 and response.json()["field"] == "signature"
    assert detail in response.json()["detail"]


def test_oversized_data_is_refused_before_anything_is_checked(relayed):
    world, client = relayed
    response = client.post("/relay/retirements", json={**_body(world), "data": "0x" + "00" * 100_000})
    assert response.status_code == 422 and response.json()["field"] == "data"


def test_a_relay_that_reverts_when_sent_is_a_conflict_and_the_holder_pauses(relayed, monkeypatch):
    """The holder moves the tokens away between the relay's checks and its transaction (simulated:
    the checks and the simulation run before the transfer). The answer is 409, not a 500 claiming
    nothing changed, and the same body sent again is refused without costing the relayer gas."""
    from bridge.public import relay

    world, client = relayed
    body = _body(world, amount=150)
    real_check = relay.Relay.check

    def check_then_move(self, chain, request, signature):
        real_check(self, chain, request, signature)
        monkeypatch.setattr(type(chain), "call", lambda *a, **k: None)  # the simulation saw the old state
        monkeypatch.setattr(type(chain), "estimate_gas", lambda *a, **k: 200_000)
        world.transfer(world.holder, world.others[0].address, 100)

    monkeypatch.setattr(relay.Relay, "check", check_then_move)
    response = client.post("/relay/retirements", json=body)
    assert response.status_code == 409 and response.json()["rule"] == "relay-reverted", response.text
    monkeypatch.undo()
    relayer_before = world.chain.w3.eth.get_balance(world.keys.relayer.address)
    again = client.post("/relay/retirements", json=_body(world, amount=50))
    assert again.status_code == 429 and again.json()["rule"] == "holder-cooling-down"
    assert world.chain.w3.eth.get_balance(world.keys.relayer.address) == relayer_before


# ------------------------------------------------------------------------------ gas budgets
class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_gas_budget_reserves_refuses_with_the_wait_and_slides():
    from bridge.public.relay import GasBudget, RelayBudgetSpent

    clock = _Clock()
    budget = GasBudget(per_holder=300_000, per_key=1_000_000, window=3600, clock=clock)
    first = budget.reserve("0xA", "k1", 200_000)
    clock.now += 600
    budget.reserve("0xA", "k1", 100_000)  # exactly the holder's budget
    with pytest.raises(RelayBudgetSpent) as refused:
        budget.reserve("0xA", "k1", 50_000)
    assert refused.value.field == "holder" and refused.value.status == 429
    assert refused.value.headers["Retry-After"] == "3001"  # the first spending leaves the window in 3000 s
    budget.settle(first, 120_000)  # the receipt used less than reserved
    budget.reserve("0xA", "k1", 80_000)
    budget.reserve("0xB", "k1", 300_000)  # another holder, the same key
    clock.now += 3600  # everything above is an hour old
    budget.reserve("0xA", "k1", 300_000)


def test_the_key_budget_spans_holders_and_a_retirement_over_any_budget_is_refused_as_input():
    from bridge.public.relay import GasBudget, RelayBudgetSpent
    from registry.errors import RuleViolation

    budget = GasBudget(per_holder=500_000, per_key=600_000, clock=_Clock())
    budget.reserve("0xA", "marketplace", 300_000)
    budget.reserve("0xB", "marketplace", 300_000)
    with pytest.raises(RelayBudgetSpent) as refused:
        budget.reserve("0xC", "marketplace", 1)
    assert refused.value.field == "api_key"
    budget.reserve("0xC", "other-key", 300_000)  # another key's budget is its own
    with pytest.raises(RuleViolation) as too_big:
        budget.reserve("0xD", "other-key", 500_001)
    assert too_big.value.rule == "relay-gas-budget" and too_big.value.status == 422


def test_a_holder_past_the_gas_budget_gets_429_with_retry_after_and_the_relayer_pays_nothing(relayed):
    from bridge.public.relay import GasBudget

    world, client = relayed
    relay = client.app.state.relay
    relay.budget = GasBudget(per_holder=250_000, per_key=10_000_000)  # room for one relayed retirement (~126k)
    first = client.post("/relay/retirements", json=_body(world, amount=10))
    assert first.status_code == 202, first.text
    relayer_before = world.chain.w3.eth.get_balance(world.keys.relayer.address)
    again = client.post("/relay/retirements", json=_body(world, amount=10))
    assert again.status_code == 429, again.text
    assert again.json()["rule"] == "relay-gas-budget" and again.json()["field"] == "holder"
    assert 3000 < int(again.headers["retry-after"]) <= 3601
    assert world.chain.w3.eth.get_balance(world.keys.relayer.address) == relayer_before
