"""Article 6.2 operations (seed 003): letters, project status, designation at issuance,
conversion of standard ICCs, CA status, non-CA events, compensation and the annual report.

Each function runs inside the caller's transaction (:func:`registry.db.transaction`), never
commits, appends ledger entries and applies the pure rules of
:mod:`registry.domain.article6`. A failed rule raises :class:`~registry.errors.RuleViolation`
with the rule id (``rule``), the field and a detail listing every failed rule; an illegal
state transition raises :class:`~registry.errors.Conflict` naming it. Nothing is written then.

Serial conventions (documented so anyone can recompute them):

- A designation issues its quantity as consecutive units of the project's Article 6.2
  vintage serialization (flag ``1``, e.g. ``ICR-ISL-354-78040-14-R-1-2023``): the lowest
  ``deposit`` units into the non-CA adjustment account, the rest into the proponent's
  account (two issuances through :func:`registry.operations.credits.issue_ex_post`). Outstanding
  non-CA compensation (§V.b step 5) is then cancelled from that account, lowest serials first.
- A conversion cancels the lowest active serials of the standard vintage held in the account
  (never those in bridge custody) and designates as many new Article 6.2 ICCs the same way.
- Compensation cancels lowest serials first, per project (ascending number), vintage and
  account, through :func:`registry.operations.credits.cancel`.

The credit class of an Article 6.2 vintage carries the letter's number in its token id; one
vintage serialization has one class, so a vintage designated under one letter cannot be
designated under another. The class's ``ca_status`` mirrors the CA record of its project and
vintage; :func:`pending_ca_pushes` lists changes the bridge still has to send on-chain.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Collection, Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain import article6 as a6
from registry.domain import serials as sr
from registry.domain.article6 import (
    Article6Error,
    AuthorizedUse,
    CompensationKind,
    IllegalTransition,
    LetterContent,
    LetterStatus,
    ProjectStatus,
    RulesFailed,
)
from registry.domain.classes import CAStatus, ClassKey, Purpose
from registry.domain.enums import AccountType, CancellationReason, CreditStatus, IssuanceKind
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations import additionality as additionality_ops
from registry.operations.accounts import open_system_account
from registry.operations.cancellations import cancel
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.operations.projects import serialization_of
from registry.operations.serial_blocks import lock_serialization
from registry.operations.transfers import transfer
from registry.tables.article6 import (
    A6CAEvidence,
    A6CAHistory,
    A6CARecord,
    A6CompensationStep,
    A6Designation,
    A6HostCountry,
    A6Letter,
    A6LetterHistory,
    A6NonCAEvent,
    A6Project,
    A6ProjectHistory,
    DesignationKind,
    NonCAEventStatus,
    StepStatus,
    content_from_json,
    content_to_json,
)
from registry.tables.core import (
    Account,
    Cancellation,
    CreditClass,
    Issuance,
    Organization,
    Project,
    Retirement,
    SerialBlock,
    Serialization,
    TokenizationRequest,
    utcnow,
)

ADJUSTMENT_ACCOUNT_NAME = "ICR Article 6.2 non-CA adjustment account"

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def violation(exc: Article6Error) -> RuleViolation | Conflict:
    """The registry error for a seed 003 refusal: an illegal transition is a conflict with the
    current state; a failed rule is a rule violation naming the (first) rule and field."""
    if isinstance(exc, IllegalTransition):
        return Conflict(str(exc), field="status", rule=exc.rule.id)
    return RuleViolation(str(exc), field=exc.field, rule=exc.rule.id)


def _refuse(refusals: Iterable[a6.Refusal]) -> None:
    refusals = tuple(refusals)
    if refusals:
        raise violation(RulesFailed(refusals))


def _now(at: datetime | None) -> datetime:
    return at or utcnow()


# --------------------------------------------------------------------------------------------
# Host countries and project settings
# --------------------------------------------------------------------------------------------


def set_host_country(session: Session, country: str, *, article6_framework: bool, reference: str, actor: str,
                     at: datetime | None = None) -> A6HostCountry:
    """Record whether ``country`` has a national framework for Article 6.2 (§4.1)."""
    at = _now(at)
    country = country.strip()
    if len(country) != 3 or not country.isalpha() or not country.isupper():
        raise RuleViolation(f"{country!r} is not an ISO 3166-1 alpha-3 code", field="country", rule="iso3-country")
    row = session.get(A6HostCountry, country) or A6HostCountry(country=country)
    row.article6_framework = article6_framework
    row.reference = reference
    row.updated_at = at
    session.add(row)
    session.flush()
    append_entry(session, "article6.host_country", {"country": country, "article6_framework": article6_framework,
                                                    "reference": reference, "actor": actor})
    return row


def _a6project(session: Session, project_id: int, *, lock: bool = False) -> A6Project:
    stmt = select(A6Project).where(A6Project.project_id == project_id)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        get_row(session, Project, project_id, "project")
        row = A6Project(project_id=project_id)
        session.add(row)
        session.flush()
    return row


def configure_project(session: Session, project_id: int, *, adjustment_percentage: Decimal | str | int,
                      risk_assessment: str, methodology_approved: bool,
                      proponent_organization_id: int | None = None, actor: str,
                      at: datetime | None = None) -> A6Project:
    """Set the project's adjustment-deposit percentage from ICR's risk assessment (§II.3.b),
    whether its methodology is approved (§4.1) and the proponent organization (§V.b)."""
    at = _now(at)
    project = get_row(session, Project, project_id, "project")
    try:
        a6.adjustment_deposit(0, adjustment_percentage)
        pct = Decimal(str(adjustment_percentage))
    except (ValueError, ArithmeticError) as exc:
        raise RuleViolation(f"adjustment percentage: {exc}", field="adjustment_percentage",
                            rule="adjustment-percentage") from exc
    if not risk_assessment.strip():
        raise RuleViolation("the percentage is set by ICR's risk assessment: reference it", field="risk_assessment",
                            rule="risk-assessment")
    if proponent_organization_id is not None:
        get_row(session, Organization, proponent_organization_id, "proponent_organization")
    row = _a6project(session, project_id, lock=True)
    row.adjustment_percentage = str(pct)
    row.risk_assessment = risk_assessment.strip()
    row.methodology_approved = methodology_approved
    row.proponent_organization_id = proponent_organization_id
    row.updated_at = at
    session.add(row)
    session.flush()
    append_entry(session, "article6.project.configured", {
        "project_number": project.project_number, "adjustment_percentage": str(pct),
        "risk_assessment": row.risk_assessment, "methodology_approved": methodology_approved,
        "proponent_organization_id": proponent_organization_id, "actor": actor})
    return row


def project_article6(session: Session, project_id: int) -> a6.ProjectArticle6:
    """The project's Article 6.2 status with its history (standard if never touched)."""
    project = get_row(session, Project, project_id, "project")
    row = session.exec(select(A6Project).where(A6Project.project_id == project_id)).first()
    history = session.exec(select(A6ProjectHistory).where(A6ProjectHistory.project_id == project_id)
                           .order_by(A6ProjectHistory.id)).all()
    return a6.ProjectArticle6(
        project.project_number, row.status if row else ProjectStatus.standard,
        tuple(a6.HistoryEntry(h.transition, h.from_status, h.to_status, h.at, h.actor, h.note, evidence=h.evidence)
              for h in history))


def _store_project(session: Session, project: Project, row: A6Project, new: a6.ProjectArticle6) -> None:
    entry = new.history[-1]
    row.status = new.status
    row.updated_at = entry.at
    session.add(row)
    session.add(A6ProjectHistory(project_id=project.id, transition=entry.transition, from_status=entry.from_status,
                                 to_status=entry.to_status, at=entry.at, actor=entry.actor, note=entry.note,
                                 evidence=entry.evidence))
    session.flush()
    append_entry(session, f"article6.project.{entry.transition}", {
        "project_number": project.project_number, "from": entry.from_status, "to": entry.to_status,
        "note": entry.note, "evidence": entry.evidence, "actor": entry.actor})


def _project_step(session: Session, project_id: int, step, *args, **kwargs) -> a6.ProjectArticle6:
    project = get_row(session, Project, project_id, "project")
    row = _a6project(session, project_id, lock=True)
    try:
        new = step(project_article6(session, project_id), *args, **kwargs)
    except Article6Error as exc:
        raise violation(exc) from exc
    _store_project(session, project, row, new)
    return new


