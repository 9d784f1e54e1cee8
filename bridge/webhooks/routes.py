"""HTTP routes for marketplace webhooks: subscriptions per organization, the delivery log and
manual redelivery. Deliveries themselves are made by the worker (``icr-bridge webhooks
deliver``), never from a request.

Managing subscriptions needs an API key (``X-API-Key``): an organization key manages its own
organization's subscriptions and sees their deliveries; an administrator key any."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Optional

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StrictBool
from sqlmodel import Session

from bridge.webhooks import outbox, subscriptions
from bridge.webhooks.tables import (
    EVENT_DESCRIPTIONS,
    DeliveryStatus,
    EventKind,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from registry.api.auth import PrincipalDep, authorize_organization
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import problem_responses
from registry.domain.access import Principal
from registry.errors import NotFound
from registry.tables.core import Organization

_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one",
    403: "The key may not manage this organization's webhooks",
    404: "Not found",
    409: "Conflicts with the delivery's state, or the organization holds the most subscriptions allowed",
    422: "Invalid input or a rule refused the operation",
    429: "The organization asked for the most redeliveries allowed in the last hour",
}

# OpenAPI entries for the problem+json errors a route can answer: problems(404, 422).
problems = partial(problem_responses, _DESCRIPTIONS)

AUTH = (401, 403)
router = APIRouter(tags=["webhooks"])


class EventKindPublic(BaseModel):
    kind: EventKind
    description: str


class WebhookSubscriptionBase(BaseModel):
    url: str = Field(description="http(s) endpoint that receives POSTed deliveries", max_length=2000)
    events: list[EventKind] = Field(min_length=1, description="event kinds to deliver")
    description: str = Field("", max_length=500)


class WebhookSubscriptionCreate(WebhookSubscriptionBase):
    secret: Optional[str] = Field(None, max_length=200,
                                  description="whsec_ + base64 of 24-64 random bytes (Standard Webhooks); signs "
                                              "x-icr-signature-256 (the whole string is its HMAC key) and "
                                              "webhook-signature (the decoded bytes); generated when omitted")


class WebhookSubscriptionUpdate(BaseModel):
    url: Optional[str] = Field(None, max_length=2000)
    events: Optional[list[EventKind]] = Field(None, min_length=1)
    description: Optional[str] = Field(None, max_length=500)
    active: Optional[StrictBool] = None
    rotate_secret: StrictBool = Field(False, description="replace the secret with a new generated one at once, no "
                                                         "grace period (returned once); see POST .../rotate-secret")


class SecretRotation(BaseModel):
    grace_seconds: int = Field(86_400, ge=0, le=int(subscriptions.MAX_ROTATION_GRACE.total_seconds()),
                               description="how long the replaced secret keeps signing deliveries (a second "
                                           "webhook-signature entry); 0 ends it at once")


class WebhookSubscriptionPublic(WebhookSubscriptionBase):
    id: int
    organization_id: int
    active: bool
    created_at: datetime


class WebhookSubscriptionWithSecret(WebhookSubscriptionPublic):
    secret: Optional[str] = Field(description="the signing secret: shown only when created or rotated")
    previous_secret_expires_at: Optional[datetime] = Field(
        None, description="until when the replaced secret still signs (after a rotation with a grace period)")


class WebhookAttemptPublic(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: Optional[int]
    error: str
    response_body: str
    outcome: str = Field(description="delivered | retry | failed")


class WebhookDeliveryPublic(BaseModel):
    delivery_id: str = Field(description="x-icr-delivery header value")
    event_id: str = Field(description="id of the event inside signedData; the same on every delivery of it")
    event: EventKind
    subscription_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: Optional[datetime] = Field(description="when the next attempt is due (pending only)")
    last_status_code: Optional[int]
    last_error: str
    delivered_at: Optional[datetime]
    redelivery_of: Optional[str] = Field(description="delivery id this one redelivers")
    created_at: datetime
    log: list[WebhookAttemptPublic]


def _public(s: WebhookSubscription) -> WebhookSubscriptionPublic:
    return WebhookSubscriptionPublic(id=s.id, organization_id=s.organization_id, url=s.url,
                                     events=[EventKind(k) for k in s.kinds], description=s.description,
                                     active=s.active, created_at=s.created_at)


def _with_secret(s: WebhookSubscription, show: bool) -> WebhookSubscriptionWithSecret:
    return WebhookSubscriptionWithSecret(**_public(s).model_dump(), secret=s.secret if show else None,
                                         previous_secret_expires_at=s.previous_secret_expires_at if show else None)


def delivery_public(session: Session, d: WebhookDelivery) -> WebhookDeliveryPublic:
    event = session.get(WebhookEvent, d.event_id)
    original = session.get(WebhookDelivery, d.redelivery_of) if d.redelivery_of else None
    return WebhookDeliveryPublic(
        delivery_id=d.delivery_id, event_id=event.event_id, event=EventKind(event.kind),
        subscription_id=d.subscription_id, status=d.status, attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status is DeliveryStatus.pending else None,
        last_status_code=d.last_status_code, last_error=d.last_error, delivered_at=d.delivered_at,
        redelivery_of=original.delivery_id if original else None, created_at=d.created_at,
        log=[WebhookAttemptPublic.model_validate(a, from_attributes=True) for a in outbox.attempts_of(session, d)],
    )


def _own_subscription(session: Session, principal: Principal, subscription_id: int) -> WebhookSubscription:
    subscription = subscriptions.get_subscription(session, subscription_id)
    authorize_organization(principal, subscription.organization_id, field="subscription_id")
    return subscription


def _own_delivery(session: Session, principal: Principal, delivery_id: str) -> WebhookDelivery:
    delivery = outbox.get_delivery(session, delivery_id)
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    authorize_organization(principal, subscription.organization_id, field="delivery_id")
    return delivery


@router.get("/webhooks/events")
def list_event_kinds(page: PageDep) -> Paged[EventKindPublic]:
    """The event kinds a subscription can name."""
    kinds = [EventKindPublic(kind=k, description=EVENT_DESCRIPTIONS[k]) for k in EventKind]
    return page.answer(len(kinds), page.window(kinds))


@router.post("/organizations/{organization_id}/webhooks", status_code=201, responses=problems(*AUTH, 404, 409, 422))
def create_subscription(organization_id: int, body: WebhookSubscriptionCreate, session: SessionDep,
                        principal: PrincipalDep) -> WebhookSubscriptionWithSecret:
    """Subscribe an organization's endpoint to event kinds. The response carries the signing
    secret; it is not shown again (rotate it with ``POST /webhooks/{id}/rotate-secret``)."""
    authorize_organization(principal, organization_id)
    with committing(session):
        s = subscriptions.create_subscription(session, organization_id, body.url, [k.value for k in body.events],
                                   secret=body.secret, description=body.description)
    return _with_secret(s, show=True)


@router.get("/organizations/{organization_id}/webhooks", responses=problems(*AUTH, 404, 422))
def list_subscriptions(organization_id: int, session: SessionDep, principal: PrincipalDep, page: PageDep
                       ) -> Paged[WebhookSubscriptionPublic]:
    """The organization's subscriptions (without secrets)."""
    authorize_organization(principal, organization_id)
    if session.get(Organization, organization_id) is None:
        raise NotFound(f"organization {organization_id} does not exist", field="organization_id")
    total, rows = page.rows(session, WebhookSubscription, [WebhookSubscription.organization_id == organization_id],
                            [WebhookSubscription.id])
    return page.answer(total, [_public(s) for s in rows])


