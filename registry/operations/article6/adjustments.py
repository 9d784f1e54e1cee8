"""Corresponding adjustments (§II.2, §IV): CA records, their evidence and status, the
changes the bridge still has to send on-chain (``setCAStatus``), and non-CA events (§V)
found by the date rule or by ICR's decision.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain.article6 import adjustments as a6_adjustments
from registry.domain.article6 import projects as a6_projects
from registry.domain.article6.adjustments import CA_STATUS_LABELS, CARecord, Evidence, EvidenceKind, Exposure
from registry.domain.article6.letters import FirstTransfer, Letter
from registry.domain.article6.projects import ProjectStatus
from registry.domain.article6.rules import R_CA_CORRECTION, R_CA_EVIDENCE, Article6Error, HistoryEntry
from registry.domain.asof import AsOf, resolve_as_of
from registry.domain.classes import CAStatus
from registry.errors import NotFound, RuleViolation
from registry.operations import hooks
from registry.operations.article6 import uses as uses_ops
from registry.operations.article6.common import _a6project, _now, violation
from registry.operations.article6.compensation import lift_suspension_if_rectified
from registry.operations.article6.letters import get_letter
from registry.operations.article6.projects import _store_project, project_article6
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.tables.article6 import (
    A6CAEvidence,
    A6CAHistory,
    A6CARecord,
    A6Designation,
    A6NonCAEvent,
    NonCAEventStatus,
)
from registry.tables.core import CreditClass, Project, Retirement, SerialBlock, Serialization


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


def ca_record_of(session: Session, row: A6CARecord) -> CARecord:
    project = session.get(Project, row.project_id)
    evidence = session.exec(select(A6CAEvidence).where(A6CAEvidence.record_id == row.id)
                            .order_by(A6CAEvidence.id)).all()
    history = session.exec(select(A6CAHistory).where(A6CAHistory.record_id == row.id)
                           .order_by(A6CAHistory.id)).all()
    return CARecord(
        project.project_number, row.vintage, CAStatus(row.status),
        tuple(Evidence(EvidenceKind[e.kind], e.reference, e.received_on, e.quantity, e.first_transfer_year)
              for e in evidence),
        tuple(HistoryEntry(h.transition, None if h.from_status is None else CAStatus(h.from_status).name,
                           CAStatus(h.to_status).name, h.at, h.actor, h.note, evidence=h.evidence)
              for h in history))


def _ensure_ca_record(session: Session, project: Project, vintage: int, credit_class: CreditClass, at: datetime,
                      actor: str) -> A6CARecord:
    row = session.exec(select(A6CARecord).where(A6CARecord.project_id == project.id,
                                                A6CARecord.vintage == vintage)).first()
    if row is not None:
        return row
    opened = a6_adjustments.open_ca_record(project.project_number, vintage, at, actor)
    row = A6CARecord(project_id=project.id, vintage=vintage, status=int(opened.status), updated_at=at)
    session.add(row)
    session.flush()
    _store_ca(session, project, row, opened, credit_class)
    return row


def _store_ca(session: Session, project: Project, row: A6CARecord, new: CARecord,
              credit_class: CreditClass | None = None, evidence_row: A6CAEvidence | None = None,
              received: AsOf | None = None) -> None:
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
        "to": entry.to_status, "label": CA_STATUS_LABELS[new.status], "note": entry.note,
        "evidence": entry.evidence, "evidence_kind": evidence_row.kind if evidence_row else None,
        "evidence_received_on": str(evidence_row.received_on) if evidence_row else None,
        "evidence_received_on_reason": received.reason if received else None,
        "decided_on": str(entry.at.date()),
        "evidence_quantity": evidence_row.quantity if evidence_row else None,
        "first_transfer_year": evidence_row.first_transfer_year if evidence_row else None,
        "token_id": credit_class.token_id if credit_class else None, "actor": entry.actor})
    if credit_class is not None:
        uses_ops.refresh_class_uses(session, class_ids=[credit_class.id], actor=entry.actor, at=entry.at,
                                    reason=f"CA status {entry.to_status}")
        if entry.from_status is not None and entry.from_status != entry.to_status:  # a decision, not the opening
            hooks.emit(session, "ca_status.changed", credit_class=credit_class, transition=entry.transition,
                       from_status=entry.from_status, to_status=entry.to_status, note=entry.note,
                       evidence=entry.evidence, at=entry.at)


def _evidence_row(session: Session, row: A6CARecord, evidence: Evidence, at: datetime, actor: str) -> A6CAEvidence:
    if not evidence.reference.strip():
        raise RuleViolation("evidence needs a reference to the host country's report", field="evidence.reference",
                            rule=R_CA_EVIDENCE.id)
    ev = A6CAEvidence(record_id=row.id, kind=evidence.kind.name, reference=evidence.reference.strip(),
                      received_on=evidence.received_on, quantity=evidence.quantity,
                      first_transfer_year=evidence.first_transfer_year, added_at=at, actor=actor)
    session.add(ev)
    return ev


def received(session: Session, row: A6CARecord, evidence: Evidence | None, reason: str | None,
             at: datetime) -> tuple[Evidence | None, AsOf | None]:
    """The evidence with the date the registry received it: today (server time) unless an
    earlier ``received_on`` comes with a reason, and not before the vintage's CA record was
    opened (its first designation): the date rule (§V) counts evidence by this date."""
    if evidence is None:
        return None, None
    opened = session.exec(select(A6CAHistory.at).where(A6CAHistory.record_id == row.id)
                          .order_by(A6CAHistory.id).limit(1)).first()
    day = check(resolve_as_of, evidence.received_on, reason, at.date(), field="evidence.received_on",
                section="seed 003 §V", earliest=opened.date() if opened else None,
                earliest_what="the opening of the vintage's CA record")
    return replace(evidence, received_on=day.day), day


def _ca_step(session: Session, project_id: int, vintage: int, step, evidence: Evidence | None,
             received_on_reason: str | None, at: datetime, actor: str, *args) -> CARecord:
    project = get_row(session, Project, project_id, "project")
    row = _record_row(session, project_id, vintage, lock=True)
    evidence, day = received(session, row, evidence, received_on_reason, at)
    args = tuple(evidence if isinstance(a, Evidence) else a for a in args)
    try:
        new = step(ca_record_of(session, row), *args)
    except Article6Error as exc:
        raise violation(exc) from exc
    ev = _evidence_row(session, row, evidence, at, actor) if evidence is not None else None
    _store_ca(session, project, row, new, evidence_row=ev, received=day)
    return new


def add_ca_evidence(session: Session, project_id: int, vintage: int, evidence: Evidence, *, actor: str,
                    received_on_reason: str | None = None, at: datetime | None = None) -> CARecord:
    """Attach evidence (e.g. of the intention to apply the CA) without changing the status. The
    evidence's ``received_on`` is the registry's date unless an earlier one comes with
    ``received_on_reason`` (:func:`received`)."""
    at = _now(at)
    return _ca_step(session, project_id, vintage, a6_adjustments.add_ca_evidence, evidence, received_on_reason,
                    at, actor, evidence, at, actor)


def confirm_ca_applied(session: Session, project_id: int, vintage: int, evidence: Evidence, *, actor: str,
                       received_on_reason: str | None = None, at: datetime | None = None) -> CARecord:
    """Evidence from the host country's reports that the CA was applied for ``evidence.quantity``
    t first transferred in ``evidence.first_transfer_year`` (§IV): pending (or No CA applied)
    -> CA applied once the evidence covers every tonne first transferred (:func:`exposures`),
    otherwise recorded in part with the status unchanged. The evidence's ``received_on`` is the
    registry's date unless an earlier one comes with ``received_on_reason``."""
    at = _now(at)
    record = _ca_step(session, project_id, vintage, a6_adjustments.confirm_ca_applied, evidence, received_on_reason,
                      at, actor, evidence, at, actor, exposures(session, project_id, vintage))
    lift_suspension_if_rectified(session, project_id, at, actor)
    return record


