"""What an issuance is for: its monitoring period and its verification, and the rule that one
period of mitigation is issued once (pure rules, no I/O).

- Every issuance records the monitoring period it issues for. An ex-post issuance, and each
  verification converting ex-ante ICCs, records its verification (report reference,
  verification body, date); an ex-ante issuance records the *predicted* period and no
  verification: it is verified, period by period, by its conversions.
- A monitoring period lies within one calendar year and the vintage is that year (a period
  crossing a year boundary is refused: it would need two vintages, so it is issued as two).
- Periods of one project never overlap, whatever the designation (seed 004 criterion 7(a):
  "more than one unit issued for the same emissions reduction"; seed 003 §II.1). Article 6.2
  ICCs for a period that already has standard ICCs are made only by the §I.12 conversion, which
  cancels those standard ICCs. One exception: a verification finding more than the ex-ante
  prediction converts the ex-ante ICCs and the excess may be issued ex-post for that same
  verified period, once, naming the same verification.

Every refusal is a :class:`~registry.domain.lifecycle.LifecycleError` naming its rule and section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

from registry.domain.article6.letters import Period
from registry.domain.enums import IssuanceKind
from registry.domain.lifecycle import LifecycleError

DOUBLE_ISSUANCE = "seed 004 criterion 7(a), seed 003 §II.1"
VERIFIED_EX_POST = "seed 004 criterion 3"
VINTAGE = "seed 003 §4, §4.1"
CONVERSION = "seed 003 §I.12, seed 004 criterion 7(a)"


@dataclass(frozen=True)
class Verification:
    """The verification an ex-post issuance (or an ex-ante conversion) rests on."""

    reference: str  # the verification report
    body: str  # the verification body that verified it
    verified_on: date


@dataclass(frozen=True)
class IssuedPeriod:
    """An earlier issuance of the project and the period it issued for. ``verified``: for an
    ex-ante issuance, the periods its conversions verified, with their report references."""

    issuance_id: int
    kind: IssuanceKind
    article6: bool
    period: Period
    verified: tuple[tuple[Period, str], ...] = ()


def _overlap(a: Period, b: Period) -> bool:
    return a.start <= b.end and b.start <= a.end


def monitoring_period(start: date | None, end: date | None, vintage: int) -> Period:
    """The monitoring period of an issuance of ``vintage``: both dates, ordered, within one
    calendar year, which is the vintage."""
    if start is None or end is None:
        raise LifecycleError("an issuance records the monitoring period it issues for (start and end)",
                             field="monitoring_start" if start is None else "monitoring_end",
                             rule="monitoring-period-recorded", section=DOUBLE_ISSUANCE)
    if end < start:
        raise LifecycleError(f"the monitoring period {start}..{end} ends before it starts", field="monitoring_end",
                             rule="monitoring-period-ordered", section=DOUBLE_ISSUANCE)
    if start.year != end.year:
        raise LifecycleError(f"the monitoring period {start}..{end} crosses a year boundary: issue each year as "
                             "its own vintage", field="monitoring_end", rule="monitoring-period-within-one-year",
                             section=VINTAGE)
    if vintage != start.year:
        raise LifecycleError(f"vintage {vintage} is not the year of the monitoring period {start}..{end} "
                             f"({start.year})", field="vintage", rule="vintage-is-monitoring-year", section=VINTAGE)
    return Period(start, end)


def check_verification(kind: IssuanceKind, period: Period, verification: Verification | None,
                       today: date) -> Verification | None:
    """An ex-post issuance rests on a verification of its period, made after the period ended
    and not after today; an ex-ante issuance has none (it is verified by its conversions)."""
    if kind is IssuanceKind.ex_ante:
        if verification is not None:
            raise LifecycleError("ex-ante ICCs are issued on a predicted period, before verification: record the "
                                 "verification with their conversion", field="verification_reference",
                                 rule="ex-ante-unverified", section=VERIFIED_EX_POST)
        return None
    if verification is None:
        raise LifecycleError("ex-post ICCs are issued on a verification: give the report reference, the "
                             "verification body and the date", field="verification_reference",
                             rule="ex-post-verified", section=VERIFIED_EX_POST)
    return check_verified_period(period, verification, today)


def check_verified_period(period: Period, verification: Verification, today: date) -> Verification:
    """A verification names its report and body, and was made after ``period`` ended and not
    later than ``today`` (the registry's date)."""
    reference, body = verification.reference.strip(), verification.body.strip()
    if not reference:
        raise LifecycleError("the verification names its report", field="verification_reference",
                             rule="ex-post-verified", section=VERIFIED_EX_POST)
    if not body:
        raise LifecycleError("the verification names the verification body", field="verification_body",
                             rule="ex-post-verified", section=VERIFIED_EX_POST)
    if verification.verified_on > today:
        raise LifecycleError(f"verified on {verification.verified_on}, after today ({today})", field="verified_on",
                             rule="verification-not-in-future", section=VERIFIED_EX_POST)
    if verification.verified_on < period.end:
        raise LifecycleError(f"verified on {verification.verified_on}, before the monitoring period ended "
                             f"({period.end}): ex-post verification follows the mitigation", field="verified_on",
                             rule="verified-after-period", section=VERIFIED_EX_POST)
    return Verification(reference, body, verification.verified_on)


def check_no_double_issuance(period: Period, *, kind: IssuanceKind, article6: bool, earlier: Iterable[IssuedPeriod],
                             verification_reference: str | None = None) -> None:
    """Refuse an issuance whose period overlaps one already issued for the project.

    Article 6.2 ICCs over standard ICCs are pointed to the §I.12 conversion. The one overlap
    allowed: standard ex-post ICCs for a period an ex-ante issuance's conversion verified,
    naming that verification (the excess over the prediction)."""
    for e in sorted(earlier, key=lambda e: e.issuance_id):
        if not _overlap(period, e.period):
            continue
        if (kind is IssuanceKind.ex_post and not article6 and e.kind is IssuanceKind.ex_ante
                and verification_reference is not None
                and any(v.covers(period) and ref == verification_reference.strip() for v, ref in e.verified)):
            continue
        what = f"issuance {e.issuance_id} ({'Article 6.2' if e.article6 else 'standard'} {e.kind.value}, " \
               f"{e.period.start}..{e.period.end})"
        if article6 and not e.article6:
            raise LifecycleError(f"{period.start}..{period.end} already has standard ICCs: {what}; convert those "
                                 "to Article 6.2 ICCs instead", field="monitoring_start",
                                 rule="article6-by-conversion-only", section=CONVERSION)
        raise LifecycleError(f"{period.start}..{period.end} overlaps {what}: a tonne of mitigation is issued once",
                             field="monitoring_start", rule="no-double-issuance", section=DOUBLE_ISSUANCE)


def check_ex_ante_verification(predicted: Period, verified_before: Sequence[Period], period: Period,
                               verification: Verification, today: date) -> Verification:
    """A verification converting ex-ante ICCs verifies part of the predicted period that no
    earlier conversion of the issuance verified."""
    if not predicted.covers(period):
        raise LifecycleError(f"{period.start}..{period.end} is outside the predicted period "
                             f"{predicted.start}..{predicted.end} of the ex-ante issuance", field="monitoring_start",
                             rule="verified-within-predicted-period", section=DOUBLE_ISSUANCE)
    for earlier in verified_before:
        if _overlap(period, earlier):
            raise LifecycleError(f"{period.start}..{period.end} overlaps the period {earlier.start}..{earlier.end} "
                                 "an earlier conversion of this issuance verified", field="monitoring_start",
                                 rule="no-double-issuance", section=DOUBLE_ISSUANCE)
    return check_verified_period(period, verification, today)


def conversion_sources(period: Period, earlier: Iterable[IssuedPeriod]) -> tuple[int, ...]:
    """The standard ex-post issuances a §I.12 conversion for ``period`` converts: those issued for
    exactly that period (the conversion cancels their units and issues as many Article 6.2 ICCs
    for the same period, so no tonne is issued twice). None is a refusal."""
    ids = tuple(e.issuance_id for e in earlier
                if not e.article6 and e.kind is IssuanceKind.ex_post and e.period == period)
    if not ids:
        raise LifecycleError(f"no standard ex-post ICCs of the project were issued for {period.start}..{period.end}: "
                             "a conversion converts the ICCs of one issued monitoring period",
                             field="monitoring_start", rule="conversion-of-issued-period", section=CONVERSION)
    return ids