@router.get("/webhooks/{subscription_id}", responses=problems(*AUTH, 404, 422))
def get_subscription(subscription_id: int, session: SessionDep, principal: PrincipalDep) -> WebhookSubscriptionPublic:
    return _public(_own_subscription(session, principal, subscription_id))


@router.patch("/webhooks/{subscription_id}", responses=problems(*AUTH, 404, 409, 422))
def update_subscription(subscription_id: int, body: WebhookSubscriptionUpdate, session: SessionDep,
                        principal: PrincipalDep) -> WebhookSubscriptionWithSecret:
    """Change the URL, event kinds, description or active flag; optionally rotate the secret
    (the new one is in the response, once)."""
    _own_subscription(session, principal, subscription_id)
    with committing(session):
        s = subscriptions.update_subscription(
            session, subscription_id, url=body.url,
            events=[k.value for k in body.events] if body.events is not None else None,
            active=body.active, description=body.description,
        )
        if body.rotate_secret:
            s = subscriptions.rotate_secret(session, subscription_id, timedelta(0))
    return _with_secret(s, show=body.rotate_secret)


@router.post("/webhooks/{subscription_id}/rotate-secret", responses=problems(*AUTH, 404, 422))
def rotate_secret(subscription_id: int, body: SecretRotation, session: SessionDep,
                  principal: PrincipalDep) -> WebhookSubscriptionWithSecret:
    """Replace the signing secret with a new generated one (in the response, once). For
    ``grace_seconds`` the replaced secret keeps signing too: ``webhook-signature`` carries one
    ``v1,`` entry per secret, so a receiver switches to the new secret at its own pace. ICR's
    ``x-icr-signature-256`` is signed with the new secret only."""
    _own_subscription(session, principal, subscription_id)
    with committing(session):
        s = subscriptions.rotate_secret(session, subscription_id, timedelta(seconds=body.grace_seconds))
    return _with_secret(s, show=True)