def suspend_project(session: Session, project_id: int, *, note: str, actor: str,
                    at: datetime | None = None) -> a6.ProjectArticle6:
    """authorized -> suspended: no further Article 6.2 issuance until rectified (§V.b)."""
    return _project_step(session, project_id, a6.suspend_project, _now(at), actor, note)


def reinstate_project(session: Session, project_id: int, *, evidence: str, actor: str,
                      at: datetime | None = None) -> a6.ProjectArticle6:
    """suspended -> authorized once a CA of the project is confirmed applied and every non-CA
    event of the project is fully compensated (§V.b)."""
    applied = session.exec(select(func.count()).select_from(A6CARecord).where(
        A6CARecord.project_id == project_id, A6CARecord.status == int(CAStatus.applied))).one()
    return _project_step(session, project_id, a6.reinstate_project, _now(at), actor,
                         ca_applied_confirmed=applied > 0,
                         outstanding_compensation=outstanding_compensation(session, project_id), evidence=evidence)


# --------------------------------------------------------------------------------------------
# Letters (§I)
# --------------------------------------------------------------------------------------------


def _letter_row(session: Session, letter_id: int, *, lock: bool = False) -> A6Letter:
    stmt = select(A6Letter).where(A6Letter.id == letter_id)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"letter {letter_id} does not exist", field="letter_id")
    return row


def letter_of(session: Session, row: A6Letter) -> a6.Letter:
    """The domain letter of a stored one, with its history."""
    history = session.exec(select(A6LetterHistory).where(A6LetterHistory.letter_id == row.id)
                           .order_by(A6LetterHistory.id)).all()
    return a6.Letter(number=row.id, content=content_from_json(row.content), document=row.document, status=row.status,
                     published_ref=row.published_ref,
                     history=tuple(a6.HistoryEntry(h.transition, h.from_status, h.to_status, h.at, h.actor, h.note,
                                                   tuple(json.loads(h.changes))) for h in history))


def get_letter(session: Session, letter_id: int) -> a6.Letter:
    return letter_of(session, _letter_row(session, letter_id))


def _store_letter(session: Session, row: A6Letter, new: a6.Letter, previous: LetterContent | None = None) -> None:
    entry = new.history[-1]
    changed = content_to_json(new.content) != row.content
    row.status = new.status
    row.content = content_to_json(new.content)
    row.published_ref = new.published_ref
    row.updated_at = entry.at
    session.add(row)
    session.add(A6LetterHistory(letter_id=row.id, transition=entry.transition, from_status=entry.from_status,
                                to_status=entry.to_status, at=entry.at, actor=entry.actor, note=entry.note,
                                changes=json.dumps(list(entry.changes)),
                                previous_content=content_to_json(previous) if previous and changed else None))
    session.flush()
    project = session.get(Project, row.project_id)
    append_entry(session, f"article6.letter.{entry.transition}", {
        "letter_number": row.id, "project_number": project.project_number, "from": entry.from_status,
        "to": entry.to_status, "note": entry.note, "changes": list(entry.changes),
        "content_sha256": hashlib.sha256(row.content.encode()).hexdigest(), "document": row.document,
        "published_ref": row.published_ref, "actor": entry.actor})


def submit_letter(session: Session, *, project_id: int, content: LetterContent, document: str, actor: str,
                  at: datetime | None = None) -> A6Letter:
    """Record a letter as received (§I.12); the project shows "Article 6.2 authorization
    pending" until a letter is approved and published. Content is checked at approval."""
    at = _now(at)
    project = get_row(session, Project, project_id, "project")
    act = content.activity
    if act.project_number != project.project_number or act.location_country != project.country:
        raise RuleViolation(f"the letter authorizes project {act.project_number} in {act.location_country}, not "
                            f"project {project.project_number} in {project.country}",
                            field="content.activity.project_number", rule=a6.R_LETTER_PROJECT.id)
    if not document.strip():
        raise RuleViolation("reference the uploaded letter document", field="document", rule="letter-document")
    row = A6Letter(project_id=project_id, status=LetterStatus.received, content=content_to_json(content),
                   document=document.strip(), created_at=at, updated_at=at)
    session.add(row)
    session.flush()
    letter = a6.receive_letter(row.id, content, row.document, at, actor)
    _store_letter(session, row, letter)
    a6row = _a6project(session, project_id, lock=True)
    if a6row.status is ProjectStatus.standard:
        _store_project(session, project, a6row, a6.request_authorization(
            project_article6(session, project_id), at, actor, f"letter {row.id} received"))
    return row


def _letter_step(session: Session, letter_id: int, step, *args, **kwargs) -> tuple[A6Letter, a6.Letter]:
    row = _letter_row(session, letter_id, lock=True)
    before = letter_of(session, row)
    try:
        new = step(before, *args, **kwargs)
    except Article6Error as exc:
        raise violation(exc) from exc
    _store_letter(session, row, new, before.content)
    return row, new


def start_letter_review(session: Session, letter_id: int, *, actor: str, at: datetime | None = None) -> a6.Letter:
    return _letter_step(session, letter_id, a6.start_review, _now(at), actor)[1]


def approve_letter(session: Session, letter_id: int, *, authenticity_confirmed: bool, published_ref: str,
                   actor: str, at: datetime | None = None) -> a6.Letter:
    """under review -> approved and published (§I.12, §II.1); a project awaiting authorization
    becomes authorized under this letter."""
    at = _now(at)
    row, letter = _letter_step(session, letter_id, a6.approve_and_publish, at, actor,
                               authenticity_confirmed=authenticity_confirmed, published_ref=published_ref)
    project = session.get(Project, row.project_id)
    a6row = _a6project(session, row.project_id, lock=True)
    if a6row.status is ProjectStatus.authorization_pending:
        try:
            new = a6.authorize_project(project_article6(session, row.project_id), letter, at, actor)
        except Article6Error as exc:
            raise violation(exc) from exc
        a6row.letter_id = row.id
        _store_project(session, project, a6row, new)
    return letter


def _letters_pending(session: Session, project_id: int, excluding: int) -> bool:
    open_states = (LetterStatus.received, LetterStatus.under_review) + tuple(a6.LETTER_IN_FORCE)
    return session.exec(select(func.count()).select_from(A6Letter).where(
        A6Letter.project_id == project_id, A6Letter.id != excluding, A6Letter.status.in_(open_states))).one() > 0


def reject_letter(session: Session, letter_id: int, *, reason: str, actor: str,
                  at: datetime | None = None) -> a6.Letter:
    """under review -> rejected; a project with no other letter goes back to standard."""
    at = _now(at)
    row, letter = _letter_step(session, letter_id, a6.reject_letter, at, actor, reason)
    a6row = _a6project(session, row.project_id, lock=True)
    if a6row.status is ProjectStatus.authorization_pending and not _letters_pending(session, row.project_id, row.id):
        _store_project(session, session.get(Project, row.project_id), a6row, a6.decline_authorization(
            project_article6(session, row.project_id), at, actor, f"letter {row.id} rejected: {reason}"))
    return letter


def amend_letter(session: Session, letter_id: int, *, content: LetterContent, note: str, actor: str,
                 at: datetime | None = None) -> a6.Letter:
    """In force -> amended (§I.10.1). Classes already created keep the uses they were designated with."""
    return _letter_step(session, letter_id, a6.amend_letter, content, _now(at), actor, note)[1]


def reduce_letter_scope(session: Session, letter_id: int, *, content: LetterContent, note: str, actor: str,
                        at: datetime | None = None) -> a6.Letter:
    """In force -> scope reduced (§I.10.2): the new content must narrow the scope."""
    return _letter_step(session, letter_id, a6.reduce_letter_scope, content, _now(at), actor, note)[1]


def withdraw_letter(session: Session, letter_id: int, *, note: str, actor: str,
                    at: datetime | None = None) -> a6.Letter:
    """In force -> withdrawn (§I.10.3); the project's authorization under it is revoked."""
    at = _now(at)
    row, letter = _letter_step(session, letter_id, a6.withdraw_letter, at, actor, note)
    a6row = _a6project(session, row.project_id, lock=True)
    if a6row.letter_id == row.id and a6row.status in (ProjectStatus.authorized, ProjectStatus.suspended):
        a6row.letter_id = None
        _store_project(session, session.get(Project, row.project_id), a6row, a6.revoke_authorization(
            project_article6(session, row.project_id), at, actor, f"letter {row.id} withdrawn: {note}"))
    return letter


