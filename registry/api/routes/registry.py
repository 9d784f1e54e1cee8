"""HTTP API of the registry.

Reads are public: the registry is a public record of projects, serial blocks, balances,
issuances, retirements, cancellations and its own ledger (tokens' metadata and Merkle proofs,
served by :mod:`bridge.app`, are public too). Writes, wallet links, transfer histories and
API keys need an API key (``X-API-Key``, see :mod:`registry.api.auth`): an organization key acts
on its own organization's accounts only; the registry administrator key issues, converts,
cancels, registers projects and organizations and opens system accounts.

Every write is one database transaction (:func:`registry.api.deps.committing`) around operations
that never commit themselves. Errors are RFC 9457 problem+json naming the field or rule.
Lists are paginated with ``offset``/``limit``: newer lists answer ``{"page": {...}, "items":
[...]}``; the four original array endpoints (organizations, accounts, balances, projects)
keep answering an array and give the total in ``X-Total-Count`` and the next page in a
``Link`` header.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Generic, Optional, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry.api.auth import (
    AdminDep,
    PrincipalDep,
    authorize_account,
    authorize_organization,
    create_api_key,
    revoke_api_key,
)
from registry.api.deps import PROBLEM_JSON, SessionDep, committing, get_engine, get_session  # noqa: F401 - re-exported
from registry.bridged import custody
from registry.domain.classes import Purpose
from registry.domain.enums import (
    AccountType,
    ApiKeyRole,
    CancellationReason,
    CreditStatus,
    IssuanceKind,
    TokenizationStatus,
)
from registry.domain.lifecycle import RetirementDetails
from registry.domain.serials import serial_block_text
from registry.errors import Forbidden, NotFound, RegistryError
from registry.operations import accounts, projects
from registry.operations.cancellations import cancel
from registry.operations.conversions import convert_ex_ante
from registry.operations.holdings import balance_count, balances
from registry.operations.issuances import issue_ex_ante, issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.operations.preconditions import get_row
from registry.operations.retirements import retire, retirement_blocks
from registry.operations.serial_blocks import describe_blocks
from registry.operations.transfers import transfer
from registry.tables.core import (
    Account,
    ApiKey,
    Cancellation,
    CreditClass,
    ExAnteConversion,
    Issuance,
    LedgerEntry,
    Organization,
    Project,
    Retirement,
    SerialBlock,
    Serialization,
    TokenizationRequest,
    Transfer,
    WalletLink,
)

T = TypeVar("T")

Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500).")]


class Page(BaseModel):
    offset: int
    limit: int
    total: int


class Paged(BaseModel, Generic[T]):
    page: Page
    items: list[T]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    field: Optional[str] = None
    rule: Optional[str] = None


def _problem(status: int, description: str) -> dict:
    return {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}


PROBLEM_RESPONSES = {
    404: _problem(404, "Not found"),
    422: _problem(422, "Invalid input or a registry rule refused the operation"),
}
AUTH_RESPONSES = {
    401: _problem(401, "No API key, or an unknown or revoked one"),
    403: _problem(403, "The key may not act on this account or operation"),
    409: _problem(409, "Conflicts with the registry's state (overlapping serials, duplicates, concurrent change)"),
}

router = APIRouter(responses=PROBLEM_RESPONSES)


# --------------------------------------------------------------------------------------------
# Models (XBase / XCreate / XPublic)
# --------------------------------------------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=200)]
Quantity = Annotated[int, Field(ge=1, description="Whole tonnes (1 ICC = 1 t CO2-e).")]
SerializationText = Annotated[
    str, Field(min_length=1, max_length=60, description="Vintage serialization, e.g. ICR-ISL-354-78040-14-R-0-2023.")
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
    signed_at: int = Field(description="Unix seconds in the signed LinkWallet message.")
    signature: str = Field(min_length=4, max_length=200, description="EIP-712 signature of LinkWallet by the wallet.")


class WalletLinkPublic(WalletLinkBase):
    id: int
    account_id: int
    linked_at: datetime


class ProjectBase(BaseModel):
    project_number: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=300)
    country: str = Field(min_length=3, max_length=3, description="ISO 3166-1 alpha-3 host country.")
    dial_code: str = Field(min_length=1, max_length=9)
    sector: int = Field(ge=0, le=99)
    credit_type: str = Field(min_length=1, max_length=1, description="R removal, A avoidance/reduction, H hybrid.")
    methodology: str = Field(min_length=1, max_length=200)


class ProjectCreate(ProjectBase):
    pass


class ProjectPublic(ProjectBase):
    id: int


class IssuanceBase(BaseModel):
    project_id: int
    vintage: int = Field(ge=1000, le=9999)
    quantity: Quantity
    account_id: int


class IssuanceCreate(IssuanceBase):
    kind: IssuanceKind = Field(
        default=IssuanceKind.ex_post, description="ex_post: active ICCs; ex_ante: inactive until verification."
    )
    first_unit: Optional[int] = Field(default=None, ge=1, description="Defaults to after the highest unit issued.")


class IssuancePublic(IssuanceBase):
    id: int
    kind: IssuanceKind
    serialization: str
    serial_block: str
    unit_first: int
    unit_last: int
    created_at: datetime
    converted_quantity: int = Field(description="Ex-ante units converted to ex-post so far (0 for ex-post).")
    closed: bool = Field(description="An ex-ante issuance is closed by its final verification.")


class ConversionBase(BaseModel):
    verified_quantity: int = Field(ge=0, description="Verified tonnes to convert (0 only with final).")
    final: bool = Field(default=False, description="Closes the issuance: unconverted ex-ante units are cancelled.")
    verification_reference: str = Field(min_length=1, max_length=200)


class ConversionCreate(ConversionBase):
    pass


class ConversionPublic(ConversionBase):
    id: int
    issuance_id: int
    converted_quantity: int
    shortfall_cancelled: int
    created_at: datetime


class ConversionResultPublic(ConversionPublic):
    converted_serial_blocks: list[str]
    cancellation_ids: list[int]


class TransferBase(BaseModel):
    from_account_id: int
    to_account_id: int
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
    compliance_period_start: Optional[int] = Field(default=None, description="CORSIA compliance period, first year.")
    compliance_period_end: Optional[int] = None
    ndc_party: Optional[str] = Field(default=None, max_length=3, description="NDC: the party (alpha-3).")
    consumption_start: Optional[date] = None
    consumption_end: Optional[date] = None
    jurisdiction: Optional[str] = Field(default=None, max_length=100)


class RetirementCreate(RetirementDetailsBase):
    account_id: int
    serialization: SerializationText
    quantity: Quantity
    purpose: PurposeName = PurposeName.voluntary


class RetirementPublic(RetirementDetailsBase):
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
    created_at: Optional[datetime] = None


class RetirementPage(BaseModel):
    page: Page
    items: list[RetirementPublic]


class CancellationBase(BaseModel):
    reason: CancellationReason
    note: str = Field(default="", max_length=2000)
    reference: str = Field(default="", max_length=200, description="E.g. the non-CA event, letter or verification.")


class CancellationCreate(CancellationBase):
    account_id: int
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
    account_id: int
    wallet: str = Field(min_length=42, max_length=42, description="A wallet linked to the account.")
    serialization: SerializationText
    quantity: Quantity
    custody_account_id: int = Field(description="The bridge custody account of the deployment (see /deployments).")


class TokenizationPublic(BaseModel):
    id: int
    account_id: int
    wallet: str
    token_id: str
    quantity: int
    status: TokenizationStatus
    serial_blocks: list[str]


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


class SerialBlockPage(BaseModel):
    page: Page
    items: list[SerialBlockPublic]


class ApiKeyBase(BaseModel):
    name: Name
    role: ApiKeyRole = ApiKeyRole.organization
    organization_id: Optional[int] = Field(default=None, description="Required for organization keys.")


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


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _count(session: Session, model, *conditions) -> int:
    return session.exec(select(func.count()).select_from(model).where(*conditions)).one()


def page_of(session: Session, model, conditions, order, offset: int, limit: int):
    total = _count(session, model, *conditions)
    rows = session.exec(select(model).where(*conditions).order_by(*order).offset(offset).limit(limit)).all()
    return Page(offset=offset, limit=limit, total=total), rows


def array_page_headers(request: Request, response: Response, total: int, offset: int, limit: int) -> None:
    response.headers["X-Total-Count"] = str(total)
    if offset + limit < total:
        url = request.url.include_query_params(offset=offset + limit, limit=limit)
        response.headers["Link"] = f'<{url}>; rel="next"'


def _serial_text(session: Session, serialization_id: int, first: int, last: int) -> str:
    return serial_block_text(session.get(Serialization, serialization_id).text, first, last)


def _blocks_of(session: Session, *condition) -> list[str]:
    rows = session.exec(select(SerialBlock).where(*condition).order_by(SerialBlock.unit_first)).all()
    return [m.serial_block for m in describe_blocks(session, rows)]


def _retirement_public(session: Session, r: Retirement) -> RetirementPublic:
    return RetirementPublic(
        **r.model_dump(include=set(RetirementPublic.model_fields) - {"serial_blocks"}),
        serial_blocks=[b.serial_block for b in retirement_blocks(session, r.id)],
    )


def _issuance_public(session: Session, i: Issuance) -> IssuancePublic:
    conversions = session.exec(select(ExAnteConversion).where(ExAnteConversion.issuance_id == i.id)).all()
    return IssuancePublic(
        id=i.id, kind=i.kind, project_id=session.get(Serialization, i.serialization_id).project_id,
        vintage=session.get(Serialization, i.serialization_id).vintage, quantity=i.quantity, account_id=i.account_id,
        serialization=session.get(Serialization, i.serialization_id).text,
        serial_block=_serial_text(session, i.serialization_id, i.unit_first, i.unit_last),
        unit_first=i.unit_first, unit_last=i.unit_last, created_at=i.created_at,
        converted_quantity=sum(c.converted_quantity for c in conversions),
        closed=any(c.final for c in conversions),
    )


def _cancellation_public(session: Session, c: Cancellation) -> CancellationPublic:
    return CancellationPublic(
        id=c.id, reason=c.reason, note=c.note, reference=c.reference, account_id=c.account_id,
        serialization=session.get(Serialization, c.serialization_id).text, quantity=c.quantity,
        serial_blocks=_blocks_of(session, SerialBlock.cancellation_id == c.id), created_at=c.created_at,
    )


def _transfer_public(session: Session, t: Transfer, serial_blocks: Optional[list[str]] = None) -> TransferPublic:
    return TransferPublic(
        id=t.id, from_account_id=t.from_account_id, to_account_id=t.to_account_id,
        serialization=session.get(Serialization, t.serialization_id).text, quantity=t.quantity, status=t.status,
        created_at=t.created_at, serial_blocks=serial_blocks,
    )


def _api_key_public(k: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(k, from_attributes=True)


def _organization_account_ids(session: Session, organization_id: Optional[int]) -> list[int]:
    return list(session.exec(select(Account.id).where(Account.organization_id == organization_id)))


# --------------------------------------------------------------------------------------------
# Public reads
# --------------------------------------------------------------------------------------------


@router.get("/health", tags=["meta"])
def health(session: SessionDep) -> dict:
    session.exec(select(func.count()).select_from(Organization)).one()
    return {"status": "ok"}


@router.get("/organizations", tags=["registry"])
def list_organizations(
    session: SessionDep, request: Request, response: Response, offset: Offset = 0, limit: Limit = 500
) -> list[OrganizationPublic]:
    page, rows = page_of(session, Organization, [], [Organization.id], offset, limit)
    array_page_headers(request, response, page.total, offset, limit)
    return [OrganizationPublic(id=o.id, name=o.name) for o in rows]


@router.get("/organizations/{organization_id}", tags=["registry"])
def get_organization(organization_id: int, session: SessionDep) -> OrganizationPublic:
    o = get_row(session, Organization, organization_id, "organization")
    return OrganizationPublic(id=o.id, name=o.name)


@router.get("/accounts", tags=["registry"])
def list_accounts(
    session: SessionDep,
    request: Request,
    response: Response,
    organization_id: Optional[int] = None,
    type: Optional[AccountType] = None,
    offset: Offset = 0,
    limit: Limit = 500,
) -> list[AccountPublic]:
    conditions = []
    if organization_id is not None:
        conditions.append(Account.organization_id == organization_id)
    if type is not None:
        conditions.append(Account.type == type)
    page, rows = page_of(session, Account, conditions, [Account.id], offset, limit)
    array_page_headers(request, response, page.total, offset, limit)
    return [AccountPublic.model_validate(a, from_attributes=True) for a in rows]


@router.get("/accounts/{account_id}", tags=["registry"])
def get_account(account_id: int, session: SessionDep) -> AccountPublic:
    return AccountPublic.model_validate(get_row(session, Account, account_id, "account"), from_attributes=True)


@router.get("/balances", tags=["registry"])
def list_balances(
    session: SessionDep,
    request: Request,
    response: Response,
    account_id: Optional[int] = None,
    organization_id: Optional[int] = None,
    offset: Offset = 0,
    limit: Limit = 500,
) -> list[BalancePublic]:
    """Tonnes per account, vintage serialization and status (retired and cancelled credits are
    terminal and sit under no account)."""
    account_ids = None
    if account_id is not None:
        account_ids = [account_id]
    elif organization_id is not None:
        account_ids = _organization_account_ids(session, organization_id)
    total = balance_count(session, account_ids=account_ids)
    array_page_headers(request, response, total, offset, limit)
    return [BalancePublic(**b.__dict__) for b in balances(session, account_ids=account_ids, offset=offset,
                                                             limit=limit)]


@router.get("/projects", tags=["registry"])
def list_projects(
    session: SessionDep, request: Request, response: Response, offset: Offset = 0, limit: Limit = 500
) -> list[ProjectPublic]:
    page, rows = page_of(session, Project, [], [Project.id], offset, limit)
    array_page_headers(request, response, page.total, offset, limit)
    return [ProjectPublic.model_validate(p, from_attributes=True) for p in rows]


@router.get("/serial-blocks", tags=["registry"])
def list_serial_blocks(
    session: SessionDep,
    account_id: Optional[int] = None,
    status: Optional[CreditStatus] = None,
    serialization: Optional[str] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SerialBlockPage:
    conditions = []
    if account_id is not None:
        conditions.append(SerialBlock.account_id == account_id)
    if status is not None:
        conditions.append(SerialBlock.status == status)
    if serialization is not None:
        conditions.append(SerialBlock.serialization_id == projects.serialization_by_text(session, serialization).id)
    total = session.exec(select(func.count()).select_from(SerialBlock).where(*conditions)).one()
    rows = session.exec(
        select(SerialBlock, Serialization.text)
        .join(Serialization, Serialization.id == SerialBlock.serialization_id)
        .where(*conditions)
        .order_by(Serialization.text, SerialBlock.unit_first)
        .offset(offset)
        .limit(limit)
    ).all()
    items = [
        SerialBlockPublic(
            serial_block=serial_block_text(text, b.unit_first, b.unit_last),
            serialization=text,
            unit_first=b.unit_first,
            unit_last=b.unit_last,
            quantity=b.quantity,
            status=b.status,
            account_id=b.account_id,
            mirrored=b.mirrored,
            retirement_id=b.retirement_id,
            cancellation_id=b.cancellation_id,
        )
        for b, text in rows
    ]
    return SerialBlockPage(page=Page(offset=offset, limit=limit, total=total), items=items)


@router.get("/issuances", tags=["registry"])
def list_issuances(
    session: SessionDep, kind: Optional[IssuanceKind] = None, offset: Offset = 0, limit: Limit = 50
) -> Paged[IssuancePublic]:
    conditions = [Issuance.kind == kind] if kind is not None else []
    page, rows = page_of(session, Issuance, conditions, [Issuance.id], offset, limit)
    return Paged[IssuancePublic](page=page, items=[_issuance_public(session, i) for i in rows])


@router.get("/issuances/{issuance_id}", tags=["registry"])
def get_issuance(issuance_id: int, session: SessionDep) -> IssuancePublic:
    return _issuance_public(session, get_row(session, Issuance, issuance_id, "issuance"))


@router.get("/issuances/{issuance_id}/conversions", tags=["registry"])
def list_conversions(issuance_id: int, session: SessionDep, offset: Offset = 0, limit: Limit = 50
                     ) -> Paged[ConversionPublic]:
    get_row(session, Issuance, issuance_id, "issuance")
    page, rows = page_of(session, ExAnteConversion, [ExAnteConversion.issuance_id == issuance_id],
                       [ExAnteConversion.id], offset, limit)
    return Paged[ConversionPublic](page=page, items=[ConversionPublic.model_validate(c, from_attributes=True)
                                                     for c in rows])


@router.get("/retirements", tags=["registry"])
def list_retirements(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RetirementPage:
    total = session.exec(select(func.count()).select_from(Retirement)).one()
    rows = session.exec(select(Retirement).order_by(Retirement.id.desc()).offset(offset).limit(limit)).all()
    return RetirementPage(
        page=Page(offset=offset, limit=limit, total=total), items=[_retirement_public(session, r) for r in rows]
    )


@router.get("/retirements/{retirement_id}", tags=["registry"])
def get_retirement(retirement_id: int, session: SessionDep) -> RetirementPublic:
    r = session.get(Retirement, retirement_id)
    if r is None:
        raise NotFound(f"retirement {retirement_id} does not exist", field="retirement_id")
    return _retirement_public(session, r)


@router.get("/cancellations", tags=["registry"])
def list_cancellations(
    session: SessionDep, reason: Optional[CancellationReason] = None, offset: Offset = 0, limit: Limit = 50
) -> Paged[CancellationPublic]:
    conditions = [Cancellation.reason == reason] if reason is not None else []
    page, rows = page_of(session, Cancellation, conditions, [Cancellation.id.desc()], offset, limit)
    return Paged[CancellationPublic](page=page, items=[_cancellation_public(session, c) for c in rows])


@router.get("/cancellations/{cancellation_id}", tags=["registry"])
def get_cancellation(cancellation_id: int, session: SessionDep) -> CancellationPublic:
    return _cancellation_public(session, get_row(session, Cancellation, cancellation_id, "cancellation"))


@router.get("/ledger/verify", tags=["registry"])
def ledger_verify(session: SessionDep) -> LedgerStatus:
    """Recompute the hash chain of the append-only ledger and replay its moves against the
    serial blocks (balances per account, serialization and status); also check the maintained
    balance table that ``/balances`` reads against the blocks (``balance table: ...`` problems)."""
    v = verify_ledger(session)
    return LedgerStatus(entries=v.chain.entries, head=v.chain.head, ok=v.ok, problems=v.chain.problems,
                        balances_ok=v.balances.ok, moves_replayed=v.balances.moves,
                        balance_problems=v.balances.problems)


@router.get("/ledger/entries", tags=["registry"])
def list_ledger_entries(
    session: SessionDep, kind: Optional[str] = None, after_seq: Annotated[int, Query(ge=0)] = 0,
    offset: Offset = 0, limit: Limit = 100,
) -> Paged[LedgerEntryPublic]:
    """Ledger entries in sequence order (``after_seq`` resumes from a known entry)."""
    conditions = [LedgerEntry.seq > after_seq]
    if kind is not None:
        conditions.append(LedgerEntry.kind == kind)
    page, rows = page_of(session, LedgerEntry, conditions, [LedgerEntry.seq], offset, limit)
    return Paged[LedgerEntryPublic](page=page, items=[
        LedgerEntryPublic(seq=e.seq, kind=e.kind, payload=json.loads(e.payload), prev_hash=e.prev_hash,
                          entry_hash=e.entry_hash, created_at=e.created_at) for e in rows])


# --------------------------------------------------------------------------------------------
# Organizations, accounts, wallets (authenticated)
# --------------------------------------------------------------------------------------------

auth_router = APIRouter(responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@auth_router.post("/organizations", tags=["registry"], status_code=201)
def create_organization(body: OrganizationCreate, session: SessionDep, _: AdminDep) -> OrganizationPublic:
    """Register an organization (administrator)."""
    with committing(session):
        o = accounts.create_organization(session, body.name)
        return OrganizationPublic(id=o.id, name=o.name)


@auth_router.post("/organizations/{organization_id}/accounts", tags=["registry"], status_code=201)
def open_account(organization_id: int, body: AccountCreate, session: SessionDep, principal: PrincipalDep
                 ) -> AccountPublic:
    """Open another holding account for an organization (its own key, or an administrator)."""
    get_row(session, Organization, organization_id, "organization")
    authorize_organization(principal, organization_id)
    with committing(session):
        return AccountPublic.model_validate(accounts.open_account(session, organization_id, body.name), from_attributes=True)


@auth_router.post("/system-accounts", tags=["registry"], status_code=201)
def open_system_account(body: SystemAccountCreate, session: SessionDep, _: AdminDep) -> AccountPublic:
    """Open a registry-owned bridge custody, buffer or Article 6.2 non-CA adjustment account."""
    with committing(session):
        return AccountPublic.model_validate(accounts.open_system_account(session, body.type, body.name),
                                            from_attributes=True)


@auth_router.post("/accounts/{account_id}/wallets", tags=["registry"], status_code=201)
def link_wallet(account_id: int, body: WalletLinkCreate, session: SessionDep, principal: PrincipalDep
                ) -> WalletLinkPublic:
    """Link a wallet to a holding account with the wallet's EIP-712 LinkWallet signature."""
    authorize_account(session, principal, account_id)
    with committing(session):
        link = accounts.link_wallet(session, account_id, body.wallet, body.signed_at, body.signature, int(time.time()))
        return WalletLinkPublic(id=link.id, account_id=link.account_id, wallet=link.address, linked_at=link.linked_at)


