"""Registry operations: each changes credits inside the caller's transaction and appends a
ledger entry. None of them commits; wrap calls in :func:`registry.db.transaction`.

Rules live in the pure modules of :mod:`registry.domain`; this module loads rows, applies
those rules and writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from .domain import serials as sr
from .domain.classes import STANDARD_AUTHORIZED_USES, ClassKey
from .domain.wallets import WalletLinkError, verify_wallet_link
from .errors import Conflict, NotFound, RuleViolation
from .ledger import append_entry
from .models import (
    Account,
    AccountType,
    CreditClass,
    CreditStatus,
    Issuance,
    IssuanceKind,
    Organization,
    Project,
    SerialBlock,
    Serialization,
    WalletLink,
)


def get_row(session: Session, model, ident: int, name: str):
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{name} {ident} does not exist", field=f"{name}_id")
    return row


# --------------------------------------------------------------------------------------------
# Organizations, accounts, wallets
# --------------------------------------------------------------------------------------------


def create_organization(session: Session, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise RuleViolation("organization name must not be empty", field="name")
    if session.exec(select(Organization).where(Organization.name == name)).first():
        raise Conflict(f"organization {name!r} already exists", field="name")
    org = Organization(name=name)
    session.add(org)
    session.flush()
    append_entry(session, "organization.created", {"organization_id": org.id, "name": name})
    return org


def open_account(session: Session, organization_id: int, name: str) -> Account:
    get_row(session, Organization, organization_id, "organization")
    account = Account(organization_id=organization_id, name=name, type=AccountType.holding)
    session.add(account)
    session.flush()
    append_entry(
        session,
        "account.opened",
        {"account_id": account.id, "organization_id": organization_id, "name": name, "type": account.type.value},
    )
    return account


def open_system_account(session: Session, type: AccountType, name: str) -> Account:
    """A registry-owned account: bridge custody, buffer or Article 6.2 adjustment."""
    if type is AccountType.holding:
        raise RuleViolation("system accounts are custody, buffer or adjustment accounts", field="type")
    account = Account(organization_id=None, name=name, type=type)
    session.add(account)
    session.flush()
    append_entry(session, "account.opened", {"account_id": account.id, "name": name, "type": type.value})
    return account


def link_wallet(session: Session, account_id: int, wallet: str, signed_at: int, signature: str, now: int) -> WalletLink:
    """Link a wallet to a holding account after checking its EIP-712 signature."""
    account = get_row(session, Account, account_id, "account")
    if account.type is not AccountType.holding:
        raise RuleViolation(f"account {account_id} is not a holding account", field="account_id")
    try:
        wallet = verify_wallet_link(account_id, wallet, signed_at, signature, now)
    except WalletLinkError as exc:
        raise RuleViolation(str(exc), field=exc.field, rule="wallet-link-signature") from exc
    existing = session.exec(select(WalletLink).where(WalletLink.address == wallet)).first()
    if existing is not None:
        if existing.account_id == account_id:
            return existing
        raise Conflict(f"wallet {wallet} is linked to another account", field="wallet")
    link = WalletLink(account_id=account_id, address=wallet, signature=signature, signed_at=signed_at)
    session.add(link)
    session.flush()
    append_entry(session, "wallet.linked", {"account_id": account_id, "wallet": wallet, "signature": signature})
    return link


# --------------------------------------------------------------------------------------------
# Projects, serializations, classes, issuance
# --------------------------------------------------------------------------------------------


def register_project(
    session: Session,
    *,
    project_number: int,
    name: str,
    country: str,
    dial_code: str,
    sector: int,
    credit_type: str,
    methodology: str,
) -> Project:
    # Validate the serialization fields through the same parser users' serials go through.
    probe = f"ICR-{country}-{dial_code}-{project_number}-{sector:02d}-{credit_type}-0-2000"
    try:
        sr.parse_serialization(probe)
    except sr.SerialFormatError as exc:
        raise RuleViolation(str(exc), field=exc.segment.replace(" ", "_")) from exc
    if session.exec(select(Project).where(Project.project_number == project_number)).first():
        raise Conflict(f"project number {project_number} is already registered", field="project_number")
    project = Project(
        project_number=project_number,
        name=name,
        country=country,
        dial_code=dial_code,
        sector=sector,
        credit_type=credit_type,
        methodology=methodology,
    )
    session.add(project)
    session.flush()
    append_entry(session, "project.registered", project.model_dump(mode="json", exclude={"created_at"}))
    return project


def serialization_of(project: Project, vintage: int, article6: bool) -> sr.VintageSerialization:
    return sr.VintageSerialization(
        country=project.country,
        dial_code=project.dial_code,
        project_number=project.project_number,
        sector=project.sector,
        credit_type=project.credit_type,
        article6=article6,
        vintage=vintage,
    )


def ensure_serialization(session: Session, project: Project, vintage: int, article6: bool = False) -> Serialization:
    text = str(serialization_of(project, vintage, article6))
    row = session.exec(select(Serialization).where(Serialization.text == text)).first()
    if row is None:
        row = Serialization(project_id=project.id, vintage=vintage, article6=article6, text=text)
        session.add(row)
        session.flush()
        key = ClassKey(project.project_number, vintage, article6)
        session.add(
            CreditClass(
                token_id=str(key.token_id),
                serialization_id=row.id,
                authorized_uses=STANDARD_AUTHORIZED_USES,
            )
        )
        session.flush()
    return row


def _lock_serialization(session: Session, serialization_id: int) -> Serialization:
    row = session.exec(
        select(Serialization).where(Serialization.id == serialization_id).with_for_update()
    ).one()
    return row


def issue_ex_post(
    session: Session,
    *,
    project_id: int,
    vintage: int,
    quantity: int,
    account_id: int,
    first_unit: int | None = None,
) -> Issuance:
    """Issue ``quantity`` active (ex-post) ICCs of a project vintage into an account as one block.

    Units continue after the highest unit issued for the vintage unless ``first_unit`` is given;
    a range overlapping any earlier issuance is refused. The serialization row is locked first,
    so two concurrent issuances of the same vintage are checked one after the other.
    """
    if quantity < 1:
        raise RuleViolation("quantity must be a positive whole number of tonnes", field="quantity")
    project = get_row(session, Project, project_id, "project")
    account = get_row(session, Account, account_id, "account")
    if account.type is not AccountType.holding:
        raise RuleViolation(f"account {account_id} is not a holding account", field="account_id")
    serialization = _lock_serialization(session, ensure_serialization(session, project, vintage).id)
    first = serialization.issued_through + 1 if first_unit is None else first_unit
    try:
        units = sr.SerialRange(first, first + quantity - 1)
    except ValueError as exc:
        raise RuleViolation(str(exc), field="first_unit") from exc
    issued = session.exec(
        select(Issuance.unit_first, Issuance.unit_last).where(Issuance.serialization_id == serialization.id)
    ).all()
    clash = sr.find_overlap((sr.SerialRange(a, b) for a, b in issued), units)
    if clash is not None:
        raise Conflict(
            f"units {units.first}-{units.last} of {serialization.text} overlap issued units {clash.first}-{clash.last}",
            field="first_unit",
            rule="no-overlapping-serials",
        )
    issuance = Issuance(
        serialization_id=serialization.id,
        kind=IssuanceKind.ex_post,
        account_id=account_id,
        unit_first=units.first,
        unit_last=units.last,
        quantity=units.quantity,
    )
    session.add(issuance)
    session.flush()
    session.add(
        SerialBlock(
            serialization_id=serialization.id,
            unit_first=units.first,
            unit_last=units.last,
            quantity=units.quantity,
            status=CreditStatus.active,
            account_id=account_id,
            issuance_id=issuance.id,
        )
    )
    serialization.issued_through = max(serialization.issued_through, units.last)
    session.add(serialization)
    session.flush()
    block = sr.SerialBlock(serialization_of(project, vintage, False), units)
    append_entry(
        session,
        "issuance.ex_post",
        {"issuance_id": issuance.id, "account_id": account_id, "serial_block": str(block), "quantity": quantity},
    )
    return issuance


# --------------------------------------------------------------------------------------------
# Moving serials
# --------------------------------------------------------------------------------------------


def locked_blocks(
    session: Session, *, account_id: int, serialization_id: int, status: CreditStatus, mirrored: bool | None = None
) -> list[SerialBlock]:
    conditions = [
        SerialBlock.account_id == account_id,
        SerialBlock.serialization_id == serialization_id,
        SerialBlock.status == status,
    ]
    if mirrored is not None:
        conditions.append(SerialBlock.mirrored == mirrored)
    return list(
        session.exec(
            select(SerialBlock)
            .where(*conditions)
            .order_by(SerialBlock.unit_first)
            .with_for_update()
        )
    )


def take_lowest_blocks(session: Session, blocks: list[SerialBlock], quantity: int) -> list[SerialBlock]:
    """Split ``blocks`` so that exactly ``quantity`` units, lowest first, sit in returned rows.

    The partially used block keeps its row for the taken (lower) part and a new row holds
    the rest, so the (serialization, first unit) key never collides mid-flush.
    """
    ranges = [sr.SerialRange(b.unit_first, b.unit_last) for b in blocks]
    taken, _left = sr.take_lowest(ranges, quantity)
    by_first = {b.unit_first: b for b in blocks}
    rows = []
    for part in taken:
        row = by_first[part.first]
        if part.last != row.unit_last:
            rest = SerialBlock(
                serialization_id=row.serialization_id,
                unit_first=part.last + 1,
                unit_last=row.unit_last,
                quantity=row.unit_last - part.last,
                status=row.status,
                account_id=row.account_id,
                issuance_id=row.issuance_id,
                tokenization_id=row.tokenization_id,
                mirrored=row.mirrored,
                retirement_id=row.retirement_id,
            )
            row.unit_last = part.last
            row.quantity = part.quantity
            session.add(row)
            session.flush()
            session.add(rest)
        rows.append(row)
    session.flush()
    return rows


@dataclass(frozen=True)
class MovedBlock:
    serial_block: str
    unit_first: int
    unit_last: int
    quantity: int


def describe_blocks(session: Session, rows: Iterable[SerialBlock]) -> list[MovedBlock]:
    out = []
    for row in rows:
        text = session.get(Serialization, row.serialization_id).text
        block = sr.SerialBlock(sr.parse_serialization(text), sr.SerialRange(row.unit_first, row.unit_last))
        out.append(MovedBlock(str(block), row.unit_first, row.unit_last, row.quantity))
    return out


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceRow:
    account_id: int | None
    account_name: str
    account_type: str
    serialization: str
    status: str
    quantity: int


def balances(session: Session) -> list[BalanceRow]:
    """Tonnes per (account, serialization, status), retired credits under no account."""
    stmt = (
        select(SerialBlock.account_id, Serialization.text, SerialBlock.status, func.sum(SerialBlock.quantity))
        .join(Serialization, Serialization.id == SerialBlock.serialization_id)
        .group_by(SerialBlock.account_id, Serialization.text, SerialBlock.status)
        .order_by(SerialBlock.account_id, Serialization.text, SerialBlock.status)
    )
    rows = []
    for account_id, text, status, total in session.exec(stmt):
        account = session.get(Account, account_id) if account_id is not None else None
        rows.append(
            BalanceRow(
                account_id=account_id,
                account_name=account.name if account else "(retired)",
                account_type=account.type.value if account else "terminal",
                serialization=text,
                status=CreditStatus(status).value,
                quantity=int(total),
            )
        )
    return rows


def retirement_blocks(session: Session, retirement_id: int) -> list[MovedBlock]:
    rows = session.exec(
        select(SerialBlock).where(SerialBlock.retirement_id == retirement_id).order_by(SerialBlock.unit_first)
    ).all()
    return describe_blocks(session, rows)
