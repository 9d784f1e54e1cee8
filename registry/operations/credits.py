"""Registry operations: each changes credits inside the caller's transaction and appends a
ledger entry. None of them commits; wrap calls in :func:`registry.db.transaction`.

Rules live in the pure modules of :mod:`registry.domain`; this module loads rows, applies
those rules and writes the result.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain import lifecycle as lc
from registry.domain import serials as sr
from registry.domain.blocks import Piece, Place, move_record, plan_merges
from registry.domain.classes import STANDARD_AUTHORIZED_USES, ClassKey
from registry.domain.enums import AccountType, CancellationReason, CreditStatus, IssuanceKind
from registry.domain.wallets import WalletLinkError, verify_wallet_link
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations import hooks
from registry.operations.ledger import append_entry, lock_ledger
from registry.tables.core import (
    Account,
    AccountBalance,
    Cancellation,
    CreditClass,
    ExAnteConversion,
    Issuance,
    Organization,
    Project,
    Retirement,
    SerialBlock,
    Serialization,
    Transfer,
    WalletLink,
)


def get_row(session: Session, model, ident: int, name: str, field: str | None = None):
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{name} {ident} does not exist", field=field or f"{name}_id")
    return row


def check(rule, *args, **kwargs) -> Any:
    """Apply a pure lifecycle rule; its refusal becomes a :class:`RuleViolation` naming the
    field and rule."""
    try:
        return rule(*args, **kwargs)
    except lc.LifecycleError as exc:
        raise RuleViolation(exc.detail, field=exc.field, rule=exc.rule) from exc


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


def _account_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise RuleViolation("account name must not be empty", field="name")
    return name


def open_account(session: Session, organization_id: int, name: str) -> Account:
    """Open a holding account for an organization (an organization may hold several)."""
    get_row(session, Organization, organization_id, "organization")
    name = _account_name(name)
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
    name = _account_name(name)
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


def lock_serialization(session: Session, serialization_id: int) -> Serialization:
    """Lock a vintage serialization row for the rest of the transaction.

    Every operation that changes serial blocks of a serialization takes this lock first (and
    only then locks blocks), so operations on the same vintage run one after the other on
    PostgreSQL and always see each other's committed blocks; on SQLite every write
    transaction is already exclusive (BEGIN IMMEDIATE). The ledger's append lock is taken
    first (:func:`registry.operations.ledger.lock_ledger`): one lock order for every transaction."""
    lock_ledger(session)
    row = session.exec(
        select(Serialization).where(Serialization.id == serialization_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"serialization {serialization_id} does not exist", field="serialization_id")
    return row


_lock_serialization = lock_serialization  # earlier name


def serialization_by_text(session: Session, text: str) -> Serialization:
    """The serialization row for ``ICR-ISL-354-78040-14-R-0-2023`` (parsed, then normalized)."""
    try:
        parsed = sr.parse_serialization(text)
    except sr.SerialFormatError as exc:
        raise RuleViolation(str(exc), field="serialization", rule="serial-format") from exc
    row = session.exec(select(Serialization).where(Serialization.text == str(parsed))).first()
    if row is None:
        raise NotFound(f"no ICCs have been issued under {parsed}", field="serialization")
    return row


def _issue(
    session: Session,
    *,
    kind: IssuanceKind,
    project_id: int,
    vintage: int,
    quantity: int,
    account_id: int,
    first_unit: int | None,
    article6: bool,
) -> Issuance:
    project = get_row(session, Project, project_id, "project")
    account = get_row(session, Account, account_id, "account")
    check(lc.check_issuance, kind, account.type, quantity)
    if not 1000 <= vintage <= 9999:
        raise RuleViolation(f"vintage {vintage} is not a four-digit year", field="vintage")
    serialization = lock_serialization(session, ensure_serialization(session, project, vintage, article6).id)
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
    status = lc.issued_status(kind)
    issuance = Issuance(
        serialization_id=serialization.id,
        kind=kind,
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
            status=status,
            account_id=account_id,
            issuance_id=issuance.id,
        )
    )
    serialization.issued_through = max(serialization.issued_through, units.last)
    session.add(serialization)
    session.flush()
    block = sr.SerialBlock(serialization_of(project, vintage, article6), units)
    append_entry(
        session,
        f"issuance.{kind.value}",
        {
            "issuance_id": issuance.id,
            "account_id": account_id,
            "serial_block": str(block),
            "quantity": quantity,
            "moves": [move_record(serialization.text, units.first, units.last, None, (account_id, status.value))],
        },
    )
    return issuance


def issue_ex_post(
    session: Session,
    *,
    project_id: int,
    vintage: int,
    quantity: int,
    account_id: int,
    first_unit: int | None = None,
    article6: bool = False,
) -> Issuance:
    """Issue ``quantity`` active (ex-post) ICCs of a project vintage into an account as one block.

    Units continue after the highest unit issued for the vintage unless ``first_unit`` is given;
    a range overlapping any earlier issuance (ex-ante or ex-post) is refused. The serialization
    row is locked first, so two concurrent issuances of the same vintage are checked one after
    the other. Ex-post ICCs go into a holding, buffer or non-CA adjustment account.
    """
    return _issue(session, kind=IssuanceKind.ex_post, project_id=project_id, vintage=vintage, quantity=quantity,
                  account_id=account_id, first_unit=first_unit, article6=article6)


def issue_ex_ante(
    session: Session,
    *,
    project_id: int,
    vintage: int,
    quantity: int,
    account_id: int,
    first_unit: int | None = None,
) -> Issuance:
    """Issue ``quantity`` inactive (ex-ante) ICCs into a holding account, on predicted mitigation.

    They take serials of the same vintage serialization as ex-post ICCs (the overlap rules are
    the same) and become active only through :func:`convert_ex_ante`. Ex-ante ICCs are never
    Article 6.2 ICCs (seed 003 §4.1)."""
    return _issue(session, kind=IssuanceKind.ex_ante, project_id=project_id, vintage=vintage, quantity=quantity,
                  account_id=account_id, first_unit=first_unit, article6=False)


# --------------------------------------------------------------------------------------------
# Moving serials
# --------------------------------------------------------------------------------------------


#: Rows read by the first page of :func:`locked_blocks` with ``covering``; each next page is
#: four times larger, so a holding of N blocks takes O(log N) queries at worst.
COVERING_FIRST_PAGE = 32


def locked_blocks(
    session: Session,
    *,
    account_id: int,
    serialization_id: int,
    status: CreditStatus,
    mirrored: bool | None = None,
    covering: int | None = None,
) -> list[SerialBlock]:
    """The account's blocks of a serialization in ``status``, lowest first, locked for update.

    With ``covering``, only the lowest blocks whose units add up to at least ``covering`` (all
    of them if they add up to less): a partial operation reads and locks what lowest-first
    selection can use, not a custody holding of a million blocks."""
    conditions = [
        SerialBlock.account_id == account_id,
        SerialBlock.serialization_id == serialization_id,
        SerialBlock.status == status,
    ]
    if mirrored is not None:
        conditions.append(SerialBlock.mirrored == mirrored)
    query = select(SerialBlock).where(*conditions).order_by(SerialBlock.unit_first).with_for_update()
    if covering is None or covering <= 0:
        return list(session.exec(query))
    rows: list[SerialBlock] = []
    total, page = 0, COVERING_FIRST_PAGE
    while True:
        after = query.where(SerialBlock.unit_first > rows[-1].unit_first) if rows else query
        fetched = list(session.exec(after.limit(page)))
        for row in fetched:
            rows.append(row)
            total += row.quantity
            if total >= covering:
                return rows
        if len(fetched) < page:
            return rows
        page *= 4


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
                cancellation_id=row.cancellation_id,
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


def place(row: SerialBlock) -> Place:
    """Where a block's units are, as the ledger records it: (account id, status)."""
    return (row.account_id, CreditStatus(row.status).value)