def list_letters(session: Session, *, project_id: int | None = None, status: LetterStatus | None = None,
                 offset: int = 0, limit: int = 50) -> tuple[int, list[A6Letter]]:
    conditions = []
    if project_id is not None:
        conditions.append(A6Letter.project_id == project_id)
    if status is not None:
        conditions.append(A6Letter.status == status)
    total = session.exec(select(func.count()).select_from(A6Letter).where(*conditions)).one()
    rows = session.exec(select(A6Letter).where(*conditions).order_by(A6Letter.id).offset(offset).limit(limit)).all()
    return total, list(rows)


# --------------------------------------------------------------------------------------------
# Designation at issuance (§4.1, §II.1) and conversion (§I.12)
# --------------------------------------------------------------------------------------------


R_RISK_ASSESSMENT = a6.Rule("risk-assessment", "§II.3.b",
                            "the adjustment deposit percentage is set by ICR's risk assessment of the project")


def _risk_refusals(a6row: A6Project) -> tuple[a6.Refusal, ...]:
    if a6row.risk_assessment.strip():
        return ()
    return (a6.Refusal(R_RISK_ASSESSMENT, "no risk assessment sets the project's adjustment percentage",
                       "project.risk_assessment"),)


def adjustment_account(session: Session) -> Account:
    """The registry's non-CA adjustment account (opened on first use)."""
    row = session.exec(select(Account).where(Account.type == AccountType.adjustment).order_by(Account.id)).first()
    return row or open_system_account(session, AccountType.adjustment, ADJUSTMENT_ACCOUNT_NAME)


def _current_letter(session: Session, a6row: A6Project) -> a6.Letter | None:
    return None if a6row.letter_id is None else get_letter(session, a6row.letter_id)


def _ex_ante_in_crediting_period(session: Session, project_id: int, letter: a6.Letter | None) -> bool:
    conditions = [Serialization.project_id == project_id, Issuance.kind == IssuanceKind.ex_ante]
    if letter is not None:
        period = letter.content.outcomes.crediting_period
        conditions += [Serialization.vintage >= period.start.year, Serialization.vintage <= period.end.year]
    return session.exec(select(func.count()).select_from(Issuance).join(
        Serialization, Serialization.id == Issuance.serialization_id).where(*conditions)).one() > 0


def project_facts(session: Session, project: Project, a6row: A6Project, letter: a6.Letter | None) -> a6.ProjectFacts:
    """What §4.1 asks about the project, from the stored data."""
    host = session.get(A6HostCountry, project.country)
    return a6.ProjectFacts(
        project_number=project.project_number, host_country=project.country, status=a6row.status,
        host_country_framework=bool(host and host.article6_framework),
        methodology_approved=a6row.methodology_approved,
        additionality_levels=additionality_ops.additionality_levels(session, project.id),
        ex_ante_issued_in_crediting_period=_ex_ante_in_crediting_period(session, project.id, letter))


def designated_so_far(session: Session, letter_id: int) -> int:
    """Tonnes designated under a letter (issuances and conversions), for its cumulative cap."""
    return int(session.exec(select(func.coalesce(func.sum(A6Designation.quantity), 0))
                            .where(A6Designation.letter_id == letter_id)).one())


def article6_class(session: Session, project: Project, vintage: int, letter: a6.Letter) -> tuple[Serialization,
                                                                                                     CreditClass]:
    """The Article 6.2 serialization of a vintage and its credit class (token id with the letter
    number), created on first designation with the letter's authorized uses."""
    text = str(serialization_of(project, vintage, True))
    serialization = session.exec(select(Serialization).where(Serialization.text == text)).first()
    if serialization is None:
        serialization = Serialization(project_id=project.id, vintage=vintage, article6=True, text=text)
        session.add(serialization)
        session.flush()
        record = session.exec(select(A6CARecord).where(A6CARecord.project_id == project.id,
                                                       A6CARecord.vintage == vintage)).first()
        session.add(CreditClass(token_id=str(ClassKey(project.project_number, vintage, True, letter.number).token_id),
                                serialization_id=serialization.id, letter_number=letter.number,
                                authorized_uses=a6.authorized_uses_mask(letter),
                                ca_status=int(record.status if record else CAStatus.pending)))
        session.flush()
    credit_class = session.exec(select(CreditClass).where(CreditClass.serialization_id == serialization.id)).one()
    if credit_class.letter_number != letter.number:
        raise Conflict(f"vintage {vintage} of project {project.project_number} is designated under letter "
                       f"{credit_class.letter_number}, not letter {letter.number}", field="vintage",
                       rule="one-letter-per-article6-vintage")
    return serialization, credit_class


@dataclass(frozen=True)
class DesignationResult:
    designation: A6Designation
    issued_blocks: list[str]  # the new Article 6.2 serials in the proponent's account
    deposit_blocks: list[str]  # issued into the non-CA adjustment account
    deducted_blocks: list[str]  # cancelled from the proponent's account for outstanding non-CA compensation
    cancelled_blocks: list[str]  # the converted standard serials (conversion only)
    token_id: str


def _outstanding_deductions(session: Session, project_id: int) -> list[A6CompensationStep]:
    return list(session.exec(
        select(A6CompensationStep).join(A6NonCAEvent, A6NonCAEvent.id == A6CompensationStep.event_id)
        .where(A6NonCAEvent.project_id == project_id, A6CompensationStep.status == StepStatus.outstanding)
        .order_by(A6CompensationStep.id).with_for_update()).all())


def _issued_text(session: Session, issuance: Issuance | None) -> list[str]:
    if issuance is None:
        return []
    text = session.get(Serialization, issuance.serialization_id).text
    return [str(sr.SerialBlock(sr.parse_serialization(text), sr.SerialRange(issuance.unit_first, issuance.unit_last)))]


def _issue_article6_units(session: Session, *, project: Project, a6row: A6Project, letter: a6.Letter, vintage: int,
                          quantity: int, account: Account, kind: DesignationKind, period: a6.Period, at: datetime,
                          actor: str) -> DesignationResult:
    """Issue ``quantity`` new Article 6.2 ICCs of a vintage (:func:`registry.operations.credits.issue_ex_post`):
    the lowest ``deposit`` units into the non-CA adjustment account (§II.3.b), the rest into
    ``account``, then cancel what outstanding non-CA compensation deducts (§V.b step 5)."""
    serialization, credit_class = article6_class(session, project, vintage, letter)
    split = a6.adjustment_deposit(quantity, a6row.adjustment_percentage)
    deductions = _outstanding_deductions(session, project.id)
    deducted = min(split.to_proponent, sum(s.quantity - s.completed for s in deductions))
    deposit_issuance = issuance = None
    if split.deposit:
        deposit_issuance = issue_ex_post(session, project_id=project.id, vintage=vintage, quantity=split.deposit,
                                             account_id=adjustment_account(session).id, article6=True)
    if split.to_proponent:
        issuance = issue_ex_post(session, project_id=project.id, vintage=vintage, quantity=split.to_proponent,
                                     account_id=account.id, article6=True)
    designation = A6Designation(project_id=project.id, letter_id=letter.number, serialization_id=serialization.id,
                                issuance_id=issuance.id if issuance else None,
                                deposit_issuance_id=deposit_issuance.id if deposit_issuance else None,
                                kind=kind, account_id=account.id, quantity=quantity, deposit=split.deposit,
                                deducted=deducted, adjustment_percentage=a6row.adjustment_percentage,
                                monitoring_start=period.start, monitoring_end=period.end, created_at=at)
    session.add(designation)
    session.flush()
    deducted_blocks: list[str] = []
    if deducted:
        left, used = deducted, []
        for step in deductions:
            take = min(left, step.quantity - step.completed)
            if take <= 0:
                continue
            step.completed += take
            if step.completed == step.quantity:
                step.status = StepStatus.done
                step.completed_at = at
            session.add(step)
            used.append(step)
            left -= take
        _, moved = cancel(session, account_id=account.id, serialization_id=serialization.id, quantity=deducted,
                              reason=CancellationReason.non_ca_compensation,
                              note=f"deducted from Article 6.2 designation {designation.id} for non-CA compensation "
                                   "(seed 003 §V.b step 5)",
                              reference=",".join(f"a6-compensation:{s.id}" for s in used))
        deducted_blocks = [m.serial_block for m in moved]
        for step in used:
            _refresh_event(session, step.event_id, at)
    _ensure_ca_record(session, project, vintage, credit_class, at, actor)
    return DesignationResult(designation, _issued_text(session, issuance), _issued_text(session, deposit_issuance),
                             deducted_blocks, [], credit_class.token_id)


