"""The webhook tables and their vocabulary: the event kinds marketplaces subscribe to, subscriptions,
the outbox of events, deliveries and the delivery log of attempts."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.tables.core import utcnow

RESPONSE_LOG_LIMIT = 2_000
#: Prefix of a Standard Webhooks secret: ``whsec_`` + base64 of the HMAC key.
SECRET_PREFIX = "whsec_"


class EventKind(str, Enum):
    """What marketplaces can subscribe to."""

    tokenization_minted = "tokenization.minted"  # every leaf of a tokenization request is minted
    tokenization_returned = "tokenization.returned"  # its batch was revoked on-chain: unminted units back in the account
    retirement_recorded = "retirement.recorded"  # a retirement is in the registry (e.g. synced from chain)
    retirement_retracted = "retirement.retracted"  # an announced retirement was undone (chain reorganization)
    tokenization_retracted = "tokenization.retracted"  # an announced mint or return was undone (reorganization)
    redemption_finalized = "redemption.finalized"  # tokens redeemed back into a registry account
    redemption_rejected = "redemption.rejected"  # a redemption request was refused, tokens released
    redemption_retracted = "redemption.retracted"  # an announced redemption answer was undone (reorganization)
    ca_status_changed = "ca_status.changed"  # corresponding-adjustment status of a class changed


EVENT_DESCRIPTIONS = {
    EventKind.tokenization_minted: "Every leaf of a tokenization request is minted on-chain: the tokens are in the wallet.",
    EventKind.tokenization_returned: "The batch holding a tokenization request's leaves was revoked on-chain: the "
                                     "units of its unminted leaves are back in the requesting account.",
    EventKind.retirement_recorded: "A retirement of specific serials is recorded in the registry (on-chain retirements "
                                   "once their Retired event is final).",
    EventKind.retirement_retracted: "An announced retirement (retirement.recorded) was undone because its chain "
                                    "event was reorganized away; `retracts` names the event it takes back.",
    EventKind.tokenization_retracted: "An announced tokenization.minted or tokenization.returned was undone because "
                                      "its chain event was reorganized away; `retracts` names the event.",
    EventKind.redemption_finalized: "A redemption (tokens back to registry serials) is finalized by the registry.",
    EventKind.redemption_rejected: "A redemption request was rejected by the registry; the escrowed tokens are released.",
    EventKind.redemption_retracted: "An announced redemption.finalized or redemption.rejected was undone because "
                                    "its chain event was reorganized away (the engine answers the request again).",
    EventKind.ca_status_changed: "The corresponding-adjustment status of an Article 6.2 credit class changed.",
}


class DeliveryStatus(str, Enum):
    pending = "pending"  # due at next_attempt_at
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # gave up: attempts exhausted, a non-retryable answer, or the subscription is gone



class WebhookSubscription(SQLModel, table=True):
    """An organization's endpoint for some event kinds, with the secret that signs deliveries."""

    id: Optional[int] = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)  # signs deliveries (whsec_ + base64 for subscriptions made since 0016)
    previous_secret: Optional[str] = Field(default=None, max_length=200)  # still signs during a rotation's grace
    previous_secret_expires_at: Optional[datetime] = None
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
    subject: Optional[str] = Field(default=None, max_length=60, index=True)  # e.g. "retirement:12": what it is about
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