def coalesce(
    session: Session,
    serialization_id: int,
    *,
    account_id: int | None,
    status: CreditStatus,
    retirement_id: int | None = None,
    cancellation_id: int | None = None,
) -> int:
    """Merge touching blocks of one serialization that sit in the same place with identical
    attributes (issuance, mirroring); returns how many rows were absorbed.

    Called after every operation that puts units somewhere blocks may already be. Blocks in
    bridge custody (those with a tokenization request) are never merged: each one mirrors a
    mint leaf, and the sync finds a leaf's units by the leaf's range. The caller holds the
    serialization lock."""
    conditions = [
        SerialBlock.serialization_id == serialization_id,
        SerialBlock.status == status,
        SerialBlock.tokenization_id.is_(None),
        SerialBlock.account_id == account_id if account_id is not None else SerialBlock.account_id.is_(None),
        SerialBlock.retirement_id == retirement_id if retirement_id is not None else SerialBlock.retirement_id.is_(None),
        SerialBlock.cancellation_id == cancellation_id
        if cancellation_id is not None
        else SerialBlock.cancellation_id.is_(None),
    ]
    session.flush()
    rows = session.exec(select(SerialBlock).where(*conditions).order_by(SerialBlock.unit_first).with_for_update()).all()
    by_id = {r.id: r for r in rows}
    merges = plan_merges(Piece(r.id, r.unit_first, r.unit_last, (r.issuance_id, r.mirrored)) for r in rows)
    absorbed = 0
    for merge in merges:
        for ident in merge.absorb:
            session.delete(by_id[ident])
            absorbed += 1
        session.flush()
        keep = by_id[merge.keep]
        keep.unit_last = merge.last
        keep.quantity = merge.last - merge.first + 1
        session.add(keep)
    session.flush()
    return absorbed