def _designation_context(session: Session, project_id: int):
    project = get_row(session, Project, project_id, "project")
    a6row = _a6project(session, project_id, lock=True)
    letter = _current_letter(session, a6row)
    return project, a6row, letter


def _period(start: date, end: date) -> a6.Period:
    try:
        return a6.Period(start, end)
    except ValueError as exc:
        raise RuleViolation(str(exc), field="monitoring_end", rule="period-ordered") from exc


def _designation_entry(session: Session, kind: str, result: DesignationResult, project: Project, vintage: int,
                       actor: str) -> None:
    d = result.designation
    append_entry(session, kind, {
        "designation_id": d.id, "issuance_id": d.issuance_id, "deposit_issuance_id": d.deposit_issuance_id,
        "letter_number": d.letter_id, "project_number": project.project_number, "vintage": vintage,
        "quantity": d.quantity, "deposit": d.deposit, "deducted": d.deducted,
        "adjustment_percentage": d.adjustment_percentage, "account_id": d.account_id,
        "monitoring_period": [str(d.monitoring_start), str(d.monitoring_end)], "token_id": result.token_id,
        "issued_blocks": result.issued_blocks, "deposit_blocks": result.deposit_blocks,
        "deducted_blocks": result.deducted_blocks, "cancelled_blocks": result.cancelled_blocks, "actor": actor})


def issue_article6(session: Session, *, project_id: int, vintage: int, quantity: int, account_id: int,
                   monitoring_start: date, monitoring_end: date, uses: Collection[AuthorizedUse] | None = None,
                   kind: IssuanceKind = IssuanceKind.ex_post, on: date | None = None, actor: str,
                   at: datetime | None = None) -> DesignationResult:
    """Issue ``quantity`` ICCs of a vintage designated as Article 6.2 ICCs (§II.1).

    Only when every §4.1 rule and the letter's scope allow it (each refusal names its rule):
    project authorized and not suspended, letter approved, published and valid on ``on``,
    host country framework, not level 2b, no ex-ante issuance in the crediting period,
    approved methodology, vintage from 2021 and within the letter's vintages, monitoring
    period within its crediting period, credit type, whole tonnes, cumulative cap, uses, and a
    risk assessment setting the adjustment deposit (§II.3.b), which goes to the non-CA
    adjustment account."""
    at = _now(at)
    on = on or at.date()
    project, a6row, letter = _designation_context(session, project_id)
    account = get_row(session, Account, account_id, "account")
    period = _period(monitoring_start, monitoring_end)
    facts = project_facts(session, project, a6row, letter)
    issuance = a6.IssuanceFacts(vintage=vintage, quantity=quantity, monitoring_period=period,
                                credit_type=project.credit_type, ex_ante=IssuanceKind(kind) is IssuanceKind.ex_ante)
    so_far = designated_so_far(session, letter.number) if letter else 0
    _refuse(a6.check_designation(letter, facts, issuance, designated_so_far=so_far, on=on,
                                 uses=None if uses is None else frozenset(uses)) + _risk_refusals(a6row))
    if account.type is not AccountType.holding:
        raise RuleViolation(f"account {account_id} is not a holding account", field="account_id",
                            rule="issue-into-holding-account")
    result = _issue_article6_units(session, project=project, a6row=a6row, letter=letter, vintage=vintage,
                                   quantity=quantity, account=account, kind=DesignationKind.issuance, period=period,
                                   at=at, actor=actor)
    _designation_entry(session, "article6.issuance", result, project, vintage, actor)
    return result


def _holdings(session: Session, project: Project, vintage: int, account_id: int,
              period: a6.Period) -> tuple[Serialization | None, list[a6.Holding]]:
    """The standard ICCs of a vintage in the account, and those it moved into bridge custody."""
    text = str(serialization_of(project, vintage, False))
    serialization = session.exec(select(Serialization).where(Serialization.text == text)).first()
    if serialization is None:
        return None, []
    serialization = lock_serialization(session, serialization.id)
    in_account = session.exec(select(SerialBlock).where(
        SerialBlock.serialization_id == serialization.id, SerialBlock.account_id == account_id,
        SerialBlock.status.in_((CreditStatus.active, CreditStatus.inactive)))
        .order_by(SerialBlock.unit_first)).all()
    in_custody = session.exec(select(SerialBlock).join(
        TokenizationRequest, TokenizationRequest.id == SerialBlock.tokenization_id).join(
        Account, Account.id == SerialBlock.account_id).where(
        SerialBlock.serialization_id == serialization.id, TokenizationRequest.account_id == account_id,
        Account.type == AccountType.bridge_custody, SerialBlock.status == CreditStatus.active)).all()
    vs = sr.parse_serialization(text)
    holdings = [a6.Holding(sr.SerialBlock(vs, sr.SerialRange(r.unit_first, r.unit_last)), a6.Location.holding,
                           r.status is CreditStatus.active, period) for r in in_account]
    holdings += [a6.Holding(sr.SerialBlock(vs, sr.SerialRange(r.unit_first, r.unit_last)), a6.Location.bridge_custody,
                            True, period) for r in in_custody]
    return serialization, holdings


def convert_to_article6(session: Session, *, project_id: int, account_id: int, vintage: int, monitoring_start: date,
                        monitoring_end: date, quantity: int | None = None, on: date | None = None, actor: str,
                        at: datetime | None = None) -> DesignationResult:
    """Convert remaining eligible standard ICCs of a vintage held in ``account_id`` to Article
    6.2 ICCs (§I.12): the originals are cancelled (reason: conversion to Article 6.2, lowest
    serials first) and as many new Article 6.2 ICCs issued as at designation (deposit
    included). Credits in bridge custody cannot be converted: tokens exist for them.
    ``quantity`` None converts everything eligible within the letter's cap."""
    at = _now(at)
    on = on or at.date()
    project, a6row, letter = _designation_context(session, project_id)
    account = get_row(session, Account, account_id, "account")
    if account.type is not AccountType.holding:
        raise RuleViolation(f"account {account_id} is not a holding account", field="account_id",
                            rule=a6.R_CONVERTIBLE_HOLDING.id)
    if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1):
        raise RuleViolation("quantity must be a positive whole number of tonnes", field="quantity",
                            rule=a6.R_WHOLE_TONNES.id)
    period = _period(monitoring_start, monitoring_end)
    facts = project_facts(session, project, a6row, letter)
    if letter is None:
        _refuse(a6.check_designation(None, facts, a6.IssuanceFacts(vintage, 1, period, project.credit_type),
                                     designated_so_far=0, on=on))
    _refuse(_risk_refusals(a6row))
    serialization, holdings = _holdings(session, project, vintage, account_id, period)
    try:
        plan = a6.plan_conversion(letter, facts, holdings, designated_so_far=designated_so_far(session, letter.number),
                                  on=on)
    except Article6Error as exc:
        raise violation(exc) from exc
    wanted = plan.total if quantity is None else quantity
    if plan.total == 0 or plan.total < wanted:
        excluded = [r for _, refusals in plan.excluded for r in refusals]
        if excluded:
            _refuse(excluded)
        raise RuleViolation(f"account {account_id} holds {plan.total} convertible standard ICCs of vintage {vintage}, "
                            f"not {wanted}", field="quantity", rule="sufficient-active-credits")
    result = _issue_article6_units(session, project=project, a6row=a6row, letter=letter, vintage=vintage,
                                   quantity=wanted, account=account, kind=DesignationKind.conversion, period=period,
                                   at=at, actor=actor)
    # The plan converts active holding blocks in serial order: exactly the lowest serials cancel() takes.
    _, moved = cancel(session, account_id=account_id, serialization_id=serialization.id, quantity=wanted,
                          reason=CancellationReason.conversion_article6,
                          note=f"converted to Article 6.2 ICCs under letter {letter.number} (seed 003 §I.12)",
                          reference=f"a6-designation:{result.designation.id}")
    cancelled = [m.serial_block for m in moved]
    result.designation.converted_from = json.dumps(cancelled)
    session.add(result.designation)
    session.flush()
    result = DesignationResult(result.designation, result.issued_blocks, result.deposit_blocks,
                               result.deducted_blocks, cancelled, result.token_id)
    _designation_entry(session, "article6.conversion", result, project, vintage, actor)
    return result