@auth_router.get("/accounts/{account_id}/wallets", tags=["registry"])
def list_wallets(account_id: int, session: SessionDep, principal: PrincipalDep, offset: Offset = 0,
                 limit: Limit = 50) -> Paged[WalletLinkPublic]:
    authorize_account(session, principal, account_id)
    page, rows = page_of(session, WalletLink, [WalletLink.account_id == account_id], [WalletLink.id], offset, limit)
    return Paged[WalletLinkPublic](page=page, items=[
        WalletLinkPublic(id=w.id, account_id=w.account_id, wallet=w.address, linked_at=w.linked_at) for w in rows])


# --------------------------------------------------------------------------------------------
# Projects, issuance, conversion (administrator)
# --------------------------------------------------------------------------------------------


@auth_router.post("/projects", tags=["registry"], status_code=201)
def register_project(body: ProjectCreate, session: SessionDep, _: AdminDep) -> ProjectPublic:
    with committing(session):
        return ProjectPublic.model_validate(projects.register_project(session, **body.model_dump()), from_attributes=True)


@auth_router.post("/issuances", tags=["registry"], status_code=201)
def issue(body: IssuanceCreate, session: SessionDep, _: AdminDep) -> IssuancePublic:
    """Issue ex-post (active) or ex-ante (inactive) ICCs as one serial block (administrator)."""
    with committing(session):
        args = dict(project_id=body.project_id, vintage=body.vintage, quantity=body.quantity,
                    account_id=body.account_id, first_unit=body.first_unit)
        issuance = issue_ex_post(session, **args) if body.kind is IssuanceKind.ex_post else issue_ex_ante(
            session, **args)
        return _issuance_public(session, issuance)


