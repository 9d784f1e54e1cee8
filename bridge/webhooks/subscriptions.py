"""Webhook subscriptions: an organization's endpoint, the event kinds it wants and the secret that
signs its deliveries (created, read and changed inside the caller's transaction)."""

from __future__ import annotations

import secrets
from typing import Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from bridge.webhooks.destinations import check_destination
from bridge.webhooks.tables import EventKind, WebhookSubscription
from registry.errors import Conflict, NotFound, RuleViolation
from registry.tables.core import Organization


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
    active: bool | None = None, description: str | None = None, rotate_secret: bool = False,
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
    if rotate_secret:
        subscription.secret = new_secret()
    session.add(subscription)
    session.flush()
    return subscription
