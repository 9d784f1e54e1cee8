"""Designation at issuance (§4.1, §II.1) and conversion of standard ICCs (§I.12): the rules
checked against the stored data, then Article 6.2 ICCs issued, the adjustment deposit
included (§II.3.b).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Collection

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain import monitoring as mon
from registry.domain import serials as sr
from registry.domain.article6 import designation as a6_designation
from registry.domain.article6 import letters as a6_letters
from registry.domain.article6 import uses as a6_uses
from registry.domain.article6.designation import Holding, IssuanceFacts, Location, ProjectFacts
from registry.domain.article6.letters import AuthorizedUse, Letter, Period
from registry.domain.article6.rules import (
    R_CONVERTIBLE_HOLDING,
    R_QUANTITY_CAP,
    R_WHOLE_TONNES,
    Article6Error,
    Refusal,
    Rule,
)
from registry.domain.asof import AsOf, resolve_as_of
from registry.domain.classes import CAStatus, ClassKey, purposes_in, uses_mask
from registry.domain.enums import AccountType, CancellationReason, CreditStatus, IssuanceKind
from registry.errors import Conflict, RuleViolation
from registry.operations import additionality as additionality_ops
from registry.operations.article6 import uses as uses_ops
from registry.operations.article6.adjustments import _ensure_ca_record
from registry.operations.article6.common import _a6project, _now, _refuse, mechanism_of, violation
from registry.operations.article6.compensation import _refresh_event, adjustment_account, non_permanence_account
from registry.operations.article6.letters import get_letter
from registry.operations.cancellations import cancel, cancel_rows
from registry.operations.issuances import (
    check_issued_for,
    issue_designated,
    issued_periods,
    lock_project,
    verification_of,
)
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.operations.projects import serialization_of
from registry.operations.serial_blocks import lock_serialization, take_lowest_blocks
from registry.tables.article6 import (
    A6CARecord,
    A6CompensationStep,
    A6Designation,
    A6HostCountry,
    A6NonCAEvent,
    A6Project,
    DesignationKind,
    StepStatus,
)
from registry.tables.core import (
    Account,
    CreditClass,
    Issuance,
    Project,
    SerialBlock,
    Serialization,
    TokenizationRequest,
)

R_RISK_ASSESSMENT = Rule("risk-assessment", "§II.3.b",
                         "the adjustment deposit percentage is set by ICR's risk assessment of the project")


def _risk_refusals(a6row: A6Project) -> tuple[Refusal, ...]:
    """No risk assessment (§II.3.b), or a compensation mechanism §II.3 does not accept (a 0 %
    deposit with no insurance, a non-permanence risk without contribution)."""
    out = a6_designation.mechanism_refusals(mechanism_of(a6row))
    if a6row.risk_assessment.strip():
        return out
    return (Refusal(R_RISK_ASSESSMENT, "no risk assessment sets the project's adjustment percentage",
                    "project.risk_assessment"),) + out


def _current_letter(session: Session, a6row: A6Project) -> Letter | None:
    return None if a6row.letter_id is None else get_letter(session, a6row.letter_id)


def _ex_ante_in_crediting_period(session: Session, project_id: int, letter: Letter | None) -> bool:
    conditions = [Serialization.project_id == project_id, Issuance.kind == IssuanceKind.ex_ante]
    if letter is not None:
        period = letter.content.outcomes.crediting_period
        conditions += [Serialization.vintage >= period.start.year, Serialization.vintage <= period.end.year]
    return session.exec(select(func.count()).select_from(Issuance).join(
        Serialization, Serialization.id == Issuance.serialization_id).where(*conditions)).one() > 0


def project_facts(session: Session, project: Project, a6row: A6Project, letter: Letter | None) -> ProjectFacts:
    """What §4.1 asks about the project, from the stored data."""
    host = session.get(A6HostCountry, project.country)
    return ProjectFacts(
        project_number=project.project_number, host_country=project.country, status=a6row.status,
        host_country_framework=bool(host and host.article6_framework),
        methodology_approved=a6row.methodology_approved,
        additionality_levels=additionality_ops.additionality_levels(session, project.id),
        demonstrated_levels=additionality_ops.demonstrated_levels(session, project.id),
        ex_ante_issued_in_crediting_period=_ex_ante_in_crediting_period(session, project.id, letter),
        sector=project.sector, methodology=project.methodology)


def designated_so_far(session: Session, letter_id: int) -> int:
    """Tonnes designated under a letter (issuances and conversions), for its cumulative cap."""
    return int(session.exec(select(func.coalesce(func.sum(A6Designation.quantity), 0))
                            .where(A6Designation.letter_id == letter_id)).one())


def article6_class(session: Session, project: Project, vintage: int, letter: Letter,
                   requested: int | None = None) -> tuple[Serialization, CreditClass]:
    """The Article 6.2 serialization of a vintage and its credit class (token id with the letter
    number), created on first designation with the ``requested`` uses (a mask; None: the
    letter's current uses)."""
    requested = a6_letters.authorized_uses_mask(letter) if requested is None else requested
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
                                authorized_uses=requested, requested_uses=requested,
                                ca_status=int(record.status if record else CAStatus.pending)))
        session.flush()
    credit_class = session.exec(select(CreditClass).where(CreditClass.serialization_id == serialization.id)).one()
    if credit_class.letter_number != letter.number:
        raise Conflict(f"vintage {vintage} of project {project.project_number} is designated under letter "
                       f"{credit_class.letter_number}, not letter {letter.number}", field="vintage",
                       rule="one-letter-per-article6-vintage")
    return serialization, credit_class