@auth_router.post("/issuances/{issuance_id}/conversions", tags=["registry"], status_code=201)
def convert(issuance_id: int, body: ConversionCreate, session: SessionDep, _: AdminDep) -> ConversionResultPublic:
    """Convert ex-ante ICCs of an issuance to ex-post on verification (administrator)."""
    with committing(session):
        result = convert_ex_ante(session, issuance_id=issuance_id, verified_quantity=body.verified_quantity,
                                     final=body.final, verification_reference=body.verification_reference)
        c = result.conversion
        return ConversionResultPublic(
            **ConversionPublic.model_validate(c, from_attributes=True).model_dump(),
            converted_serial_blocks=[m.serial_block for m in result.converted],
            cancellation_ids=[record.id for record, _ in result.cancellations],
        )


# --------------------------------------------------------------------------------------------
# Moving credits
# --------------------------------------------------------------------------------------------


@auth_router.post("/transfers", tags=["registry"], status_code=201)
def create_transfer(body: TransferCreate, session: SessionDep, principal: PrincipalDep) -> TransferPublic:
    """Transfer ICCs (lowest serials first) from one of the key's accounts to another account.

    Organization keys transfer into holding accounts; transfers into or out of the buffer and
    non-CA adjustment accounts are the administrator's."""
    authorize_account(session, principal, body.from_account_id, field="from_account_id")
    destination = get_row(session, Account, body.to_account_id, "account", "to_account_id")
    if destination.organization_id is None and not principal.is_admin:
        raise Forbidden("only the registry administrator moves ICCs into registry accounts", field="to_account_id",
                        rule="administrator-only")
    with committing(session):
        serialization = projects.serialization_by_text(session, body.serialization)
        record, moved = transfer(session, from_account_id=body.from_account_id, to_account_id=body.to_account_id,
                                     serialization_id=serialization.id, quantity=body.quantity, status=body.status)
        return _transfer_public(session, record, [m.serial_block for m in moved])


