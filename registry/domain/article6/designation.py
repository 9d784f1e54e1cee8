"""Designation of ICCs as Article 6.2 ICCs: at issuance (§4.1, §II.1), by conversion of
standard ICCs (§I.12), and the split of an issuance between the adjustment deposit and the
proponent (§II.3.b).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Collection, Iterable

from registry.domain.additionality import Level
from registry.domain.article6.letters import AuthorizedUse, Letter, Period
from registry.domain.article6.projects import ProjectStatus
from registry.domain.article6.rules import (
    R_ADDITIONAL,
    R_ALREADY_ARTICLE6,
    R_COMPENSATION_MECHANISM,
    R_CONVERTIBLE_HOLDING,
    R_CREDITING_PERIOD,
    R_EX_POST_ONLY,
    R_HOST_FRAMEWORK,
    R_INSURANCE,
    R_LETTER_METHODOLOGY,
    R_LETTER_PROJECT,
    R_LETTER_PUBLISHED,
    R_LETTER_SECTOR,
    R_LETTER_VALID,
    R_METHODOLOGY,
    R_MITIGATION_TYPE,
    R_NON_PERMANENCE,
    R_NOT_2B,
    R_NOT_IN_CUSTODY,
    R_NOT_SUSPENDED,
    R_PROJECT_AUTHORIZED,
    R_QUANTITY_CAP,
    R_USES,
    R_VINTAGE_2021,
    R_VINTAGE_AUTHORIZED,
    R_WHOLE_TONNES,
    Refusal,
    _require,
)
from registry.domain.numbers import exact
from registry.domain.serials import SerialBlock

#: First vintage eligible for international transfer (§4.1).
FIRST_ELIGIBLE_VINTAGE = 2021


# --------------------------------------------------------------------------------------------
# Designation (§4.1, §II.1)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectFacts:
    """What §4.1 asks about the project. ``methodology_approved``: an ICR approved
    methodology, or criteria approved by the host country and accepted by ICR."""

    project_number: int
    host_country: str
    status: ProjectStatus
    host_country_framework: bool
    methodology_approved: bool
    additionality_levels: frozenset[Level]
    ex_ante_issued_in_crediting_period: bool = False
    #: Levels whose claim is still demonstrated (not revised by an ex-post report); None: not known
    #: to the caller, taken as the claimed levels.
    demonstrated_levels: frozenset[Level] | None = None
    #: The project's ICR sector code and methodology, compared with the letter's (§I.3.4); None is
    #: never a match.
    sector: int | None = None
    methodology: str | None = None


_SECTOR_CODE = re.compile(r"\s*(\d{1,2})(?!\d)")


def letter_sector_code(sector: str) -> int | None:
    """The ICR sector code a letter's sector text starts with (``"14 CCS"`` -> 14); None if none."""
    m = _SECTOR_CODE.match(sector)
    return int(m.group(1)) if m else None


def _activity_refusals(letter: Letter, project: ProjectFacts) -> list[Refusal]:
    """The letter authorizes the project's sector and methodology (§I.3.4): the sector text leads
    with the project's ICR sector code, the methodology names the same one (case and surrounding
    space aside)."""
    act, out = letter.content.activity, []
    code = letter_sector_code(act.sector)
    if project.sector is None or code != project.sector:
        out.append(Refusal(R_LETTER_SECTOR, f"the letter's sector {act.sector!r} is not the project's sector "
                           f"{project.sector}", "letter.activity.sector"))
    if project.methodology is None or act.methodology.strip().casefold() != project.methodology.strip().casefold():
        out.append(Refusal(R_LETTER_METHODOLOGY, f"the letter's methodology {act.methodology!r} is not the "
                           f"project's {project.methodology!r}", "letter.activity.methodology"))
    return out


