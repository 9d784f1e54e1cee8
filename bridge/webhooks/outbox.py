"""Webhooks for marketplaces: per-organization subscriptions, a transactional outbox and a
delivery worker that follows ICR's published webhook scheme.

Outbox. A state change that marketplaces care about calls :func:`record_event` inside the
database transaction that makes the change: the :class:`WebhookEvent` row and one
:class:`WebhookDelivery` row per matching subscription are written with it, so an event
exists if and only if its change committed. Nothing is sent from inside a transaction.

Delivery (ICR's scheme, see documentation.carbonregistry.com "Validate deliveries"). The
worker POSTs the event document as JSON with one more root key, ``signedData``: the base64
of the UTF-8 JSON of the document. The header ``x-icr-signature-256`` carries
``sha256=`` + the hex HMAC-SHA256 of the ``signedData`` string under the subscription's
secret. Receivers recompute it, compare in constant time, answer 202 on success and 403 on
a bad signature, and should trust the decoded ``signedData`` rather than the unsigned copy
beside it. ``x-icr-delivery`` is the delivery id (the same on every retry of a delivery,
new on a manual redelivery); the signed document's ``id`` is the event id, the same on
every delivery of an event: receivers deduplicate on it (delivery is at least once).

Retries. A delivery is attempted until the receiver answers 2xx. Network errors, timeouts,
5xx, 408, 409, 425 and 429 are retried with exponential backoff (:class:`RetryPolicy`) up to
``max_attempts``; any other 4xx (e.g. 403, a signature the receiver rejects) fails the
delivery at once. Every attempt is logged (:class:`WebhookAttempt`). A delivered or failed
delivery can be delivered again by hand (:func:`redeliver`: a new delivery of the same
event). Workers claim due deliveries with a lease, so several can run at once and a worker
that dies mid-send only delays its deliveries until the lease expires.

Which subscriptions get an event: those of the event's organization that subscribed to its
kind; an event without an organization (e.g. a CA status change, or an on-chain retirement
by a wallet linked to no account) goes to every subscription of that kind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Callable, Iterable, Optional
from urllib.parse import urlsplit

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from registry.db import is_postgres, transaction
from registry.errors import Conflict, NotFound, RuleViolation
from registry.tables.core import Organization, utcnow

log = logging.getLogger("icr_bridge.webhooks")

SIGNATURE_HEADER = "x-icr-signature-256"
DELIVERY_HEADER = "x-icr-delivery"
EVENT_HEADER = "x-icr-event"
USER_AGENT = "icr-bridge-webhooks/0.1"
RESPONSE_LOG_LIMIT = 2_000
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class EventKind(str, Enum):
    """What marketplaces can subscribe to."""

    tokenization_minted = "tokenization.minted"  # every leaf of a tokenization request is minted
    tokenization_returned = "tokenization.returned"  # its batch was revoked on-chain: unminted units back in the account
    retirement_recorded = "retirement.recorded"  # a retirement is in the registry (e.g. synced from chain)
    retirement_reverted = "retirement.reverted"  # a recorded retirement was undone (chain reorganization)
    redemption_finalized = "redemption.finalized"  # tokens redeemed back into a registry account
    redemption_rejected = "redemption.rejected"  # a redemption request was refused, tokens released
    ca_status_changed = "ca_status.changed"  # corresponding-adjustment status of a class changed


EVENT_DESCRIPTIONS = {
    EventKind.tokenization_minted: "Every leaf of a tokenization request is minted on-chain: the tokens are in the wallet.",
    EventKind.tokenization_returned: "The batch holding a tokenization request's leaves was revoked on-chain: the "
                                     "units of its unminted leaves are back in the requesting account.",
    EventKind.retirement_recorded: "A retirement of specific serials is recorded in the registry (on-chain retirements "
                                   "once their Retired event is final).",
    EventKind.retirement_reverted: "A recorded retirement was undone because its chain event was reorganized away.",
    EventKind.redemption_finalized: "A redemption (tokens back to registry serials) is finalized by the registry.",
    EventKind.redemption_rejected: "A redemption request was rejected by the registry; the escrowed tokens are released.",
    EventKind.ca_status_changed: "The corresponding-adjustment status of an Article 6.2 credit class changed.",
}


class DeliveryStatus(str, Enum):
    pending = "pending"  # due at next_attempt_at
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # gave up: attempts exhausted, a non-retryable answer, or the subscription is gone


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


class WebhookSubscription(SQLModel, table=True):
    """An organization's endpoint for some event kinds, with the secret that signs deliveries."""

    id: Optional[int] = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    events: str = Field(max_length=1000)  # comma-separated EventKind values
    description: str = Field(default="", max_length=500)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def kinds(self) -> list[str]:
        return [k for k in self.events.split(",") if k]