@auth_router.get("/transfers", tags=["registry"])
def list_transfers(session: SessionDep, principal: PrincipalDep, account_id: Optional[int] = None,
                   offset: Offset = 0, limit: Limit = 50) -> Paged[TransferPublic]:
    """Transfers from or to the key's accounts (all transfers for the administrator)."""
    conditions = []
    if account_id is not None:
        authorize_account(session, principal, account_id)
        conditions.append(or_(Transfer.from_account_id == account_id, Transfer.to_account_id == account_id))
    elif not principal.is_admin:
        own = _organization_account_ids(session, principal.organization_id)
        conditions.append(or_(Transfer.from_account_id.in_(own), Transfer.to_account_id.in_(own)))
    page, rows = page_of(session, Transfer, conditions, [Transfer.id.desc()], offset, limit)
    return Paged[TransferPublic](page=page, items=[_transfer_public(session, t) for t in rows])


@auth_router.post("/retirements", tags=["registry"], status_code=201)
def create_retirement(body: RetirementCreate, session: SessionDep, principal: PrincipalDep) -> RetirementPublic:
    """Retire active ICCs from one of the key's holding accounts (lowest serials first)."""
    authorize_account(session, principal, body.account_id)
    details = RetirementDetails(
        purpose=Purpose[body.purpose.value],
        **body.model_dump(include=set(RetirementDetailsBase.model_fields)),
    )
    with committing(session):
        serialization = projects.serialization_by_text(session, body.serialization)
        retirement, _moved = retire(session, account_id=body.account_id, serialization_id=serialization.id,
                                        quantity=body.quantity, details=details)
        return _retirement_public(session, retirement)