@dataclass(frozen=True)
class IssuanceFacts:
    """The credits to designate: one vintage, a monitoring period, a credit type."""

    vintage: int
    quantity: int
    monitoring_period: Period
    credit_type: str  # "R", "A" or "H" as in the serial
    ex_ante: bool = False


def _project_refusals(letter: Letter | None, project: ProjectFacts, on: date,
                      acting_on: date | None = None) -> list[Refusal]:
    out: list[Refusal] = []
    if project.status is ProjectStatus.suspended:
        out.append(Refusal(R_NOT_SUSPENDED, f"project {project.project_number} is suspended", "project.status"))
    elif project.status is not ProjectStatus.authorized:
        out.append(Refusal(R_PROJECT_AUTHORIZED, f"project status is {project.status.value!r}", "project.status"))
    if letter is None:
        out.append(Refusal(R_LETTER_PUBLISHED, "no letter", "letter"))
    else:
        if not letter.in_force:
            out.append(Refusal(R_LETTER_PUBLISHED, f"letter {letter.number} is {letter.status.value}", "letter"))
        v = letter.content.validity
        for day, what in ((on, "as_of"), (acting_on, "today")):
            if day is not None and not letter.valid_on(day):
                out.append(Refusal(R_LETTER_VALID, f"{day} ({what}) is outside "
                                   f"{v.effective_from}..{v.expires_on or 'open'}", "as_of"))
                break
        act = letter.content.activity
        if act.project_number != project.project_number or act.location_country != project.host_country:
            out.append(Refusal(R_LETTER_PROJECT, f"letter covers project {act.project_number} in "
                               f"{act.location_country}, not {project.project_number} in {project.host_country}",
                               "letter"))
        out += _activity_refusals(letter, project)
    if not project.host_country_framework:
        out.append(Refusal(R_HOST_FRAMEWORK, f"{project.host_country} has no Article 6.2 framework",
                           "project.host_country_framework"))
    if Level.L2B in project.additionality_levels:
        out.append(Refusal(R_NOT_2B, "the project claims additionality level 2b", "project.additionality_levels"))
    demonstrated = project.additionality_levels if project.demonstrated_levels is None else project.demonstrated_levels
    if Level.L2A not in demonstrated:
        why = ("no additionality claims are registered" if not project.additionality_levels
               else "level 2a is not claimed" if Level.L2A not in project.additionality_levels
               else "level 2a was revised by an ex-post report: no longer met")
        out.append(Refusal(R_ADDITIONAL, why, "project.additionality_levels"))
    if project.ex_ante_issued_in_crediting_period:
        out.append(Refusal(R_EX_POST_ONLY, "the project issued ex-ante ICCs in its crediting period",
                           "project.ex_ante_issued_in_crediting_period"))
    if not project.methodology_approved:
        out.append(Refusal(R_METHODOLOGY, "methodology not approved", "project.methodology_approved"))
    return out


def _issuance_refusals(letter: Letter | None, issuance: IssuanceFacts,
                       uses: Collection[AuthorizedUse] | None) -> list[Refusal]:
    out: list[Refusal] = []
    if issuance.ex_ante:
        out.append(Refusal(R_EX_POST_ONLY, "ex-ante ICCs cannot be designated", "issuance.ex_ante"))
    if not isinstance(issuance.quantity, int) or isinstance(issuance.quantity, bool) or issuance.quantity < 1:
        out.append(Refusal(R_WHOLE_TONNES, f"{issuance.quantity!r} is not a positive whole number of tonnes",
                           "issuance.quantity"))
    if issuance.vintage < FIRST_ELIGIBLE_VINTAGE:
        out.append(Refusal(R_VINTAGE_2021, f"vintage {issuance.vintage} is before {FIRST_ELIGIBLE_VINTAGE}",
                           "issuance.vintage"))
    if letter is None:
        return out
    o = letter.content.outcomes
    if issuance.vintage not in o.vintages:
        out.append(Refusal(R_VINTAGE_AUTHORIZED, f"vintage {issuance.vintage} is outside "
                           f"{o.vintages.first}-{o.vintages.last}", "issuance.vintage"))
    if not o.crediting_period.covers(issuance.monitoring_period):
        mp, cp = issuance.monitoring_period, o.crediting_period
        out.append(Refusal(R_CREDITING_PERIOD, f"{mp.start}..{mp.end} is not within {cp.start}..{cp.end}",
                           "issuance.monitoring_period"))
    if issuance.credit_type != o.mitigation_type.value:
        out.append(Refusal(R_MITIGATION_TYPE, f"credit type {issuance.credit_type!r} is not the letter's "
                           f"{o.mitigation_type.name}", "issuance.credit_type"))
    if uses is not None:
        extra = set(uses) - letter.content.uses
        if not uses or extra:
            names = sorted(u.name for u in extra) or ["(none requested)"]
            out.append(Refusal(R_USES, f"not authorized: {', '.join(names)}", "uses"))
    return out


