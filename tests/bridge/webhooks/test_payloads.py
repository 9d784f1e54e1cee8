"""Every webhook payload the bridge sends, produced by real state changes (a mint, a retirement,
a finalized and a rejected redemption, a revoked batch, and a chain reorganization undoing each
of them), delivered over HTTP to a receiver that verifies the Standard Webhooks signature with
the algorithm written here from the Standard (not the bridge's code), and validated against the
JSON Schemas the OpenAPI document publishes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler

import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.chain.client import eth_tester_web3
from bridge.engine.cycle import run_cycle
from bridge.engine.undoers import UNDOERS
from bridge.tables import ChainEvent, Deployment
from bridge.webhooks.tables import EventKind, WebhookEvent
from bridge.webhooks.worker import deliver_due
from registry.db import transaction
from tests.bridge.engine.test_revocation import _revoked_world
from tests.bridge.webhooks.test_webhooks import PUBLIC_URL, SECRET, LocalServer, _holder_org, _subscribe
from tests.support.world import make_world

ALL_KINDS = [k.value for k in EventKind]


def standard_verify(secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: int = 300) -> dict:
    """Standard Webhooks verification, from the specification: the key is the base64 after
    ``whsec_``; the signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; the
    header holds space-separated ``v1,<base64 HMAC-SHA256>``; any v1 entry may match; the
    timestamp must be within ``tolerance`` seconds of the receiver's clock."""
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > tolerance:
        raise ValueError("timestamp outside the tolerance")
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    for entry in headers["webhook-signature"].split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return json.loads(body)
    raise ValueError("no matching signature")


class StandardReceiver(LocalServer):
    """A receiver that keeps the raw request (headers and body bytes) and answers 202 when the
    Standard Webhooks signature verifies under its secret, 403 otherwise."""

    def __init__(self, secret: str):
        self.secret = secret
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    standard_verify(receiver.secret, headers, body, time.time())
                    ok = True
                except (ValueError, KeyError):
                    ok = False
                receiver.requests.append((headers, body, ok))
                self.send_response(202 if ok else 403)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.serve(Handler)
        self.url = f"http://127.0.0.1:{self.port}/hook"


def _validator(document: dict, kind: str) -> jsonschema.Draft202012Validator:
    schema = document["webhooks"][kind]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def _undo_everything(engine) -> None:
    """What a reorganization to before the first applied event does: every undoer, newest first."""
    with transaction(engine) as s:
        deployment = s.exec(select(Deployment)).one()
        for event in s.exec(select(ChainEvent).order_by(ChainEvent.block_number.desc(), ChainEvent.log_index.desc())):
            UNDOERS[event.event](s, deployment, event)