def correct_ca_status(session: Session, project_id: int, vintage: int, *, status: CAStatus,
                      evidence: Evidence | None, reason: str, actor: str, received_on_reason: str | None = None,
                      at: datetime | None = None) -> CARecord:
    """Reverse a CA status recorded in error to pending or No CA applied, on evidence of kind
    ``correction`` and with the reason (§II.2, §IV): a transition with its history entry, ledger
    entry and on-chain push, never an overwrite. Without evidence it is refused
    (``ca-correction-evidence``). A correction to No CA applied does not itself record non-CA
    events: the next detection (§V) finds them."""
    at = _now(at)
    if evidence is None:
        raise violation(Article6Error(R_CA_CORRECTION, "a CA status is corrected only on evidence", "evidence"))
    return _ca_step(session, project_id, vintage, a6_adjustments.correct_ca_status, evidence, received_on_reason,
                    at, actor, status, evidence, reason, at, actor)


def ca_labels(session: Session, project_id: int, vintage: int) -> tuple[tuple[int, str, int], ...]:
    """(first-transfer year, §II.2 label, tonnes) of what was first transferred of a project's
    vintage: the labels follow the quantities the CA evidence covers."""
    return a6_adjustments.ca_labels(ca_status(session, project_id, vintage), exposures(session, project_id, vintage))


