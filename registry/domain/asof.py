"""Compliance dates are the registry's own (server) date; an earlier "as of" date is accepted
only with a reason, never in the future and never before the registry could have acted
(pure rules, no I/O).

The date a compliance decision uses (the designation's letter-validity date, the day CA evidence
was received, the day non-CA events are detected) decides what the rules allow, so the caller
does not choose it: the operation takes today's date from the server clock. Where the decision
was in fact taken earlier (the evidence arrived by post last week, the review concluded before
the letter's recording), the caller may give an earlier date with a reason; the ledger entry
records both dates and the reason (:meth:`AsOf.record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry.domain.lifecycle import LifecycleError


@dataclass(frozen=True)
class AsOf:
    """The date a decision uses (``day``), the registry's date when it was recorded (``today``)
    and, when ``day`` is earlier, why."""

    day: date
    today: date
    reason: str | None = None

    @property
    def back_dated(self) -> bool:
        return self.day != self.today

    def record(self) -> dict:
        """What the ledger entry records."""
        return {"decided_on": str(self.today), "as_of": str(self.day), "as_of_reason": self.reason}


def resolve_as_of(requested: date | None, reason: str | None, today: date, *, field: str, section: str,
                  earliest: date | None = None, earliest_what: str = "") -> AsOf:
    """The date to use: ``today`` unless an earlier ``requested`` date comes with a reason and is
    not before ``earliest`` (when the registry could first have acted, e.g. the letter's
    approval); a date after today is refused."""
    reason = (reason or "").strip() or None
    if requested is None or requested == today:
        return AsOf(today, today, None)
    if requested > today:
        raise LifecycleError(f"{field} {requested} is after today ({today}): the registry decides on its own date",
                             field=field, rule="as-of-not-in-future", section=section)
    if reason is None:
        raise LifecycleError(f"{field} {requested} is before today ({today}): a back-dated decision states why "
                             f"({field}_reason)", field=f"{field}_reason", rule="back-dating-needs-reason",
                             section=section)
    if earliest is not None and requested < earliest:
        raise LifecycleError(f"{field} {requested} is before {earliest_what} ({earliest}): the registry could not "
                             "have acted then", field=field, rule="as-of-after-registry-could-act", section=section)
    return AsOf(requested, today, reason)