def _requested_mask(session: Session, project: Project, vintage: int, letter: Letter,
                    uses: Collection[AuthorizedUse] | None) -> int | None:
    """The uses mask a designation requests (§I.5): ``uses``, or when None the class's requested
    uses (the letter's current ones for a new class). Refused (``class-uses-uniform``) when
    designating into an existing class would change what its ICCs may be used for now."""
    existing = session.exec(select(CreditClass).join(Serialization, Serialization.id == CreditClass.serialization_id)
                            .where(Serialization.text == str(serialization_of(project, vintage, True)))).first()
    if uses is None:
        return None if existing is None else existing.requested_uses
    requested = uses_mask(a6_letters.USE_PURPOSE[u] for u in uses)
    if existing is not None and existing.letter_number == letter.number:
        facts = uses_ops.use_facts(session, existing)
        _refuse([r for r in [a6_uses.designation_keeps_uses(facts, purposes_in(requested))] if r])
    return requested


@dataclass(frozen=True)
class DesignationResult:
    designation: A6Designation
    issued_blocks: list[str]  # the new Article 6.2 serials in the proponent's account
    deposit_blocks: list[str]  # issued into the non-CA adjustment account
    deducted_blocks: list[str]  # cancelled from the proponent's account for outstanding non-CA compensation
    cancelled_blocks: list[str]  # the converted standard serials (conversion only)
    token_id: str
    non_permanence_blocks: list[str] = ()  # issued into the non-permanence risk adjustment account (§II.3.b)


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