def record_no_ca(session: Session, project_id: int, vintage: int, *, reason: str, evidence: Evidence | None = None,
                 received_on_reason: str | None = None, suspend: bool = True, actor: str,
                 at: datetime | None = None) -> list[A6NonCAEvent]:
    """ICR determines that no CA was applied (§II.2, §IV): pending -> No CA applied, and a
    non-CA event by decision for every exposure (§V). With ``suspend`` an authorized project
    is suspended (§V.b). Returns the events recorded."""
    at = _now(at)
    if not reason.strip():
        raise RuleViolation("state why ICR determined that no CA was applied", field="reason",
                            rule="non-ca-decision-reason")
    _ca_step(session, project_id, vintage, a6_adjustments.record_no_ca, evidence, received_on_reason, at, actor,
             at, actor, reason, evidence)
    row = _record_row(session, project_id, vintage)
    return _detect_for(session, row, at.date(), at, actor, suspend=suspend)


def ca_status(session: Session, project_id: int, vintage: int) -> CARecord:
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
# Non-CA events (§V)
# --------------------------------------------------------------------------------------------


def _letter_for_vintage(session: Session, project_id: int, vintage: int) -> Letter | None:
    credit_class = _article6_class_of(session, project_id, vintage)
    if credit_class is None or not credit_class.letter_number:
        return None
    return get_letter(session, credit_class.letter_number)


def exposures(session: Session, project_id: int, vintage: int) -> list[Exposure]:
    """Article 6.2 ICCs of a project and vintage by year of first transfer, under the letter's
    §I.7.1 definition: at use, retired ICCs by retirement year; at issuance, ICCs issued to the
    proponent (less deposit and deductions) by issuance year; at authorization, the same
    quantity in the year the letter was approved."""
    letter = _letter_for_vintage(session, project_id, vintage)
    if letter is None:
        return []
    credit_class = _article6_class_of(session, project_id, vintage)
    per_year: dict[int, int] = defaultdict(int)
    if letter.content.first_transfer is FirstTransfer.use:
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
            year = d.created_at.year if letter.content.first_transfer is FirstTransfer.issuance else approved
            per_year[year] += d.quantity - d.deposit - d.non_permanence - d.deducted
    return [Exposure(year, q) for year, q in sorted(per_year.items())]


def _detect_for(session: Session, row: A6CARecord, on: date, at: datetime, actor: str, *,
                suspend: bool) -> list[A6NonCAEvent]:
    project = session.get(Project, row.project_id)
    record = ca_record_of(session, row)
    exposed = exposures(session, row.project_id, row.vintage)
    found = a6_adjustments.detect_non_ca_events(record, exposed, on)
    if found and record.status is CAStatus.pending:
        # The date rule is ICR's determination that no CA was applied for the project and
        # vintage (§II.2, §IV): the record says so, and every use of the vintage is an event.
        cutoffs = ", ".join(str(a6_adjustments.non_ca_cutoff(e.first_transfer_year)) for e in found)
        record = a6_adjustments.record_no_ca(record, at, actor,
                                             f"no credible evidence of the CA by {cutoffs} (date rule, §V)")
        _store_ca(session, project, row, record)
        by_date = {e.first_transfer_year: e for e in found}
        found = tuple(by_date.get(e.first_transfer_year, e)
                      for e in a6_adjustments.detect_non_ca_events(record, exposed, on))
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
            _store_project(session, project, a6row, a6_projects.suspend_project(
                project_article6(session, row.project_id), at, actor,
                f"non-CA event(s) {', '.join(str(e.id) for e in stored)} (seed 003 §V.b)"))
    return stored


def detect_non_ca_events(session: Session, *, suspend: bool = True, actor: str,
                         at: datetime | None = None) -> list[A6NonCAEvent]:
    """Apply the date rule (§V) as of the registry's date (server time: the caller cannot move
    it) to every pending CA record, and record events by decision for records marked No CA
    applied whose exposures grew. Idempotent: an event is keyed by project, vintage and
    first-transfer year."""
    at = _now(at)
    on = at.date()
    rows = session.exec(select(A6CARecord).where(A6CARecord.status.in_(
        (int(CAStatus.pending), int(CAStatus.not_applied)))).order_by(A6CARecord.id).with_for_update()).all()
    out = []
    for row in rows:
        out += _detect_for(session, row, on, at, actor, suspend=suspend)
    return out