@router.delete("/webhooks/{subscription_id}", status_code=204, response_class=Response,
               responses=problems(*AUTH, 404, 422))
def deactivate_subscription(subscription_id: int, session: SessionDep, principal: PrincipalDep) -> Response:
    """Deactivate a subscription: no new deliveries, pending ones fail; its delivery log is kept."""
    _own_subscription(session, principal, subscription_id)
    with committing(session):
        subscriptions.update_subscription(session, subscription_id, active=False)
    return Response(status_code=204)


@router.get("/webhooks/{subscription_id}/deliveries", responses=problems(*AUTH, 404, 422))
def list_deliveries(
    subscription_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    status: Optional[DeliveryStatus] = None,
) -> Paged[WebhookDeliveryPublic]:
    """The delivery log of a subscription, newest first, each with its attempts."""
    _own_subscription(session, principal, subscription_id)
    conditions = [WebhookDelivery.subscription_id == subscription_id]
    if status is not None:
        conditions.append(WebhookDelivery.status == status)
    total, rows = page.rows(session, WebhookDelivery, conditions, [WebhookDelivery.id.desc()])
    return page.answer(total, [delivery_public(session, d) for d in rows])


@router.get("/webhooks/deliveries/{delivery_id}", responses=problems(*AUTH, 404))
def get_delivery(delivery_id: str, session: SessionDep, principal: PrincipalDep) -> WebhookDeliveryPublic:
    """One delivery with its attempt log."""
    return delivery_public(session, _own_delivery(session, principal, delivery_id))


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", status_code=202,
             responses=problems(*AUTH, 404, 409, 422, 429))
def redeliver(delivery_id: str, session: SessionDep, principal: PrincipalDep) -> WebhookDeliveryPublic:
    """Deliver the same event again to the same subscription as a new delivery (new delivery
    id, same event id), due at once; the worker sends it. Refused while the delivery is
    still pending (409) or when the subscription is deactivated (422)."""
    _own_delivery(session, principal, delivery_id)
    with committing(session):
        d = outbox.redeliver(session, delivery_id)
    return delivery_public(session, d)
