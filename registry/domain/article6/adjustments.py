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
from registry.domain.article6.rules import (
    R_CA_CORRECTION,
    R_CA_EVIDENCE,
    R_CA_QUANTITY,
    Article6Error,
    HistoryEntry,
    IllegalTransition,
)
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
    correction = "correction of a CA status recorded in error"  # e.g. the report named another project


@dataclass(frozen=True)
class Evidence:
    """A piece of evidence. ``quantity`` and ``first_transfer_year``: the tonnes first
    transferred in that year (§I.7.1) the host country's report covers; a CA confirmation
    states both (rule ``ca-quantity``). None: not stated (evidence recorded before quantities
    were kept, taken as covering the whole vintage as it was when recorded)."""

    kind: EvidenceKind
    reference: str  # e.g. "BTR1 table 4, project ICR-78040, letter 7"
    #: The day the registry received it; None until the operation sets it (today unless a reason
    #: back-dates it, see registry.domain.asof).
    received_on: date | None
    quantity: int | None = None
    first_transfer_year: int | None = None


_CA_TRANSITIONS: dict[str, tuple[frozenset[CAStatus], CAStatus | None]] = {
    "confirm_applied": (frozenset({CAStatus.pending, CAStatus.not_applied}), CAStatus.applied),
    # evidence of the CA for part of what was first transferred: the status stays
    "confirm_applied_in_part": (frozenset({CAStatus.pending, CAStatus.not_applied}), None),
    # CA applied, and evidence for tonnes first transferred since
    "confirm_more_applied": (frozenset({CAStatus.applied}), None),
    "record_not_applied": (frozenset({CAStatus.pending}), CAStatus.not_applied),
    # a status recorded in error, reversed on evidence (§II.2, §IV)
    "correct_to_pending": (frozenset({CAStatus.applied, CAStatus.not_applied}), CAStatus.pending),
    "correct_to_not_applied": (frozenset({CAStatus.applied}), CAStatus.not_applied),
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
    target = target or record.status
    entry = HistoryEntry(transition, record.status.name, target.name, at, actor, note,
                         evidence=evidence.reference if evidence else None)
    return replace(record, status=target, history=record.history + (entry,),
                   evidence=record.evidence + ((evidence,) if evidence else ()))


def _current_evidence(record: CARecord) -> tuple[Evidence, ...]:
    """The evidence since the last correction: a correction voids what came before it."""
    last = max((i for i, e in enumerate(record.evidence) if e.kind is EvidenceKind.correction), default=-1)
    return record.evidence[last + 1:]


#: Tonnes covered by evidence that states no quantity (the whole vintage).
WHOLE_VINTAGE = 10**18


def covered_tonnes(record: CARecord, year: int, kinds: frozenset[EvidenceKind] = frozenset({EvidenceKind.ca_applied}),
                   received_by: date | None = None) -> int:
    """Tonnes first transferred in ``year`` that evidence of ``kinds`` (received by
    ``received_by``, if given) covers, since the last correction; :data:`WHOLE_VINTAGE` when a
    piece of evidence states no quantity. No CA applied (ICR's determination) covers nothing."""
    if record.status is CAStatus.not_applied and EvidenceKind.ca_applied in kinds and kinds == {EvidenceKind.ca_applied}:
        return 0
    total = 0
    for e in _current_evidence(record):
        if e.kind not in kinds or (received_by is not None and e.received_on > received_by):
            continue
        if e.quantity is None:
            return WHOLE_VINTAGE
        if e.first_transfer_year == year:
            total += e.quantity
    return total


def ca_labels(record: CARecord, exposures: Iterable["Exposure"]) -> tuple[tuple[int, str, int], ...]:
    """(first-transfer year, §II.2 label, tonnes) for what was first transferred: "CA applied"
    for the tonnes the evidence covers, the rest under the record's status ("Pending CA", or
    "No CA applied" after ICR's determination). Labels follow quantities: evidence for 100 t
    labels 100 t, whatever the status of the record."""
    rest_label = CA_STATUS_LABELS[CAStatus.not_applied if record.status is CAStatus.not_applied else CAStatus.pending]
    out = []
    for e in sorted(exposures, key=lambda x: x.first_transfer_year):
        applied = min(e.quantity, covered_tonnes(record, e.first_transfer_year))
        if applied:
            out.append((e.first_transfer_year, CA_STATUS_LABELS[CAStatus.applied], applied))
        if e.quantity - applied:
            out.append((e.first_transfer_year, rest_label, e.quantity - applied))
    return tuple(out)


def _check_quantity(evidence: Evidence) -> None:
    q, year = evidence.quantity, evidence.first_transfer_year
    if not isinstance(q, int) or isinstance(q, bool) or q < 1:
        raise Article6Error(R_CA_QUANTITY, f"state the tonnes the evidence covers as a positive whole number, "
                            f"not {q!r}", "evidence.quantity")
    if not isinstance(year, int) or isinstance(year, bool) or not 2021 <= year <= 9999:
        raise Article6Error(R_CA_QUANTITY, f"state the year of first transfer the evidence covers, not {year!r}",
                            "evidence.first_transfer_year")


def confirm_ca_applied(record: CARecord, evidence: Evidence, at: datetime, actor: str,
                       exposures: Iterable["Exposure"] = ()) -> CARecord:
    """Evidence showing the CA for ``evidence.quantity`` t first transferred in
    ``evidence.first_transfer_year`` (§IV, §I.7.1). pending or no CA -> CA applied once the
    evidence since the last correction covers every exposure (every tonne first transferred,
    per year); otherwise the evidence is recorded (``confirm_applied_in_part``) and the status
    stays, so a confirmation for 100 t never labels 800 t."""
    if evidence.kind is not EvidenceKind.ca_applied:
        raise Article6Error(R_CA_EVIDENCE, f"{evidence.kind.value!r} does not show the CA applied", "evidence.kind")
    _check_quantity(evidence)
    exposures = tuple(e for e in exposures if e.quantity > 0)
    with_it = replace(record, status=CAStatus.pending, evidence=record.evidence + (evidence,))
    uncovered = [(e.first_transfer_year, e.quantity - min(e.quantity, covered_tonnes(with_it, e.first_transfer_year)))
                 for e in exposures]
    uncovered = [(y, q) for y, q in uncovered if q]
    if exposures and not uncovered and record.status is not CAStatus.applied:
        return _ca_step(record, "confirm_applied", at, actor, "", evidence)
    note = (f"{evidence.quantity} t first transferred in {evidence.first_transfer_year}; not covered: "
            + (", ".join(f"{q} t of {y}" for y, q in uncovered) or "nothing first transferred yet"))
    transition = "confirm_more_applied" if record.status is CAStatus.applied else "confirm_applied_in_part"
    return _ca_step(record, transition, at, actor, note, evidence)


def correct_ca_status(record: CARecord, target: CAStatus, evidence: Evidence | None, reason: str, at: datetime,
                      actor: str) -> CARecord:
    """Reverse a CA status recorded in error (e.g. "CA applied" on a report about another
    project) to pending or No CA applied, on evidence and with the reason (§II.2, §IV). The
    correction voids the evidence before it for :func:`covered_tonnes`."""
    if evidence is None or not evidence.reference.strip():
        raise Article6Error(R_CA_CORRECTION, "a CA status is corrected only on evidence", "evidence")
    if evidence.kind is not EvidenceKind.correction:
        raise Article6Error(R_CA_CORRECTION, f"{evidence.kind.value!r} is not evidence of a correction",
                            "evidence.kind")
    if not reason.strip():
        raise Article6Error(R_CA_CORRECTION, "state why the status was wrong", "reason")
    transitions = {CAStatus.pending: "correct_to_pending", CAStatus.not_applied: "correct_to_not_applied"}
    if target not in transitions:
        raise Article6Error(R_CA_CORRECTION, f"a correction goes to pending or No CA applied, not {target.name} "
                            "(confirm the CA on evidence instead)", "status")
    return _ca_step(record, transitions[target], at, actor, reason.strip(), evidence)


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

    Tonnes the CA evidence covers (:func:`covered_tonnes`) are never an event. No CA applied:
    the rest of every exposure, by decision. Otherwise: the rest of each exposure whose
    :func:`non_ca_cutoff` is before ``on``, less what evidence of the intention to apply the CA
    received on or before the cutoff covers (by the date rule)."""
    events = []
    for e in exposures:
        if e.quantity <= 0:
            continue
        year = e.first_transfer_year
        quantity = e.quantity - min(e.quantity, covered_tonnes(record, year))
        if quantity <= 0:
            continue
        if record.status is CAStatus.not_applied:
            trigger = NonCATrigger.decision
        else:
            cutoff = non_ca_cutoff(year)
            quantity -= min(quantity, covered_tonnes(record, year, frozenset({EvidenceKind.intention}), cutoff))
            if on <= cutoff or quantity <= 0:
                continue
            trigger = NonCATrigger.date_rule
        events.append(NonCAEvent(record.project_number, record.vintage, year, quantity, trigger, on))
    return tuple(events)
