"""Request and response models of the registry's resources (``XBase`` / ``XCreate`` / ``XPublic``)."""

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Optional

from pydantic import BaseModel, Field, StrictBool, StrictInt

from registry.api.problems import Problem
from registry.api.token_ids import WithTokenIdHex
from registry.bridged.bulk_tokenization import MAX_BULK_REQUESTS
from registry.domain.enums import (
    AccountType,
    ApiKeyRole,
    CancellationReason,
    CreditStatus,
    IssuanceKind,
    TokenizationStatus,
)
from registry.domain.wallets import MAX_LINK_SIGNATURE_BYTES

Name = Annotated[str, Field(min_length=1, max_length=200)]
#: Whole tonnes, as a JSON integer: ``true``, ``"5"`` and ``5.0`` are refused (a write that retires
#: or moves credits takes no guesses).
Quantity = Annotated[StrictInt, Field(ge=1, description="Whole tonnes (1 ICC = 1 t CO2-e).")]
SerializationText = Annotated[
    str, Field(min_length=1, max_length=60, pattern=r"^\S+$",
               description="Vintage serialization, e.g. ICR-ISL-354-78040-14-R-0-2023 (no spaces).")
]


class OrganizationBase(BaseModel):
    name: Name


class OrganizationCreate(OrganizationBase):
    pass


class OrganizationPublic(OrganizationBase):
    id: int


class AccountBase(BaseModel):
    name: Name


class AccountCreate(AccountBase):
    pass


class SystemAccountCreate(AccountBase):
    type: AccountType = Field(description="bridge_custody, buffer or adjustment (the Article 6.2 non-CA account).")


class AccountPublic(AccountBase):
    id: int
    organization_id: Optional[int]
    type: AccountType


class BalancePublic(BaseModel):
    account_id: Optional[int]
    account_name: str
    account_type: str
    serialization: str
    status: str
    quantity: int


class WalletLinkBase(BaseModel):
    wallet: str = Field(min_length=42, max_length=42, description="0x address of the wallet.")


class WalletLinkCreate(WalletLinkBase):
    signed_at: StrictInt = Field(description="Unix seconds in the signed LinkWallet message.")
    signature: str = Field(min_length=4, max_length=2 + 2 * MAX_LINK_SIGNATURE_BYTES, description=(
        "Hex signature of the EIP-712 LinkWallet message (GET /wallet-links/typed-data): the wallet key's ECDSA "
        "signature, or for a contract wallet one its isValidSignature (ERC-1271) accepts."))


class WalletLinkPublic(WalletLinkBase):
    id: int
    account_id: int
    linked_at: datetime


class ProjectBase(BaseModel):
    project_number: StrictInt = Field(ge=1)
    name: str = Field(min_length=1, max_length=300)
    country: str = Field(min_length=3, max_length=3, description="ISO 3166-1 alpha-3 host country.")
    dial_code: str = Field(min_length=1, max_length=9)
    sector: StrictInt = Field(ge=0, le=99)
    credit_type: str = Field(min_length=1, max_length=1, description="R removal, A avoidance/reduction, H hybrid.")
    methodology: str = Field(min_length=1, max_length=200)


class ProjectCreate(ProjectBase):
    pass


class ProjectPublic(ProjectBase):
    id: int


class IssuanceBase(BaseModel):
    project_id: StrictInt
    vintage: StrictInt = Field(ge=1000, le=9999)
    quantity: Quantity
    account_id: StrictInt


class IssuanceCreate(IssuanceBase):
    kind: IssuanceKind = Field(
        default=IssuanceKind.ex_post, description="ex_post: active ICCs; ex_ante: inactive until verification."
    )
    first_unit: Optional[StrictInt] = Field(default=None, ge=1, description="Defaults to after the highest unit issued.")
    monitoring_start: date = Field(description=(
        "First day of the monitoring period issued for (predicted, for ex_ante). The period lies within one "
        "calendar year, the vintage, and overlaps no other issuance of the project (seed 004 criterion 7(a))."))
    monitoring_end: date = Field(description="Last day of the monitoring period (same calendar year).")
    verification_reference: Optional[str] = Field(default=None, min_length=1, max_length=200, description=(
        "ex_post: the verification report the issuance rests on (required); ex_ante: none, its conversions "
        "record their verifications."))
    verification_body: Optional[str] = Field(default=None, min_length=1, max_length=200,
                                             description="ex_post: the verification body (required).")
    verified_on: Optional[date] = Field(default=None, description=(
        "ex_post: the verification date (required), after the period ended and not after today."))