@auth_router.post("/cancellations", tags=["registry"], status_code=201)
def create_cancellation(body: CancellationCreate, session: SessionDep, _: AdminDep) -> CancellationPublic:
    """Cancel ICCs of an account for a program reason (administrator)."""
    with committing(session):
        serialization = projects.serialization_by_text(session, body.serialization)
        record, _moved = cancel(session, account_id=body.account_id, serialization_id=serialization.id,
                                    quantity=body.quantity, reason=body.reason, note=body.note,
                                    reference=body.reference, status=body.status)
        return _cancellation_public(session, record)


@auth_router.post("/tokenizations", tags=["bridge"], status_code=201)
def create_tokenization(body: TokenizationCreate, session: SessionDep, principal: PrincipalDep) -> TokenizationPublic:
    """Move active ICCs from one of the key's holding accounts into bridge custody, to be minted
    as tokens to a wallet linked to that account."""
    authorize_account(session, principal, body.account_id)
    with committing(session):
        serialization = projects.serialization_by_text(session, body.serialization)
        credit_class = session.exec(select(CreditClass).where(CreditClass.serialization_id == serialization.id)).one()
        request, moved = custody.request_tokenization(
            session, account_id=body.account_id, wallet=body.wallet, class_id=credit_class.id,
            quantity=body.quantity, custody_account_id=body.custody_account_id,
        )
        return TokenizationPublic(id=request.id, account_id=request.account_id, wallet=request.wallet,
                                  token_id=credit_class.token_id, quantity=request.quantity, status=request.status,
                                  serial_blocks=[m.serial_block for m in moved])


