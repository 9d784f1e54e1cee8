"""The JSON Schemas of webhook deliveries: one pydantic model per event kind, published in the
OpenAPI document (its ``webhooks`` section, schemas under ``components``) by
:func:`document_webhooks`. Models forbid unknown keys, so a payload that drifts from its schema
fails the tests that validate real deliveries against the document."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field

from bridge.webhooks.tables import EVENT_DESCRIPTIONS, EventKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookProject(_Strict):
    projectNumber: int
    name: str
    country: str = Field(description="ISO 3166-1 alpha-3 host country")


class _ClassFacts(_Strict):
    tokenId: str = Field(description="ERC-1155 token id of the credit class (decimal)")
    serialization: str
    vintage: int
    article6: bool
    caStatus: str = Field(description="corresponding-adjustment status of the class")
    project: WebhookProject


class Retracts(_Strict):
    event: EventKind = Field(description="kind of the announced event taken back")
    id: str = Field(description="id of the announced event (the webhook-id it was delivered with)")


class WebhookLeaf(_Strict):
    batchId: int
    leafIndex: int


class _Tokenization(_ClassFacts):
    id: int
    createdAt: str
    accountId: int
    wallet: str
    amount: int
    chainId: int


class TokenizationMinted(_Tokenization):
    serialBlocks: list[str]
    mintTransactions: list[str]
    leaves: list[WebhookLeaf]


class TokenizationReturned(_Tokenization):
    status: str
    batchId: int
    revokeTransaction: str
    returnedAmount: int
    returnedSerialBlocks: list[str]


class TokenizationAfterRetraction(_Tokenization):
    status: str = Field(description="the tokenization's status after the undo (batched: waiting for its mint)")


class CertificateLinks(_Strict):
    html: str
    json_: str = Field(alias="json")
    class_metadata: str
    certificate_metadata: Optional[str] = None


class _Retirement(_ClassFacts):
    id: int
    createdAt: str
    reason: str = Field(description="purpose (voluntary, corsia, ndc, ...)")
    beneficiary: Optional[str]
    beneficiaryAddress: Optional[str]
    retiree: Optional[str]
    comment: Optional[str]
    organizationId: Optional[int]
    amount: int
    serialBlocks: list[str]
    chainId: Optional[int]
    txHash: Optional[str]
    logIndex: Optional[int]
    blockNumber: Optional[int]
    holderWallet: Optional[str]
    beneficiaryWallet: Optional[str]
    certificateTokenId: Optional[str]


class RetirementRecorded(_Retirement):
    certificate: str = Field(description="absolute URL of the printable certificate")
    links: CertificateLinks


class WebhookRedemption(_ClassFacts):
    id: int
    createdAt: str
    chainId: int
    holder: str
    amount: int
    accountReference: str
    accountId: Optional[int]
    reason: Optional[str]
    requestTransaction: str
    answerTransaction: Optional[str]
    serialBlocks: list[str]


class TokenizationData(_Strict):
    tokenization: TokenizationMinted


class TokenizationReturnedData(_Strict):
    tokenization: TokenizationReturned


class TokenizationRetractedData(_Strict):
    tokenization: TokenizationAfterRetraction
    reason: str
    retracts: Optional[Retracts]


class RetirementRecordedData(_Strict):
    retirement: RetirementRecorded


class RetirementRetractedData(_Strict):
    retirement: _Retirement
    reason: str
    retracts: Optional[Retracts]


class RedemptionData(_Strict):
    redemption: WebhookRedemption


class RedemptionRetractedData(_Strict):
    redemption: WebhookRedemption
    reason: str
    retracts: Optional[Retracts]


class CAStatusChange(_ClassFacts):
    transition: str = Field(description="the CA record's transition (confirm_applied, record_not_applied, ...)")
    from_: Optional[str] = Field(alias="from", description="status before (pending, applied, not_applied)")
    to: str = Field(description="status after; caStatus is the same")
    note: str
    evidence: Optional[str] = Field(description="reference of the evidence the decision rests on")
    decidedAt: str = Field(description="registry time of the decision (ISO 8601)")
    classMetadata: str = Field(description="absolute URL of the class's ERC-1155 metadata")


class CAStatusChangedData(_Strict):
    caStatusChange: CAStatusChange


#: The ``data`` of each event kind that the bridge sends.
PAYLOADS: dict[EventKind, type[BaseModel]] = {
    EventKind.tokenization_minted: TokenizationData,
    EventKind.tokenization_returned: TokenizationReturnedData,
    EventKind.tokenization_retracted: TokenizationRetractedData,
    EventKind.retirement_recorded: RetirementRecordedData,
    EventKind.retirement_retracted: RetirementRetractedData,
    EventKind.redemption_finalized: RedemptionData,
    EventKind.redemption_rejected: RedemptionData,
    EventKind.redemption_retracted: RedemptionRetractedData,
    EventKind.ca_status_changed: CAStatusChangedData,
}


def _model_name(kind: EventKind) -> str:
    return "".join(part.title() for part in kind.value.replace("_", ".").split(".")) + "Delivery"


def delivery_model(kind: EventKind) -> type[BaseModel]:
    """The body of a delivery of ``kind``: the signed document plus ``signedData``."""
    return type(_model_name(kind), (_Strict,), {
        "__annotations__": {"event": Literal[kind.value], "id": str, "createdAt": str,  # type: ignore[valid-type]
                            "organizationId": Optional[int], "data": PAYLOADS[kind], "signedData": str},
        "__doc__": EVENT_DESCRIPTIONS[kind],
        "id": Field(description="event id: the same on every delivery of the event (deduplicate on it)"),
        "signedData": Field(description="base64 of the UTF-8 JSON of the other keys: what x-icr-signature-256 signs"),
    })


DELIVERY_MODELS = {kind: delivery_model(kind) for kind in PAYLOADS}


def document_webhooks(app: FastAPI) -> None:
    """Publish every delivery in the OpenAPI document's ``webhooks`` (schemas in components)."""
    for kind, model in DELIVERY_MODELS.items():
        def receive(
            body: model,  # type: ignore[valid-type]
            x_icr_signature_256: Annotated[str, Header(alias="x-icr-signature-256",
                                                       description="sha256=<hex HMAC-SHA256 of signedData>")],
            webhook_id: Annotated[str, Header(alias="webhook-id", description="the event id")],
            webhook_timestamp: Annotated[str, Header(alias="webhook-timestamp", description="Unix seconds")],
            webhook_signature: Annotated[str, Header(
                alias="webhook-signature",
                description="v1,<base64 HMAC-SHA256 of id.timestamp.body>, space-separated, one per signing secret")],
            x_icr_delivery: Annotated[str, Header(alias="x-icr-delivery", description="delivery id")],
            x_icr_event: Annotated[str, Header(alias="x-icr-event", description="event kind")],
        ) -> None:
            """The receiver verifies a signature, answers 202 (403 on a bad signature) and
            deduplicates on ``id`` (delivery is at least once)."""

        receive.__annotations__["body"] = model  # a real class, not the postponed annotation's name
        app.webhooks.post(kind.value, summary=kind.value, description=EVENT_DESCRIPTIONS[kind],
                          operation_id=f"webhook_{kind.name}", status_code=202)(receive)
