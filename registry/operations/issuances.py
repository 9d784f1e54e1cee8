"""Issuance: new ex-post (active) or ex-ante (inactive) ICCs of a project vintage, as one serial
block, for a monitoring period no other issuance of the project covers (seed 004 criterion 7(a))."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from registry.domain import lifecycle as lc
from registry.domain import monitoring as mon
from registry.domain import serials as sr
from registry.domain.article6.letters import Period
from registry.domain.article6.projects import ProjectStatus
from registry.domain.article6.rules import R_EX_POST_ONLY
from registry.domain.blocks import move_record
from registry.domain.enums import IssuanceKind
from registry.errors import Conflict, RuleViolation
from registry.operations.ledger import append_entry, lock_ledger
from registry.operations.preconditions import check, get_row
from registry.operations.projects import ensure_serialization, serialization_of
from registry.operations.serial_blocks import lock_serialization
from registry.tables.article6 import A6Letter, A6Project, content_from_json
from registry.tables.core import Account, ExAnteConversion, Issuance, Project, SerialBlock, Serialization, utcnow


def verification_of(reference: str | None, body: str | None, verified_on: date | None) -> mon.Verification | None:
    """The verification named by the three fields; None when none of them is given."""
    if reference is None and body is None and verified_on is None:
        return None
    if verified_on is None:
        raise RuleViolation("a verification has a date (verified_on) (ex-post-verified, seed 004 criterion 3)",
                            field="verified_on", rule="ex-post-verified")
    return mon.Verification(reference or "", body or "", verified_on)


def issued_periods(session: Session, project_id: int, overlapping: Period) -> list[mon.IssuedPeriod]:
    """The issuances of the project whose period overlaps ``overlapping``, with that period (and,
    for ex-ante ones, the periods their conversions verified), for
    :func:`registry.domain.monitoring.check_no_double_issuance` and ``conversion_sources``."""
    rows = session.exec(select(Issuance, Serialization.article6).join(
        Serialization, Serialization.id == Issuance.serialization_id).where(
        Serialization.project_id == project_id, Issuance.monitoring_start <= overlapping.end,
        Issuance.monitoring_end >= overlapping.start).order_by(Issuance.id)).all()
    out = []
    for issuance, article6 in rows:
        verified: tuple = ()
        if issuance.kind is IssuanceKind.ex_ante:
            verified = tuple((Period(c.monitoring_start, c.monitoring_end), c.verification_reference)
                             for c in session.exec(select(ExAnteConversion).where(
                                 ExAnteConversion.issuance_id == issuance.id)) if c.monitoring_start is not None)
        out.append(mon.IssuedPeriod(issuance.id, issuance.kind, article6,
                                    Period(issuance.monitoring_start, issuance.monitoring_end), verified))
    return out


def lock_project(session: Session, project_id: int) -> Project:
    """The project row, locked (after the ledger's lock, the one lock order): issuances of one
    project check their periods one after the other."""
    lock_ledger(session)
    project = session.exec(select(Project).where(Project.id == project_id).with_for_update()).first()
    if project is None:
        get_row(session, Project, project_id, "project")
    return project


def check_issued_for(session: Session, *, project_id: int, kind: IssuanceKind, vintage: int, article6: bool,
                     monitoring_start: date | None, monitoring_end: date | None,
                     verification: mon.Verification | None, at: datetime | None = None,
                     overlap: bool = True) -> tuple[Period, mon.Verification | None]:
    """The period and verification of a new issuance, checked: one calendar year that is the
    vintage, a verification for ex-post (none for ex-ante), and, with ``overlap``, no earlier
    issuance of the (locked) project for any part of the period."""
    lock_project(session, project_id)
    period = check(mon.monitoring_period, monitoring_start, monitoring_end, vintage)
    verification = check(mon.check_verification, kind, period, verification, (at or utcnow()).date())
    if overlap:
        check(mon.check_no_double_issuance, period, kind=kind, article6=article6,
              earlier=issued_periods(session, project_id, period),
              verification_reference=verification.reference if verification else None)
    return period, verification


def _check_ex_ante_allowed(session: Session, project_id: int, period: Period) -> None:
    """§4.1: a project authorized for Article 6.2 issues no ex-ante ICCs in its letter's crediting period."""
    a6row = session.get(A6Project, project_id)
    if a6row is None or a6row.status not in (ProjectStatus.authorized, ProjectStatus.suspended):
        return
    letter = session.get(A6Letter, a6row.letter_id) if a6row.letter_id is not None else None
    crediting = content_from_json(letter.content).outcomes.crediting_period if letter is not None else None
    if crediting is None or (period.start <= crediting.end and crediting.start <= period.end):
        raise RuleViolation(f"project {project_id} is authorized for Article 6.2: it issues no ex-ante ICCs in its "
                            f"crediting period ({R_EX_POST_ONLY.id}, seed 003 {R_EX_POST_ONLY.section})",
                            field="kind", rule=R_EX_POST_ONLY.id)


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
    period: Period,
    verification: mon.Verification | None,
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
        monitoring_start=period.start,
        monitoring_end=period.end,
        verification_reference=verification.reference if verification else None,
        verification_body=verification.body if verification else None,
        verified_on=verification.verified_on if verification else None,
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
            "monitoring_period": [str(period.start), str(period.end)],
            "verification": None if verification is None else {
                "reference": verification.reference, "body": verification.body,
                "verified_on": str(verification.verified_on)},
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
    monitoring_start: date | None,
    monitoring_end: date | None,
    verification_reference: str | None,
    verification_body: str | None,
    verified_on: date | None,
    first_unit: int | None = None,
    at: datetime | None = None,
) -> Issuance:
    """Issue ``quantity`` active (ex-post) standard ICCs of a project vintage into an account as one block.

    The issuance is for a monitoring period within the vintage year that no other issuance of
    the project covers, on a verification made after the period ended (seed 004 criteria 3 and
    7(a)); Article 6.2 ICCs are issued by :mod:`registry.operations.article6.designation`.
    Units continue after the highest unit issued for the vintage unless ``first_unit`` is given;
    a range overlapping any earlier issuance (ex-ante or ex-post) is refused. The project row,
    then the serialization row are locked first, so two concurrent issuances are checked one
    after the other. Ex-post ICCs go into a holding, buffer or non-CA adjustment account.
    """
    period, verification = check_issued_for(
        session, project_id=project_id, kind=IssuanceKind.ex_post, vintage=vintage, article6=False,
        monitoring_start=monitoring_start, monitoring_end=monitoring_end,
        verification=verification_of(verification_reference, verification_body, verified_on), at=at)
    return _issue(session, kind=IssuanceKind.ex_post, project_id=project_id, vintage=vintage, quantity=quantity,
                  account_id=account_id, first_unit=first_unit, article6=False, period=period,
                  verification=verification)