@auth_router.get("/tokenizations/{tokenization_id}", tags=["bridge"])
def get_tokenization(tokenization_id: int, session: SessionDep, principal: PrincipalDep) -> TokenizationPublic:
    request = get_row(session, TokenizationRequest, tokenization_id, "tokenization")
    authorize_account(session, principal, request.account_id)
    credit_class = session.get(CreditClass, request.class_id)
    return TokenizationPublic(id=request.id, account_id=request.account_id, wallet=request.wallet,
                              token_id=credit_class.token_id, quantity=request.quantity, status=request.status,
                              serial_blocks=_blocks_of(session, SerialBlock.tokenization_id == request.id))


# --------------------------------------------------------------------------------------------
# API keys
# --------------------------------------------------------------------------------------------


@auth_router.post("/api-keys", tags=["auth"], status_code=201)
def create_key(body: ApiKeyCreate, session: SessionDep, principal: PrincipalDep) -> ApiKeyCreated:
    """Create an API key. Administrators create any key; an organization key creates further
    keys for its own organization (e.g. to rotate). The key is in this answer only."""
    if not principal.is_admin:
        if body.role is not ApiKeyRole.organization:
            raise Forbidden("only an administrator creates administrator keys", field="role",
                            rule="administrator-only")
        authorize_organization(principal, body.organization_id)
    with committing(session):
        row, key = create_api_key(session, name=body.name, role=body.role, organization_id=body.organization_id)
        return ApiKeyCreated(**_api_key_public(row).model_dump(), key=key)