def _issue_article6_units(session: Session, *, project: Project, a6row: A6Project, letter: Letter, vintage: int,
                          quantity: int, account: Account, kind: DesignationKind, period: Period,
                          verification: mon.Verification | None, at: datetime, actor: str,
                          uses: Collection[AuthorizedUse] | None = None) -> DesignationResult:
    """Issue ``quantity`` new Article 6.2 ICCs of a vintage for a checked period and verification
    (:func:`registry.operations.issuances.issue_designated`):
    the lowest ``deposit`` units into the non-CA adjustment account (§II.3.b), the rest into
    ``account``, then cancel what outstanding non-CA compensation deducts (§V.b step 5)."""
    requested = _requested_mask(session, project, vintage, letter, uses)
    serialization, credit_class = article6_class(session, project, vintage, letter, requested)
    split = a6_designation.adjustment_deposit(quantity, a6row.adjustment_percentage)
    non_permanence = (a6_designation.non_permanence_contribution(split.to_proponent, a6row.non_permanence_percentage,
                                                                 quantity) if a6row.non_permanence_risk else 0)
    to_proponent = split.to_proponent - non_permanence
    deductions = _outstanding_deductions(session, project.id)
    deducted = min(to_proponent, sum(s.quantity - s.completed for s in deductions))
    deposit_issuance = issuance = non_permanence_issuance = None
    if split.deposit:
        deposit_issuance = issue_designated(session, project_id=project.id, vintage=vintage, quantity=split.deposit,
                                            account_id=adjustment_account(session).id, period=period,
                                            verification=verification)
    if non_permanence:
        non_permanence_issuance = issue_designated(session, project_id=project.id, vintage=vintage,
                                                   quantity=non_permanence,
                                                   account_id=non_permanence_account(session).id, period=period,
                                                   verification=verification)
    if to_proponent:
        issuance = issue_designated(session, project_id=project.id, vintage=vintage, quantity=to_proponent,
                                    account_id=account.id, period=period, verification=verification)
    designation = A6Designation(project_id=project.id, letter_id=letter.number, serialization_id=serialization.id,
                                issuance_id=issuance.id if issuance else None,
                                deposit_issuance_id=deposit_issuance.id if deposit_issuance else None,
                                kind=kind, account_id=account.id, quantity=quantity, deposit=split.deposit,
                                deducted=deducted, non_permanence=non_permanence,
                                non_permanence_issuance_id=non_permanence_issuance.id if non_permanence_issuance else None,
                                adjustment_percentage=a6row.adjustment_percentage,
                                requested_uses=credit_class.requested_uses if requested is None else requested,
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
            _refresh_event(session, step.event_id, at, actor)
    _ensure_ca_record(session, project, vintage, credit_class, at, actor)
    credit_class.requested_uses &= designation.requested_uses
    session.add(credit_class)
    uses_ops.refresh_class_uses(session, class_ids=[credit_class.id], actor=actor, at=at,
                                reason=f"designation {designation.id}")
    return DesignationResult(designation, _issued_text(session, issuance), _issued_text(session, deposit_issuance),
                             deducted_blocks, [], credit_class.token_id,
                             _issued_text(session, non_permanence_issuance))


def _designation_context(session: Session, project_id: int):
    project = get_row(session, Project, project_id, "project")
    a6row = _a6project(session, project_id, lock=True)
    letter = _current_letter(session, a6row)
    return project, a6row, letter


def _period(start: date, end: date) -> Period:
    try:
        return Period(start, end)
    except ValueError as exc:
        raise RuleViolation(str(exc), field="monitoring_end", rule="period-ordered") from exc


def _designation_entry(session: Session, kind: str, result: DesignationResult, project: Project, vintage: int,
                       actor: str, as_of: AsOf) -> None:
    d = result.designation
    append_entry(session, kind, {**as_of.record(),
        "designation_id": d.id, "issuance_id": d.issuance_id, "deposit_issuance_id": d.deposit_issuance_id,
        "letter_number": d.letter_id, "project_number": project.project_number, "vintage": vintage,
        "quantity": d.quantity, "deposit": d.deposit, "deducted": d.deducted, "non_permanence": d.non_permanence,
        "non_permanence_blocks": list(result.non_permanence_blocks),
        "adjustment_percentage": d.adjustment_percentage, "account_id": d.account_id,
        "monitoring_period": [str(d.monitoring_start), str(d.monitoring_end)], "token_id": result.token_id,
        "issued_blocks": result.issued_blocks, "deposit_blocks": result.deposit_blocks,
        "deducted_blocks": result.deducted_blocks, "cancelled_blocks": result.cancelled_blocks, "actor": actor})


def _approved_on(letter: Letter | None) -> date | None:
    return next((h.at.date() for h in letter.history if h.transition == "approve_and_publish"), None) if letter else None


def _as_of(letter: Letter | None, as_of: date | None, as_of_reason: str | None, today: date) -> AsOf:
    """The date the letter's validity is checked on: today (the registry's date), or an earlier
    date with a reason, not before the letter was approved and published (§I.12, §II.1)."""
    approved = _approved_on(letter)
    return check(resolve_as_of, as_of, as_of_reason, today, field="as_of", section="seed 003 §I.9, §II.1",
                 earliest=approved, earliest_what=f"letter {letter.number}'s approval" if letter else "")


def issue_article6(session: Session, *, project_id: int, vintage: int, quantity: int, account_id: int,
                   monitoring_start: date, monitoring_end: date, verification_reference: str | None = None,
                   verification_body: str | None = None, verified_on: date | None = None,
                   uses: Collection[AuthorizedUse] | None = None, kind: IssuanceKind = IssuanceKind.ex_post,
                   as_of: date | None = None, as_of_reason: str | None = None, actor: str,
                   at: datetime | None = None) -> DesignationResult:
    """Issue ``quantity`` ICCs of a vintage designated as Article 6.2 ICCs (§II.1).

    Only when every §4.1 rule and the letter's scope allow it (each refusal names its rule):
    project authorized and not suspended, letter approved, published and valid today (and on
    a back-dated ``as_of``, which needs ``as_of_reason``), the letter's project, sector and
    methodology, host country framework, not level 2b, no ex-ante issuance in the crediting
    period, approved methodology, vintage from 2021 and within the letter's vintages,
    monitoring period within its crediting period and within the vintage year, credit type,
    whole tonnes, cumulative cap, uses, and a risk assessment setting the adjustment deposit
    (§II.3.b), which goes to the non-CA adjustment account. Ex-post only, on a verification;
    the period must not overlap any issuance of the project (standard ICCs of the period are
    converted instead, §I.12)."""
    at = _now(at)
    project, a6row, letter = _designation_context(session, project_id)
    account = get_row(session, Account, account_id, "account")
    period = check(mon.monitoring_period, monitoring_start, monitoring_end, vintage)
    day = _as_of(letter, as_of, as_of_reason, at.date())
    facts = project_facts(session, project, a6row, letter)
    issuance = IssuanceFacts(vintage=vintage, quantity=quantity, monitoring_period=period,
                             credit_type=project.credit_type, ex_ante=IssuanceKind(kind) is IssuanceKind.ex_ante)
    so_far = designated_so_far(session, letter.number) if letter else 0
    _refuse(a6_designation.check_designation(letter, facts, issuance, designated_so_far=so_far, on=day.day,
                                             acting_on=day.today if day.back_dated else None,
                                             uses=None if uses is None else frozenset(uses)) + _risk_refusals(a6row))
    if account.type is not AccountType.holding:
        raise RuleViolation(f"account {account_id} is not a holding account", field="account_id",
                            rule="issue-into-holding-account")
    period, verification = check_issued_for(
        session, project_id=project.id, kind=IssuanceKind.ex_post, vintage=vintage, article6=True,
        monitoring_start=period.start, monitoring_end=period.end,
        verification=verification_of(verification_reference, verification_body, verified_on), at=at)
    result = _issue_article6_units(session, project=project, a6row=a6row, letter=letter, vintage=vintage,
                                   quantity=quantity, account=account, kind=DesignationKind.issuance, period=period,
                                   verification=verification, at=at, actor=actor,
                                   uses=None if uses is None else frozenset(uses))
    _designation_entry(session, "article6.issuance", result, project, vintage, actor, day)
    return result


def _holdings(session: Session, project: Project, vintage: int, account_id: int, period: Period,
              issuance_ids: Collection[int]) -> tuple[Serialization | None, list[Holding]]:
    """The standard ICCs of the issuances ``issuance_ids`` (of a vintage) in the account, and
    those it moved into bridge custody."""
    text = str(serialization_of(project, vintage, False))
    serialization = session.exec(select(Serialization).where(Serialization.text == text)).first()
    if serialization is None:
        return None, []
    serialization = lock_serialization(session, serialization.id)
    ids = list(issuance_ids)
    in_account = session.exec(select(SerialBlock).where(
        SerialBlock.serialization_id == serialization.id, SerialBlock.account_id == account_id,
        SerialBlock.issuance_id.in_(ids), SerialBlock.status.in_((CreditStatus.active, CreditStatus.inactive)))
        .order_by(SerialBlock.unit_first)).all()
    in_custody = session.exec(select(SerialBlock).join(
        TokenizationRequest, TokenizationRequest.id == SerialBlock.tokenization_id).join(
        Account, Account.id == SerialBlock.account_id).where(
        SerialBlock.serialization_id == serialization.id, TokenizationRequest.account_id == account_id,
        SerialBlock.issuance_id.in_(ids), Account.type == AccountType.bridge_custody,
        SerialBlock.status == CreditStatus.active)).all()
    vs = sr.parse_serialization(text)
    holdings = [Holding(sr.SerialBlock(vs, sr.SerialRange(r.unit_first, r.unit_last)), Location.holding,
                        r.status is CreditStatus.active, period) for r in in_account]
    holdings += [Holding(sr.SerialBlock(vs, sr.SerialRange(r.unit_first, r.unit_last)), Location.bridge_custody,
                         True, period) for r in in_custody]
    return serialization, holdings


def _source_verification(session: Session, issuance_ids: Collection[int]) -> mon.Verification | None:
    """The verification the converted standard ICCs were issued on (the first issuance's; None for
    rows from before migration 0012 that recorded no date)."""
    first = session.get(Issuance, min(issuance_ids))
    if first.verified_on is None:
        return None
    return mon.Verification(first.verification_reference or "", first.verification_body or "", first.verified_on)


def convert_to_article6(session: Session, *, project_id: int, account_id: int, vintage: int, monitoring_start: date,
                        monitoring_end: date, quantity: int | None = None, as_of: date | None = None,
                        as_of_reason: str | None = None, actor: str, at: datetime | None = None) -> DesignationResult:
    """Convert remaining eligible standard ICCs of one issued monitoring period held in
    ``account_id`` to Article 6.2 ICCs (§I.12): the originals are cancelled (reason: conversion
    to Article 6.2, lowest serials first) and as many new Article 6.2 ICCs issued for the same
    period and verification as at designation (deposit included). Only units of the standard
    ex-post issuance(s) of exactly that period are converted, so the conversion issues no tonne
    twice. Credits in bridge custody cannot be converted: tokens exist for them. The letter is
    checked on the registry's date (and on a back-dated ``as_of`` with its reason).
    ``quantity`` None converts everything eligible within the letter's cap."""
    at = _now(at)
    project, a6row, letter = _designation_context(session, project_id)
    account = get_row(session, Account, account_id, "account")
    if account.type is not AccountType.holding:
        raise RuleViolation(f"account {account_id} is not a holding account", field="account_id",
                            rule=R_CONVERTIBLE_HOLDING.id)
    if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1):
        raise RuleViolation("quantity must be a positive whole number of tonnes", field="quantity",
                            rule=R_WHOLE_TONNES.id)
    period = check(mon.monitoring_period, monitoring_start, monitoring_end, vintage)
    day = _as_of(letter, as_of, as_of_reason, at.date())
    acting_on = day.today if day.back_dated else None
    facts = project_facts(session, project, a6row, letter)
    if letter is None:
        _refuse(a6_designation.check_designation(None, facts, IssuanceFacts(vintage, 1, period, project.credit_type),
                                                 designated_so_far=0, on=day.day, acting_on=acting_on))
    _refuse(_risk_refusals(a6row))
    lock_project(session, project.id)
    sources = check(mon.conversion_sources, period, issued_periods(session, project.id, period))
    serialization, holdings = _holdings(session, project, vintage, account_id, period, sources)
    try:
        plan = a6_designation.plan_conversion(letter, facts, holdings,
                                              designated_so_far=designated_so_far(session, letter.number),
                                              on=day.day, acting_on=acting_on)
    except Article6Error as exc:
        raise violation(exc) from exc
    wanted = plan.total if quantity is None else quantity
    if plan.total == 0 or plan.total < wanted:
        excluded = [r for _, refusals in plan.excluded for r in refusals]
        if excluded:
            _refuse(excluded)
        if plan.total < wanted <= sum(item.block.quantity for item in plan.convert):  # credits there, room not
            _refuse([Refusal(R_QUANTITY_CAP, f"letter {letter.number} leaves room for {plan.total} t, not {wanted}",
                             "quantity")])
        raise RuleViolation(f"account {account_id} holds {plan.total} convertible standard ICCs of vintage {vintage} "
                            f"issued for {period.start}..{period.end}, not {wanted}", field="quantity",
                            rule="sufficient-active-credits")
    result = _issue_article6_units(session, project=project, a6row=a6row, letter=letter, vintage=vintage,
                                   quantity=wanted, account=account, kind=DesignationKind.conversion, period=period,
                                   verification=_source_verification(session, sources), at=at, actor=actor)
    # The plan converts active holding blocks of the source issuances in serial order: exactly the
    # lowest serials cancel() takes from those issuances.
    blocks = list(session.exec(select(SerialBlock).where(
        SerialBlock.serialization_id == serialization.id, SerialBlock.account_id == account_id,
        SerialBlock.status == CreditStatus.active, SerialBlock.issuance_id.in_(sources))
        .order_by(SerialBlock.unit_first).with_for_update()))
    _, moved = cancel_rows(session, account=account, serialization=serialization,
                           rows=take_lowest_blocks(session, blocks, wanted), reason=CancellationReason.conversion_article6,
                           note=f"converted to Article 6.2 ICCs under letter {letter.number} (seed 003 §I.12)",
                           reference=f"a6-designation:{result.designation.id}")
    cancelled = [m.serial_block for m in moved]
    result.designation.converted_from = json.dumps(cancelled)
    session.add(result.designation)
    session.flush()
    result = replace(result, cancelled_blocks=cancelled)
    _designation_entry(session, "article6.conversion", result, project, vintage, actor, day)
    return result


def list_designations(session: Session, *, project_id: int | None = None, offset: int = 0,
                      limit: int = 50) -> tuple[int, list[A6Designation]]:
    conditions = [] if project_id is None else [A6Designation.project_id == project_id]
    total = session.exec(select(func.count()).select_from(A6Designation).where(*conditions)).one()
    rows = session.exec(select(A6Designation).where(*conditions).order_by(A6Designation.id)
                        .offset(offset).limit(limit)).all()
    return total, list(rows)