def take_credits(
    session: Session,
    *,
    account: Account,
    serialization: Serialization,
    status: CreditStatus,
    quantity: int,
    rule: str = "sufficient-credits",
) -> list[SerialBlock]:
    """Lock the serialization, then split the account's blocks in ``status`` so that exactly
    ``quantity`` units, lowest serial first, sit in the returned rows.

    Lowest serial first is the registry's one selection rule for partial operations: the
    account's blocks of that serialization and status are ordered by first unit and consumed
    from the lowest, splitting the last block used. Anyone can recompute the serials an
    operation used from the blocks the account held before it."""
    lock_serialization(session, serialization.id)
    blocks = locked_blocks(session, account_id=account.id, serialization_id=serialization.id, status=status,
                           covering=quantity)
    try:
        return take_lowest_blocks(session, blocks, quantity)
    except sr.InsufficientCredits as exc:
        raise RuleViolation(
            f"account {account.id} holds {exc.available} {status.value} ICCs of {serialization.text}, "
            f"not {exc.requested}",
            field="quantity",
            rule=rule,
        ) from exc


def _moves(serialization: Serialization, rows: Iterable[SerialBlock], src: Place, dst: Place) -> list[dict]:
    return [move_record(serialization.text, r.unit_first, r.unit_last, src, dst) for r in rows]


def transfer(
    session: Session,
    *,
    from_account_id: int,
    to_account_id: int,
    serialization_id: int,
    quantity: int,
    status: CreditStatus = CreditStatus.active,
) -> tuple[Transfer, list[MovedBlock]]:
    """Move ``quantity`` ICCs of one serialization to another account, lowest serials first.

    Active ICCs move between holding, buffer and non-CA adjustment accounts; inactive
    (ex-ante) ICCs only between holding accounts; bridge custody is never a transfer's
    source or destination (see :mod:`registry.domain.lifecycle`)."""
    source = get_row(session, Account, from_account_id, "account", "from_account_id")
    destination = get_row(session, Account, to_account_id, "account", "to_account_id")
    serialization = get_row(session, Serialization, serialization_id, "serialization")
    status = CreditStatus(status)
    check(lc.check_transfer, source.type, destination.type, status, quantity, source.id == destination.id)
    rows = take_credits(session, account=source, serialization=serialization, status=status, quantity=quantity)
    moves = _moves(serialization, rows, (source.id, status.value), (destination.id, status.value))
    for row in rows:
        row.account_id = destination.id
        session.add(row)
    record = Transfer(serialization_id=serialization.id, from_account_id=source.id, to_account_id=destination.id,
                      status=status, quantity=quantity)
    session.add(record)
    session.flush()
    moved = describe_blocks(session, rows)
    coalesce(session, serialization.id, account_id=destination.id, status=status)
    append_entry(
        session,
        "transfer",
        {
            "transfer_id": record.id,
            "from_account_id": source.id,
            "to_account_id": destination.id,
            "status": status.value,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": quantity,
            "moves": moves,
        },
    )
    return record, moved


