"""Marketplace webhooks: the transactional outbox, ICR's signing scheme checked by a real HTTP
receiver written from ICR's documentation, retries with backoff through a receiver outage,
the delivery log, and manual redelivery through the API and the CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from bridge.app import create_app
from bridge.chain.anvil import free_port
from bridge.chain.client import eth_tester_web3
from bridge.cli.main import app as cli
from bridge.engine.cycle import run_cycle
from bridge.engine.undoers import undo_retired
from bridge.tables import ChainEvent, Deployment
from bridge.webhooks.outbox import record_event, redeliver
from bridge.webhooks.signing import signature, signed_data, verify_signature
from bridge.webhooks.subscriptions import create_subscription, update_subscription
from bridge.webhooks.tables import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEvent
from bridge.webhooks.worker import RetryPolicy, _claim_due, deliver_due, deliver_forever
from registry.api.auth import create_api_key
from registry.db import transaction
from registry.domain.enums import ApiKeyRole
from registry.errors import RuleViolation
from registry.operations.accounts import create_organization, open_account
from registry.operations.issuances import issue_ex_post
from registry.operations.preconditions import get_row
from registry.operations.projects import register_project
from registry.operations.retirements import retire
from registry.tables.core import Account, Organization, WalletLink, utcnow
from tests.support.periods import verified
from tests.support.world import make_world

SECRET = "whsec_" + base64.b64encode(b"marketplace secret of 32 bytes!!").decode()
PUBLIC_URL = "https://bridge.example.org"


# --------------------------------------------------------------------------------------------
# A receiver that follows ICR's "Validate deliveries" page
# --------------------------------------------------------------------------------------------


class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread, for the receivers below (a context manager)."""

    def serve(self, handler, port: int = 0) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Receiver(LocalServer):
    """POST endpoint that validates x-icr-signature-256 as ICR documents it: HMAC-SHA256 hex
    digest of the body's ``signedData`` under the shared secret, prefixed ``sha256=``, compared
    in constant time; 202 on success, 403 otherwise. Trusts only the decoded signedData."""

    def __init__(self, secret: str, port: int = 0, status: int = 202):
        self.secret = secret.encode()
        self.status = status
        self.accepted: list[dict] = []
        self.rejected = 0
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                receiver.requests += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                payload = json.loads(body.decode("utf-8"))
                signed = payload["signedData"]
                expected = "sha256=" + hmac.new(receiver.secret, signed.encode("utf-8"), hashlib.sha256).hexdigest()
                given = self.headers.get("x-icr-signature-256", "")
                if not hmac.compare_digest(expected.encode(), given.encode()):
                    receiver.rejected += 1
                    self.send_response(403)
                    self.end_headers()
                    self.wfile.write(b"signature mismatch")
                    return
                if receiver.status != 202:
                    self.send_response(receiver.status)
                    self.end_headers()
                    return
                document = json.loads(base64.b64decode(signed).decode("utf-8"))
                unsigned = {k: v for k, v in payload.items() if k != "signedData"}
                receiver.accepted.append({"document": document, "unsigned_matches": unsigned == document,
                                          "delivery": self.headers["x-icr-delivery"],
                                          "event": self.headers["x-icr-event"],
                                          "attempt": self.headers["x-icr-delivery-attempt"]})
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.serve(Handler, port)



# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _orgs(engine, *names):
    with transaction(engine) as s:
        return [create_organization(s, name).id for name in names]


def _subscribe(engine, org_id, url, events, secret=SECRET):
    with transaction(engine) as s:
        return create_subscription(s, org_id, url, events, secret=secret).id


def _deliveries(engine):
    with Session(engine) as s:
        return s.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def _holder_org(world) -> int:
    with Session(world.engine) as s:
        link = s.exec(select(WalletLink).where(WalletLink.address == world.holder.address)).one()
        return get_row(s, Account, link.account_id, "account").organization_id


# --------------------------------------------------------------------------------------------
# Signing and the outbox
# --------------------------------------------------------------------------------------------