class WebhookEvent(SQLModel, table=True):
    """The outbox: one row per event, written in the transaction of the change it reports."""

    id: Optional[int] = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=36)
    kind: str = Field(max_length=40, index=True)
    organization_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)
    data: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON
    created_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One event to one subscription; retried until delivered or failed."""

    id: Optional[int] = Field(default=None, primary_key=True)
    delivery_id: str = Field(unique=True, max_length=36)
    event_id: int = Field(foreign_key="webhookevent.id", index=True)
    subscription_id: int = Field(foreign_key="webhooksubscription.id", index=True)
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    lease: Optional[str] = Field(default=None, max_length=36)
    lease_expires_at: Optional[datetime] = None
    last_status_code: Optional[int] = None
    last_error: str = Field(default="", max_length=1000)
    delivered_at: Optional[datetime] = None
    redelivery_of: Optional[int] = Field(default=None, foreign_key="webhookdelivery.id")
    created_at: datetime = Field(default_factory=utcnow)


class WebhookAttempt(SQLModel, table=True):
    """The delivery log: every attempt, its answer or error and how long it took."""

    __table_args__ = (UniqueConstraint("delivery_id", "number", name="uq_webhook_attempt_number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhookdelivery.id", index=True)
    number: int
    started_at: datetime
    duration_ms: int = Field(sa_type=BigInteger)
    status_code: Optional[int] = None
    error: str = Field(default="", max_length=1000)
    response_body: str = Field(default="", max_length=RESPONSE_LOG_LIMIT)
    outcome: str = Field(max_length=20)  # delivered | retry | failed


# --------------------------------------------------------------------------------------------
# Subscriptions
# --------------------------------------------------------------------------------------------


def parse_kinds(kinds: Iterable[str]) -> list[str]:
    """Known event kinds, deduplicated in catalogue order; an unknown one is refused by name."""
    known = {k.value for k in EventKind}
    wanted = list(kinds)
    if not wanted:
        raise RuleViolation("subscribe to at least one event kind", field="events")
    for kind in wanted:
        if kind not in known:
            raise RuleViolation(f"unknown event kind {kind!r}; known: {', '.join(sorted(known))}", field="events")
    return [k.value for k in EventKind if k.value in wanted]


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RuleViolation(f"{url!r} is not an http(s) URL", field="url")
    return url


def new_secret() -> str:
    return secrets.token_hex(32)


def create_subscription(
    session: Session, organization_id: int, url: str, events: Iterable[str], secret: str | None = None,
    description: str = "",
) -> WebhookSubscription:
    if session.get(Organization, organization_id) is None:
        raise NotFound(f"organization {organization_id} does not exist", field="organization_id")
    if secret is not None and len(secret) < 16:
        raise RuleViolation("a webhook secret has at least 16 characters", field="secret")
    subscription = WebhookSubscription(
        organization_id=organization_id, url=check_url(url), secret=secret or new_secret(),
        events=",".join(parse_kinds(events)), description=description,
    )
    session.add(subscription)
    session.flush()
    return subscription


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"webhook subscription {subscription_id} does not exist", field="subscription_id")
    return subscription


def update_subscription(
    session: Session, subscription_id: int, *, url: str | None = None, events: Iterable[str] | None = None,
    active: bool | None = None, description: str | None = None, rotate_secret: bool = False,
) -> WebhookSubscription:
    subscription = get_subscription(session, subscription_id)
    if url is not None:
        subscription.url = check_url(url)
    if events is not None:
        subscription.events = ",".join(parse_kinds(events))
    if active is not None:
        subscription.active = active
    if description is not None:
        subscription.description = description
    if rotate_secret:
        subscription.secret = new_secret()
    session.add(subscription)
    session.flush()
    return subscription


# --------------------------------------------------------------------------------------------
# The outbox
# --------------------------------------------------------------------------------------------


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_event(
    session: Session, kind: str | EventKind, payload: dict[str, Any], organization_id: int | None = None,
) -> WebhookEvent:
    """Write an event to the outbox inside the caller's transaction (never commits).

    ``payload`` is the event's ``data`` (JSON-serializable); ``organization_id`` the
    organization it concerns, or None for an event every subscriber of the kind may see.
    A delivery row is created for each active matching subscription."""
    try:
        kind = EventKind(kind).value
    except ValueError:
        raise RuleViolation(f"unknown event kind {kind!r}", field="kind") from None
    if not isinstance(payload, dict):
        raise RuleViolation("an event payload is a JSON object", field="payload")
    event = WebhookEvent(event_id=str(uuid.uuid4()), kind=kind, organization_id=organization_id, data=canonical(payload))
    session.add(event)
    session.flush()
    subscriptions = session.exec(select(WebhookSubscription).where(WebhookSubscription.active == True)).all()  # noqa: E712
    for subscription in subscriptions:
        if kind not in subscription.kinds:
            continue
        if organization_id is not None and subscription.organization_id != organization_id:
            continue
        session.add(WebhookDelivery(delivery_id=str(uuid.uuid4()), event_id=event.id, subscription_id=subscription.id,
                                    next_attempt_at=event.created_at))
    session.flush()
    return event


def event_document(event: WebhookEvent) -> dict[str, Any]:
    """What is signed: the event as marketplaces see it."""
    return {
        "event": event.kind,
        "id": event.event_id,
        "createdAt": _iso(event.created_at),
        "organizationId": event.organization_id,
        "data": json.loads(event.data),
    }


def _iso(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as ICR writes timestamps (``2022-03-14T11:01:55.941Z``)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# ICR's signing scheme
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n+1 waits ``base_seconds * factor**(n-1)`` (capped) after attempt n fails."""

    base_seconds: float = 30.0
    factor: float = 2.0
    max_delay_seconds: float = 6 * 3600.0
    max_attempts: int = 10
    timeout_seconds: float = 10.0
    lease_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts: at least 1")
        if self.base_seconds < 0 or self.factor < 1:
            raise ValueError("base_seconds >= 0 and factor >= 1")

    def delay(self, attempts_done: int) -> timedelta:
        seconds = self.base_seconds * self.factor ** max(attempts_done - 1, 0)
        return timedelta(seconds=min(seconds, self.max_delay_seconds))


@dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    lost_lease: int = 0
    delivery_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"attempted": self.attempted, "delivered": self.delivered, "retrying": self.retrying,
                "failed": self.failed, "lost_lease": self.lost_lease}


@dataclass(frozen=True)
class _Claim:
    id: int
    delivery_id: str
    lease: str
    attempt: int
    url: str
    body: bytes
    headers: dict[str, str]
    subscription_active: bool


def _claim_due(engine: Engine, now: datetime, limit: int, policy: RetryPolicy) -> list[_Claim]:
    lease = str(uuid.uuid4())
    claims = []
    with transaction(engine) as session:
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= now)
            .where((WebhookDelivery.lease_expires_at == None) | (WebhookDelivery.lease_expires_at <= now))  # noqa: E711
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if is_postgres(session.get_bind()):
            stmt = stmt.with_for_update(skip_locked=True)
        for position, delivery in enumerate(session.exec(stmt).all()):
            event = session.get(WebhookEvent, delivery.event_id)
            subscription = session.get(WebhookSubscription, delivery.subscription_id)
            body, headers = delivery_request(event, subscription, delivery)
            delivery.lease = lease
            # This worker sends its claims one after the other: the n-th may wait n timeouts.
            delivery.lease_expires_at = now + timedelta(
                seconds=policy.lease_seconds + policy.timeout_seconds * (position + 1))
            session.add(delivery)
            claims.append(_Claim(delivery.id, delivery.delivery_id, lease, delivery.attempts + 1, subscription.url,
                                 body, {**headers, "x-icr-delivery-attempt": str(delivery.attempts + 1)},
                                 subscription.active))
    return claims


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    error: str
    body: str
    duration_ms: int


def _send(client, claim: _Claim, timeout: float) -> _Answer:
    import httpx

    started = time.perf_counter()
    try:
        response = client.post(claim.url, content=claim.body, headers=claim.headers, timeout=timeout)
        return _Answer(response.status_code, "", response.text[:RESPONSE_LOG_LIMIT],
                       int((time.perf_counter() - started) * 1000))
    except httpx.HTTPError as exc:
        return _Answer(None, f"{type(exc).__name__}: {exc}"[:1000], "", int((time.perf_counter() - started) * 1000))


def _outcome(answer: _Answer, attempt: int, policy: RetryPolicy) -> DeliveryStatus:
    code = answer.status_code
    if code is not None and 200 <= code < 300:
        return DeliveryStatus.delivered
    permanent = code is not None and 400 <= code < 500 and code not in RETRYABLE_4XX
    if permanent or attempt >= policy.max_attempts:
        return DeliveryStatus.failed
    return DeliveryStatus.pending