def _make_terminal(session: Session, serialization_id: int, rows: list[SerialBlock], status: CreditStatus,
                   **record: int) -> list[MovedBlock]:
    """Put ``rows`` in a terminal state (retired or cancelled) under their record (``retirement_id=`` or
    ``cancellation_id=``), out of any account; merge them and describe them."""
    for row in rows:
        row.status = status
        row.account_id = None
        for name, value in record.items():
            setattr(row, name, value)
        session.add(row)
    session.flush()
    moved = describe_blocks(session, rows)
    coalesce(session, serialization_id, account_id=None, status=status, **record)
    return moved


def _class_of(session: Session, serialization: Serialization) -> CreditClass:
    return session.exec(select(CreditClass).where(CreditClass.serialization_id == serialization.id)).one()


def retire(
    session: Session,
    *,
    account_id: int,
    serialization_id: int,
    quantity: int,
    details: lc.RetirementDetails,
) -> tuple[Retirement, list[MovedBlock]]:
    """Retire ``quantity`` active ICCs from a holding account, lowest serials first.

    The purpose must be among the class's authorized uses and carry its details (CORSIA:
    aeroplane operator, state, compliance period; NDC: the party); an empty retiree or
    beneficiary name is the account's organization. Retired units leave the account for good."""
    account = get_row(session, Account, account_id, "account")
    serialization = get_row(session, Serialization, serialization_id, "serialization")
    check(lc.check_retirement, account.type, CreditStatus.active, quantity)
    credit_class = _class_of(session, serialization)
    organization = session.get(Organization, account.organization_id) if account.organization_id else None
    d = check(lc.validate_retirement, details, authorized_uses=credit_class.authorized_uses,
              default_party=organization.name if organization else "")
    rows = take_credits(session, account=account, serialization=serialization, status=CreditStatus.active,
                        quantity=quantity)
    moves = _moves(serialization, rows, (account.id, CreditStatus.active.value), (None, CreditStatus.retired.value))
    retirement = Retirement(
        class_id=credit_class.id,
        account_id=account.id,
        quantity=quantity,
        purpose=d.purpose.name,
        beneficiary_name=d.beneficiary_name,
        beneficiary_address=d.beneficiary_address,
        retiree=d.retiree,
        comment=d.comment,
        purpose_detail=d.purpose_detail,
        corsia_operator=d.corsia_operator,
        corsia_state=d.corsia_state,
        compliance_period_start=d.compliance_period_start,
        compliance_period_end=d.compliance_period_end,
        ndc_party=d.ndc_party,
        consumption_start=d.consumption_start,
        consumption_end=d.consumption_end,
        jurisdiction=d.jurisdiction,
    )
    session.add(retirement)
    session.flush()
    moved = _make_terminal(session, serialization.id, rows, CreditStatus.retired, retirement_id=retirement.id)
    append_entry(
        session,
        "retirement",
        {
            "retirement_id": retirement.id,
            "account_id": account.id,
            "token_id": credit_class.token_id,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": quantity,
            "purpose": d.purpose.name,
            "beneficiary_name": d.beneficiary_name,
            "beneficiary_address": d.beneficiary_address,
            "retiree": d.retiree,
            "comment": d.comment,
            "purpose_detail": d.purpose_detail,
            "corsia_operator": d.corsia_operator,
            "corsia_state": d.corsia_state,
            "compliance_period": [d.compliance_period_start, d.compliance_period_end],
            "ndc_party": d.ndc_party,
            "consumption_period": [d.consumption_start, d.consumption_end],
            "jurisdiction": d.jurisdiction,
            "moves": moves,
        },
    )
    hooks.emit(session, "retirement.recorded", retirement=retirement, serial_blocks=[m.serial_block for m in moved])
    return retirement, moved


def _cancel_rows(
    session: Session,
    *,
    account_id: int,
    serialization: Serialization,
    rows: list[SerialBlock],
    reason: CancellationReason,
    note: str,
    reference: str,
) -> tuple[Cancellation, list[MovedBlock], list[dict]]:
    src_status = CreditStatus(rows[0].status)
    moves = _moves(serialization, rows, (account_id, src_status.value), (None, CreditStatus.cancelled.value))
    record = Cancellation(
        serialization_id=serialization.id,
        account_id=account_id,
        quantity=sum(r.quantity for r in rows),
        reason=reason,
        note=note,
        reference=reference,
    )
    session.add(record)
    session.flush()
    moved = _make_terminal(session, serialization.id, rows, CreditStatus.cancelled, cancellation_id=record.id)
    return record, moved, moves


