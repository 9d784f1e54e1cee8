"""Webhooks cannot reach inside (bridge.webhooks.destinations): internal destinations are refused
at subscribe, at PATCH and again at send, at the address then connected to; one
organization's URL cannot stop delivery for the others; the log keeps a short excerpt."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.webhooks import destinations
from bridge.webhooks.destinations import DestinationPolicy, check_destination
from bridge.webhooks.outbox import record_event
from bridge.webhooks.tables import DeliveryStatus, EventKind, WebhookAttempt, WebhookDelivery, WebhookSubscription
from bridge.webhooks.worker import deliver_due
from registry.api.auth import create_api_key
from registry.db import transaction
from registry.domain.enums import ApiKeyRole
from registry.errors import RuleViolation
from registry.operations.accounts import create_organization
from tests.bridge.webhooks.test_webhooks import PUBLIC_URL, SECRET, Receiver, _subscribe

STRICT = DestinationPolicy()  # what production runs with: public addresses, ports 80/443/8080/8443


def _public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1/hook", "127.0.0.1, which is not a public address"),
    ("http://[::1]/hook", "::1, which is not a public address"),
    ("http://0x7f000001/hook", "127.0.0.1, which is not a public address"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254, which is not a public address"),
    ("http://10.1.2.3/hook", "10.1.2.3, which is not a public address"),
    ("http://[::ffff:127.0.0.1]/hook", "not a public address"),
    ("http://224.0.0.1/hook", "not a public address"),
    ("http://127.0.0.1:5432/", "uses port 5432"),
    ("http://127.0.0.1:abc/", "is not a URL httpx can send to"),
    ("http://example.org/\r\nX-Injected: 1", "whitespace or control characters"),
    ("ftp://example.org/hook", "is not an http(s) URL"),
    ("http://user:pass@example.org/hook", "carries credentials"),
    ("http://no-such-host.invalid/hook", "does not resolve"),
])
def test_internal_and_malformed_destinations_are_refused(url, reason):
    with pytest.raises(RuleViolation, match="webhook URL") as info:
        check_destination(url, STRICT)
    assert reason in str(info.value) and info.value.field == "url"


def test_a_public_destination_is_connected_to_at_the_checked_address():
    destination = check_destination("https://hooks.example.org/icr?x=1", STRICT, resolver=_public)
    assert str(destination.request_url()) == "https://93.184.215.14/icr?x=1"
    assert destination.headers() == {"host": "hooks.example.org"}
    assert destination.extensions() == {"sni_hostname": "hooks.example.org"}


def test_the_api_refuses_an_internal_url_at_subscribe_and_at_patch(sqlite_engine, monkeypatch):
    monkeypatch.delenv(destinations.ALLOW_PRIVATE_ENV)
    monkeypatch.delenv(destinations.PORTS_ENV)
    real = destinations.resolve
    monkeypatch.setattr(destinations, "resolve", lambda host, port: _public(host, port) if host.endswith(".example")
                        else real(host, port))
    with transaction(sqlite_engine) as s:
        org = create_organization(s, "Marketplace").id
        _, key = create_api_key(s, name="m", role=ApiKeyRole.organization, organization_id=org)
    headers = {"X-API-Key": key}
    with TestClient(create_app(sqlite_engine)) as api:
        refused = api.post(f"/organizations/{org}/webhooks", headers=headers,
                           json={"url": "http://127.0.0.1:8080/", "events": ["retirement.recorded"]})
        assert refused.status_code == 422 and refused.json()["field"] == "url"
        made = api.post(f"/organizations/{org}/webhooks", headers=headers,
                        json={"url": "https://hooks.example/icr", "events": ["retirement.recorded"]})
        assert made.status_code == 201, made.text
        patched = api.patch(f"/webhooks/{made.json()['id']}", headers=headers,
                            json={"url": "http://169.254.169.254/"})
        assert patched.status_code == 422 and patched.json()["field"] == "url"
    with Session(sqlite_engine) as s:
        assert [sub.url for sub in s.exec(select(WebhookSubscription))] == ["https://hooks.example/icr"]


def test_a_destination_that_turns_internal_is_refused_at_send_and_nothing_is_sent(sqlite_engine, monkeypatch):
    with transaction(sqlite_engine) as s:
        org = create_organization(s, "Marketplace").id
    with Receiver(SECRET) as receiver:
        _subscribe(sqlite_engine, org, f"http://127.0.0.1:{receiver.port}/hook", ["retirement.recorded"])
        with transaction(sqlite_engine) as s:
            record_event(s, EventKind.retirement_recorded, {"retirement": {"id": 1}}, org)
        monkeypatch.delenv(destinations.ALLOW_PRIVATE_ENV)  # the operator turned local receivers off
        report = deliver_due(sqlite_engine, public_url=PUBLIC_URL)
        assert receiver.requests == 0 and report.failed == 1
    with Session(sqlite_engine) as s:
        delivery = s.exec(select(WebhookDelivery)).one()
        assert delivery.status is DeliveryStatus.failed and "not a public address" in delivery.last_error


def test_a_poison_url_fails_its_own_delivery_and_the_others_are_delivered(sqlite_engine):
    """A URL stored before these checks (or written by hand) that httpx cannot send to."""
    with transaction(sqlite_engine) as s:
        poison, good = create_organization(s, "Poison").id, create_organization(s, "Good").id
    with Receiver(SECRET) as receiver:
        _subscribe(sqlite_engine, poison, "http://hooks.example/ok", ["retirement.recorded"])
        _subscribe(sqlite_engine, good, f"http://127.0.0.1:{receiver.port}/hook", ["retirement.recorded"])
        with transaction(sqlite_engine) as s:
            s.exec(select(WebhookSubscription).where(WebhookSubscription.organization_id == poison)).one().url = (
                "http://127.0.0.1:abc/")
            record_event(s, EventKind.retirement_recorded, {"retirement": {"id": 1}}, None)
        report = deliver_due(sqlite_engine, public_url=PUBLIC_URL)
        assert report.delivered == 1 and report.failed == 1 and len(receiver.accepted) == 1


def test_the_log_keeps_a_short_sanitised_excerpt_of_the_answer(sqlite_engine):
    with transaction(sqlite_engine) as s:
        org = create_organization(s, "Marketplace").id
    with Receiver("another-secret-0123456789") as receiver:  # rejects the signature: 403 with a body
        _subscribe(sqlite_engine, org, f"http://127.0.0.1:{receiver.port}/hook", ["retirement.recorded"])
        with transaction(sqlite_engine) as s:
            record_event(s, EventKind.retirement_recorded, {"retirement": {"id": 1}}, org)
        deliver_due(sqlite_engine, public_url=PUBLIC_URL)
    with Session(sqlite_engine) as s:
        attempt = s.exec(select(WebhookAttempt)).one()
    assert attempt.status_code == 403 and attempt.response_body == "signature mismatch"


def test_an_organization_holds_at_most_so_many_subscriptions(sqlite_engine):
    from bridge.webhooks.subscriptions import MAX_SUBSCRIPTIONS_PER_ORGANIZATION, update_subscription
    from registry.errors import Conflict

    with transaction(sqlite_engine) as s:
        org = create_organization(s, "Marketplace").id
    ids = [_subscribe(sqlite_engine, org, f"http://hooks.example/{i}", ["retirement.recorded"])
           for i in range(MAX_SUBSCRIPTIONS_PER_ORGANIZATION)]
    with pytest.raises(Conflict, match="the most allowed"), transaction(sqlite_engine) as s:
        _subscribe_in(s, org)
    with transaction(sqlite_engine) as s:
        update_subscription(s, ids[0], active=False)
        _subscribe_in(s, org)  # room again
    with pytest.raises(Conflict), transaction(sqlite_engine) as s:
        update_subscription(s, ids[0], active=True)


def _subscribe_in(session, org):
    from bridge.webhooks.subscriptions import create_subscription

    return create_subscription(session, org, "http://hooks.example/more", ["retirement.recorded"], secret=SECRET)


def test_redeliveries_are_rate_limited_per_organization(sqlite_engine):
    from bridge.webhooks.outbox import MAX_REDELIVERIES_PER_HOUR, TooManyRedeliveries, redeliver

    with transaction(sqlite_engine) as s:
        org = create_organization(s, "Marketplace").id
    _subscribe(sqlite_engine, org, "http://hooks.example/hook", ["retirement.recorded"])
    with transaction(sqlite_engine) as s:
        record_event(s, EventKind.retirement_recorded, {"retirement": {"id": 1}}, org)
        original = s.exec(select(WebhookDelivery)).one()
        original.status = DeliveryStatus.failed
        s.add(original)
    with transaction(sqlite_engine) as s:
        for _ in range(MAX_REDELIVERIES_PER_HOUR):
            redeliver(s, original.delivery_id)
    with pytest.raises(TooManyRedeliveries), transaction(sqlite_engine) as s:
        redeliver(s, original.delivery_id)
