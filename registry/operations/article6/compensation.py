"""The non-CA adjustment account and compensation of non-CA events (§V.b): each step planned
and recorded, credits cancelled, replacement purchases completed, deductions outstanding.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Collection, Iterable, Mapping

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain.article6 import compensation as a6_compensation
from registry.domain.article6 import projects as a6_projects
from registry.domain.article6.compensation import CompensationKind, CompensationSources, CompensationStep
from registry.domain.article6.projects import ProjectStatus
from registry.domain.article6.rules import R_WHOLE_TONNES
from registry.domain.classes import CAStatus
from registry.domain.enums import AccountType, CancellationReason, CreditStatus
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations.accounts import open_system_account
from registry.operations.article6.common import _a6project, _now, _store_project, project_article6
from registry.operations.cancellations import cancel
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.operations.transfers import transfer
from registry.tables.article6 import (
    A6CARecord,
    A6CompensationStep,
    A6NonCAEvent,
    A6Project,
    NonCAEventStatus,
    StepStatus,
)
from registry.tables.core import Account, Project, SerialBlock, Serialization

ADJUSTMENT_ACCOUNT_NAME = "ICR Article 6.2 non-CA adjustment account"


def adjustment_account(session: Session) -> Account:
    """The registry's non-CA adjustment account (opened on first use)."""
    row = session.exec(select(Account).where(Account.type == AccountType.adjustment).order_by(Account.id)).first()
    return row or open_system_account(session, AccountType.adjustment, ADJUSTMENT_ACCOUNT_NAME)


NON_PERMANENCE_ACCOUNT_NAME = "ICR Article 6.2 non-permanence risk adjustment account"


def non_permanence_account(session: Session) -> Account:
    """The Article 6.2 non-permanence risk adjustment account (§II.3.b): a buffer account of its
    own, opened on first use; reversals are compensated from it by buffer-use cancellations."""
    row = session.exec(select(Account).where(Account.type == AccountType.buffer,
                                             Account.name == NON_PERMANENCE_ACCOUNT_NAME).order_by(Account.id)).first()
    return row or open_system_account(session, AccountType.buffer, NON_PERMANENCE_ACCOUNT_NAME)


def _event_row(session: Session, event_id: int, *, lock: bool = False) -> A6NonCAEvent:
    stmt = select(A6NonCAEvent).where(A6NonCAEvent.id == event_id)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"non-CA event {event_id} does not exist", field="event_id")
    return row


def _steps(session: Session, event_id: int) -> list[A6CompensationStep]:
    return list(session.exec(select(A6CompensationStep).where(A6CompensationStep.event_id == event_id)
                             .order_by(A6CompensationStep.seq)).all())


def _refresh_event(session: Session, event_id: int, at: datetime, actor: str = "registry") -> None:
    event = session.get(A6NonCAEvent, event_id)
    done = sum(s.completed for s in _steps(session, event_id))
    status = NonCAEventStatus.compensated if done >= event.quantity else NonCAEventStatus.open
    if status is not event.status:
        event.status = status
        session.add(event)
        session.flush()
    lift_suspension_if_rectified(session, event.project_id, at, actor)


def _planned(step: A6CompensationStep) -> int:
    """Tonnes a step still stands for: all of it, except what a lapsed step left undone."""
    return step.completed if step.status is StepStatus.lapsed else step.quantity


def outstanding_compensation(session: Session, project_id: int) -> int:
    """Tonnes of the project's non-CA events that are not rectified: neither covered by a
    completed step nor by a step 5 deduction, which the next Article 6.2 issuances of the
    project take first, automatically (§V.b step 5)."""
    events = session.exec(select(A6NonCAEvent).where(A6NonCAEvent.project_id == project_id)).all()
    out = 0
    for e in events:
        covered = sum(s.quantity if s.status is StepStatus.outstanding else s.completed for s in _steps(session, e.id))
        out += max(0, e.quantity - covered)
    return out