def cancel(
    session: Session,
    *,
    account_id: int,
    serialization_id: int,
    quantity: int,
    reason: CancellationReason,
    note: str = "",
    reference: str = "",
    status: CreditStatus = CreditStatus.active,
) -> tuple[Cancellation, list[MovedBlock]]:
    """Cancel ``quantity`` ICCs of an account for a program reason, lowest serials first.

    Reasons: conversion to Article 6.2 (standard ICCs, holding account), non-CA compensation
    (Article 6.2 ICCs, adjustment or holding account), correction (any account, active or
    inactive), buffer use (buffer account), ex-ante shortfall (inactive ICCs). Cancelled units
    are terminal."""
    account = get_row(session, Account, account_id, "account")
    serialization = get_row(session, Serialization, serialization_id, "serialization")
    reason, status = CancellationReason(reason), CreditStatus(status)
    check(lc.check_cancellation, reason, account.type, status, quantity, serialization.article6)
    rows = take_credits(session, account=account, serialization=serialization, status=status, quantity=quantity)
    record, moved, moves = _cancel_rows(session, account_id=account.id, serialization=serialization, rows=rows,
                                        reason=reason, note=note.strip(), reference=reference.strip())
    append_entry(
        session,
        "cancellation",
        {
            "cancellation_id": record.id,
            "account_id": account.id,
            "reason": reason.value,
            "note": record.note,
            "reference": record.reference,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": quantity,
            "moves": moves,
        },
    )
    return record, moved


@dataclass(frozen=True)
class ConversionResult:
    conversion: ExAnteConversion
    converted: list[MovedBlock]
    cancellations: list[tuple[Cancellation, list[MovedBlock]]]


def convert_ex_ante(
    session: Session,
    *,
    issuance_id: int,
    verified_quantity: int,
    final: bool,
    verification_reference: str,
) -> ConversionResult:
    """Convert ex-ante ICCs of one issuance to ex-post on verification.

    ``verified_quantity`` inactive units of the issuance become active where they are, lowest
    serial first across all accounts holding them, keeping their serials. More than the
    outstanding ex-ante units is refused (issue the excess ex-post). A ``final`` verification
    closes the issuance: the units it did not cover are cancelled (reason
    ``ex_ante_shortfall``, one cancellation per holding account); a non-final one leaves
    them inactive for the next verification."""
    issuance = get_row(session, Issuance, issuance_id, "issuance")
    if issuance.kind is not IssuanceKind.ex_ante:
        raise RuleViolation(f"issuance {issuance_id} is an ex-post issuance", field="issuance_id",
                            rule="conversion-of-ex-ante-only")
    reference = verification_reference.strip()
    if not reference:
        raise RuleViolation("a conversion names the verification it follows", field="verification_reference")
    serialization = lock_serialization(session, issuance.serialization_id)
    closed = session.exec(
        select(ExAnteConversion.id).where(ExAnteConversion.issuance_id == issuance.id, ExAnteConversion.final == True)  # noqa: E712
    ).first()
    if closed is not None:
        raise RuleViolation(f"issuance {issuance_id} was closed by a final verification", field="issuance_id",
                            rule="ex-ante-issuance-closed")
    blocks = list(
        session.exec(
            select(SerialBlock)
            .where(SerialBlock.issuance_id == issuance.id, SerialBlock.status == CreditStatus.inactive)
            .order_by(SerialBlock.unit_first)
            .with_for_update()
        )
    )
    plan = check(lc.plan_ex_ante_conversion, [sr.SerialRange(b.unit_first, b.unit_last) for b in blocks],
                 verified_quantity, final)
    moves: list[dict] = []
    converted_rows: list[SerialBlock] = []
    if plan.converted_quantity:
        converted_rows = take_lowest_blocks(session, blocks, plan.converted_quantity)
        for row in converted_rows:
            moves.append(move_record(serialization.text, row.unit_first, row.unit_last, place(row),
                                     (row.account_id, CreditStatus.active.value)))
            row.status = CreditStatus.active
            session.add(row)
        session.flush()
    converted = describe_blocks(session, converted_rows)
    for account_id in sorted({r.account_id for r in converted_rows}):
        coalesce(session, serialization.id, account_id=account_id, status=CreditStatus.active)
    cancellations = []
    if plan.shortfall_quantity:
        left = session.exec(
            select(SerialBlock)
            .where(SerialBlock.issuance_id == issuance.id, SerialBlock.status == CreditStatus.inactive)
            .order_by(SerialBlock.unit_first)
        ).all()
        if sum(r.quantity for r in left) != plan.shortfall_quantity:  # the serialization lock makes this impossible
            raise RuntimeError(f"issuance {issuance.id}: inactive units changed while converting")
        by_account: dict[int, list[SerialBlock]] = defaultdict(list)
        for row in left:
            by_account[row.account_id].append(row)
        for account_id in sorted(by_account):
            record, moved, cancel_moves = _cancel_rows(
                session, account_id=account_id, serialization=serialization, rows=by_account[account_id],
                reason=CancellationReason.ex_ante_shortfall,
                note=f"ex-ante shortfall of issuance {issuance.id} at final verification", reference=reference,
            )
            cancellations.append((record, moved))
            moves.extend(cancel_moves)
    conversion = ExAnteConversion(
        issuance_id=issuance.id,
        verified_quantity=verified_quantity,
        converted_quantity=plan.converted_quantity,
        shortfall_cancelled=plan.shortfall_quantity,
        final=final,
        verification_reference=reference,
    )
    session.add(conversion)
    session.flush()
    append_entry(
        session,
        "conversion.ex_ante",
        {
            "conversion_id": conversion.id,
            "issuance_id": issuance.id,
            "verified_quantity": verified_quantity,
            "final": final,
            "verification_reference": reference,
            "converted": [m.serial_block for m in converted],
            "cancellation_ids": [c.id for c, _ in cancellations],
            "shortfall_cancelled": plan.shortfall_quantity,
            "moves": moves,
        },
    )
    return ConversionResult(conversion, converted, cancellations)


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