class IssuancePublic(IssuanceBase):
    id: int
    kind: IssuanceKind
    serialization: str
    serial_block: str
    unit_first: int
    unit_last: int
    monitoring_start: Optional[date] = Field(description="The monitoring period issued for (predicted for ex-ante).")
    monitoring_end: Optional[date]
    verification_reference: Optional[str] = Field(description=(
        "The verification of an ex-post issuance; none for ex-ante ('not recorded before migration 0012' on "
        "older rows)."))
    verification_body: Optional[str]
    verified_on: Optional[date]
    created_at: datetime
    converted_quantity: int = Field(description="Ex-ante units converted to ex-post so far (0 for ex-post).")
    closed: bool = Field(description="An ex-ante issuance is closed by its final verification.")


class ConversionBase(BaseModel):
    verified_quantity: StrictInt = Field(ge=0, description="Verified tonnes to convert (0 only with final).")
    final: StrictBool = Field(default=False, description="Closes the issuance: unconverted ex-ante units are cancelled.")
    verification_reference: str = Field(min_length=1, max_length=200)


class ConversionCreate(ConversionBase):
    verification_body: str = Field(min_length=1, max_length=200, description="The verification body.")
    verified_on: date = Field(description="Date of the verification: after the period ended, not after today.")
    monitoring_start: date = Field(description=(
        "The period this verification verified: within the issuance's predicted period, overlapping no period "
        "an earlier conversion of it verified."))
    monitoring_end: date


class ConversionPublic(ConversionBase):
    id: int
    issuance_id: int
    converted_quantity: int
    shortfall_cancelled: int
    verification_body: Optional[str]
    verified_on: Optional[date]
    monitoring_start: Optional[date]
    monitoring_end: Optional[date]
    created_at: datetime


class ConversionResultPublic(ConversionPublic):
    converted_serial_blocks: list[str]
    cancellation_ids: list[int]


class TransferBase(BaseModel):
    from_account_id: StrictInt
    to_account_id: StrictInt
    serialization: SerializationText
    quantity: Quantity
    status: CreditStatus = Field(default=CreditStatus.active, description="active, or inactive (ex-ante) ICCs.")


class TransferCreate(TransferBase):
    pass


class TransferPublic(TransferBase):
    id: int
    created_at: datetime
    serial_blocks: Optional[list[str]] = Field(
        default=None, description="The serials moved (in the answer to the transfer; the ledger entry keeps them)."
    )


class PurposeName(str, Enum):
    voluntary = "voluntary"
    corsia = "corsia"
    ndc = "ndc"
    other_international = "other_international"


class RetirementDetailsBase(BaseModel):
    beneficiary_name: str = Field(default="", max_length=500)
    beneficiary_address: str = Field(default="", max_length=500)
    retiree: str = Field(default="", max_length=500)
    comment: str = Field(default="", max_length=2000)
    purpose_detail: Optional[str] = Field(default=None, max_length=500,
                                          description="Which other international mitigation purpose.")
    corsia_operator: Optional[str] = Field(default=None, max_length=200, description="CORSIA: aeroplane operator.")
    corsia_state: Optional[str] = Field(default=None, max_length=3, description="CORSIA: the operator's state.")
    compliance_period_start: Optional[StrictInt] = Field(default=None, description="CORSIA compliance period, first year.")
    compliance_period_end: Optional[StrictInt] = None
    ndc_party: Optional[str] = Field(default=None, max_length=3, description="NDC: the party (alpha-3).")
    consumption_start: Optional[date] = None
    consumption_end: Optional[date] = None
    jurisdiction: Optional[str] = Field(default=None, max_length=100)


class RetirementCreate(RetirementDetailsBase):
    account_id: StrictInt
    serialization: SerializationText
    quantity: Quantity
    purpose: PurposeName = PurposeName.voluntary


class RetirementPublic(RetirementDetailsBase, WithTokenIdHex):
    """A retirement as recorded. Its texts carry no length limits: an on-chain retirement is
    stored as the chain said it (within the columns; see ``input_flags``), and an answer never
    refuses what the database holds."""

    beneficiary_name: str = ""
    beneficiary_address: str = ""
    retiree: str = ""
    comment: str = ""
    purpose_detail: Optional[str] = Field(default=None, description="Which other international mitigation purpose.")
    corsia_operator: Optional[str] = Field(default=None, description="CORSIA: aeroplane operator.")
    corsia_state: Optional[str] = Field(default=None, description="CORSIA: the operator's state.")
    ndc_party: Optional[str] = Field(default=None, description="NDC: the party (alpha-3).")
    jurisdiction: Optional[str] = None
    id: int
    quantity: int
    serial_blocks: list[str]
    purpose: str
    account_id: Optional[int] = None
    custom_uri: str = ""
    chain_id: Optional[int]
    tx_hash: Optional[str]
    log_index: Optional[int]
    block_number: Optional[int]
    holder_wallet: Optional[str]
    beneficiary_wallet: Optional[str]
    onchain_retirement_id: Optional[int] = Field(default=None, description="the Retired event's retirementId")
    certificate_token_id: Optional[str] = Field(default=None, description=(
        "decimal id of the soulbound certificate token minted to the beneficiary (bit 255 | retirementId)"))
    certificate_token_id_hex: Optional[str] = None
    input_flags: list[str] = Field(default_factory=list, description=(
        "What was changed to store an on-chain retirement: text that could not be stored or was too long (with "
        "the keccak of what the chain said), dates that are no dates, undecodable data. Empty when nothing was."))
    created_at: Optional[datetime] = None