def list_designations(session: Session, *, project_id: int | None = None, offset: int = 0,
                      limit: int = 50) -> tuple[int, list[A6Designation]]:
    conditions = [] if project_id is None else [A6Designation.project_id == project_id]
    total = session.exec(select(func.count()).select_from(A6Designation).where(*conditions)).one()
    rows = session.exec(select(A6Designation).where(*conditions).order_by(A6Designation.id)
                        .offset(offset).limit(limit)).all()
    return total, list(rows)


# --------------------------------------------------------------------------------------------
# Corresponding adjustments (§II.2, §IV)
# --------------------------------------------------------------------------------------------


def _article6_class_of(session: Session, project_id: int, vintage: int) -> CreditClass | None:
    return session.exec(select(CreditClass).join(Serialization, Serialization.id == CreditClass.serialization_id)
                        .where(Serialization.project_id == project_id, Serialization.vintage == vintage,
                               Serialization.article6 == True)).first()  # noqa: E712


def _record_row(session: Session, project_id: int, vintage: int, *, lock: bool = False) -> A6CARecord:
    stmt = select(A6CARecord).where(A6CARecord.project_id == project_id, A6CARecord.vintage == vintage)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        project = get_row(session, Project, project_id, "project")
        raise NotFound(f"project {project.project_number} has no Article 6.2 ICCs of vintage {vintage}",
                       field="vintage")
    return row


def ca_record_of(session: Session, row: A6CARecord) -> a6.CARecord:
    project = session.get(Project, row.project_id)
    evidence = session.exec(select(A6CAEvidence).where(A6CAEvidence.record_id == row.id)
                            .order_by(A6CAEvidence.id)).all()
    history = session.exec(select(A6CAHistory).where(A6CAHistory.record_id == row.id)
                           .order_by(A6CAHistory.id)).all()
    return a6.CARecord(
        project.project_number, row.vintage, CAStatus(row.status),
        tuple(a6.Evidence(a6.EvidenceKind[e.kind], e.reference, e.received_on) for e in evidence),
        tuple(a6.HistoryEntry(h.transition, None if h.from_status is None else CAStatus(h.from_status).name,
                              CAStatus(h.to_status).name, h.at, h.actor, h.note, evidence=h.evidence)
              for h in history))


def _ensure_ca_record(session: Session, project: Project, vintage: int, credit_class: CreditClass, at: datetime,
                      actor: str) -> A6CARecord:
    row = session.exec(select(A6CARecord).where(A6CARecord.project_id == project.id,
                                                A6CARecord.vintage == vintage)).first()
    if row is not None:
        return row
    opened = a6.open_ca_record(project.project_number, vintage, at, actor)
    row = A6CARecord(project_id=project.id, vintage=vintage, status=int(opened.status), updated_at=at)
    session.add(row)
    session.flush()
    _store_ca(session, project, row, opened, credit_class)
    return row


def _store_ca(session: Session, project: Project, row: A6CARecord, new: a6.CARecord,
              credit_class: CreditClass | None = None, evidence_row: A6CAEvidence | None = None) -> None:
    entry = new.history[-1]
    row.status = int(new.status)
    row.updated_at = entry.at
    session.add(row)
    credit_class = credit_class or _article6_class_of(session, row.project_id, row.vintage)
    if credit_class is not None and credit_class.ca_status != int(new.status):
        credit_class.ca_status = int(new.status)
        session.add(credit_class)
    session.add(A6CAHistory(record_id=row.id, class_id=credit_class.id if credit_class else None,
                            transition=entry.transition,
                            from_status=None if entry.from_status is None else int(CAStatus[entry.from_status]),
                            to_status=int(CAStatus[entry.to_status]), at=entry.at, actor=entry.actor,
                            note=entry.note, evidence=entry.evidence))
    session.flush()
    append_entry(session, f"article6.ca.{entry.transition}", {
        "project_number": project.project_number, "vintage": row.vintage, "from": entry.from_status,
        "to": entry.to_status, "label": a6.CA_STATUS_LABELS[new.status], "note": entry.note,
        "evidence": entry.evidence, "evidence_kind": evidence_row.kind if evidence_row else None,
        "token_id": credit_class.token_id if credit_class else None, "actor": entry.actor})


def _evidence_row(session: Session, row: A6CARecord, evidence: a6.Evidence, at: datetime, actor: str) -> A6CAEvidence:
    if not evidence.reference.strip():
        raise RuleViolation("evidence needs a reference to the host country's report", field="evidence.reference",
                            rule=a6.R_CA_EVIDENCE.id)
    ev = A6CAEvidence(record_id=row.id, kind=evidence.kind.name, reference=evidence.reference.strip(),
                      received_on=evidence.received_on, added_at=at, actor=actor)
    session.add(ev)
    return ev


def _ca_step(session: Session, project_id: int, vintage: int, step, evidence: a6.Evidence | None, at: datetime,
             actor: str, *args) -> a6.CARecord:
    project = get_row(session, Project, project_id, "project")
    row = _record_row(session, project_id, vintage, lock=True)
    try:
        new = step(ca_record_of(session, row), *args)
    except Article6Error as exc:
        raise violation(exc) from exc
    ev = _evidence_row(session, row, evidence, at, actor) if evidence is not None else None
    _store_ca(session, project, row, new, evidence_row=ev)
    return new


def add_ca_evidence(session: Session, project_id: int, vintage: int, evidence: a6.Evidence, *, actor: str,
                    at: datetime | None = None) -> a6.CARecord:
    """Attach evidence (e.g. of the intention to apply the CA) without changing the status."""
    at = _now(at)
    return _ca_step(session, project_id, vintage, a6.add_ca_evidence, evidence, at, actor, evidence, at, actor)


def confirm_ca_applied(session: Session, project_id: int, vintage: int, evidence: a6.Evidence, *, actor: str,
                       at: datetime | None = None) -> a6.CARecord:
    """Pending (or No CA applied) -> CA applied, on evidence from the host country's reports (§IV)."""
    at = _now(at)
    return _ca_step(session, project_id, vintage, a6.confirm_ca_applied, evidence, at, actor, evidence, at, actor)


def record_no_ca(session: Session, project_id: int, vintage: int, *, reason: str, evidence: a6.Evidence | None = None,
                 suspend: bool = True, actor: str, at: datetime | None = None) -> list[A6NonCAEvent]:
    """ICR determines that no CA was applied (§II.2, §IV): pending -> No CA applied, and a
    non-CA event by decision for every exposure (§V). With ``suspend`` an authorized project
    is suspended (§V.b). Returns the events recorded."""
    at = _now(at)
    if not reason.strip():
        raise RuleViolation("state why ICR determined that no CA was applied", field="reason",
                            rule="non-ca-decision-reason")
    _ca_step(session, project_id, vintage, a6.record_no_ca, evidence, at, actor, at, actor, reason, evidence)
    row = _record_row(session, project_id, vintage)
    return _detect_for(session, row, at.date(), at, actor, suspend=suspend)


def ca_status(session: Session, project_id: int, vintage: int) -> a6.CARecord:
    return ca_record_of(session, _record_row(session, project_id, vintage))


def list_ca_records(session: Session, *, project_id: int | None = None, offset: int = 0,
                    limit: int = 50) -> tuple[int, list[A6CARecord]]:
    conditions = [] if project_id is None else [A6CARecord.project_id == project_id]
    total = session.exec(select(func.count()).select_from(A6CARecord).where(*conditions)).one()
    rows = session.exec(select(A6CARecord).where(*conditions).order_by(A6CARecord.project_id, A6CARecord.vintage)
                        .offset(offset).limit(limit)).all()
    return total, list(rows)


# Bridge interface ---------------------------------------------------------------------------


def ca_status_for_class(session: Session, class_id: int) -> CAStatus:
    """The CA status the token of a credit class should carry: ``not_applicable`` for standard
    classes; for an Article 6.2 class the status of its project and vintage (pending until
    ICR records otherwise)."""
    credit_class = get_row(session, CreditClass, class_id, "class")
    serialization = session.get(Serialization, credit_class.serialization_id)
    if not serialization.article6:
        return CAStatus.not_applicable
    row = session.exec(select(A6CARecord).where(A6CARecord.project_id == serialization.project_id,
                                                A6CARecord.vintage == serialization.vintage)).first()
    return CAStatus.pending if row is None else CAStatus(row.status)