def _balance_conditions(account_ids: Iterable[int] | None) -> list:
    conditions = [AccountBalance.quantity > 0]
    if account_ids is not None:
        conditions.append(AccountBalance.account_id.in_(list(account_ids)))
    return conditions


def balances(
    session: Session, *, account_ids: Iterable[int] | None = None, offset: int = 0, limit: int | None = None
) -> list[BalanceRow]:
    """Tonnes per (account, serialization, status), ordered by account, serialization and status;
    retired and cancelled credits sit under no account. ``account_ids`` limits the rows to those
    accounts; ``offset``/``limit`` take one page.

    Read from the maintained balance table (:mod:`registry.operations.balances`), not summed over the
    serial blocks, so the registry-wide list costs what one account's does."""
    stmt = (
        select(AccountBalance.account_id, Account.name, Account.type, Serialization.text, AccountBalance.status,
               AccountBalance.quantity)
        .join(Serialization, Serialization.id == AccountBalance.serialization_id)
        .outerjoin(Account, Account.id == AccountBalance.account_id)
        .where(*_balance_conditions(account_ids))
        .order_by(AccountBalance.account_id, Serialization.text, AccountBalance.status)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = []
    for account_id, name, type_, text, status, total in session.exec(stmt):
        rows.append(
            BalanceRow(
                account_id=account_id,
                account_name=name if account_id is not None else f"({CreditStatus(status).value})",
                account_type=AccountType(type_).value if account_id is not None else "terminal",
                serialization=text,
                status=CreditStatus(status).value,
                quantity=int(total),
            )
        )
    return rows


def balance_count(session: Session, *, account_ids: Iterable[int] | None = None) -> int:
    """How many rows :func:`balances` lists for these accounts (all without ``account_ids``)."""
    return session.exec(
        select(func.count()).select_from(AccountBalance).where(*_balance_conditions(account_ids))
    ).one()


def retirement_blocks(session: Session, retirement_id: int) -> list[MovedBlock]:
    rows = session.exec(
        select(SerialBlock).where(SerialBlock.retirement_id == retirement_id).order_by(SerialBlock.unit_first)
    ).all()
    return describe_blocks(session, rows)
