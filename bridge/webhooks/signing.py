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

Standard Webhooks (www.standardwebhooks.com), for receivers using its libraries, on the same
request: ``webhook-id`` (the event id: the same on every retry and redelivery),
``webhook-timestamp`` (integer Unix seconds of this attempt) and ``webhook-signature``:
space-separated ``v1,<base64 HMAC-SHA256>`` entries over ``{webhook-id}.{webhook-timestamp}.{body}``
(the exact body bytes), one per secret that signs. The HMAC key of a ``whsec_`` secret is the
base64 decoding of what follows the prefix; during a rotation's grace period the previous
secret signs too, so a receiver still holding it accepts the delivery. ICR's header carries
only the current secret's signature (its scheme has one). Receivers reject timestamps far from
their clock (the Standard's libraries allow 5 minutes) to refuse replays.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any

from bridge.webhooks.outbox import canonical, event_document
from bridge.webhooks.tables import SECRET_PREFIX, WebhookDelivery, WebhookEvent, WebhookSubscription

SIGNATURE_HEADER = "x-icr-signature-256"
DELIVERY_HEADER = "x-icr-delivery"
EVENT_HEADER = "x-icr-event"
USER_AGENT = "icr-bridge-webhooks/0.1"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"


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


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key of a secret: the base64 after ``whsec_``. A secret made
    before 0016 (no prefix) is used as its UTF-8 bytes; rotating it gives a ``whsec_`` one."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    return secret.encode("utf-8")


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` entry of ``webhook-signature``."""
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(standard_key(secret), content, hashlib.sha256).digest()).decode()


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets that sign a delivery sent at ``now``: the current one, and the previous one
    while its grace period lasts."""
    secrets = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and _aware(now) < _aware(expires):
        secrets.append(subscription.previous_secret)
    return secrets


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def delivery_request(event: WebhookEvent, subscription: WebhookSubscription, delivery: WebhookDelivery,
                     *, public_url: str, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery sent at ``now``, its links made absolute under
    ``public_url``."""
    document = event_document(event, public_url)
    signed = signed_data(document)
    body = json.dumps({**document, "signedData": signed}, ensure_ascii=False).encode("utf-8")
    timestamp = int(_aware(now).timestamp())
    headers = {
        "content-type": "application/json; charset=utf-8",
        "user-agent": USER_AGENT,
        SIGNATURE_HEADER: signature(subscription.secret, signed),
        DELIVERY_HEADER: delivery.delivery_id,
        EVENT_HEADER: event.kind,
        STANDARD_ID_HEADER: event.event_id,
        STANDARD_TIMESTAMP_HEADER: str(timestamp),
        STANDARD_SIGNATURE_HEADER: " ".join(standard_signature(secret, event.event_id, timestamp, body)
                                            for secret in signing_secrets(subscription, now)),
    }
    return body, headers
