"""Reads: retired Article 6.2 ICCs with the CA status of their project and vintage (§II.2),
and the annual report computed from the stored data (§III).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain.article6 import reports as a6_reports
from registry.domain.article6.adjustments import CA_STATUS_LABELS
from registry.domain.article6.compensation import CompensationKind
from registry.domain.article6.letters import LETTER_IN_FORCE
from registry.domain.article6.reports import AnnualReport, CancelledRecord, IssuedRecord, RetiredRecord
from registry.domain.classes import CAStatus, Purpose
from registry.domain.enums import CancellationReason
from registry.operations.article6.letters import letter_of
from registry.tables.article6 import A6CARecord, A6CompensationStep, A6Designation, A6Letter, A6NonCAEvent, StepStatus
from registry.tables.core import Cancellation, CreditClass, Project, Retirement, Serialization


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
        return CA_STATUS_LABELS[self.ca_status]


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


def annual_report_for(session: Session, year: int) -> AnnualReport:
    """The §III report for ``year`` computed from the stored data: Article 6.2 ICCs issued and
    designated (incl. conversions) by host country, retired by purpose with CORSIA compliance
    periods, cancellations and replacements for double claims, maximum authorized quantities
    of approved letters issued that year, and the CA status of the year's retirements."""
    countries = {p.id: p.country for p in session.exec(select(Project)).all()}
    issued = [IssuedRecord(countries[d.project_id], d.created_at.year, d.quantity)
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
        retired.append(RetiredRecord(countries[s.project_id], r.created_at.year, r.quantity, purpose,
                                     records.get((s.project_id, s.vintage), CAStatus.pending), period))
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
        authorized.append(a6_reports.authorized_record(letter_of(session, row)))
    return a6_reports.annual_report(year, issued, retired, cancelled, authorized)