def _events(engine) -> list[WebhookEvent]:
    with Session(engine) as s:
        return list(s.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


def test_every_payload_verifies_and_matches_its_published_schema(sqlite_engine):
    world = make_world(sqlite_engine, eth_tester_web3(), seed="payloads")
    org = _holder_org(world)
    with StandardReceiver(SECRET) as receiver:
        _subscribe(sqlite_engine, org, receiver.url, ALL_KINDS)
        world.tokenize(300)
        run_cycle(sqlite_engine, world.chain, world.keys)
        world.retire(world.holder, 40, name="Harbour Ferries")
        world.request_redemption(world.holder, 15)
        world.request_redemption(world.holder, 5, "999999")
        run_cycle(sqlite_engine, world.chain, world.keys)
        run_cycle(sqlite_engine, world.chain, world.keys)
        _undo_everything(sqlite_engine)
        report = deliver_due(sqlite_engine, public_url=PUBLIC_URL)
    events = _events(sqlite_engine)
    kinds = [e.kind for e in events]
    assert sorted(set(kinds)) == sorted({"tokenization.minted", "retirement.recorded", "redemption.finalized",
                                         "redemption.rejected", "retirement.retracted", "redemption.retracted",
                                         "tokenization.retracted"})
    assert kinds.count("redemption.retracted") == 2
    assert report.delivered == len(events) and all(ok for _, _, ok in receiver.requests)

    document = TestClient(create_app(sqlite_engine)).get("/openapi.json").json()
    by_id = {e.event_id: e for e in events}
    for headers, body, _ in receiver.requests:
        payload = json.loads(body)
        _validator(document, payload["event"]).validate(payload)
        assert headers["webhook-id"] == payload["id"] and headers["x-icr-event"] == payload["event"]
        event = by_id[payload["id"]]
        if "retracts" in payload["data"]:
            announced = by_id[payload["data"]["retracts"]["id"]]
            assert announced.subject == event.subject and announced.id < event.id
            assert payload["data"]["retracts"]["event"] == announced.kind
            assert announced.kind.split(".")[0] == payload["event"].split(".")[0]
    recorded = next(json.loads(b) for _, b, _ in receiver.requests if json.loads(b)["event"] == "retirement.recorded")
    retirement = recorded["data"]["retirement"]
    assert retirement["certificate"] == f"{PUBLIC_URL}/certificates/{retirement['id']}"
    assert retirement["links"]["json"] == f"{PUBLIC_URL}/certificates/{retirement['id']}.json"
    assert retirement["links"]["certificate_metadata"].startswith(f"{PUBLIC_URL}/metadata/8")  # bit 255 set
    # The signed copy carries the absolute links too.
    assert json.loads(base64.b64decode(recorded["signedData"]))["data"]["retirement"]["certificate"].startswith(PUBLIC_URL)
    # A payload that drifts from its schema fails it.
    drifted = {**recorded, "data": {"retirement": {**retirement, "surprise": 1}}}
    assert not _validator(document, "retirement.recorded").is_valid(drifted)


def test_a_returned_tokenization_and_its_retraction_match_their_schemas(sqlite_engine, w3):
    world, batch_id, a, b = _revoked_world(sqlite_engine, w3, "payloads-revoke")
    org = _holder_org(world)
    with StandardReceiver(SECRET) as receiver:
        _subscribe(sqlite_engine, org, receiver.url, ["tokenization.returned", "tokenization.retracted"])
        world.chain.transact(world.keys.admin, world.chain.token.functions.revokeBatch(batch_id), "revoke", gas=100_000)
        run_cycle(sqlite_engine, world.chain, world.keys)
        with transaction(sqlite_engine) as s:
            deployment = s.exec(select(Deployment)).one()
            revoked = s.exec(select(ChainEvent).where(ChainEvent.event == "BatchRevoked")).one()
            UNDOERS["BatchRevoked"](s, deployment, revoked)
        deliver_due(sqlite_engine, public_url=PUBLIC_URL)
    document = TestClient(create_app(sqlite_engine)).get("/openapi.json").json()
    payloads = [json.loads(body) for _, body, ok in receiver.requests if ok]
    assert sorted(p["event"] for p in payloads) == ["tokenization.retracted"] * 2 + ["tokenization.returned"] * 2
    for payload in payloads:
        _validator(document, payload["event"]).validate(payload)
    returned = {p["id"]: p for p in payloads if p["event"] == "tokenization.returned"}
    for retraction in (p for p in payloads if p["event"] == "tokenization.retracted"):
        assert retraction["data"]["retracts"]["id"] in returned
        assert retraction["data"]["tokenization"]["status"] == "batched"


def test_the_standard_signature_refuses_tampering_stale_timestamps_and_other_secrets(sqlite_engine):
    from bridge.webhooks.outbox import record_event
    from bridge.webhooks.signing import delivery_request
    from bridge.webhooks.tables import WebhookDelivery, WebhookSubscription
    from registry.tables.core import utcnow
    from tests.bridge.webhooks.test_webhooks import _orgs

    (org,) = _orgs(sqlite_engine, "Market")
    sub_id = _subscribe(sqlite_engine, org, "http://127.0.0.1:9/hook", ["retirement.recorded"])
    with transaction(sqlite_engine) as s:
        event = record_event(s, "retirement.recorded", {"retirement": {"certificate": "/certificates/1"}}, org)
    at = utcnow()
    with Session(sqlite_engine) as s:
        delivery = s.exec(select(WebhookDelivery)).one()
        body, headers = delivery_request(s.get(WebhookEvent, event.id), s.get(WebhookSubscription, sub_id), delivery,
                                         public_url=PUBLIC_URL, now=at)
    now = at.timestamp()
    assert standard_verify(SECRET, headers, body, now)["data"]["retirement"]["certificate"] == \
        f"{PUBLIC_URL}/certificates/1"
    assert headers["webhook-timestamp"] == str(int(now)) and len(headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(ValueError, match="no matching"):
        standard_verify(SECRET, headers, body.replace(b"/certificates/1", b"/certificates/2"), now)
    with pytest.raises(ValueError, match="tolerance"):
        standard_verify(SECRET, headers, body, now + 301)
    with pytest.raises(ValueError, match="no matching"):
        standard_verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body, now)


def test_a_ca_decision_is_announced_to_every_subscriber_and_matches_its_schema(sqlite_engine):
    """``ca_status.changed``: the registry's CA decisions (public, §II.2) reach every subscriber of
    the kind, whichever organization holds the class, once per change of status."""
    from bridge.webhooks.events import register_listeners
    from registry.operations.accounts import create_organization
    from tests.support.public_world import add_article6_class

    world = make_world(sqlite_engine, eth_tester_web3(), seed="payloads-ca")
    with transaction(sqlite_engine) as s:
        stranger = create_organization(s, "Marketplace without credits").id
    register_listeners()
    with StandardReceiver(SECRET) as receiver:
        _subscribe(sqlite_engine, stranger, receiver.url, ["ca_status.changed"])
        a6 = add_article6_class(world)  # its CA is confirmed applied for what was used
        deliver_due(sqlite_engine, public_url=PUBLIC_URL)
    payloads = [json.loads(body) for _, body, ok in receiver.requests if ok]
    assert [p["event"] for p in payloads] == ["ca_status.changed"]
    change = payloads[0]["data"]["caStatusChange"]
    assert (change["from"], change["to"], change["caStatus"]) == ("pending", "applied", "applied")
    assert change["tokenId"] == str(a6.token_id) and change["transition"] == "confirm_applied"
    assert change["classMetadata"] == f"{PUBLIC_URL}/metadata/{int(a6.token_id):064x}.json"
    document = TestClient(create_app(sqlite_engine)).get("/openapi.json").json()
    _validator(document, "ca_status.changed").validate(payloads[0])
    assert not _validator(document, "ca_status.changed").is_valid(
        {**payloads[0], "data": {"caStatusChange": {**change, "surprise": 1}}})