def test_signing_follows_icr_scheme():
    document = {"event": "retirement.recorded", "id": "e1", "data": {"beneficiary": "Ísafjörður ehf."}}
    signed = signed_data(document)
    assert json.loads(base64.b64decode(signed)) == document  # base64 of the UTF-8 JSON
    header = signature(SECRET, signed)
    assert header == "sha256=" + hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
    assert verify_signature(SECRET, signed, header)
    assert not verify_signature("whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode(), signed, header)
    assert not verify_signature(SECRET, signed, None)


def test_record_event_fans_out_inside_the_callers_transaction(engine):
    a, b, c = _orgs(engine, "Market A", "Market B", "Market C")
    sub_a = _subscribe(engine, a, "http://a.example/hook", ["retirement.recorded", "tokenization.minted"])
    sub_b = _subscribe(engine, b, "http://b.example/hook", ["retirement.recorded"])
    sub_c = _subscribe(engine, c, "http://c.example/hook", ["retirement.recorded"])
    with transaction(engine) as s:
        update_subscription(s, sub_c, active=False)
    with transaction(engine) as s:
        record_event(s, "tokenization.minted", {"n": 1}, organization_id=a)
        record_event(s, "tokenization.minted", {"n": 2}, organization_id=b)  # B did not subscribe to it
        record_event(s, "retirement.recorded", {"n": 3}, organization_id=None)  # public: every subscriber
    got = sorted((d.subscription_id, d.status) for d in _deliveries(engine))
    assert got == sorted([(sub_a, DeliveryStatus.pending), (sub_a, DeliveryStatus.pending),
                          (sub_b, DeliveryStatus.pending)])
    # Rolled back with the change it reports: no event, no delivery.
    with pytest.raises(RuntimeError):
        with transaction(engine) as s:
            record_event(s, "retirement.recorded", {"n": 4}, organization_id=a)
            raise RuntimeError("the state change failed")
    with Session(engine) as s:
        assert len(s.exec(select(WebhookEvent)).all()) == 3
    assert len(_deliveries(engine)) == 3
    with pytest.raises(RuleViolation) as bad:
        with transaction(engine) as s:
            record_event(s, "retirement.maybe", {}, organization_id=a)
    assert bad.value.field == "kind"


def test_workers_claim_each_due_delivery_once(engine):
    (a,) = _orgs(engine, "Market A")
    _subscribe(engine, a, "http://127.0.0.1:9/hook", ["retirement.recorded"])
    with transaction(engine) as s:
        for n in range(3):
            record_event(s, "retirement.recorded", {"n": n}, organization_id=a)
    now = utcnow() + timedelta(seconds=1)
    first = _claim_due(engine, now, 2, RetryPolicy(), PUBLIC_URL)
    second = _claim_due(engine, now, 10, RetryPolicy(), PUBLIC_URL)
    assert len(first) == 2 and len(second) == 1
    assert {c.id for c in first}.isdisjoint({c.id for c in second})
    assert _claim_due(engine, now, 10, RetryPolicy(), PUBLIC_URL) == []  # all leased
    later = now + timedelta(seconds=RetryPolicy().lease_seconds + 2 * RetryPolicy().timeout_seconds + 1)
    assert len(_claim_due(engine, later, 10, RetryPolicy(), PUBLIC_URL)) == 3  # leases of a dead worker expire


# --------------------------------------------------------------------------------------------
# Events from the bridge's own state changes
# --------------------------------------------------------------------------------------------


@pytest.fixture
def world(sqlite_engine):
    return make_world(sqlite_engine, eth_tester_web3(), seed="hooks")


def test_sync_writes_tokenization_and_retirement_events_with_the_change(world):
    org = _holder_org(world)
    (other,) = _orgs(world.engine, "Another marketplace")
    mine = _subscribe(world.engine, org, "http://127.0.0.1:9/hook",
                      ["tokenization.minted", "retirement.recorded", "retirement.retracted"])
    theirs = _subscribe(world.engine, other, "http://127.0.0.1:9/other", ["tokenization.minted", "retirement.recorded"])
    tokenization_id = world.tokenize(300)
    run_cycle(world.engine, world.chain, world.keys)
    world.retire(world.holder, 40, name="Harbour Ferries")
    run_cycle(world.engine, world.chain, world.keys)
    run_cycle(world.engine, world.chain, world.keys)  # replays nothing
    with Session(world.engine) as s:
        events = s.exec(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert [e.kind for e in events] == ["tokenization.minted", "retirement.recorded"]
    assert all(e.organization_id == org for e in events)  # the holder's organization, nobody else's
    minted = json.loads(events[0].data)["tokenization"]
    assert minted["id"] == tokenization_id and minted["amount"] == 300 and minted["wallet"] == world.holder.address
    assert minted["serialBlocks"] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000300"] and minted["mintTransactions"]
    retired = json.loads(events[1].data)["retirement"]
    assert retired["amount"] == 40 and retired["beneficiary"] == "Harbour Ferries" and retired["reason"] == "voluntary"
    assert retired["serialBlocks"] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000040"]
    assert retired["vintage"] == 2023 and retired["project"]["projectNumber"] == 78040
    assert retired["organizationId"] == org and retired["txHash"] and retired["certificate"].startswith("/certificates/")
    assert {d.subscription_id for d in _deliveries(world.engine)} == {mine}
    assert theirs != mine
    # A reorganization that undoes the retirement reports that too, in the undo's transaction.
    with transaction(world.engine) as s:
        deployment = s.exec(select(Deployment)).one()
        event = s.exec(select(ChainEvent).where(ChainEvent.event == "Retired")).one()
        undo_retired(s, deployment, event)
    with Session(world.engine) as s:
        reverted = s.exec(select(WebhookEvent).where(WebhookEvent.kind == "retirement.retracted")).one()
    data = json.loads(reverted.data)
    assert data["reason"] == "chain reorganization" and data["retirement"]["amount"] == 40
    assert data["retirement"]["serialBlocks"] == retired["serialBlocks"]


# --------------------------------------------------------------------------------------------
# Delivery: outage, backoff, the log, manual redelivery (API and CLI)
# --------------------------------------------------------------------------------------------


def _admin_and_org_keys(engine, org_id):
    with transaction(engine) as s:
        _, admin = create_api_key(s, name="registry admin", role=ApiKeyRole.administrator)
        _, own = create_api_key(s, name="marketplace", role=ApiKeyRole.organization, organization_id=org_id)
        (other_org,) = [create_organization(s, "Someone else").id]
        _, other = create_api_key(s, name="someone else", role=ApiKeyRole.organization, organization_id=other_org)
    return admin, own, other


def test_delivery_survives_a_receiver_outage_then_redelivers_by_hand(world, sqlite_url):
    engine = world.engine
    org = _holder_org(world)
    admin_key, org_key, other_key = _admin_and_org_keys(engine, org)
    port = free_port()  # nothing listens here yet: the receiver is down
    client = TestClient(create_app(engine))
    created = client.post(f"/organizations/{org}/webhooks", headers={"X-API-Key": org_key},
                          json={"url": f"http://127.0.0.1:{port}/icr", "events": ["retirement.recorded"],
                                "secret": SECRET, "description": "marketplace listener"})
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["secret"] == SECRET and subscription["events"] == ["retirement.recorded"]
    assert client.get(f"/webhooks/{subscription['id']}", headers={"X-API-Key": other_key}).status_code == 403
    assert client.get(f"/webhooks/{subscription['id']}").status_code == 401
    assert "secret" not in client.get(f"/webhooks/{subscription['id']}", headers={"X-API-Key": org_key}).json()

    world.tokenize(100)
    run_cycle(engine, world.chain, world.keys)
    world.retire(world.holder, 10, name="Outage Test")
    run_cycle(engine, world.chain, world.keys)
    (delivery,) = _deliveries(engine)

    policy = RetryPolicy(base_seconds=60, factor=2, max_attempts=5, timeout_seconds=2)
    t0 = utcnow()
    report = deliver_due(engine, public_url=PUBLIC_URL, policy=policy, now=lambda: t0)
    assert (report.attempted, report.retrying) == (1, 1)
    (d,) = _deliveries(engine)
    assert d.status is DeliveryStatus.pending and d.attempts == 1 and d.last_status_code is None
    assert "Connect" in d.last_error and abs((d.next_attempt_at - t0).total_seconds() - 60) < 1
    # Not due yet: nothing is attempted.
    assert deliver_due(engine, public_url=PUBLIC_URL, policy=policy, now=lambda: t0 + timedelta(seconds=30)).attempted == 0
    t1 = t0 + timedelta(seconds=61)
    assert deliver_due(engine, public_url=PUBLIC_URL, policy=policy, now=lambda: t1).retrying == 1
    (d,) = _deliveries(engine)
    assert d.attempts == 2 and abs((d.next_attempt_at - t1).total_seconds() - 120) < 1  # backoff doubled

    with Receiver(SECRET, port=port) as receiver:  # the receiver is back
        t2 = t1 + timedelta(seconds=121)
        report = deliver_due(engine, public_url=PUBLIC_URL, policy=policy, now=lambda: t2)
        assert (report.attempted, report.delivered) == (1, 1)
        (got,) = receiver.accepted
        assert got["unsigned_matches"] and got["event"] == "retirement.recorded" and got["attempt"] == "3"
        assert got["delivery"] == delivery.delivery_id
        assert got["document"]["data"]["retirement"]["beneficiary"] == "Outage Test"
        event_id = got["document"]["id"]

        log = client.get(f"/webhooks/deliveries/{delivery.delivery_id}", headers={"X-API-Key": org_key}).json()
        assert log["status"] == "delivered" and log["attempts"] == 3 and log["event_id"] == event_id
        assert [a["outcome"] for a in log["log"]] == ["retry", "retry", "delivered"]
        assert [a["status_code"] for a in log["log"]] == [None, None, 202]
        page = client.get(f"/webhooks/{subscription['id']}/deliveries", headers={"X-API-Key": org_key}).json()
        assert page["page"]["total"] == 1 and page["items"][0]["delivery_id"] == delivery.delivery_id

        # Manual redelivery through the API: a new delivery of the same event, sent by the CLI worker.
        again = client.post(f"/webhooks/deliveries/{delivery.delivery_id}/redeliver", headers={"X-API-Key": org_key})
        assert again.status_code == 202
        redelivery = again.json()
        assert redelivery["redelivery_of"] == delivery.delivery_id and redelivery["status"] == "pending"
        assert redelivery["delivery_id"] != delivery.delivery_id and redelivery["event_id"] == event_id
        pending = client.post(f"/webhooks/deliveries/{redelivery['delivery_id']}/redeliver",
                              headers={"X-API-Key": org_key})
        assert pending.status_code == 409 and pending.json()["rule"] == "delivery-still-pending"
        result = CliRunner().invoke(cli, ["webhooks", "deliver", "--once", "--json", "--log-level", "WARNING", "--db", sqlite_url, "--public-url", PUBLIC_URL])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output.strip().splitlines()[-1])["delivered"] == 1
        assert len(receiver.accepted) == 2
        second = receiver.accepted[1]
        assert second["document"]["id"] == event_id and second["delivery"] == redelivery["delivery_id"]
        assert second["attempt"] == "1"

        # Redelivery from the CLI, then the same worker function again.
        result = CliRunner().invoke(cli, ["webhooks", "redeliver", delivery.delivery_id, "--db", sqlite_url])
        assert result.exit_code == 0 and "queued delivery" in result.output
        assert deliver_due(engine, public_url=PUBLIC_URL, policy=policy).delivered == 1
        assert [a["document"]["id"] for a in receiver.accepted] == [event_id] * 3
        assert receiver.rejected == 0
    result = CliRunner().invoke(cli, ["webhooks", "redeliver", "no-such-delivery", "--db", sqlite_url])
    assert result.exit_code == 2 and "DELIVERY_ID" in result.output
    result = CliRunner().invoke(cli, ["webhooks", "log", "--json", "--db", sqlite_url])
    assert [i["status"] for i in json.loads(result.output)] == ["delivered"] * 3


def test_a_rejected_signature_fails_at_once_and_exhausted_retries_fail(sqlite_engine):
    (org,) = _orgs(sqlite_engine, "Market")
    with Receiver("the-receivers-own-secret-123", status=202) as wrong, Receiver(SECRET, status=503) as broken:
        bad = _subscribe(sqlite_engine, org, f"http://127.0.0.1:{wrong.port}/hook", ["ca_status.changed"])
        down = _subscribe(sqlite_engine, org, f"http://127.0.0.1:{broken.port}/hook", ["ca_status.changed"])
        with transaction(sqlite_engine) as s:
            record_event(s, "ca_status.changed", {"tokenId": "1", "status": "applied"})
        policy = RetryPolicy(base_seconds=1, max_attempts=3, timeout_seconds=2)
        t = utcnow()
        for step in range(4):
            deliver_due(sqlite_engine, public_url=PUBLIC_URL, policy=policy, now=lambda: t + timedelta(seconds=10 * step))
        by_sub = {d.subscription_id: d for d in _deliveries(sqlite_engine)}
        assert by_sub[bad].status is DeliveryStatus.failed and by_sub[bad].attempts == 1  # 403: no retry
        assert by_sub[bad].last_status_code == 403 and wrong.rejected == 1
        assert by_sub[down].status is DeliveryStatus.failed and by_sub[down].attempts == 3  # 503 retried, then given up
        assert broken.requests == 3
        with Session(sqlite_engine) as s:
            outcomes = [a.outcome for a in s.exec(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id == by_sub[down].id).order_by(WebhookAttempt.number))]
        assert outcomes == ["retry", "retry", "failed"]