def _cap_refusal(letter: Letter | None, quantity: int, designated_so_far: int) -> Refusal | None:
    cap = None if letter is None else letter.content.outcomes.quantity_cap
    if cap is not None and designated_so_far + quantity > cap:
        return Refusal(R_QUANTITY_CAP, f"{designated_so_far} t designated + {quantity} t exceeds the cap of {cap} t",
                       "issuance.quantity")
    return None


def check_designation(letter: Letter | None, project: ProjectFacts, issuance: IssuanceFacts, *,
                      designated_so_far: int, on: date, acting_on: date | None = None,
                      uses: Collection[AuthorizedUse] | None = None) -> tuple[Refusal, ...]:
    """Every reason ``issuance`` cannot be designated as Article 6.2 ICCs under ``letter``
    on ``on`` (§4.1, §I.3-I.5, §I.9, §I.12, §II.1, §V.b); empty when it can.

    ``designated_so_far``: tonnes already designated under this letter (cumulative cap).
    ``acting_on``: the registry's own date when ``on`` is a back-dated "as of" date; the letter
    must be valid on both (a letter that has expired designates nothing, whatever the date).
    ``uses``: uses asked for; None means all that the letter authorizes.
    """
    out = _project_refusals(letter, project, on, acting_on) + _issuance_refusals(letter, issuance, uses)
    if isinstance(issuance.quantity, int):
        cap = _cap_refusal(letter, issuance.quantity, designated_so_far)
        if cap:
            out.append(cap)
    return tuple(out)


def require_designation(letter: Letter | None, project: ProjectFacts, issuance: IssuanceFacts, *,
                        designated_so_far: int, on: date, acting_on: date | None = None,
                        uses: Collection[AuthorizedUse] | None = None) -> None:
    """:func:`check_designation`, raising :class:`DesignationRefused` with all refusals."""
    _require(check_designation(letter, project, issuance, designated_so_far=designated_so_far, on=on,
                               acting_on=acting_on, uses=uses))


def remaining_cap(letter: Letter, designated_so_far: int) -> int | None:
    """Tonnes still designatable under the letter's cap; None when it has no cap (§I.4.6)."""
    cap = letter.content.outcomes.quantity_cap
    return None if cap is None else max(0, cap - designated_so_far)


# --------------------------------------------------------------------------------------------
# Conversion of standard ICCs (§I.12)
# --------------------------------------------------------------------------------------------


class Location(str, Enum):
    """Where a serial block sits (mirrors the registry's account types and terminal states)."""

    holding = "holding account"
    bridge_custody = "bridge custody"
    buffer = "buffer"
    non_ca_adjustment = "non-CA adjustment account"
    retired = "retired"
    cancelled = "cancelled"


@dataclass(frozen=True)
class Holding:
    """A serial block of the project and what conversion needs to know about it."""

    block: SerialBlock
    location: Location
    active: bool  # ex-post (active); False for ex-ante (inactive) credits
    monitoring_period: Period


