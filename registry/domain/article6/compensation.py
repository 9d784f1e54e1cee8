"""Compensation of non-CA events (§V.b): the plan, in the order of §V.b, and its
business-day deadline for replacement purchases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from typing import Any, Collection, Mapping

#: Business days the proponent has to purchase and cancel replacements (§V.b step 4).
REPLACEMENT_BUSINESS_DAYS = 60


def add_business_days(start: date, days: int, holidays: Collection[date] = ()) -> date:
    """``start`` plus ``days`` business days (Monday to Friday, less ``holidays``)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            days -= 1
    return current


class CompensationKind(str, Enum):
    """The steps of §V.b, in order."""

    cancel_own_excess = "1: cancel the project's excess in the non-CA adjustment account"
    cancel_other_excess = "2: cancel other projects' excess in the non-CA adjustment account"
    proponent_deposit = "3: proponent deposits Article 6.2 ICCs, cancelled by ICR"
    purchase_replacements = "4: proponent purchases and cancels replacement Article 6 credits"
    cancel_subsequent_holdings = "5: cancel subsequently issued Article 6.2 ICCs the proponent holds"
    deduct_future_issuances = "5: deduct from subsequent Article 6.2 issuances of the project"


@dataclass(frozen=True)
class CompensationSources:
    """What each step of §V.b can draw on, in tonnes. ``other_projects_excess`` maps project
    number to its excess not subject to a double claim; it is drawn in ascending project
    number so the plan is reproducible."""

    own_excess: int = 0
    other_projects_excess: Mapping[int, int] = field(default_factory=dict)
    proponent_deposit: int = 0
    replacement_purchase: int = 0
    proponent_holdings: int = 0
    additional_double_claim: bool = False  # bars step 5


@dataclass(frozen=True)
class CompensationStep:
    kind: CompensationKind
    quantity: int
    from_project: int | None = None
    due_by: date | None = None


@dataclass(frozen=True)
class CompensationPlan:
    """Steps in §V.b order. ``unresolved`` is what no step covers (only when step 5 is barred
    by an additional double claim); steps plus ``unresolved`` always equal the shortfall."""

    shortfall: int
    steps: tuple[CompensationStep, ...]
    unresolved: int

    @property
    def covered(self) -> int:
        return sum(s.quantity for s in self.steps)


def plan_compensation(shortfall: int, sources: CompensationSources, *, notified_on: date,
                      holidays: Collection[date] = ()) -> CompensationPlan:
    """Plan compensation of ``shortfall`` double-claimed tonnes in the order of §V.b: the
    project's excess in the non-CA account, other projects' excess there, a proponent deposit,
    replacement purchases (due within 60 business days of ``notified_on``), then cancellation
    from subsequent Article 6.2 holdings and deductions from future issuances of the project."""
    numbers = {"shortfall": shortfall, "own_excess": sources.own_excess,
               "proponent_deposit": sources.proponent_deposit,
               "replacement_purchase": sources.replacement_purchase,
               "proponent_holdings": sources.proponent_holdings}
    numbers.update({f"other_projects_excess[{p}]": q for p, q in sources.other_projects_excess.items()})
    for name, value in numbers.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}: {value!r} is not a whole number of tonnes")
    steps: list[CompensationStep] = []
    left = shortfall

    def take(kind: CompensationKind, available: int, **extra: Any) -> None:
        nonlocal left
        quantity = min(left, available)
        if quantity:
            steps.append(CompensationStep(kind, quantity, **extra))
            left -= quantity

    take(CompensationKind.cancel_own_excess, sources.own_excess)
    for project in sorted(sources.other_projects_excess):
        take(CompensationKind.cancel_other_excess, sources.other_projects_excess[project], from_project=project)
    take(CompensationKind.proponent_deposit, sources.proponent_deposit)
    take(CompensationKind.purchase_replacements, sources.replacement_purchase,
         due_by=add_business_days(notified_on, REPLACEMENT_BUSINESS_DAYS, holidays))
    if not sources.additional_double_claim:
        take(CompensationKind.cancel_subsequent_holdings, sources.proponent_holdings)
        take(CompensationKind.deduct_future_issuances, left)
    return CompensationPlan(shortfall, tuple(steps), left)


def replacement_lapsed(due_by: date | None, on: date) -> bool:
    """A step 4 purchase lapses once its 60 business days are over without evidence: the day
    after ``due_by`` (§V.b step 4); its remainder moves on to step 5."""
    return due_by is not None and on > due_by