def test_deactivated_subscriptions_get_nothing(sqlite_engine):
    (org,) = _orgs(sqlite_engine, "Market")
    with Receiver(SECRET) as receiver:
        sub = _subscribe(sqlite_engine, org, f"http://127.0.0.1:{receiver.port}/hook", ["redemption.finalized"])
        with transaction(sqlite_engine) as s:
            record_event(s, "redemption.finalized", {"redemptionId": 1}, organization_id=org)
            update_subscription(s, sub, active=False)
            record_event(s, "redemption.rejected", {"redemptionId": 2}, organization_id=org)
            record_event(s, "redemption.finalized", {"redemptionId": 3}, organization_id=org)
        report = deliver_due(sqlite_engine, public_url=PUBLIC_URL)
        (d,) = _deliveries(sqlite_engine)  # the event recorded while it was active
        assert report.failed == 1 and d.status is DeliveryStatus.failed and "deactivated" in d.last_error
        assert receiver.requests == 0
        with pytest.raises(RuleViolation) as refused, transaction(sqlite_engine) as s:
            redeliver(s, d.delivery_id)
        assert refused.value.rule == "subscription-active"


def test_subscription_api_validates_and_manages(sqlite_engine):
    (org,) = _orgs(sqlite_engine, "Market")
    admin_key, org_key, other_key = _admin_and_org_keys(sqlite_engine, org)
    client = TestClient(create_app(sqlite_engine))
    own = {"X-API-Key": org_key}
    kinds = client.get("/webhooks/events").json()["items"]
    assert {k["kind"] for k in kinds} == {"tokenization.minted", "tokenization.returned", "tokenization.retracted",
                                          "retirement.recorded", "retirement.retracted", "redemption.finalized",
                                          "redemption.rejected", "redemption.retracted", "ca_status.changed"}
    for body, field in (({"url": "ftp://x", "events": ["retirement.recorded"]}, "url"),
                        ({"url": "http://x.example", "events": ["retirement.maybe"]}, "events.0"),
                        ({"url": "http://x.example", "events": []}, "events"),
                        ({"url": "http://x.example", "events": ["retirement.recorded"], "secret": "short"}, "secret")):
        response = client.post(f"/organizations/{org}/webhooks", headers=own, json=body)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field, response.json()
    assert client.post(f"/organizations/{org}/webhooks", headers={"X-API-Key": other_key},
                       json={"url": "http://x.example", "events": ["retirement.recorded"]}).status_code == 403
    assert client.post("/organizations/999/webhooks", headers={"X-API-Key": admin_key},
                       json={"url": "http://x.example", "events": ["retirement.recorded"]}).status_code == 404
    created = client.post(f"/organizations/{org}/webhooks", headers=own,
                          json={"url": "https://m.example/hook", "events": ["retirement.recorded"]}).json()
    assert created["secret"].startswith("whsec_") and len(base64.b64decode(created["secret"][6:])) == 32
    sub_id = created["id"]
    rotated = client.patch(f"/webhooks/{sub_id}", headers=own,
                           json={"rotate_secret": True, "events": ["ca_status.changed", "retirement.recorded"]}).json()
    assert rotated["secret"] not in (None, created["secret"])
    assert rotated["events"] == ["retirement.recorded", "ca_status.changed"]
    assert client.patch(f"/webhooks/{sub_id}", headers=own, json={"description": "x"}).json()["secret"] is None
    listed = client.get(f"/organizations/{org}/webhooks", headers=own).json()["items"]
    assert [s["id"] for s in listed] == [sub_id]
    assert client.delete(f"/webhooks/{sub_id}", headers=own).status_code == 204
    assert client.get(f"/webhooks/{sub_id}", headers=own).json()["active"] is False
    assert client.get("/webhooks/999", headers={"X-API-Key": admin_key}).json()["field"] == "subscription_id"
    missing = client.post("/webhooks/deliveries/nope/redeliver", headers=own)
    assert missing.status_code == 404 and missing.json()["field"] == "delivery_id"
    with Session(sqlite_engine) as s:
        assert s.get(Organization, org) is not None


