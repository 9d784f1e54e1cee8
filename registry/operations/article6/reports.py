"""Reads: retired Article 6.2 ICCs with the CA status of their project and vintage (§II.2),
the annual report computed from the stored data (§III), and its published, frozen editions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain.article6 import reports as a6_reports
from registry.domain.article6.adjustments import CA_STATUS_LABELS
from registry.domain.article6.compensation import CompensationKind
from registry.domain.article6.letters import LETTER_IN_FORCE
from registry.domain.article6.reports import (
    AnnualReport,
    CancelledRecord,
    IssuedRecord,
    RetiredRecord,
    TransferredRecord,
)
from registry.domain.classes import CAStatus, Purpose
from registry.domain.enums import CancellationReason
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6.common import _now
from registry.operations.article6.letters import letter_of
from registry.operations.ledger import append_entry
from registry.tables.article6 import (
    A6CARecord,
    A6CompensationStep,
    A6Designation,
    A6Letter,
    A6NonCAEvent,
    A6ReportEdition,
    StepStatus,
)
from registry.tables.core import Cancellation, CreditClass, Project, Retirement, Serialization, Transfer


@dataclass(frozen=True)
class RetiredArticle6:
    """A retirement of Article 6.2 ICCs: ``ca_applied`` of its tonnes are covered by CA
    evidence, the rest has ``ca_status`` (the status of all of it when nothing is uncovered)."""

    retirement: Retirement
    project_number: int
    host_country: str
    vintage: int
    token_id: str
    ca_status: CAStatus
    ca_applied: int = 0

    @property
    def ca_label(self) -> str:
        return CA_STATUS_LABELS[self.ca_status]


def ca_split(session: Session) -> dict[int, tuple[int, CAStatus]]:
    """Per Article 6.2 retirement id: the tonnes CA evidence covers and the status of the rest
    (§II.2 labels follow quantities). The tonnes a project's vintage has "CA applied"
    (:func:`registry.operations.article6.adjustments.ca_labels`) go to its retirements oldest
    first; a retirement wholly covered has status CA applied."""
    out: dict[int, tuple[int, CAStatus]] = {}
    for row in session.exec(select(A6CARecord).order_by(A6CARecord.id)).all():
        labels = adjustment_ops.ca_labels(session, row.project_id, row.vintage)
        left = sum(q for _, label, q in labels if label == CA_STATUS_LABELS[CAStatus.applied])
        rest = CAStatus.not_applied if row.status == int(CAStatus.not_applied) else CAStatus.pending
        for r in session.exec(select(Retirement).join(CreditClass, CreditClass.id == Retirement.class_id)
                              .join(Serialization, Serialization.id == CreditClass.serialization_id)
                              .where(Serialization.project_id == row.project_id, Serialization.vintage == row.vintage,
                                     Serialization.article6 == True)  # noqa: E712
                              .order_by(Retirement.created_at, Retirement.id)).all():
            take = min(left, r.quantity)
            left -= take
            out[r.id] = (take, CAStatus.applied if take == r.quantity else rest)
    return out


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
    split = ca_split(session)
    out = []
    for r, s, c, p in rows:
        applied, status = split.get(r.id, (0, CAStatus.pending))
        out.append(RetiredArticle6(r, p.project_number, p.country, s.vintage, c.token_id, status, applied))
    return total, out


def _purpose(name: str) -> Purpose:
    try:
        return Purpose[name]
    except KeyError:  # a malformed on-chain purpose: retired without another claim
        return Purpose.voluntary


def annual_report_for(session: Session, year: int) -> AnnualReport:
    """The §III report for ``year`` computed from the stored data: Article 6.2 ICCs issued and
    designated (incl. conversions) by host country, retired by purpose with CORSIA compliance
    periods, cancellations and replacements for double claims, maximum authorized quantities
    of approved letters issued that year, and the CA status of the year's retirements."""
    countries = {p.id: p.country for p in session.exec(select(Project)).all()}
    issued = [IssuedRecord(countries[d.project_id], d.created_at.year, d.quantity)
              for d in session.exec(select(A6Designation)).all()]
    split = ca_split(session)
    retired = []
    for r, s in session.exec(select(Retirement, Serialization).join(CreditClass, CreditClass.id == Retirement.class_id)
                             .join(Serialization, Serialization.id == CreditClass.serialization_id)
                             .where(Serialization.article6 == True)).all():  # noqa: E712
        purpose = _purpose(r.purpose)
        period = None
        if purpose is Purpose.corsia:
            start, end = getattr(r, "compliance_period_start", None), getattr(r, "compliance_period_end", None)
            period = f"{start}-{end}" if start and end else "unspecified"
        applied, status = split.get(r.id, (0, CAStatus.pending))
        for quantity, ca in ((applied, CAStatus.applied), (r.quantity - applied, status)):  # labels follow tonnes
            if quantity:
                retired.append(RetiredRecord(countries[s.project_id], r.created_at.year, quantity, purpose, ca,
                                             period))
    cancelled = []
    for c, s in session.exec(select(Cancellation, Serialization).join(
            Serialization, Serialization.id == Cancellation.serialization_id).where(
            Serialization.article6 == True,  # noqa: E712
            Cancellation.reason == CancellationReason.non_ca_compensation)).all():
        cancelled.append(CancelledRecord(countries[s.project_id], c.created_at.year, c.quantity, True))
    for step, event in session.exec(select(A6CompensationStep, A6NonCAEvent).join(
            A6NonCAEvent, A6NonCAEvent.id == A6CompensationStep.event_id).where(
            A6CompensationStep.kind == CompensationKind.purchase_replacements.name,
            A6CompensationStep.status == StepStatus.done)).all():
        cancelled.append(CancelledRecord(countries[event.project_id], step.completed_at.year, step.completed, True))
    authorized = []
    for row in session.exec(select(A6Letter).where(A6Letter.status.in_(tuple(LETTER_IN_FORCE)))).all():
        authorized += a6_reports.authorized_records(letter_of(session, row))
    transferred = [TransferredRecord(countries[s.project_id], t.created_at.year, t.quantity)
                   for t, s in session.exec(select(Transfer, Serialization).join(
                       Serialization, Serialization.id == Transfer.serialization_id)
                       .where(Serialization.article6 == True)).all()]  # noqa: E712
    return a6_reports.annual_report(year, issued, retired, cancelled, authorized, transferred)


