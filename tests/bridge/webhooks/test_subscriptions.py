"""Webhook secrets: the Standard Webhooks ``whsec_`` convention, and rotation with a grace period
during which the replaced secret signs too (checked with the Standard's algorithm written in
tests/bridge/webhooks/test_payloads.py)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.webhooks.outbox import record_event
from bridge.webhooks.signing import delivery_request, verify_signature
from bridge.webhooks.tables import WebhookDelivery, WebhookEvent, WebhookSubscription
from bridge.webhooks.worker import deliver_due
from registry.db import transaction
from registry.tables.core import utcnow
from tests.bridge.webhooks.test_payloads import StandardReceiver, standard_verify
from tests.bridge.webhooks.test_webhooks import PUBLIC_URL, _admin_and_org_keys, _orgs


def _request_at(engine, at):
    with Session(engine) as s:
        delivery = s.exec(select(WebhookDelivery).order_by(WebhookDelivery.id.desc())).first()
        return delivery_request(s.get(WebhookEvent, delivery.event_id), s.get(WebhookSubscription, delivery.subscription_id),
                                delivery, public_url=PUBLIC_URL, now=at)


def test_rotation_keeps_the_old_secret_signing_for_its_grace_period(sqlite_engine):
    (org,) = _orgs(sqlite_engine, "Market")
    _, org_key, other_key = _admin_and_org_keys(sqlite_engine, org)
    client = TestClient(create_app(sqlite_engine))
    own = {"X-API-Key": org_key}
    with StandardReceiver("whsec_" + base64.b64encode(b"\0" * 32).decode()) as receiver:
        created = client.post(f"/organizations/{org}/webhooks", headers=own,
                              json={"url": receiver.url, "events": ["retirement.recorded"]}).json()
        old = created["secret"]
        receiver.secret = old
        assert client.post(f"/webhooks/{created['id']}/rotate-secret", headers={"X-API-Key": other_key},
                           json={}).status_code == 403
        too_long = client.post(f"/webhooks/{created['id']}/rotate-secret", headers=own,
                               json={"grace_seconds": 8 * 86_400})
        assert too_long.status_code == 422 and too_long.json()["field"] == "grace_seconds"
        with Session(sqlite_engine) as s:
            assert s.get(WebhookSubscription, created["id"]).secret == old  # the refusal changed nothing
        rotated = client.post(f"/webhooks/{created['id']}/rotate-secret", headers=own,
                              json={"grace_seconds": 3600})
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != old and rotated.json()["previous_secret_expires_at"]
        with transaction(sqlite_engine) as s:
            record_event(s, "retirement.recorded", {"retirement": {"id": 1}}, org)
        # A receiver still holding the old secret accepts the delivery during the grace period.
        assert deliver_due(sqlite_engine, public_url=PUBLIC_URL).delivered == 1
        assert [ok for _, _, ok in receiver.requests] == [True]
    now = utcnow()
    body, headers = _request_at(sqlite_engine, now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert standard_verify(secret, headers, body, now.timestamp())
    signed = json.loads(body)["signedData"]
    assert verify_signature(new, signed, headers["x-icr-signature-256"])  # ICR's header: the new secret only
    assert not verify_signature(old, signed, headers["x-icr-signature-256"])
    later = now + timedelta(hours=1, seconds=1)
    body, headers = _request_at(sqlite_engine, later)
    assert standard_verify(new, headers, body, later.timestamp())
    with pytest.raises(ValueError):
        standard_verify(old, headers, body, later.timestamp())
    # PATCH rotate_secret replaces the secret at once: no grace.
    patched = client.patch(f"/webhooks/{created['id']}", headers=own, json={"rotate_secret": True}).json()
    body, headers = _request_at(sqlite_engine, utcnow())
    assert patched["previous_secret_expires_at"] is None and len(headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(ValueError):
        standard_verify(new, headers, body, utcnow().timestamp())


@pytest.mark.parametrize("secret", ["marketplace-secret-0123456789", "whsec_" + base64.b64encode(b"short").decode(),
                                    "whsec_not*base64*at*all*but*long*enough"])
def test_a_secret_outside_the_whsec_convention_is_refused(sqlite_engine, secret):
    (org,) = _orgs(sqlite_engine, "Market")
    _, org_key, _ = _admin_and_org_keys(sqlite_engine, org)
    client = TestClient(create_app(sqlite_engine))
    response = client.post(f"/organizations/{org}/webhooks", headers={"X-API-Key": org_key},
                           json={"url": "https://m.example/hook", "events": ["retirement.recorded"], "secret": secret})
    assert response.status_code == 422 and response.json()["field"] == "secret"
    assert response.json().get("rule") == "whsec-secret", response.json()
    with Session(sqlite_engine) as s:
        assert s.exec(select(WebhookSubscription)).first() is None
