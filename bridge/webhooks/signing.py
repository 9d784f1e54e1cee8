"""ICR's webhook signing scheme: the signed body and headers of a delivery, and the check a receiver makes.

Delivery (ICR's scheme, see documentation.carbonregistry.com "Validate deliveries"). The
worker POSTs the event document as JSON with one more root key, ``signedData``: the base64
of the UTF-8 JSON of the document. The header ``x-icr-signature-256`` carries
``sha256=`` + the hex HMAC-SHA256 of the ``signedData`` string under the subscription's
secret. Receivers recompute it, compare in constant time, answer 202 on success and 403 on
a bad signature, and should trust the decoded ``signedData`` rather than the unsigned copy
beside it. ``x-icr-delivery`` is the delivery id (the same on every retry of a delivery,
new on a manual redelivery); the signed document's ``id`` is the event id, the same on
every delivery of an event: receivers deduplicate on it (delivery is at least once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from bridge.webhooks.outbox import canonical, event_document
from bridge.webhooks.tables import WebhookDelivery, WebhookEvent, WebhookSubscription

SIGNATURE_HEADER = "x-icr-signature-256"
DELIVERY_HEADER = "x-icr-delivery"
EVENT_HEADER = "x-icr-event"
USER_AGENT = "icr-bridge-webhooks/0.1"


def signed_data(document: dict[str, Any]) -> str:
    """base64 of the document's UTF-8 JSON: the ``signedData`` root key of a delivery body."""
    return base64.b64encode(canonical(document).encode("utf-8")).decode("ascii")


def signature(secret: str, signed: str) -> str:
    """The ``x-icr-signature-256`` header value for a ``signedData`` string."""
    digest = hmac.new(secret.encode("utf-8"), signed.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, signed: str, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    if not header:
        return False
    return hmac.compare_digest(signature(secret, signed).encode(), header.encode())


def delivery_request(event: WebhookEvent, subscription: WebhookSubscription, delivery: WebhookDelivery
                     ) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery."""
    document = event_document(event)
    signed = signed_data(document)
    body = json.dumps({**document, "signedData": signed}, ensure_ascii=False).encode("utf-8")
    headers = {
        "content-type": "application/json; charset=utf-8",
        "user-agent": USER_AGENT,
        SIGNATURE_HEADER: signature(subscription.secret, signed),
        DELIVERY_HEADER: delivery.delivery_id,
        EVENT_HEADER: event.kind,
    }
    return body, headers
