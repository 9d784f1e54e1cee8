"""The transactional outbox of webhook events, the delivery log and manual redelivery.

A state change that marketplaces care about calls :func:`record_event` inside the
database transaction that makes the change: the :class:`WebhookEvent` row and one
:class:`WebhookDelivery` row per matching subscription are written with it, so an event
exists if and only if its change committed. Nothing is sent from inside a transaction
(:mod:`bridge.webhooks.worker` sends). A delivered or failed delivery can be delivered again by
hand (:func:`redeliver`: a new delivery of the same event).

Which subscriptions get an event: those of the event's organization that subscribed to its
kind; an event without an organization (e.g. a CA status change, or an on-chain retirement
by a wallet linked to no account) goes to every subscription of that kind.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from bridge.webhooks.subscriptions import get_subscription
from bridge.webhooks.tables import (
    DeliveryStatus,
    EventKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from registry.bulk import insert_in_order, insert_rows
from registry.errors import Conflict, NotFound, RegistryError, RuleViolation
from registry.tables.core import utcnow


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_event(
    session: Session, kind: str | EventKind, payload: dict[str, Any], organization_id: int | None = None,
    subject: str | None = None,
) -> WebhookEvent:
    """Write an event to the outbox inside the caller's transaction (never commits).

    ``payload`` is the event's ``data`` (JSON-serializable); ``organization_id`` the
    organization it concerns, or None for an event every subscriber of the kind may see;
    ``subject`` what it is about (``retirement:12``), so a later retraction can name it.
    Links in the payload are stored as paths; :func:`event_document` makes them absolute.
    A delivery row is created for each active matching subscription."""
    kind = _event_kind(kind, payload)
    event = WebhookEvent(event_id=str(uuid.uuid4()), kind=kind, organization_id=organization_id, subject=subject,
                         data=canonical(payload))
    session.add(event)
    session.flush()
    for subscription in _subscribers(_active_subscriptions(session), kind, organization_id):
        session.add(WebhookDelivery(delivery_id=str(uuid.uuid4()), event_id=event.id, subscription_id=subscription.id,
                                    next_attempt_at=event.created_at))
    session.flush()
    return event


def record_events(session: Session, kind: str | EventKind,
                  events: list[tuple[dict[str, Any], int | None, str | None]]) -> list[int]:
    """:func:`record_event` for many events of one kind, in order (``events``: (payload,
    organization id, subject) each): the subscriptions read once, the events written with one
    multi-row insert and their deliveries with another, the same rows as one call per event.
    Returns the events' ids."""
    if not events:
        return []
    kind = _event_kind(kind, *(payload for payload, _, _ in events))
    # The models' defaults, taken once from one constructed row of each (constructing thousands is slow).
    event_defaults = WebhookEvent(event_id="", kind=kind, data="").model_dump(exclude={"id"})
    rows = [{**event_defaults, "event_id": str(uuid.uuid4()), "organization_id": organization_id, "subject": subject,
             "data": canonical(payload)} for payload, organization_id, subject in events]
    ids = insert_in_order(session, WebhookEvent.__table__, rows)
    subscriptions = _active_subscriptions(session)
    delivery_defaults = WebhookDelivery(delivery_id="", event_id=0, subscription_id=0).model_dump(exclude={"id"})
    deliveries = [
        {**delivery_defaults, "delivery_id": str(uuid.uuid4()), "event_id": event_id, "subscription_id": subscription.id,
         "next_attempt_at": row["created_at"]}
        for event_id, row in zip(ids, rows) for subscription in _subscribers(subscriptions, kind, row["organization_id"])
    ]
    insert_rows(session, WebhookDelivery.__table__, deliveries)
    return ids


def _event_kind(kind: str | EventKind, *payloads: Any) -> str:
    try:
        kind = EventKind(kind).value
    except ValueError:
        raise RuleViolation(f"unknown event kind {kind!r}", field="kind") from None
    if not all(isinstance(payload, dict) for payload in payloads):
        raise RuleViolation("an event payload is a JSON object", field="payload")
    return kind


def _active_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.exec(select(WebhookSubscription).where(WebhookSubscription.active == True)))  # noqa: E712


def _subscribers(subscriptions: list[WebhookSubscription], kind: str,
                 organization_id: int | None) -> list[WebhookSubscription]:
    """The subscriptions that get an event of ``kind`` about ``organization_id`` (module docstring)."""
    return [s for s in subscriptions
            if kind in s.kinds and (organization_id is None or s.organization_id == organization_id)]


def last_event(session: Session, kinds: list[str], subject: str) -> WebhookEvent | None:
    """The newest event of one of ``kinds`` about ``subject`` (what a retraction takes back)."""
    return session.exec(select(WebhookEvent).where(WebhookEvent.subject == subject, WebhookEvent.kind.in_(kinds))
                        .order_by(WebhookEvent.id.desc())).first()


#: Payload keys whose value is a link: stored as a path, delivered absolute.
LINK_KEYS = frozenset({"certificate", "classMetadata"})
#: Objects whose every value is a link (``links: {certificate, certificateJson, ...}``).
LINK_OBJECTS = frozenset({"links"})


def absolute_links(data: Any, public_url: str) -> Any:
    """``data`` with every link path (values of :data:`LINK_KEYS` and of :data:`LINK_OBJECTS`
    objects starting with ``/``) prefixed by ``public_url``."""
    base = public_url.rstrip("/")

    def link(value: Any) -> Any:
        return base + value if isinstance(value, str) and value.startswith("/") else value

    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in LINK_KEYS:
                out[key] = link(value)
            elif key in LINK_OBJECTS and isinstance(value, dict):
                out[key] = {k: link(v) for k, v in value.items()}
            else:
                out[key] = absolute_links(value, base)
        return out
    if isinstance(data, list):
        return [absolute_links(item, base) for item in data]
    return data


def event_document(event: WebhookEvent, public_url: str) -> dict[str, Any]:
    """What is signed: the event as marketplaces see it, links absolute under ``public_url``."""
    return {
        "event": event.kind,
        "id": event.event_id,
        "createdAt": _iso(event.created_at),
        "organizationId": event.organization_id,
        "data": absolute_links(json.loads(event.data), public_url),
    }


def _iso(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as ICR writes timestamps (``2022-03-14T11:01:55.941Z``)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


#: Redeliveries one organization may ask for per hour (each one is a request the bridge sends).
MAX_REDELIVERIES_PER_HOUR = 60


class TooManyRedeliveries(RegistryError):
    status = 429
    type = "too-many-redeliveries"


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
    since = (now or utcnow()) - timedelta(hours=1)
    recent = session.exec(
        select(func.count()).select_from(WebhookDelivery)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookSubscription.organization_id == subscription.organization_id,
               WebhookDelivery.redelivery_of != None, WebhookDelivery.created_at >= since)  # noqa: E711
    ).one()
    if recent >= MAX_REDELIVERIES_PER_HOUR:
        raise TooManyRedeliveries(f"organization {subscription.organization_id} asked for {recent} redeliveries in "
                                  f"the last hour, the most allowed; try again later", field="delivery_id",
                                  rule="redeliveries-per-hour")
    delivery = WebhookDelivery(delivery_id=str(uuid.uuid4()), event_id=original.event_id,
                               subscription_id=original.subscription_id, redelivery_of=original.id,
                               next_attempt_at=now or utcnow())
    session.add(delivery)
    session.flush()
    return delivery