class CancellationBase(BaseModel):
    reason: CancellationReason
    note: str = Field(default="", max_length=2000)
    reference: str = Field(default="", max_length=200, description="E.g. the non-CA event, letter or verification.")


class CancellationCreate(CancellationBase):
    account_id: StrictInt
    serialization: SerializationText
    quantity: Quantity
    status: CreditStatus = Field(default=CreditStatus.active, description="active, or inactive (correction only).")


class CancellationPublic(CancellationBase):
    id: int
    account_id: int
    serialization: str
    quantity: int
    serial_blocks: list[str]
    created_at: datetime


class TokenizationCreate(BaseModel):
    account_id: StrictInt
    wallet: str = Field(min_length=42, max_length=42, description="A wallet linked to the account.")
    serialization: SerializationText
    quantity: Quantity
    custody_account_id: Optional[StrictInt] = Field(default=None, description=(
        "The bridge custody account of the deployment (see /deployments); may be left out when the registry has "
        "exactly one (one deployment)."))


class TokenizationPublic(WithTokenIdHex):
    id: int
    account_id: int
    wallet: str
    token_id: str
    quantity: int
    status: TokenizationStatus
    serial_blocks: list[str]


class TokenizationBulkCreate(BaseModel):
    requests: list[TokenizationCreate] = Field(min_length=1, max_length=MAX_BULK_REQUESTS, description=(
        f"At most {MAX_BULK_REQUESTS:,} tokenization requests, applied in order in one transaction, all or none."))


class TokenizationBulkPublic(BaseModel):
    tokenizations: list[TokenizationPublic] = Field(description="The recorded requests, in the order sent.")


class IndexedProblem(Problem):
    """The refusal of one request of a bulk call, as the single endpoint would answer it."""

    index: int = Field(description="Position of the refused request in ``requests`` (from 0).")


class BulkProblem(Problem):
    """A bulk call refused as a whole (rule ``bulk-atomic``): ``problems`` names each refused request."""

    problems: list[IndexedProblem]


class SerialBlockPublic(BaseModel):
    serial_block: str
    serialization: str
    unit_first: int
    unit_last: int
    quantity: int
    status: CreditStatus
    account_id: Optional[int]
    mirrored: bool
    retirement_id: Optional[int]
    cancellation_id: Optional[int] = None
    hold_id: Optional[int] = Field(default=None, description="Status held: the unit hold keeping these units.")


class ApiKeyBase(BaseModel):
    name: Name
    role: ApiKeyRole = ApiKeyRole.organization
    organization_id: Optional[StrictInt] = Field(default=None, description="Required for organization keys.")


class ApiKeyCreate(ApiKeyBase):
    pass


class ApiKeyPublic(ApiKeyBase):
    id: int
    key_id: str
    created_at: datetime
    revoked_at: Optional[datetime]


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The API key. Shown only now: the registry stores a hash.")


class LedgerEntryPublic(BaseModel):
    # Its OpenAPI component name is module-qualified (bridge.public.views has a model of the same
    # name); this keeps the published name, from where the model was first defined. This module
    # has no ``from __future__ import annotations`` so that the annotations need no module lookup.
    __module__ = "registry.api.routes.registry"

    seq: int
    kind: str
    payload: dict
    prev_hash: str
    entry_hash: str
    created_at: datetime


class LedgerStatus(BaseModel):
    entries: int
    head: str
    ok: bool
    problems: list[str]
    balances_ok: bool = True
    moves_replayed: int = 0
    balance_problems: list[str] = []


class HoldCreate(BaseModel):
    account_id: StrictInt
    serialization: SerializationText
    quantity: Quantity
    reason: str = Field(min_length=1, max_length=500, description="Why the units are held (no personal data: "
                        "reference the case).")
    reference: str = Field(default="", max_length=200, description="e.g. the KYC case or non-CA event.")
    tokenization_id: Optional[StrictInt] = Field(
        default=None, description="Bridge custody only: the pending tokenization whose units are held.")


class HoldRelease(BaseModel):
    note: str = Field(min_length=1, max_length=500, description="Why the hold ends.")


class HoldPublic(BaseModel):
    id: int
    account_id: int
    serialization: str
    quantity: int
    status: str = Field(description="placed or released.")
    origin: str = Field(description="operator (administrator key) or rule.")
    rule: Optional[str]
    reason: str
    reference: str
    tokenization_id: Optional[int]
    placed_by: str
    placed_at: datetime
    released_by: Optional[str]
    released_at: Optional[datetime]
    release_note: str
    serial_blocks: list[str] = Field(description="The blocks held now (empty once released).")