@dataclass(frozen=True)
class CAPush:
    """A CA status the bridge still has to send with ``ICCToken.setCAStatus(class_id, status,
    evidence_hash)``: the class's current status, the sha256 of the latest evidence reference
    (zero hash without evidence) and the history rows the push covers."""

    class_id: int
    token_id: str
    status: CAStatus
    evidence_hash: str  # 0x-prefixed 32 bytes
    history_ids: tuple[int, ...]


ZERO_HASH = "0x" + "00" * 32


def evidence_hash(reference: str | None) -> str:
    return ZERO_HASH if not reference else "0x" + hashlib.sha256(reference.encode()).hexdigest()


def pending_ca_pushes(session: Session, *, limit: int = 100) -> list[CAPush]:
    """CA status changes not yet pushed on-chain, one per credit class registered on-chain
    (an unregistered class gets its current status with ``registerClass``), oldest first."""
    rows = session.exec(
        select(A6CAHistory, CreditClass).join(CreditClass, CreditClass.id == A6CAHistory.class_id)
        .where(A6CAHistory.pushed_at.is_(None), CreditClass.registered_on_chain == True)  # noqa: E712
        .order_by(A6CAHistory.id)).all()
    by_class: dict[int, list[A6CAHistory]] = {}
    classes: dict[int, CreditClass] = {}
    for history, credit_class in rows:
        by_class.setdefault(credit_class.id, []).append(history)
        classes[credit_class.id] = credit_class
    out = []
    for class_id, history in list(by_class.items())[:limit]:
        credit_class = classes[class_id]
        status = ca_status_for_class(session, class_id)
        latest = session.exec(select(A6CAHistory.evidence).where(
            A6CAHistory.class_id == class_id, A6CAHistory.evidence.is_not(None))
            .order_by(A6CAHistory.id.desc()).limit(1)).first()
        out.append(CAPush(class_id, credit_class.token_id, status, evidence_hash(latest),
                          tuple(h.id for h in history)))
    return out


def mark_ca_pushed(session: Session, history_ids: Iterable[int], *, tx_hash: str | None,
                   at: datetime | None = None) -> int:
    """Record that the changes were sent on-chain (``tx_hash`` of ``setCAStatus``; None when
    a class registration carried the status). Returns how many rows were marked; rows
    already marked are left alone, so a repeated call is harmless."""
    at = _now(at)
    rows = session.exec(select(A6CAHistory).where(A6CAHistory.id.in_(list(history_ids)),
                                                  A6CAHistory.pushed_at.is_(None)).with_for_update()).all()
    for row in rows:
        row.pushed_at = at
        row.onchain_tx = tx_hash
        session.add(row)
    session.flush()
    if rows:
        append_entry(session, "article6.ca.pushed", {"history_ids": sorted(r.id for r in rows), "tx_hash": tx_hash})
    return len(rows)


# --------------------------------------------------------------------------------------------
# Non-CA events (§V) and compensation (§V.b)
# --------------------------------------------------------------------------------------------


def _letter_for_vintage(session: Session, project_id: int, vintage: int) -> a6.Letter | None:
    credit_class = _article6_class_of(session, project_id, vintage)
    if credit_class is None or not credit_class.letter_number:
        return None
    return get_letter(session, credit_class.letter_number)


def exposures(session: Session, project_id: int, vintage: int) -> list[a6.Exposure]:
    """Article 6.2 ICCs of a project and vintage by year of first transfer, under the letter's
    §I.7.1 definition: at use, retired ICCs by retirement year; at issuance, ICCs issued to the
    proponent (less deposit and deductions) by issuance year; at authorization, the same
    quantity in the year the letter was approved."""
    letter = _letter_for_vintage(session, project_id, vintage)
    if letter is None:
        return []
    credit_class = _article6_class_of(session, project_id, vintage)
    per_year: dict[int, int] = defaultdict(int)
    if letter.content.first_transfer is a6.FirstTransfer.use:
        rows = session.exec(select(Retirement.created_at, SerialBlock.quantity).join(
            SerialBlock, SerialBlock.retirement_id == Retirement.id).where(
            SerialBlock.serialization_id == credit_class.serialization_id)).all()
        for created_at, quantity in rows:
            per_year[created_at.year] += quantity
    else:
        approved = next((h.at.year for h in letter.history if h.transition == "approve_and_publish"), None)
        rows = session.exec(select(A6Designation).where(
            A6Designation.serialization_id == credit_class.serialization_id)).all()
        for d in rows:
            year = d.created_at.year if letter.content.first_transfer is a6.FirstTransfer.issuance else approved
            per_year[year] += d.quantity - d.deposit - d.deducted
    return [a6.Exposure(year, q) for year, q in sorted(per_year.items())]


def _detect_for(session: Session, row: A6CARecord, on: date, at: datetime, actor: str, *,
                suspend: bool) -> list[A6NonCAEvent]:
    project = session.get(Project, row.project_id)
    record = ca_record_of(session, row)
    exposed = exposures(session, row.project_id, row.vintage)
    found = a6.detect_non_ca_events(record, exposed, on)
    if found and record.status is CAStatus.pending:
        # The date rule is ICR's determination that no CA was applied for the project and
        # vintage (§II.2, §IV): the record says so, and every use of the vintage is an event.
        cutoffs = ", ".join(str(a6.non_ca_cutoff(e.first_transfer_year)) for e in found)
        record = a6.record_no_ca(record, at, actor, f"no credible evidence of the CA by {cutoffs} (date rule, §V)")
        _store_ca(session, project, row, record)
        by_date = {e.first_transfer_year: e for e in found}
        found = tuple(by_date.get(e.first_transfer_year, e) for e in a6.detect_non_ca_events(record, exposed, on))
    stored = []
    for event in found:
        existing = session.exec(select(A6NonCAEvent).where(
            A6NonCAEvent.project_id == row.project_id, A6NonCAEvent.vintage == row.vintage,
            A6NonCAEvent.first_transfer_year == event.first_transfer_year).with_for_update()).first()
        if existing is not None and existing.quantity >= event.quantity:
            continue
        if existing is None:
            existing = A6NonCAEvent(project_id=row.project_id, vintage=row.vintage,
                                    first_transfer_year=event.first_transfer_year, quantity=event.quantity,
                                    trigger=event.trigger, detected_on=event.detected_on, created_at=at)
            kind = "article6.non_ca_event"
        else:  # more ICCs of that year were used since: the double claim grew
            existing.quantity = event.quantity
            existing.status = NonCAEventStatus.open
            kind = "article6.non_ca_event.increased"
        session.add(existing)
        session.flush()
        stored.append(existing)
        append_entry(session, kind, {
            "event_id": existing.id, "project_number": project.project_number, "vintage": row.vintage,
            "first_transfer_year": event.first_transfer_year, "quantity": existing.quantity,
            "trigger": event.trigger.name, "detected_on": str(event.detected_on), "actor": actor})
    if stored and suspend:
        a6row = _a6project(session, row.project_id, lock=True)
        if a6row.status is ProjectStatus.authorized:
            _store_project(session, project, a6row, a6.suspend_project(
                project_article6(session, row.project_id), at, actor,
                f"non-CA event(s) {', '.join(str(e.id) for e in stored)} (seed 003 §V.b)"))
    return stored


def detect_non_ca_events(session: Session, *, on: date, suspend: bool = True, actor: str,
                         at: datetime | None = None) -> list[A6NonCAEvent]:
    """Apply the date rule (§V) to every pending CA record, and record events by decision for
    records marked No CA applied whose exposures grew. Idempotent: an event is keyed by
    project, vintage and first-transfer year."""
    at = _now(at)
    rows = session.exec(select(A6CARecord).where(A6CARecord.status.in_(
        (int(CAStatus.pending), int(CAStatus.not_applied)))).order_by(A6CARecord.id).with_for_update()).all()
    out = []
    for row in rows:
        out += _detect_for(session, row, on, at, actor, suspend=suspend)
    return out


def _event_row(session: Session, event_id: int, *, lock: bool = False) -> A6NonCAEvent:
    stmt = select(A6NonCAEvent).where(A6NonCAEvent.id == event_id)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"non-CA event {event_id} does not exist", field="event_id")
    return row


def _steps(session: Session, event_id: int) -> list[A6CompensationStep]:
    return list(session.exec(select(A6CompensationStep).where(A6CompensationStep.event_id == event_id)
                             .order_by(A6CompensationStep.seq)).all())