@auth_router.get("/api-keys", tags=["auth"])
def list_keys(session: SessionDep, principal: PrincipalDep, offset: Offset = 0, limit: Limit = 50
              ) -> Paged[ApiKeyPublic]:
    """Keys (never their secrets): all for an administrator, the organization's own otherwise."""
    conditions = [] if principal.is_admin else [ApiKey.organization_id == principal.organization_id]
    page, rows = page_of(session, ApiKey, conditions, [ApiKey.id], offset, limit)
    return Paged[ApiKeyPublic](page=page, items=[_api_key_public(k) for k in rows])


@auth_router.delete("/api-keys/{api_key_id}", tags=["auth"])
def revoke_key(api_key_id: int, session: SessionDep, principal: PrincipalDep) -> ApiKeyPublic:
    row = get_row(session, ApiKey, api_key_id, "api_key")
    if not principal.is_admin:
        authorize_organization(principal, row.organization_id, field="api_key_id")
    with committing(session):
        return _api_key_public(revoke_api_key(session, api_key_id))


router.include_router(auth_router)


# --------------------------------------------------------------------------------------------
# Problem responses
# --------------------------------------------------------------------------------------------


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def _registry_error(_request: Request, exc: RegistryError):
        return JSONResponse(exc.problem(), status_code=exc.status, media_type=PROBLEM_JSON,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        body = {
            "type": "urn:icr-bridge:problem:invalid-input",
            "title": "invalid input",
            "status": 422,
            "detail": f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg", "invalid input")),
            "field": field or None,
            "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()],
        }
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        body = {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code, "detail": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_JSON)
