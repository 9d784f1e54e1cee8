"""Webhook subscriptions: an organization's endpoint, the event kinds it wants and the secret that
signs its deliveries (created, read and changed inside the caller's transaction)."""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from bridge.webhooks.destinations import check_destination
from bridge.webhooks.tables import SECRET_PREFIX, EventKind, WebhookSubscription
from registry.errors import Conflict, NotFound, RuleViolation
from registry.tables.core import Organization, utcnow


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
    """``url`` if the bridge may send to it (see :mod:`bridge.webhooks.destinations`)."""
    check_destination(url)
    return url


#: Active subscriptions one organization may hold: enough for every marketplace integration,
#: too few to turn the worker into a fan-out engine.
MAX_SUBSCRIPTIONS_PER_ORGANIZATION = 20


def _check_cap(session: Session, organization_id: int) -> None:
    active = session.exec(
        select(func.count()).select_from(WebhookSubscription)
        .where(WebhookSubscription.organization_id == organization_id, WebhookSubscription.active == True)  # noqa: E712
    ).one()
    if active >= MAX_SUBSCRIPTIONS_PER_ORGANIZATION:
        raise Conflict(f"organization {organization_id} has {active} active webhook subscriptions, the most allowed: "
                       "deactivate one first", field="organization_id", rule="subscriptions-per-organization")


#: Bytes of a Standard Webhooks key: the Standard asks for 24 to 64.
SECRET_BYTES = (24, 64)


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (the Standard Webhooks convention)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_secret(secret: str) -> str:
    """A secret given by the subscriber: ``whsec_`` + base64 of 24 to 64 bytes."""
    low, high = SECRET_BYTES
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not low <= len(key) <= high:
        raise RuleViolation(f"a webhook secret is {SECRET_PREFIX} followed by the base64 of {low} to {high} random "
                            "bytes (the Standard Webhooks convention); omit it to have one generated",
                            field="secret", rule="whsec-secret")
    return secret


#: Longest grace period of a rotation: the previous secret signs until then.
MAX_ROTATION_GRACE = timedelta(days=7)


def rotate_secret(session: Session, subscription_id: int, grace: timedelta,
                  now: datetime | None = None) -> WebhookSubscription:
    """A new generated secret; the replaced one keeps signing deliveries (a second
    ``webhook-signature`` entry) for ``grace`` (0: not at all). Never commits."""
    if grace < timedelta(0) or grace > MAX_ROTATION_GRACE:
        raise RuleViolation(f"the grace period is 0 to {int(MAX_ROTATION_GRACE.total_seconds())} seconds",
                            field="grace_seconds", rule="rotation-grace")
    subscription = get_subscription(session, subscription_id)
    if grace > timedelta(0):
        subscription.previous_secret = subscription.secret
        subscription.previous_secret_expires_at = (now or utcnow()) + grace
    else:
        subscription.previous_secret = None
        subscription.previous_secret_expires_at = None
    subscription.secret = new_secret()
    session.add(subscription)
    session.flush()
    return subscription


def create_subscription(
    session: Session, organization_id: int, url: str, events: Iterable[str], secret: str | None = None,
    description: str = "",
) -> WebhookSubscription:
    if session.get(Organization, organization_id) is None:
        raise NotFound(f"organization {organization_id} does not exist", field="organization_id")
    if secret is not None:
        check_secret(secret)
    _check_cap(session, organization_id)
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
    active: bool | None = None, description: str | None = None,
) -> WebhookSubscription:
    subscription = get_subscription(session, subscription_id)
    if url is not None:
        subscription.url = check_url(url)
    if events is not None:
        subscription.events = ",".join(parse_kinds(events))
    if active is not None:
        if active and not subscription.active:
            _check_cap(session, subscription.organization_id)
        subscription.active = active
    if description is not None:
        subscription.description = description
    session.add(subscription)
    session.flush()
    return subscription