def lift_suspension_if_rectified(session: Session, project_id: int, at: datetime, actor: str) -> bool:
    """Lift the project's suspension as soon as the conditions of §V.b hold: a CA confirmed
    applied for the project, and every non-CA event rectified (:func:`outstanding_compensation`
    is 0). Called whenever compensation or the CA status changes; True when it lifted."""
    a6row = session.exec(select(A6Project).where(A6Project.project_id == project_id)).first()
    if a6row is None or a6row.status is not ProjectStatus.suspended:
        return False
    applied = session.exec(select(func.count()).select_from(A6CARecord).where(
        A6CARecord.project_id == project_id, A6CARecord.status == int(CAStatus.applied))).one()
    if not applied or outstanding_compensation(session, project_id):
        return False
    a6row = _a6project(session, project_id, lock=True)
    _store_project(session, session.get(Project, project_id), a6row, a6_projects.reinstate_project(
        project_article6(session, project_id), at, actor, ca_applied_confirmed=True, outstanding_compensation=0,
        evidence="non-CA events rectified and a CA confirmed applied (seed 003 §V.b)"))
    return True


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
    remaining = event.quantity - sum(_planned(s) for s in steps_before)
    if remaining <= 0:
        raise Conflict(f"non-CA event {event_id} is fully covered by its compensation steps", field="event_id",
                       rule="event-compensated")
    for name, value in (("proponent_deposit", proponent_deposit), ("replacement_purchase", replacement_purchase)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RuleViolation(f"{name}: {value!r} is not a whole number of tonnes", field=name,
                                rule=R_WHOLE_TONNES.id)
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
    sources = CompensationSources(
        own_excess=sum(h.quantity for h in own),
        other_projects_excess={n: sum(h.quantity for h in hs) for n, hs in others.items()},
        proponent_deposit=proponent_deposit, replacement_purchase=replacement_purchase,
        proponent_holdings=holdings_total, additional_double_claim=additional_double_claim)
    plan = a6_compensation.plan_compensation(remaining, sources, notified_on=notified_on, holidays=holidays)
    if event.notified_on is None:
        event.notified_on = notified_on
        session.add(event)
    made = _record_steps(session, event, project, plan.steps, len(steps_before), at, own=own, others=others,
                         deposit_from=deposit_from, adjustment=adjustment, holding_accounts=holding_accounts,
                         exclude=exclude, replacement_evidence=replacement_evidence)
    _refresh_event(session, event_id, at, actor)
    append_entry(session, "article6.compensation", {
        "event_id": event_id, "project_number": project.project_number, "vintage": event.vintage,
        "shortfall": remaining, "unresolved": plan.unresolved, "notified_on": str(notified_on),
        "steps": [{"step_id": r.id, "seq": r.seq, "kind": r.kind, "quantity": r.quantity, "status": r.status.value,
                   "due_by": str(r.due_by) if r.due_by else None, "evidence": r.evidence} for r in made],
        "actor": actor})
    return made


def _record_steps(session: Session, event: A6NonCAEvent, project: Project, steps: Iterable[CompensationStep], seq: int,
                  at: datetime, *, own: Collection[_Held] = (), others: Mapping[int, list[_Held]] | None = None,
                  deposit_from: Collection[_Held] = (), adjustment: Account | None = None,
                  holding_accounts: Collection[int] = (), exclude: Collection[tuple[int, int]] = (),
                  replacement_evidence: str = "") -> list[A6CompensationStep]:
    """Record and carry out planned §V.b steps of an event, numbered from ``seq`` + 1."""
    others = others or {}
    made = []
    for step in steps:
        seq += 1
        from_project = others[step.from_project][0].project_id if step.from_project else None
        row = A6CompensationStep(event_id=event.id, seq=seq, kind=step.kind.name, quantity=step.quantity,
                                 status=StepStatus.done, due_by=step.due_by, created_at=at,
                                 from_project_id=from_project)
        session.add(row)
        session.flush()
        reference = f"a6-compensation:{row.id}"
        note = (f"non-CA event {event.id} (project {project.project_number}, vintage {event.vintage}), seed 003 §V.b "
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
    _refresh_event(session, step.event_id, at, actor)
    append_entry(session, "article6.compensation.replacement", {
        "step_id": step.id, "event_id": step.event_id, "quantity": step.quantity, "evidence": step.evidence,
        "late": bool(step.due_by and at.date() > step.due_by), "actor": actor})
    return step


def lapse_replacements(session: Session, *, on: date, actor: str,
                       at: datetime | None = None) -> list[A6CompensationStep]:
    """Step 4 purchases still due after their 60 business days (:func:`replacement_lapsed`)
    lapse, and what they left undone is re-planned into step 5 (§V.b): cancellation of the
    proponent's Article 6.2 holdings of the project, then deduction from its future Article 6.2
    issuances. Idempotent: a lapsed step is not due any more. Returns the new steps."""
    at = _now(at)
    due = session.exec(select(A6CompensationStep).where(A6CompensationStep.status == StepStatus.due)
                       .order_by(A6CompensationStep.id).with_for_update()).all()
    made: list[A6CompensationStep] = []
    for step in due:
        if not a6_compensation.replacement_lapsed(step.due_by, on):
            continue
        event = _event_row(session, step.event_id, lock=True)
        project = session.get(Project, event.project_id)
        step.status = StepStatus.lapsed
        session.add(step)
        session.flush()
        remainder = step.quantity - step.completed
        a6row = _a6project(session, event.project_id, lock=True)
        exclude = _excluded_vintages(session)
        holding_accounts = _proponent_accounts(session, a6row)
        holdings = sum(h.quantity for h in _article6_held(session, account_ids=holding_accounts,
                                                          project_id=event.project_id, exclude=exclude))
        plan = a6_compensation.plan_compensation(remainder, CompensationSources(proponent_holdings=holdings),
                                                 notified_on=on)
        new = _record_steps(session, event, project, plan.steps, len(_steps(session, event.id)), at,
                            holding_accounts=holding_accounts, exclude=exclude)
        made += new
        append_entry(session, "article6.compensation.lapsed", {
            "step_id": step.id, "event_id": event.id, "project_number": project.project_number,
            "due_by": str(step.due_by), "on": str(on), "remainder": remainder,
            "replanned": [{"step_id": r.id, "seq": r.seq, "kind": r.kind, "quantity": r.quantity,
                           "status": r.status.value} for r in new], "actor": actor})
        _refresh_event(session, event.id, at, actor)
    return made


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
