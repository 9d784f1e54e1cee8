"""Issuance: new ex-post (active) or ex-ante (inactive) ICCs of a project vintage, as one serial block."""

from __future__ import annotations

from sqlmodel import Session, select

from registry.domain import lifecycle as lc
from registry.domain import serials as sr
from registry.domain.blocks import move_record
from registry.domain.enums import IssuanceKind
from registry.errors import Conflict, RuleViolation
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.operations.projects import ensure_serialization, serialization_of
from registry.operations.serial_blocks import lock_serialization
from registry.tables.core import Account, Issuance, Project, SerialBlock


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