def test_cli_deliver_needs_exactly_one_mode(sqlite_url, sqlite_engine):
    result = CliRunner().invoke(cli, ["webhooks", "deliver", "--db", sqlite_url])
    assert result.exit_code == 2 and "--once/--follow" in result.output


@pytest.mark.parametrize("public_url", [None, "ftp://bridge.example.org", "https://bridge.example.org/path"])
def test_cli_deliver_needs_a_public_origin_for_the_links(sqlite_url, sqlite_engine, monkeypatch, public_url):
    monkeypatch.delenv("ICR_PUBLIC_URL", raising=False)
    args = ["webhooks", "deliver", "--once", "--db", sqlite_url] + (["--public-url", public_url] if public_url else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--public-url / ICR_PUBLIC_URL" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_follow_mode_delivers_until_stopped(sqlite_engine):
    (org,) = _orgs(sqlite_engine, "Market")
    with Receiver(SECRET) as receiver:
        _subscribe(sqlite_engine, org, f"http://127.0.0.1:{receiver.port}/hook", ["ca_status.changed"])
        stop = threading.Event()
        passes = []
        worker = threading.Thread(target=deliver_forever, args=(sqlite_engine,), daemon=True,
                                  kwargs={"public_url": PUBLIC_URL, "poll_interval": 0.05, "should_stop": stop.is_set, "on_pass": passes.append})
        worker.start()
        with transaction(sqlite_engine) as s:
            record_event(s, "ca_status.changed", {"tokenId": "7", "status": "applied"})
        for _ in range(200):
            if receiver.accepted:
                break
            threading.Event().wait(0.05)
        stop.set()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert [a["document"]["data"]["tokenId"] for a in receiver.accepted] == ["7"]
        assert sum(p.delivered for p in passes) == 1


def _holding_of_ten(engine) -> tuple[int, int, int]:
    """An organization's holding account with 10 ICCs: (organization, account, serialization) ids."""
    with transaction(engine) as s:
        org = create_organization(s, "Ferries")
        account = open_account(s, org.id, "holding")
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=10, account_id=account.id)
        return org.id, account.id, issuance.serialization_id