def _refresh_event(session: Session, event_id: int, at: datetime) -> None:
    event = session.get(A6NonCAEvent, event_id)
    done = sum(s.completed for s in _steps(session, event_id))
    status = NonCAEventStatus.compensated if done >= event.quantity else NonCAEventStatus.open
    if status is not event.status:
        event.status = status
        session.add(event)
        session.flush()


def outstanding_compensation(session: Session, project_id: int) -> int:
    """Tonnes of the project's non-CA events not yet covered by completed compensation."""
    events = session.exec(select(A6NonCAEvent).where(A6NonCAEvent.project_id == project_id)).all()
    return sum(max(0, e.quantity - sum(s.completed for s in _steps(session, e.id))) for e in events)


def _excluded_vintages(session: Session) -> set[tuple[int, int]]:
    """(project id, vintage) pairs subject to a double claim: their CA is recorded as not applied."""
    return {(p, v) for p, v in session.exec(select(A6CARecord.project_id, A6CARecord.vintage)
                                             .where(A6CARecord.status == int(CAStatus.not_applied))).all()}


@dataclass(frozen=True)
class _Held:
    account_id: int
    serialization_id: int
    project_id: int
    project_number: int
    quantity: int


def _article6_held(session: Session, *, account_ids: list[int], project_id: int | None = None,
                   exclude: Collection[tuple[int, int]] = (), exclude_project: int | None = None) -> list[_Held]:
    """Active Article 6.2 ICCs per account and serialization, in (project number, vintage,
    account) order, leaving out vintages subject to a double claim."""
    if not account_ids:
        return []
    conditions = [SerialBlock.account_id.in_(account_ids), SerialBlock.status == CreditStatus.active,
                  Serialization.article6 == True]  # noqa: E712
    if project_id is not None:
        conditions.append(Serialization.project_id == project_id)
    if exclude_project is not None:
        conditions.append(Serialization.project_id != exclude_project)
    rows = session.exec(
        select(SerialBlock.account_id, Serialization.id, Serialization.project_id, Serialization.vintage,
               Project.project_number, func.sum(SerialBlock.quantity))
        .join(Serialization, Serialization.id == SerialBlock.serialization_id)
        .join(Project, Project.id == Serialization.project_id).where(*conditions)
        .group_by(SerialBlock.account_id, Serialization.id, Serialization.project_id, Serialization.vintage,
                  Project.project_number)
        .order_by(Project.project_number, Serialization.vintage, SerialBlock.account_id)).all()
    return [_Held(a, s, p, n, int(q)) for a, s, p, v, n, q in rows if (p, v) not in exclude]


def _cancel_held(session: Session, held: list[_Held], quantity: int, *, note: str, reference: str) -> list[str]:
    """Cancel ``quantity`` of ``held`` in its order (lowest serials first within each)."""
    blocks, left = [], quantity
    for h in held:
        if left == 0:
            break
        take = min(left, h.quantity)
        if take:
            _, moved = cancel(session, account_id=h.account_id, serialization_id=h.serialization_id,
                                  quantity=take, reason=CancellationReason.non_ca_compensation, note=note,
                                  reference=reference)
            blocks += [m.serial_block for m in moved]
            left -= take
    return blocks


def _proponent_accounts(session: Session, a6row: A6Project) -> list[int]:
    if a6row.proponent_organization_id is None:
        return []
    return list(session.exec(select(Account.id).where(Account.organization_id == a6row.proponent_organization_id,
                                                      Account.type == AccountType.holding)
                             .order_by(Account.id)).all())


