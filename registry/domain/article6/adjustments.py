"""Corresponding adjustments (CA, §II.2, §IV): the CA status of a project and vintage, its
evidence and its transitions; and non-CA events (§V): the year of first transfer (§I.7.1),
the reporting deadline, the cutoff of the date rule and detection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import Enum
from typing import Iterable

from registry.domain.article6.letters import FirstTransfer
from registry.domain.article6.rules import R_CA_EVIDENCE, Article6Error, HistoryEntry, IllegalTransition
from registry.domain.classes import CAStatus

#: Day and month of the host country's annual CA reporting deadline to the UNFCCC (§II.3, §V).
CA_REPORTING_DAY = (4, 15)


#: Registry labels of §II.2.
CA_STATUS_LABELS = {CAStatus.pending: "Pending CA", CAStatus.applied: "CA applied", CAStatus.not_applied: "No CA applied"}


class EvidenceKind(str, Enum):
    """What a piece of CA evidence shows (§IV: BTRs and annual information, §V)."""

    ca_applied = "CA applied"  # host country report shows the CA
    intention = "credible evidence of the intention to apply the CA"
    no_ca = "CA not applied"


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    reference: str  # e.g. "BTR1 table 4, project ICR-78040, letter 7"
    #: The day the registry received it; None until the operation sets it (today unless a reason
    #: back-dates it, see registry.domain.asof).
    received_on: date | None


_CA_TRANSITIONS: dict[str, tuple[frozenset[CAStatus], CAStatus]] = {
    "confirm_applied": (frozenset({CAStatus.pending, CAStatus.not_applied}), CAStatus.applied),
    "record_not_applied": (frozenset({CAStatus.pending}), CAStatus.not_applied),
}


@dataclass(frozen=True)
class CARecord:
    """CA status of one project and vintage (§IV) with its evidence and history."""

    project_number: int
    vintage: int
    status: CAStatus = CAStatus.pending
    evidence: tuple[Evidence, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @property
    def label(self) -> str:
        return CA_STATUS_LABELS[self.status]


def open_ca_record(project_number: int, vintage: int, at: datetime, actor: str) -> CARecord:
    """A pending CA record, opened when the first Article 6.2 ICC of the vintage is retired."""
    return CARecord(project_number, vintage,
                    history=(HistoryEntry("open", None, CAStatus.pending.name, at, actor),))


def add_ca_evidence(record: CARecord, evidence: Evidence, at: datetime, actor: str) -> CARecord:
    """Attach evidence without changing the status (e.g. evidence of intention, §V)."""
    entry = HistoryEntry("add_evidence", record.status.name, record.status.name, at, actor,
                         evidence.kind.value, evidence=evidence.reference)
    return replace(record, evidence=record.evidence + (evidence,), history=record.history + (entry,))


def _ca_step(record: CARecord, transition: str, at: datetime, actor: str, note: str,
             evidence: Evidence | None) -> CARecord:
    allowed, target = _CA_TRANSITIONS[transition]
    if record.status not in allowed:
        raise IllegalTransition("CA status", transition, record.status, "§II.2, §IV")
    entry = HistoryEntry(transition, record.status.name, target.name, at, actor, note,
                         evidence=evidence.reference if evidence else None)
    return replace(record, status=target, history=record.history + (entry,),
                   evidence=record.evidence + ((evidence,) if evidence else ()))


def confirm_ca_applied(record: CARecord, evidence: Evidence, at: datetime, actor: str) -> CARecord:
    """pending or no CA -> CA applied, on evidence showing the CA (§IV)."""
    if evidence.kind is not EvidenceKind.ca_applied:
        raise Article6Error(R_CA_EVIDENCE, f"{evidence.kind.value!r} does not show the CA applied", "evidence.kind")
    return _ca_step(record, "confirm_applied", at, actor, "", evidence)


def record_no_ca(record: CARecord, at: datetime, actor: str, reason: str,
                 evidence: Evidence | None = None) -> CARecord:
    """pending -> No CA applied, by ICR's determination (§II.2, §IV); a non-CA event by decision."""
    return _ca_step(record, "record_not_applied", at, actor, reason, evidence)


# --------------------------------------------------------------------------------------------
# Non-CA events (§V)
# --------------------------------------------------------------------------------------------


def first_transfer_year(definition: FirstTransfer, *, authorized_on: date, issued_on: date,
                        used_on: date | None) -> int | None:
    """Year of first transfer under the letter's §I.7.1 definition; None if the credits are
    not yet used and the host country counts first transfer at use."""
    if definition is FirstTransfer.authorization:
        return authorized_on.year
    if definition is FirstTransfer.issuance:
        return issued_on.year
    return None if used_on is None else used_on.year


def ca_reporting_deadline(first_transfer_year: int) -> date:
    """The host country's deadline for reporting the CA for a first-transfer year: 15 April of
    the following year (seed 003 says "15 April annually"; which year is inferred from decision
    2/CMA.3 annex, annual information due by 15 April of the year after)."""
    return date(first_transfer_year + 1, *CA_REPORTING_DAY)


def non_ca_cutoff(first_transfer_year: int) -> date:
    """Last day on which credible evidence still counts: twelve months after the reporting
    deadline, i.e. 15 April two years after the first-transfer year (§II.3, §V). A non-CA
    event by the date rule exists from the next day on."""
    deadline = ca_reporting_deadline(first_transfer_year)
    return deadline.replace(year=deadline.year + 1)


class NonCATrigger(str, Enum):
    date_rule = "no credible evidence within 12 months after the reporting deadline"
    decision = "ICR determined that no CA was applied"


@dataclass(frozen=True)
class Exposure:
    """Article 6.2 ICCs of one project and vintage first transferred in one year."""

    first_transfer_year: int
    quantity: int


@dataclass(frozen=True)
class NonCAEvent:
    """Identity for idempotent storage: (project_number, vintage, first_transfer_year)."""

    project_number: int
    vintage: int
    first_transfer_year: int
    quantity: int
    trigger: NonCATrigger
    detected_on: date


def detect_non_ca_events(record: CARecord, exposures: Iterable[Exposure], on: date) -> tuple[NonCAEvent, ...]:
    """Non-CA events of ``record`` as of ``on`` (§V).

    CA applied: none. No CA applied: every exposure, by decision. Pending: each exposure whose
    :func:`non_ca_cutoff` is before ``on`` and for which no evidence of the CA or of the
    intention to apply it was received on or before the cutoff."""
    if record.status is CAStatus.applied:
        return ()
    events = []
    for e in exposures:
        if e.quantity <= 0:
            continue
        if record.status is CAStatus.not_applied:
            trigger = NonCATrigger.decision
        else:
            cutoff = non_ca_cutoff(e.first_transfer_year)
            credible = any(ev.kind in (EvidenceKind.ca_applied, EvidenceKind.intention) and ev.received_on <= cutoff
                           for ev in record.evidence)
            if on <= cutoff or credible:
                continue
            trigger = NonCATrigger.date_rule
        events.append(NonCAEvent(record.project_number, record.vintage, e.first_transfer_year, e.quantity,
                                 trigger, on))
    return tuple(events)