def test_registry_retirement_event_belongs_to_the_retiring_account(sqlite_engine):
    from bridge.webhooks.events import retirement_recorded
    from registry.domain.lifecycle import RetirementDetails

    org_id, account_id, serialization_id = _holding_of_ten(sqlite_engine)
    with transaction(sqlite_engine) as s:
        retirement, moved = retire(s, account_id=account_id, serialization_id=serialization_id,
                                   quantity=4, details=RetirementDetails())
        event = retirement_recorded(s, retirement, [m.serial_block for m in moved])
    assert event.organization_id == org_id
    data = json.loads(event.data)["retirement"]
    assert data["amount"] == 4 and data["txHash"] is None and data["certificateTokenId"] is None


def test_a_retirement_made_through_the_registry_api_is_a_webhook_event(sqlite_engine):
    """POST /retirements writes retirement.recorded to the outbox in the retirement's own
    transaction (registry hook); a refused retirement writes nothing."""
    org_id, account_id, _ = _holding_of_ten(sqlite_engine)
    _, own, _ = _admin_and_org_keys(sqlite_engine, org_id)
    sub = _subscribe(sqlite_engine, org_id, "http://127.0.0.1:9/hook", ["retirement.recorded"])
    client = TestClient(create_app(sqlite_engine))
    body = {"account_id": account_id, "serialization": "ICR-ISL-354-78040-14-R-0-2023", "quantity": 4,
            "beneficiary_name": "Ferry passengers 2024"}
    created = client.post("/retirements", json=body, headers={"X-API-Key": own})
    assert created.status_code == 201, created.text
    refused = client.post("/retirements", json={**body, "quantity": 7}, headers={"X-API-Key": own})
    assert refused.status_code == 422
    with Session(sqlite_engine) as s:
        (event,) = s.exec(select(WebhookEvent)).all()
        (delivery,) = s.exec(select(WebhookDelivery)).all()
    data = json.loads(event.data)["retirement"]
    assert (event.kind, event.organization_id, delivery.subscription_id) == ("retirement.recorded", org_id, sub)
    assert (data["id"], data["amount"], data["beneficiary"], data["serialBlocks"], data["chainId"]) == (
        created.json()["id"], 4, "Ferry passengers 2024", ["ICR-ISL-354-78040-14-R-0-2023-000001-000004"], None)