def _record(engine: Engine, claim: _Claim, answer: _Answer, started_at: datetime, now: datetime,
            policy: RetryPolicy, report: DeliveryReport) -> None:
    with transaction(engine) as session:
        stmt = select(WebhookDelivery).where(WebhookDelivery.id == claim.id)
        delivery = session.exec(stmt.with_for_update()).one()
        if delivery.lease != claim.lease or delivery.status is not DeliveryStatus.pending:
            report.lost_lease += 1  # the lease expired and another worker took over
            return
        status = _outcome(answer, claim.attempt, policy)
        delivery.attempts = claim.attempt
        delivery.last_status_code = answer.status_code
        delivery.last_error = answer.error or ("" if status is DeliveryStatus.delivered
                                               else f"receiver answered HTTP {answer.status_code}")
        delivery.lease = None
        delivery.lease_expires_at = None
        delivery.status = status
        if status is DeliveryStatus.delivered:
            delivery.delivered_at = now
            report.delivered += 1
        elif status is DeliveryStatus.pending:
            delivery.next_attempt_at = now + policy.delay(claim.attempt)
            report.retrying += 1
        else:
            report.failed += 1
        session.add(delivery)
        session.add(WebhookAttempt(
            delivery_id=delivery.id, number=claim.attempt, started_at=started_at, duration_ms=answer.duration_ms,
            status_code=answer.status_code, error=answer.error, response_body=answer.body,
            outcome={DeliveryStatus.delivered: "delivered", DeliveryStatus.pending: "retry"}.get(status, "failed"),
        ))
    log.info("webhook attempt", extra={"delivery_id": claim.delivery_id, "attempt": claim.attempt,
                                       "status_code": answer.status_code, "outcome": status.value,
                                       "error": answer.error})


def deliver_due(
    engine: Engine,
    *,
    policy: RetryPolicy = RetryPolicy(),
    now: Callable[[], datetime] = utcnow,
    limit: int = 100,
    client=None,
) -> DeliveryReport:
    """Attempt every delivery that is due now (one pass); returns what happened.

    ``now`` is injectable so that tests can step through the backoff schedule."""
    import httpx

    report = DeliveryReport()
    claims = _claim_due(engine, now(), limit, policy)
    if not claims:
        return report
    own_client = client is None
    client = client or httpx.Client(follow_redirects=False)
    try:
        for claim in claims:
            started_at = now()
            if not claim.subscription_active:
                answer = _Answer(None, "subscription is deactivated", "", 0)
                _record(engine, claim, answer, started_at, now(), RetryPolicy(max_attempts=1), report)
            else:
                answer = _send(client, claim, policy.timeout_seconds)
                _record(engine, claim, answer, started_at, now(), policy, report)
            report.attempted += 1
            report.delivery_ids.append(claim.delivery_id)
    finally:
        if own_client:
            client.close()
    return report


def deliver_forever(
    engine: Engine,
    *,
    policy: RetryPolicy = RetryPolicy(),
    poll_interval: float = 2.0,
    should_stop: Callable[[], bool] = lambda: False,
    on_pass: Callable[[DeliveryReport], None] | None = None,
) -> None:
    """``--follow``: deliver due webhooks every ``poll_interval`` seconds until stopped."""
    import httpx

    with httpx.Client(follow_redirects=False) as client:
        while not should_stop():
            report = deliver_due(engine, policy=policy, client=client)
            if on_pass is not None:
                on_pass(report)
            if report.attempted == 0:
                time.sleep(poll_interval)


# --------------------------------------------------------------------------------------------
# Delivery log and manual redelivery
# --------------------------------------------------------------------------------------------


def get_delivery(session: Session, delivery_id: str) -> WebhookDelivery:
    delivery = session.exec(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)).first()
    if delivery is None:
        raise NotFound(f"webhook delivery {delivery_id} does not exist", field="delivery_id")
    return delivery


def attempts_of(session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(session.exec(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.number)
    ))


def redeliver(session: Session, delivery_id: str, now: datetime | None = None) -> WebhookDelivery:
    """A new delivery of the same event to the same subscription, due now (never commits).

    Refused while the original is still pending (it is retried on its own schedule) and for a
    deactivated subscription."""
    original = get_delivery(session, delivery_id)
    if original.status is DeliveryStatus.pending:
        raise Conflict(
            f"delivery {delivery_id} is still pending (attempt {original.attempts + 1} is due at "
            f"{_iso(original.next_attempt_at)}); redeliver it once it is delivered or failed",
            field="delivery_id", rule="delivery-still-pending",
        )
    subscription = get_subscription(session, original.subscription_id)
    if not subscription.active:
        raise RuleViolation(f"webhook subscription {subscription.id} is deactivated", field="subscription_id",
                            rule="subscription-active")
    delivery = WebhookDelivery(delivery_id=str(uuid.uuid4()), event_id=original.event_id,
                               subscription_id=original.subscription_id, redelivery_of=original.id,
                               next_attempt_at=now or utcnow())
    session.add(delivery)
    session.flush()
    return delivery