@dataclass(frozen=True)
class ConversionItem:
    """Convert the first ``quantity`` units of ``block`` (lowest serial first): cancel them
    (reason: conversion to Article 6.2) and issue as many new Article 6.2 serials."""

    block: SerialBlock
    quantity: int


@dataclass(frozen=True)
class ConversionPlan:
    convert: tuple[ConversionItem, ...]
    excluded: tuple[tuple[SerialBlock, tuple[Refusal, ...]], ...]

    @property
    def total(self) -> int:
        return sum(i.quantity for i in self.convert)


def plan_conversion(letter: Letter, project: ProjectFacts, holdings: Iterable[Holding], *,
                    designated_so_far: int, on: date, acting_on: date | None = None) -> ConversionPlan:
    """Which standard ICCs may be converted to Article 6.2 ICCs (§I.12): remaining active
    ex-post credits in a holding account, not in bridge custody, within the letter's scope.

    Blocks are taken in serial order and the letter's cap is filled lowest serial first, so a
    block may convert in part. Project-level refusals (letter, status, §4.1) raise
    :class:`DesignationRefused`: then nothing is convertible.
    """
    _require(_project_refusals(letter, project, on, acting_on))
    convert: list[ConversionItem] = []
    excluded: list[tuple[SerialBlock, tuple[Refusal, ...]]] = []
    room = remaining_cap(letter, designated_so_far)
    for h in sorted(holdings, key=lambda h: h.block):
        refusals: list[Refusal] = []
        if h.block.serialization.project_number != project.project_number:
            refusals.append(Refusal(R_LETTER_PROJECT, f"block is of project {h.block.serialization.project_number}",
                                    "block"))
        if h.block.serialization.article6:
            refusals.append(Refusal(R_ALREADY_ARTICLE6, "already designated", "block"))
        if h.location is Location.bridge_custody:
            refusals.append(Refusal(R_NOT_IN_CUSTODY, "tokens exist for these credits", "location"))
        elif h.location is not Location.holding:
            refusals.append(Refusal(R_CONVERTIBLE_HOLDING, f"credits are {h.location.value}", "location"))
        issuance = IssuanceFacts(vintage=h.block.serialization.vintage, quantity=h.block.quantity,
                                 monitoring_period=h.monitoring_period, credit_type=h.block.serialization.credit_type,
                                 ex_ante=not h.active)
        refusals += _issuance_refusals(letter, issuance, None)
        if not refusals and room == 0:
            refusals.append(Refusal(R_QUANTITY_CAP, "the letter's cap is reached", "block"))
        if refusals:
            excluded.append((h.block, tuple(refusals)))
            continue
        quantity = h.block.quantity if room is None else min(room, h.block.quantity)
        convert.append(ConversionItem(h.block, quantity))
        if room is not None:
            room -= quantity
    return ConversionPlan(tuple(convert), tuple(excluded))


# --------------------------------------------------------------------------------------------
# Adjustment deposit (§II.3.b)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepositSplit:
    issued: int
    deposit: int  # to the non-CA adjustment account
    to_proponent: int