def _first_year(session: Session) -> int | None:
    """The first year the registry holds Article 6.2 data for (a letter or a designation)."""
    years = [session.exec(select(func.min(A6Letter.created_at))).one(),
             session.exec(select(func.min(A6Designation.created_at))).one()]
    years = [y.year for y in years if y is not None]
    return min(years) if years else None


def editions(session: Session, year: int) -> list[A6ReportEdition]:
    return list(session.exec(select(A6ReportEdition).where(A6ReportEdition.year == year)
                             .order_by(A6ReportEdition.edition)).all())


def publish_annual_reports(session: Session, *, today: date, actor: str,
                           at: datetime | None = None) -> list[A6ReportEdition]:
    """Publish the §III report of every year that is due by ``today`` (six months after its
    end) as a frozen, SHA-256-stamped edition: edition 1 once due, and a correction (the next
    edition, superseding the last) whenever the figures computed now differ from the last
    edition's, e.g. after a later withdrawal or CA decision. A published edition is never
    changed. Idempotent: nothing is published when nothing changed. Returns the new editions."""
    at = _now(at)
    first = _first_year(session)
    out: list[A6ReportEdition] = []
    if first is None:
        return out
    for year in range(first, today.year):
        if not a6_reports.report_published_by(year, today):
            continue
        report = annual_report_for(session, year)
        digest = a6_reports.report_hash(report)
        published = editions(session, year)
        latest = published[-1] if published else None
        if latest is not None and latest.sha256 == digest:
            continue
        row = A6ReportEdition(year=year, edition=1 if latest is None else latest.edition + 1,
                              kind="original" if latest is None else "correction",
                              content=a6_reports.report_to_json(report), sha256=digest,
                              supersedes=None if latest is None else latest.id, published_at=at, actor=actor)
        session.add(row)
        session.flush()
        append_entry(session, "article6.annual_report.published", {
            "year": year, "edition": row.edition, "kind": row.kind, "sha256": digest,
            "supersedes_sha256": None if latest is None else latest.sha256, "actor": actor})
        out.append(row)
    return out