def issue_designated(session: Session, *, project_id: int, vintage: int, quantity: int, account_id: int,
                     period: Period, verification: mon.Verification) -> Issuance:
    """Issue active Article 6.2 ICCs for a period and verification the designation has checked
    (:func:`check_issued_for`; the deposit and the proponent's share are two issuances of one
    designation, so the overlap is checked once, before both)."""
    return _issue(session, kind=IssuanceKind.ex_post, project_id=project_id, vintage=vintage, quantity=quantity,
                  account_id=account_id, first_unit=None, article6=True, period=period, verification=verification)


def issue_ex_ante(
    session: Session,
    *,
    project_id: int,
    vintage: int,
    quantity: int,
    account_id: int,
    monitoring_start: date | None,
    monitoring_end: date | None,
    first_unit: int | None = None,
) -> Issuance:
    """Issue ``quantity`` inactive (ex-ante) ICCs into a holding account, on predicted mitigation.

    The issuance records the predicted monitoring period (within the vintage year, overlapping
    no other issuance of the project) and no verification: each conversion records the
    verification of the part of the period it verified. They take serials of the same vintage
    serialization as ex-post ICCs (the overlap rules are the same) and become active only
    through :func:`convert_ex_ante`. Ex-ante ICCs are never Article 6.2 ICCs, and a project
    authorized for Article 6.2 issues none in its crediting period (seed 003 §4.1)."""
    period, _ = check_issued_for(session, project_id=project_id, kind=IssuanceKind.ex_ante, vintage=vintage,
                                 article6=False, monitoring_start=monitoring_start, monitoring_end=monitoring_end,
                                 verification=None)
    _check_ex_ante_allowed(session, project_id, period)
    return _issue(session, kind=IssuanceKind.ex_ante, project_id=project_id, vintage=vintage, quantity=quantity,
                  account_id=account_id, first_unit=first_unit, article6=False, period=period, verification=None)
