"""HTTP API of the registry (read side of the walking skeleton).

Sessions come from a dependency; errors are RFC 9457 problem+json naming the field or rule.
"""

from __future__ import annotations

from typing import Annotated, Iterator, Optional

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import operations as ops
from .errors import NotFound, RegistryError
from .ledger import verify_chain
from .models import Account, AccountType, CreditStatus, Organization, Project, Retirement, SerialBlock, Serialization

PROBLEM_JSON = "application/problem+json"


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


class Page(BaseModel):
    offset: int
    limit: int
    total: int


class OrganizationPublic(BaseModel):
    id: int
    name: str


class AccountPublic(BaseModel):
    id: int
    organization_id: Optional[int]
    name: str
    type: AccountType


class BalancePublic(BaseModel):
    account_id: Optional[int]
    account_name: str
    account_type: str
    serialization: str
    status: str
    quantity: int


class ProjectPublic(BaseModel):
    id: int
    project_number: int
    name: str
    country: str
    dial_code: str
    sector: int
    credit_type: str
    methodology: str


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


class SerialBlockPage(BaseModel):
    page: Page
    items: list[SerialBlockPublic]


class RetirementPublic(BaseModel):
    id: int
    quantity: int
    serial_blocks: list[str]
    purpose: str
    beneficiary_name: str
    beneficiary_address: str
    retiree: str
    comment: str
    chain_id: Optional[int]
    tx_hash: Optional[str]
    log_index: Optional[int]
    block_number: Optional[int]
    holder_wallet: Optional[str]
    beneficiary_wallet: Optional[str]


class RetirementPage(BaseModel):
    page: Page
    items: list[RetirementPublic]


class LedgerStatus(BaseModel):
    entries: int
    head: str
    ok: bool
    problems: list[str]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    field: Optional[str] = None
    rule: Optional[str] = None


PROBLEM_RESPONSES = {
    404: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Not found"},
    422: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Invalid input"},
}

router = APIRouter(responses=PROBLEM_RESPONSES)


def _retirement_public(session: Session, r: Retirement) -> RetirementPublic:
    return RetirementPublic(
        **r.model_dump(include=set(RetirementPublic.model_fields) - {"serial_blocks"}),
        serial_blocks=[b.serial_block for b in ops.retirement_blocks(session, r.id)],
    )


@router.get("/health", tags=["meta"])
def health(session: SessionDep) -> dict:
    session.exec(select(func.count()).select_from(Organization)).one()
    return {"status": "ok"}


@router.get("/organizations", tags=["registry"])
def list_organizations(session: SessionDep) -> list[OrganizationPublic]:
    return [OrganizationPublic(id=o.id, name=o.name) for o in session.exec(select(Organization).order_by(Organization.id))]


@router.get("/accounts", tags=["registry"])
def list_accounts(session: SessionDep) -> list[AccountPublic]:
    return [AccountPublic.model_validate(a, from_attributes=True) for a in session.exec(select(Account).order_by(Account.id))]


@router.get("/balances", tags=["registry"])
def list_balances(session: SessionDep) -> list[BalancePublic]:
    """Tonnes per account, vintage serialization and status (retired credits are terminal)."""
    return [BalancePublic(**b.__dict__) for b in ops.balances(session)]


@router.get("/projects", tags=["registry"])
def list_projects(session: SessionDep) -> list[ProjectPublic]:
    return [ProjectPublic.model_validate(p, from_attributes=True) for p in session.exec(select(Project).order_by(Project.id))]


@router.get("/serial-blocks", tags=["registry"])
def list_serial_blocks(
    session: SessionDep,
    account_id: Optional[int] = None,
    status: Optional[CreditStatus] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SerialBlockPage:
    conditions = []
    if account_id is not None:
        conditions.append(SerialBlock.account_id == account_id)
    if status is not None:
        conditions.append(SerialBlock.status == status)
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
            serial_block=f"{text}-{b.unit_first:06d}-{b.unit_last:06d}",
            serialization=text,
            unit_first=b.unit_first,
            unit_last=b.unit_last,
            quantity=b.quantity,
            status=b.status,
            account_id=b.account_id,
            mirrored=b.mirrored,
            retirement_id=b.retirement_id,
        )
        for b, text in rows
    ]
    return SerialBlockPage(page=Page(offset=offset, limit=limit, total=total), items=items)


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


@router.get("/ledger/verify", tags=["registry"])
def ledger_verify(session: SessionDep) -> LedgerStatus:
    """Recompute the hash chain of the append-only ledger."""
    check = verify_chain(session)
    return LedgerStatus(entries=check.entries, head=check.head, ok=check.ok, problems=check.problems)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def _registry_error(_request: Request, exc: RegistryError):
        return JSONResponse(exc.problem(), status_code=exc.status, media_type=PROBLEM_JSON)

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