def compensate_non_ca_event(session: Session, event_id: int, *, notified_on: date, actor: str,
                            proponent_account_id: int | None = None, proponent_deposit: int = 0,
                            replacement_purchase: int = 0, replacement_evidence: str = "",
                            additional_double_claim: bool = False, holidays: Collection[date] = (),
                            at: datetime | None = None) -> list[A6CompensationStep]:
    """Compensate what remains of a non-CA event in the order of §V.b, recording each step:

    1. cancel the project's excess Article 6.2 ICCs in the non-CA adjustment account;
    2. cancel other projects' excess there (ascending project number);
    3. the proponent deposits ``proponent_deposit`` Article 6.2 ICCs from
       ``proponent_account_id`` into the adjustment account and ICR cancels them;
    4. ``replacement_purchase`` replacement credits bought and cancelled within 60 business days
       of ``notified_on`` (done when ``replacement_evidence`` is given, due otherwise);
    5. cancel Article 6.2 ICCs the proponent holds, then deduct the rest from future Article 6.2
       issuances of the project (not when ``additional_double_claim``).

    Excess means ICCs of a project and vintage whose CA is not recorded as not applied.
    Cancellations carry ``reference`` ``a6-compensation:<step id>``."""
    at = _now(at)
    event = _event_row(session, event_id, lock=True)
    project = session.get(Project, event.project_id)
    steps_before = _steps(session, event_id)
    remaining = event.quantity - sum(s.quantity for s in steps_before)
    if remaining <= 0:
        raise Conflict(f"non-CA event {event_id} is fully covered by its compensation steps", field="event_id",
                       rule="event-compensated")
    for name, value in (("proponent_deposit", proponent_deposit), ("replacement_purchase", replacement_purchase)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RuleViolation(f"{name}: {value!r} is not a whole number of tonnes", field=name,
                                rule=a6.R_WHOLE_TONNES.id)
    a6row = _a6project(session, event.project_id, lock=True)
    exclude = _excluded_vintages(session)
    adjustment = adjustment_account(session)
    own = _article6_held(session, account_ids=[adjustment.id], project_id=event.project_id, exclude=exclude)
    others: dict[int, list[_Held]] = defaultdict(list)
    for h in _article6_held(session, account_ids=[adjustment.id], exclude=exclude, exclude_project=event.project_id):
        others[h.project_number].append(h)
    deposit_from: list[_Held] = []
    if proponent_deposit:
        if proponent_account_id is None:
            raise RuleViolation("name the account the proponent deposits from", field="proponent_account_id",
                                rule="proponent-deposit-account")
        source = get_row(session, Account, proponent_account_id, "proponent_account")
        if source.type is not AccountType.holding:
            raise RuleViolation(f"account {proponent_account_id} is not a holding account",
                                field="proponent_account_id", rule="proponent-deposit-account")
        deposit_from = _article6_held(session, account_ids=[source.id], project_id=event.project_id,
                                      exclude=exclude)
        held = sum(h.quantity for h in deposit_from)
        if held < proponent_deposit:
            raise RuleViolation(f"account {proponent_account_id} holds {held} Article 6.2 ICCs of the project not "
                                f"subject to a double claim, not {proponent_deposit}", field="proponent_deposit",
                                rule="sufficient-active-credits")
    holding_accounts = _proponent_accounts(session, a6row)
    holdings_total = sum(h.quantity for h in _article6_held(session, account_ids=holding_accounts,
                                                            project_id=event.project_id, exclude=exclude))
    if proponent_deposit and proponent_account_id in holding_accounts:
        holdings_total -= proponent_deposit
    sources = a6.CompensationSources(
        own_excess=sum(h.quantity for h in own),
        other_projects_excess={n: sum(h.quantity for h in hs) for n, hs in others.items()},
        proponent_deposit=proponent_deposit, replacement_purchase=replacement_purchase,
        proponent_holdings=holdings_total, additional_double_claim=additional_double_claim)
    plan = a6.plan_compensation(remaining, sources, notified_on=notified_on, holidays=holidays)
    if event.notified_on is None:
        event.notified_on = notified_on
        session.add(event)
    seq, made = len(steps_before), []
    for step in plan.steps:
        seq += 1
        from_project = others[step.from_project][0].project_id if step.from_project else None
        row = A6CompensationStep(event_id=event_id, seq=seq, kind=step.kind.name, quantity=step.quantity,
                                 status=StepStatus.done, due_by=step.due_by, created_at=at,
                                 from_project_id=from_project)
        session.add(row)
        session.flush()
        reference = f"a6-compensation:{row.id}"
        note = (f"non-CA event {event_id} (project {project.project_number}, vintage {event.vintage}), seed 003 §V.b "
                f"step {step.kind.value}")
        cancelled: list[str] = []
        if step.kind is CompensationKind.cancel_own_excess:
            cancelled = _cancel_held(session, own, step.quantity, note=note, reference=reference)
        elif step.kind is CompensationKind.cancel_other_excess:
            cancelled = _cancel_held(session, others[step.from_project], step.quantity, note=note, reference=reference)
        elif step.kind is CompensationKind.proponent_deposit:
            left, deposited = step.quantity, []
            for h in deposit_from:  # deposited into the adjustment account, then cancelled there by ICR
                take = min(left, h.quantity)
                if take:
                    transfer(session, from_account_id=h.account_id, to_account_id=adjustment.id,
                                 serialization_id=h.serialization_id, quantity=take)
                    deposited.append(_Held(adjustment.id, h.serialization_id, h.project_id, h.project_number, take))
                    left -= take
            cancelled = _cancel_held(session, deposited, step.quantity, note=note, reference=reference)
        elif step.kind is CompensationKind.cancel_subsequent_holdings:  # read again: a deposit may have moved some
            held = _article6_held(session, account_ids=holding_accounts, project_id=event.project_id, exclude=exclude)
            cancelled = _cancel_held(session, held, step.quantity, note=note, reference=reference)
        elif step.kind is CompensationKind.purchase_replacements:
            row.status = StepStatus.done if replacement_evidence.strip() else StepStatus.due
            row.evidence = replacement_evidence.strip()[:500]
        else:  # deduct_future_issuances
            row.status = StepStatus.outstanding
        if cancelled:
            row.evidence = ", ".join(cancelled)[:500]
        if row.status is StepStatus.done:
            row.completed = row.quantity
            row.completed_at = at
        session.add(row)
        session.flush()
        made.append(row)
    _refresh_event(session, event_id, at)
    append_entry(session, "article6.compensation", {
        "event_id": event_id, "project_number": project.project_number, "vintage": event.vintage,
        "shortfall": remaining, "unresolved": plan.unresolved, "notified_on": str(notified_on),
        "steps": [{"step_id": r.id, "seq": r.seq, "kind": r.kind, "quantity": r.quantity, "status": r.status.value,
                   "due_by": str(r.due_by) if r.due_by else None, "evidence": r.evidence} for r in made],
        "actor": actor})
    return made


def complete_replacement(session: Session, step_id: int, *, evidence: str, actor: str,
                         at: datetime | None = None) -> A6CompensationStep:
    """Record the evidence that replacement credits were purchased and cancelled (§V.b step 4)."""
    at = _now(at)
    step = session.exec(select(A6CompensationStep).where(A6CompensationStep.id == step_id).with_for_update()).first()
    if step is None:
        raise NotFound(f"compensation step {step_id} does not exist", field="step_id")
    if step.status is not StepStatus.due:
        raise Conflict(f"compensation step {step_id} is {step.status.value}, not due", field="step_id",
                       rule="replacement-due")
    if not evidence.strip():
        raise RuleViolation("reference the cancellation of the replacement credits", field="evidence",
                            rule="replacement-evidence")
    step.status = StepStatus.done
    step.completed = step.quantity
    step.completed_at = at
    step.evidence = evidence.strip()[:500]
    session.add(step)
    session.flush()
    _refresh_event(session, step.event_id, at)
    append_entry(session, "article6.compensation.replacement", {
        "step_id": step.id, "event_id": step.event_id, "quantity": step.quantity, "evidence": step.evidence,
        "late": bool(step.due_by and at.date() > step.due_by), "actor": actor})
    return step


def list_events(session: Session, *, project_id: int | None = None, offset: int = 0,
                limit: int = 50) -> tuple[int, list[A6NonCAEvent]]:
    conditions = [] if project_id is None else [A6NonCAEvent.project_id == project_id]
    total = session.exec(select(func.count()).select_from(A6NonCAEvent).where(*conditions)).one()
    rows = session.exec(select(A6NonCAEvent).where(*conditions).order_by(A6NonCAEvent.id)
                        .offset(offset).limit(limit)).all()
    return total, list(rows)


def event_steps(session: Session, event_id: int) -> list[A6CompensationStep]:
    _event_row(session, event_id)
    return _steps(session, event_id)


# --------------------------------------------------------------------------------------------
# Reads: retired Article 6.2 ICCs with their CA status, annual report (§III)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetiredArticle6:
    retirement: Retirement
    project_number: int
    host_country: str
    vintage: int
    token_id: str
    ca_status: CAStatus

    @property
    def ca_label(self) -> str:
        return a6.CA_STATUS_LABELS[self.ca_status]


def retired_article6(session: Session, *, project_id: int | None = None, offset: int = 0,
                     limit: int = 50) -> tuple[int, list[RetiredArticle6]]:
    """Retirements of Article 6.2 ICCs, newest first, each with the CA status of its project
    and vintage: Pending CA, CA applied or No CA applied (§II.2)."""
    conditions = [Serialization.article6 == True]  # noqa: E712
    if project_id is not None:
        conditions.append(Serialization.project_id == project_id)
    base = (select(Retirement, Serialization, CreditClass, Project)
            .join(CreditClass, CreditClass.id == Retirement.class_id)
            .join(Serialization, Serialization.id == CreditClass.serialization_id)
            .join(Project, Project.id == Serialization.project_id).where(*conditions))
    total = session.exec(select(func.count()).select_from(Retirement)
                         .join(CreditClass, CreditClass.id == Retirement.class_id)
                         .join(Serialization, Serialization.id == CreditClass.serialization_id)
                         .where(*conditions)).one()
    rows = session.exec(base.order_by(Retirement.id.desc()).offset(offset).limit(limit)).all()
    records = {(r.project_id, r.vintage): CAStatus(r.status) for r in session.exec(select(A6CARecord)).all()}
    return total, [RetiredArticle6(r, p.project_number, p.country, s.vintage, c.token_id,
                                   records.get((s.project_id, s.vintage), CAStatus.pending)) for r, s, c, p in rows]


def _purpose(name: str) -> Purpose:
    try:
        return Purpose[name]
    except KeyError:  # a malformed on-chain purpose: retired without another claim
        return Purpose.voluntary


def annual_report_for(session: Session, year: int) -> a6.AnnualReport:
    """The §III report for ``year`` computed from the stored data: Article 6.2 ICCs issued and
    designated (incl. conversions) by host country, retired by purpose with CORSIA compliance
    periods, cancellations and replacements for double claims, maximum authorized quantities
    of approved letters issued that year, and the CA status of the year's retirements."""
    countries = {p.id: p.country for p in session.exec(select(Project)).all()}
    issued = [a6.IssuedRecord(countries[d.project_id], d.created_at.year, d.quantity)
              for d in session.exec(select(A6Designation)).all()]
    records = {(r.project_id, r.vintage): CAStatus(r.status) for r in session.exec(select(A6CARecord)).all()}
    retired = []
    for r, s in session.exec(select(Retirement, Serialization).join(CreditClass, CreditClass.id == Retirement.class_id)
                             .join(Serialization, Serialization.id == CreditClass.serialization_id)
                             .where(Serialization.article6 == True)).all():  # noqa: E712
        purpose = _purpose(r.purpose)
        period = None
        if purpose is Purpose.corsia:
            start, end = getattr(r, "compliance_period_start", None), getattr(r, "compliance_period_end", None)
            period = f"{start}-{end}" if start and end else "unspecified"
        retired.append(a6.RetiredRecord(countries[s.project_id], r.created_at.year, r.quantity, purpose,
                                        records.get((s.project_id, s.vintage), CAStatus.pending), period))
    cancelled = []
    for c, s in session.exec(select(Cancellation, Serialization).join(
            Serialization, Serialization.id == Cancellation.serialization_id).where(
            Serialization.article6 == True,  # noqa: E712
            Cancellation.reason == CancellationReason.non_ca_compensation)).all():
        cancelled.append(a6.CancelledRecord(countries[s.project_id], c.created_at.year, c.quantity, True))
    for step, event in session.exec(select(A6CompensationStep, A6NonCAEvent).join(
            A6NonCAEvent, A6NonCAEvent.id == A6CompensationStep.event_id).where(
            A6CompensationStep.kind == CompensationKind.purchase_replacements.name,
            A6CompensationStep.status == StepStatus.done)).all():
        cancelled.append(a6.CancelledRecord(countries[event.project_id], step.completed_at.year, step.completed, True))
    authorized = []
    for row in session.exec(select(A6Letter).where(A6Letter.status.in_(tuple(a6.LETTER_IN_FORCE)))).all():
        authorized.append(a6.authorized_record(letter_of(session, row)))
    return a6.annual_report(year, issued, retired, cancelled, authorized)