def test_a_failing_registry_hook_rolls_the_retirement_back(sqlite_engine):
    from registry.domain.lifecycle import RetirementDetails
    from registry.operations import hooks
    from registry.tables.core import Retirement

    _, account_id, serialization_id = _holding_of_ten(sqlite_engine)

    def broken(session, **details):
        raise RuntimeError("outbox unavailable")

    hooks.on("retirement.recorded", broken)
    try:
        with pytest.raises(RuntimeError), transaction(sqlite_engine) as s:
            retire(s, account_id=account_id, serialization_id=serialization_id, quantity=4,
                   details=RetirementDetails())
    finally:
        hooks.off("retirement.recorded", broken)
    with Session(sqlite_engine) as s:
        assert s.exec(select(Retirement)).all() == [] and s.exec(select(WebhookEvent)).all() == []
    with pytest.raises(ValueError, match="unknown registry hook"):
        hooks.on("retirement.maybe", broken)


@pytest.mark.parametrize("registered", [False, True])
def test_a_registry_retirement_reaches_webhooks_only_through_registered_listeners(sqlite_engine, registered):
    from bridge.webhooks.events import register_listeners, unregister_listeners
    from registry.domain.lifecycle import RetirementDetails

    (register_listeners if registered else unregister_listeners)()
    with transaction(sqlite_engine) as s:
        org = create_organization(s, "Registry Org")
        account = open_account(s, org.id, "a")
        project = register_project(s, project_number=1, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        sid = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=100, account_id=account.id
                            ).serialization_id
        org_id, account_id = org.id, account.id
    _subscribe(sqlite_engine, org_id, "http://127.0.0.1:9/hook", ["retirement.recorded"])
    with transaction(sqlite_engine) as s:
        retire(s, account_id=account_id, serialization_id=sid, quantity=30, details=RetirementDetails())
    with Session(sqlite_engine) as s:
        events = s.exec(select(WebhookEvent).where(WebhookEvent.kind == "retirement.recorded")).all()
    assert len(events) == (1 if registered else 0)
    assert len(_deliveries(sqlite_engine)) == (1 if registered else 0)
