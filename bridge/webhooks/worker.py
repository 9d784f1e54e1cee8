"""The webhook delivery worker: claims due deliveries with a lease, POSTs them and logs every attempt.

Retries. A delivery is attempted until the receiver answers 2xx. Network errors, timeouts,
5xx, 408, 409, 425 and 429 are retried with exponential backoff (:class:`RetryPolicy`) up to
``max_attempts``; any other 4xx (e.g. 403, a signature the receiver rejects) fails the
delivery at once. Every attempt is logged (:class:`WebhookAttempt`). Workers claim due
deliveries with a lease, so several can run at once and a worker that dies mid-send only
delays its deliveries until the lease expires.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy.engine import Engine
from sqlmodel import select

from bridge.webhooks.destinations import check_destination
from bridge.webhooks.signing import delivery_request
from bridge.webhooks.tables import (
    RESPONSE_LOG_LIMIT,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from registry.db import is_postgres, transaction
from registry.domain.text import UNSTORABLE
from registry.errors import RuleViolation
from registry.tables.core import utcnow

log = logging.getLogger("icr_bridge.webhooks")

RETRYABLE_4XX = frozenset({408, 409, 425, 429})


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


def _claim_due(engine: Engine, now: datetime, limit: int, policy: RetryPolicy, public_url: str) -> list[_Claim]:
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
            body, headers = delivery_request(event, subscription, delivery, public_url=public_url, now=now)
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
    refused: bool = False  # the destination is not one the bridge sends to: never retried


#: Characters of a receiver's answer kept in the delivery log: enough to debug, too few to read
#: anything back through it.
RESPONSE_EXCERPT = 200


def _excerpt(text: str) -> str:
    return UNSTORABLE.sub("", text)[:min(RESPONSE_EXCERPT, RESPONSE_LOG_LIMIT)]


def _send(client, claim: _Claim, timeout: float) -> _Answer:
    """POST one delivery to the address checked now. Whatever goes wrong is this delivery's
    answer, never the worker's exception: one organization's URL cannot stop the others'."""
    started = time.perf_counter()
    try:
        destination = check_destination(claim.url)
    except RuleViolation as exc:
        return _Answer(None, f"refused: {exc}"[:1000], "", 0, refused=True)
    try:
        response = client.post(destination.request_url(), content=claim.body,
                               headers={**claim.headers, **destination.headers()}, timeout=timeout,
                               extensions=destination.extensions())
        return _Answer(response.status_code, "", _excerpt(response.text), int((time.perf_counter() - started) * 1000))
    except Exception as exc:  # network, TLS, a URL httpx still refuses: this delivery failed, the rest go on
        return _Answer(None, f"{type(exc).__name__}: {exc}"[:1000], "", int((time.perf_counter() - started) * 1000))


def _outcome(answer: _Answer, attempt: int, policy: RetryPolicy) -> DeliveryStatus:
    code = answer.status_code
    if code is not None and 200 <= code < 300:
        return DeliveryStatus.delivered
    if answer.refused:
        return DeliveryStatus.failed
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
    public_url: str,
    policy: RetryPolicy = RetryPolicy(),
    now: Callable[[], datetime] = utcnow,
    limit: int = 100,
    client=None,
) -> DeliveryReport:
    """Attempt every delivery that is due now (one pass); returns what happened.

    ``public_url`` is the origin of the links in payloads (``ICR_PUBLIC_URL``); ``now`` is
    injectable so that tests can step through the backoff schedule."""
    import httpx

    report = DeliveryReport()
    claims = _claim_due(engine, now(), limit, policy, public_url)
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
    public_url: str,
    policy: RetryPolicy = RetryPolicy(),
    poll_interval: float = 2.0,
    should_stop: Callable[[], bool] = lambda: False,
    on_pass: Callable[[DeliveryReport], None] | None = None,
) -> None:
    """``--follow``: deliver due webhooks every ``poll_interval`` seconds until stopped."""
    import httpx

    with httpx.Client(follow_redirects=False) as client:
        while not should_stop():
            report = deliver_due(engine, public_url=public_url, policy=policy, client=client)
            if on_pass is not None:
                on_pass(report)
            if report.attempted == 0:
                time.sleep(poll_interval)