def _exact(value: Decimal | int | str | float | Fraction, name: str) -> Fraction:
    try:
        return exact(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def adjustment_deposit(issued: int, percentage: Decimal | int | str | float) -> DepositSplit:
    """Split an issuance of Article 6.2 ICCs between the non-CA adjustment account and the
    proponent (§II.3.b: a percentage of issued Article 6.2 ICCs, set per project by ICR's risk
    assessment).

    Rounding: whole tonnes, rounded **up** per issuance (exact rational arithmetic, no
    floats), so the deposit is never below ``issued * percentage / 100``; over many issuances
    the account holds less than one tonne per issuance in excess.
    """
    if not isinstance(issued, int) or isinstance(issued, bool) or issued < 0:
        raise ValueError(f"issued: {issued!r} is not a whole number of tonnes")
    pct = _exact(percentage, "percentage")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentage: {percentage} is not between 0 and 100")
    exact = issued * pct / 100
    deposit = -(-exact.numerator // exact.denominator)  # ceiling
    return DepositSplit(issued, deposit, issued - deposit)


# --------------------------------------------------------------------------------------------
# Compensation mechanism (§II.3.a insurance, §II.3.b deposit and non-permanence account)
# --------------------------------------------------------------------------------------------


class LossPayee(str, Enum):
    """§II.3.a: who obtains or benefits from the compensation mechanism."""

    proponent = "project proponent"
    partner = "related partner, investor, lender or buyer"
    icr = "ICR"


@dataclass(frozen=True)
class Insurance:
    """§II.3.a: a guarantee or insurance policy providing a Replacement Contribution."""

    insurer: str
    policy: str  # reference to the legally binding policy or guarantee
    investment_grade: bool  # the third party's credit rating (and licence) meets ICR's criteria
    loss_payee: LossPayee


@dataclass(frozen=True)
class Mechanism:
    """A project's compensation mechanism (§II.3): the adjustment deposit percentage, an
    insurance or guarantee, and for projects with non-permanence risk the share contributed to
    the Article 6.2 non-permanence risk adjustment account (§II.3.b, last paragraph)."""

    adjustment_percentage: Decimal | int | str
    insurance: Insurance | None = None
    non_permanence_risk: bool = False
    non_permanence_percentage: Decimal | int | str = 0


def mechanism_refusals(m: Mechanism) -> tuple[Refusal, ...]:
    """Every reason ``m`` is not a compensation mechanism §II.3 accepts; empty when it is."""
    out: list[Refusal] = []
    pct = _exact(m.adjustment_percentage, "adjustment_percentage")
    np_pct = _exact(m.non_permanence_percentage, "non_permanence_percentage")
    if m.insurance is not None:
        i = m.insurance
        if not i.insurer.strip():
            out.append(Refusal(R_INSURANCE, "name the insurer or guarantor", "insurance.insurer"))
        if not i.policy.strip():
            out.append(Refusal(R_INSURANCE, "reference the policy or guarantee", "insurance.policy"))
        if not i.investment_grade:
            out.append(Refusal(R_INSURANCE, "the third party has no investment-grade credit rating",
                               "insurance.investment_grade"))
    elif pct == 0:
        out.append(Refusal(R_COMPENSATION_MECHANISM, "a 0 % adjustment deposit with no insurance or guarantee leaves "
                           "a double claim uncompensated", "adjustment_percentage"))
    if not 0 <= np_pct <= 100:
        out.append(Refusal(R_NON_PERMANENCE, f"{m.non_permanence_percentage} is not between 0 and 100",
                           "non_permanence_percentage"))
    elif m.non_permanence_risk and np_pct == 0:
        out.append(Refusal(R_NON_PERMANENCE, "the project has non-permanence risk and contributes 0 %",
                           "non_permanence_percentage"))
    elif not m.non_permanence_risk and np_pct:
        out.append(Refusal(R_NON_PERMANENCE, "a contribution without non-permanence risk: set the risk",
                           "non_permanence_risk"))
    if 0 <= pct <= 100 and 0 <= np_pct <= 100 and pct + np_pct > 100:
        out.append(Refusal(R_NON_PERMANENCE, f"deposit {pct} % and contribution {np_pct} % exceed 100 %",
                           "non_permanence_percentage"))
    return tuple(out)


def non_permanence_contribution(to_proponent: int, percentage: Decimal | int | str, issued: int) -> int:
    """Tonnes of an issuance of ``issued`` contributed to the non-permanence risk adjustment
    account: ``issued * percentage / 100`` rounded up (as the deposit), at most ``to_proponent``."""
    pct = _exact(percentage, "non_permanence_percentage")
    exact = issued * pct / 100
    return min(to_proponent, -(-exact.numerator // exact.denominator))
