"""Additionality (seed 002, ICR Additionality specifications v1.0): claims, calculators and
ex-post reports. Pure: no I/O.

Levels (§5.2): 1 GHG emissions, 2 statutory, 3 technology / common practice (or barrier
analysis), 4 financial (4a investment analysis, 4b simple cost analysis), 5 policy. Level 2
is claimed as 2a or 2b; 2b (activity required by law or regulation) comes from seed 003
§4.1, which makes such projects ineligible for Article 6.2.

Thresholds compare exact rationals (``Fraction``), never floats, so the boundaries (exactly
20 %, 5 %, 15 %) fall on the side the text says. NPV and IRR use ``numpy-financial``.

Ex-post reports (§5.5) revise a level's status with history; they never stop issuance
within the crediting period (see :func:`may_continue_issuance`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import Enum
from fractions import Fraction
from typing import Iterable, Mapping, Sequence

import numpy_financial as npf

from registry.domain.numbers import exact

Number = Decimal | int | str | Fraction

#: §5.4.3.1 Option I: the common practice share shall be lower than 20 %.
COMMON_PRACTICE_LIMIT = Fraction(20, 100)
#: §5.4.3.1 Option II: market penetration shall be lower than 5 %.
MARKET_PENETRATION_LIMIT = Fraction(5, 100)
#: §5.4.4.2: 4b applies when non-carbon gross annual revenue does not exceed 5 % of CAPEX.
LEVEL_4B_REVENUE_LIMIT = Fraction(5, 100)
#: §5.5.4.1: deviations above 15 % from the ex-ante value need an explanation.
DEVIATION_EXPLANATION_LIMIT = Fraction(15, 100)
#: §5.4.4.1: sensitivity "within a reasonable range (e.g. ±10% to ±30%)".
DEFAULT_SENSITIVITY = (-30, -20, -10, 10, 20, 30)
#: §5.4.4.1: parameters that shall be disclosed for level 4a.
REQUIRED_4A_PARAMETERS = ("capex", "opex", "non_carbon_revenue", "discount_rate")


class Level(str, Enum):
    L1 = "1"  # GHG emissions additionality, §5.4.1
    L2A = "2a"  # statutory: not mandated by law, §5.4.2
    L2B = "2b"  # statutory: activity required by law or regulation (seed 003 §4.1)
    L3 = "3"  # technology, institutional or common practice, §5.4.3
    L4A = "4a"  # financial: investment analysis, §5.4.4.1
    L4B = "4b"  # financial: simple cost analysis, §5.4.4.2
    L5 = "5"  # policy, §5.4.5


class Level3Method(str, Enum):
    common_practice_option_i = "common practice, Option I (comparable activity)"
    common_practice_option_ii = "common practice, Option II (market penetration)"
    first_of_its_kind = "first of its kind (CDM Tool 23)"
    barrier_analysis = "barrier analysis"


class LevelStatus(str, Enum):
    demonstrated = "demonstrated"
    revised = "revised: no longer met"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A failed requirement: rule id, seed 002 section, what is wrong, and the field."""

    rule: str
    section: str
    detail: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.rule} (seed 002 {self.section}): {self.detail}"


class AdditionalityError(ValueError):
    """One or more :class:`Problem`; ``rule``/``section``/``field`` are the first one's."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        first = self.problems[0]
        self.rule, self.section, self.field = first.rule, first.section, first.field
        super().__init__("; ".join(str(p) for p in self.problems))


def _raise_if(problems: Sequence[Problem]) -> None:
    if problems:
        raise AdditionalityError(problems)


def _exact(value: Number | float, name: str) -> Fraction:
    """An exact rational (see :func:`numbers.exact`); a non-number is a §5.2 problem naming the field."""
    try:
        return exact(value)
    except ValueError as exc:
        raise AdditionalityError([Problem("number", "§5.2", str(exc), name)]) from None


def _percent(share: Fraction) -> Decimal:
    """The share in percent for display, two decimals, halves rounded away from zero (3.125 -> 3.13).
    Thresholds never use this: they compare the exact fractions. Computed with as many digits as
    the share needs (the default context's 28 would overflow the two decimals of a huge share)."""
    with localcontext() as ctx:
        ctx.prec = len(str(abs(share.numerator) // share.denominator)) + 30
        return (Decimal(share.numerator) * 100 / Decimal(share.denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)


# --------------------------------------------------------------------------------------------
# Ex-ante data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A data source: reference, issuing authority and publication date (§5.4.3.1, §5.2)."""

    reference: str
    authority: str
    published_on: date | None = None


@dataclass(frozen=True)
class Parameter:
    """A disclosed ex-ante parameter (§5.4.4.1: name, value, source with date and reference,
    rationale for selection, industry benchmark)."""

    name: str
    value: Decimal
    unit: str
    source: Source
    rationale: str
    benchmark: str = ""


def disclosure_problems(parameters: Iterable[Parameter]) -> tuple[Problem, ...]:
    """What §5.4.4.1 still needs: CAPEX, OPEX, non-carbon revenue and discount rate, each
    with a value, a dated source, a rationale and an industry benchmark."""
    by_name = {p.name: p for p in parameters}
    out = []
    for name in REQUIRED_4A_PARAMETERS:
        p = by_name.get(name)
        if p is None:
            out.append(Problem("4a-disclosure", "§5.4.4.1", "not disclosed", f"parameters.{name}"))
            continue
        if not p.source.reference.strip() or p.source.published_on is None:
            out.append(Problem("4a-disclosure", "§5.4.4.1", "source needs a reference and a date",
                               f"parameters.{name}.source"))
        if not p.rationale.strip():
            out.append(Problem("4a-disclosure", "§5.4.4.1", "rationale missing", f"parameters.{name}.rationale"))
        if not p.benchmark.strip():
            out.append(Problem("4a-disclosure", "§5.4.4.1", "industry benchmark missing",
                               f"parameters.{name}.benchmark"))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Calculators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommonPracticeResult:
    """§5.4.3.1 Option I: F = 1 - N_diff / N_all, the share of comparable activities that use
    the project's technology. Passes when F < 20 %. With no comparable activity (N_all = 0)
    the project is first of its kind and F = 0."""

    n_all: int
    n_diff: int
    share: Fraction
    passes: bool

    @property
    def percent(self) -> Decimal:
        return _percent(self.share)


def common_practice_option_i(n_all: int, n_diff: int) -> CommonPracticeResult:
    """Comparable activity analysis (§5.4.3.1 I). ``n_all``: comparable activities in year y
    and area i; ``n_diff``: those using a different technology."""
    problems = []
    for name, value in (("n_all", n_all), ("n_diff", n_diff)):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(Problem("common-practice", "§5.4.3.1", f"{value!r} is not a whole number of activities",
                                    name))
    _raise_if(problems)
    if n_all < 0:
        problems.append(Problem("common-practice", "§5.4.3.1", "cannot be negative", "n_all"))
    if not 0 <= n_diff <= max(n_all, 0):
        problems.append(Problem("common-practice", "§5.4.3.1", f"{n_diff} is not between 0 and N_all", "n_diff"))
    _raise_if(problems)
    share = Fraction(0) if n_all == 0 else 1 - Fraction(n_diff, n_all)
    return CommonPracticeResult(n_all, n_diff, share, share < COMMON_PRACTICE_LIMIT)


@dataclass(frozen=True)
class MarketPenetrationResult:
    """§5.4.3.1 Option II: P = adoption / maximum adoption potential; passes when P < 5 %."""

    adoption: Fraction
    potential: Fraction
    share: Fraction
    passes: bool

    @property
    def percent(self) -> Decimal:
        return _percent(self.share)


def market_penetration_option_ii(adoption: Number, max_adoption_potential: Number) -> MarketPenetrationResult:
    """Market penetration analysis (§5.4.3.1 II), in units, capacity or output alike."""
    a, m = _exact(adoption, "adoption"), _exact(max_adoption_potential, "max_adoption_potential")
    problems = []
    if a < 0:
        problems.append(Problem("market-penetration", "§5.4.3.1", "cannot be negative", "adoption"))
    if m <= 0:
        problems.append(Problem("market-penetration", "§5.4.3.1", "must be positive", "max_adoption_potential"))
    _raise_if(problems)
    share = a / m
    return MarketPenetrationResult(a, m, share, share < MARKET_PENETRATION_LIMIT)


@dataclass(frozen=True)
class Level4bApplicability:
    """§5.4.4.2 / §5.5.4.2: 4b applies when non-carbon gross annual revenue <= 5 % of CAPEX."""

    revenue: Fraction
    capex: Fraction
    share: Fraction
    applicable: bool

    @property
    def percent(self) -> Decimal:
        return _percent(self.share)


def level_4b_applicability(non_carbon_gross_annual_revenue: Number, capex: Number) -> Level4bApplicability:
    """Whether a simple cost analysis may replace the investment analysis (§5.4.4.2)."""
    r, c = _exact(non_carbon_gross_annual_revenue, "non_carbon_gross_annual_revenue"), _exact(capex, "capex")
    problems = []
    if r < 0:
        problems.append(Problem("4b-applicability", "§5.4.4.2", "cannot be negative", "non_carbon_gross_annual_revenue"))
    if c <= 0:
        problems.append(Problem("4b-applicability", "§5.4.4.2", "must be positive", "capex"))
    _raise_if(problems)
    share = r / c
    return Level4bApplicability(r, c, share, share <= LEVEL_4B_REVENUE_LIMIT)


@dataclass(frozen=True)
class FinancialModel:
    """A level 4a model without any ICC revenue or ICC transaction cost (§5.4.4.1): CAPEX at
    year 0, then ``lifetime_years`` years of non-carbon revenue minus OPEX, plus an optional
    residual value in the last year. ``discount_rate`` is a fraction (0.08 for 8 %)."""

    capex: Decimal
    annual_opex: Decimal
    annual_revenue: Decimal  # non-carbon revenue only
    lifetime_years: int
    discount_rate: Decimal
    residual_value: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.lifetime_years, int) or isinstance(self.lifetime_years, bool) or self.lifetime_years < 1:
            problems.append(Problem("4a-model", "§5.4.4.1", "at least one whole year", "lifetime_years"))
        values = {name: _exact(getattr(self, name), name)
                  for name in ("capex", "annual_opex", "annual_revenue", "discount_rate", "residual_value")}
        if values["capex"] <= 0:
            problems.append(Problem("4a-model", "§5.4.4.1", "CAPEX must be positive", "capex"))
        for name in ("annual_opex", "annual_revenue", "residual_value"):
            if values[name] < 0:
                problems.append(Problem("4a-model", "§5.4.4.1", "cannot be negative", name))
        if values["discount_rate"] < 0:
            problems.append(Problem("4a-model", "§5.4.4.1", "a discount rate is a non-negative fraction "
                                    "(0.08 for 8 %)", "discount_rate"))
        _raise_if(problems)

    def cash_flows(self) -> list[float]:
        yearly = float(self.annual_revenue) - float(self.annual_opex)
        flows = [-float(self.capex)] + [yearly] * self.lifetime_years
        flows[-1] += float(self.residual_value)
        return flows


@dataclass(frozen=True)
class InvestmentResult:
    """NPV at the discount rate and IRR (None when the flows have no IRR). The project is
    financially additional when the NPV is negative, i.e. it is not viable without ICC
    revenue (benchmark approach of the investment analysis tools §5.4.4.1 refers to)."""

    npv: float
    irr: float | None

    @property
    def additional(self) -> bool:
        return self.npv < 0


def npv_irr(cash_flows: Sequence[float], discount_rate: float) -> InvestmentResult:
    """NPV (first flow at year 0, undiscounted) and IRR of explicit yearly cash flows."""
    flows = [float(f) for f in cash_flows]
    problems = []
    if not flows or not all(math.isfinite(f) for f in flows):
        problems.append(Problem("4a-model", "§5.4.4.1", "at least one finite cash flow", "cash_flows"))
    if not math.isfinite(float(discount_rate)) or float(discount_rate) <= -1:
        problems.append(Problem("4a-model", "§5.4.4.1", "the discount rate must be above -100 %", "discount_rate"))
    _raise_if(problems)
    npv = float(npf.npv(float(discount_rate), flows))
    irr = float(npf.irr(flows))
    return InvestmentResult(npv, None if math.isnan(irr) else irr)


def investment_analysis(model: FinancialModel) -> InvestmentResult:
    """Level 4a investment analysis (§5.4.4.1), or its ex-post recalculation with actual
    values (§5.5.4.1)."""
    return npv_irr(model.cash_flows(), float(model.discount_rate))


@dataclass(frozen=True)
class SensitivityRow:
    parameter: str  # capex, opex, revenue or discount_rate
    variation: int  # percent
    result: InvestmentResult


_SENSITIVITY_FIELDS = {"capex": "capex", "opex": "annual_opex", "revenue": "annual_revenue",
                       "discount_rate": "discount_rate"}


def sensitivity_analysis(model: FinancialModel,
                         variations: Sequence[int] = DEFAULT_SENSITIVITY) -> tuple[SensitivityRow, ...]:
    """Vary CAPEX, OPEX, revenue and the cost of capital by each of ``variations`` percent
    (§5.4.4.1: at least these four, e.g. ±10 % to ±30 %)."""
    bad = [v for v in variations if not isinstance(v, int) or isinstance(v, bool) or v == 0 or not -100 < v < 100]
    if not variations or bad:
        _raise_if([Problem("4a-sensitivity", "§5.4.4.1", f"variations must be non-zero percentages "
                           f"between -100 and 100, got {list(variations)}", "variations")])
    rows = []
    for parameter, attr in _SENSITIVITY_FIELDS.items():
        for v in variations:
            varied = replace(model, **{attr: getattr(model, attr) * (100 + v) / 100})
            rows.append(SensitivityRow(parameter, v, investment_analysis(varied)))
    return tuple(rows)


def sensitivity_robust(rows: Iterable[SensitivityRow]) -> bool:
    """True when the project stays financially additional in every sensitivity case."""
    return all(r.result.additional for r in rows)


@dataclass(frozen=True)
class DeviationRow:
    """One line of the §5.5.4.1 summary: parameter, ex-ante, actual, deviation, explanation.
    ``deviation`` is (actual - ex-ante) / |ex-ante|; None when the ex-ante value is zero."""

    name: str
    ex_ante: Fraction
    actual: Fraction
    deviation: Fraction | None
    explanation: str = ""

    @property
    def needs_explanation(self) -> bool:
        if self.deviation is None:
            return self.actual != 0
        return abs(self.deviation) > DEVIATION_EXPLANATION_LIMIT

    @property
    def deviation_percent(self) -> Decimal | None:
        return None if self.deviation is None else _percent(self.deviation)

    @property
    def unexplained(self) -> bool:
        return self.needs_explanation and not self.explanation.strip()


def deviation_table(ex_ante: Mapping[str, Number], actual: Mapping[str, Number],
                    explanations: Mapping[str, str] | None = None) -> tuple[DeviationRow, ...]:
    """Ex-ante against actual values, one row per ex-ante parameter (§5.5.4.1); every ex-ante
    parameter needs an actual value."""
    explanations = explanations or {}
    _raise_if([Problem("4a-ex-post", "§5.5.4.1", "actual value missing", f"actual.{name}")
               for name in ex_ante if name not in actual])
    rows = []
    for name in ex_ante:
        planned, real = _exact(ex_ante[name], f"ex_ante.{name}"), _exact(actual[name], f"actual.{name}")
        deviation = None if planned == 0 else (real - planned) / abs(planned)
        rows.append(DeviationRow(name, planned, real, deviation, explanations.get(name, "")))
    return tuple(rows)


def unexplained_deviations(rows: Iterable[DeviationRow]) -> tuple[Problem, ...]:
    """A problem per deviation above 15 % without an explanation (§5.5.4.1)."""
    return tuple(Problem("deviation-explained", "§5.5.4.1",
                         f"deviation of {r.deviation_percent if r.deviation is not None else 'n/a (ex-ante 0)'} % "
                         "needs an explanation", f"deviations.{r.name}")
                 for r in rows if r.unexplained)


# --------------------------------------------------------------------------------------------
# Claims (ex-ante, §5.4)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class MonitoringPeriod:
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"monitoring period {self.start}..{self.end} ends before it starts")

    def within(self, other: "MonitoringPeriod") -> bool:
        return other.start <= self.start and self.end <= other.end


@dataclass(frozen=True)
class StatusChange:
    """A revision of a level's status by an ex-post report (or the ex-ante claim)."""

    period: MonitoringPeriod | None  # None for the ex-ante claim
    from_status: LevelStatus | None
    to_status: LevelStatus
    reason: str
    report: str  # monitoring report reference
    at: datetime
    actor: str


@dataclass(frozen=True)
class LevelClaim:
    """One claimed level with its ex-ante data and sources (§5.2: full disclosure)."""

    level: Level
    justification: str
    sources: tuple[Source, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    method: Level3Method | None = None
    common_practice: CommonPracticeResult | None = None
    market_penetration: MarketPenetrationResult | None = None
    investment: InvestmentResult | None = None
    sensitivity: tuple[SensitivityRow, ...] = ()
    applicability_4b: Level4bApplicability | None = None
    signed_statement: bool = False  # §5.4.4.1 / §5.4.4.2 financial decision-maker's statement
    status: LevelStatus = LevelStatus.demonstrated
    history: tuple[StatusChange, ...] = ()


def claim_problems(claim: LevelClaim) -> tuple[Problem, ...]:
    """What the ex-ante demonstration of ``claim`` lacks (§5.2, §5.4.1-§5.4.5)."""
    out: list[Problem] = []
    lvl = claim.level
    if not claim.justification.strip():
        out.append(Problem("justification", "§5.2", "sources and justifications are disclosed", "justification"))
    if lvl is not Level.L1 and not claim.sources:
        section = {Level.L2A: "§5.4.2", Level.L2B: "§5.4.2", Level.L3: "§5.4.3.1", Level.L4A: "§5.4.4.1",
                   Level.L4B: "§5.4.4.2", Level.L5: "§5.4.5"}[lvl]
        out.append(Problem("sources", section, "at least one referenced source", "sources"))
    if lvl is Level.L3 and claim.method in (Level3Method.common_practice_option_i,
                                             Level3Method.common_practice_option_ii):
        for i, source in enumerate(claim.sources):
            if not source.authority.strip() or source.published_on is None:
                out.append(Problem("sources", "§5.4.3.1", "references to data sources include the publication date "
                                   "and authority", f"sources[{i}]"))
    if lvl is Level.L3:
        if claim.method is None:
            out.append(Problem("level-3-method", "§5.4.3", "choose Option I, Option II, first of its kind or "
                               "barrier analysis", "method"))
        elif claim.method is Level3Method.common_practice_option_i:
            if claim.common_practice is None:
                out.append(Problem("common-practice", "§5.4.3.1", "Option I result missing", "common_practice"))
            elif not claim.common_practice.passes:
                out.append(Problem("common-practice", "§5.4.3.1", f"share {claim.common_practice.percent} % is "
                                   "not lower than 20 %", "common_practice"))
        elif claim.method is Level3Method.common_practice_option_ii:
            if claim.market_penetration is None:
                out.append(Problem("market-penetration", "§5.4.3.1", "Option II result missing", "market_penetration"))
            elif not claim.market_penetration.passes:
                out.append(Problem("market-penetration", "§5.4.3.1", f"penetration "
                                   f"{claim.market_penetration.percent} % is not lower than 5 %", "market_penetration"))
    if lvl is Level.L4A:
        out += disclosure_problems(claim.parameters)
        if claim.investment is None:
            out.append(Problem("4a-investment", "§5.4.4.1", "investment analysis missing", "investment"))
        elif not claim.investment.additional:
            out.append(Problem("4a-investment", "§5.4.4.1", f"NPV {claim.investment.npv:.2f} is not negative "
                               "without ICC revenue", "investment"))
        if not claim.sensitivity:
            out.append(Problem("4a-sensitivity", "§5.4.4.1", "sensitivity analysis missing", "sensitivity"))
    if lvl is Level.L4B:
        if claim.applicability_4b is None:
            out.append(Problem("4b-applicability", "§5.4.4.2", "revenue/CAPEX test missing", "applicability_4b"))
        elif not claim.applicability_4b.applicable:
            out.append(Problem("4b-applicability", "§5.4.4.2", f"non-carbon revenue is "
                               f"{claim.applicability_4b.percent} % of CAPEX, above 5 %", "applicability_4b"))
    if lvl in (Level.L4A, Level.L4B) and not claim.signed_statement:
        out.append(Problem("signed-statement", "§5.4.4", "statement that the investment depends on ICC revenue",
                           "signed_statement"))
    return tuple(out)


@dataclass(frozen=True)
class ProjectAdditionality:
    """A project's claimed levels over its crediting period."""

    project_number: int
    crediting_period: MonitoringPeriod
    claims: tuple[LevelClaim, ...]

    @property
    def levels(self) -> frozenset[Level]:
        """Claimed levels, e.g. for ``article6.ProjectFacts.additionality_levels``."""
        return frozenset(c.level for c in self.claims)

    def claim(self, level: Level) -> LevelClaim:
        for c in self.claims:
            if c.level is level:
                return c
        raise AdditionalityError([Problem("level-claimed", "§5.2", f"level {level.value} is not claimed", "level")])


def register_claims(project_number: int, crediting_period: MonitoringPeriod, claims: Iterable[LevelClaim],
                    at: datetime, actor: str) -> ProjectAdditionality:
    """Validate the ex-ante claims (§5.4) and start each level's history as demonstrated.

    Level 1 is always claimed (§5.4.1); level 2 is 2a or 2b, level 4 is 4a or 4b."""
    claims = tuple(claims)
    levels = [c.level for c in claims]
    problems: list[Problem] = []
    if Level.L1 not in levels:
        problems.append(Problem("level-1-required", "§5.4.1", "GHG emission additionality is fundamental", "claims"))
    for level in dict.fromkeys(levels):  # first-claimed order: the first problem is reproducible
        if levels.count(level) > 1:
            problems.append(Problem("one-claim-per-level", "§5.2", f"level {level.value} claimed twice", "claims"))
    for a, b in ((Level.L2A, Level.L2B), (Level.L4A, Level.L4B)):
        if a in levels and b in levels:
            problems.append(Problem("one-variant", "§5.2", f"claim {a.value} or {b.value}, not both", "claims"))
    for c in claims:
        problems += [replace(p, field=f"claims[{c.level.value}].{p.field}") for p in claim_problems(c)]
    _raise_if(problems)
    started = tuple(replace(c, status=LevelStatus.demonstrated,
                            history=(StatusChange(None, None, LevelStatus.demonstrated, "ex-ante demonstration",
                                                  "", at, actor),))
                    for c in claims)
    return ProjectAdditionality(project_number, crediting_period, started)


# --------------------------------------------------------------------------------------------
# Ex-post reports (§5.5)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExPostReport:
    """A level's ex-post report for one monitoring period (§5.5.1-§5.5.5).

    ``still_met`` is the reviewed conclusion; where a calculator result is given (recreated
    common practice analysis, recomputed NPV, 4b test) that result decides and a contrary
    ``still_met=True`` is refused."""

    level: Level
    period: MonitoringPeriod
    report: str  # monitoring report reference
    summary: str
    sources: tuple[Source, ...] = ()
    still_met: bool | None = None
    common_practice: CommonPracticeResult | None = None
    market_penetration: MarketPenetrationResult | None = None
    deviations: tuple[DeviationRow, ...] = ()
    investment: InvestmentResult | None = None
    applicability_4b: Level4bApplicability | None = None


_EX_POST_SECTION = {Level.L1: "§5.5.1", Level.L2A: "§5.5.2", Level.L2B: "§5.5.2", Level.L3: "§5.5.3",
                    Level.L4A: "§5.5.4.1", Level.L4B: "§5.5.4.2", Level.L5: "§5.5.5"}


def assess_ex_post(claim: LevelClaim, report: ExPostReport) -> tuple[bool, str]:
    """Whether the level is still met after ``report``, and why; raises
    :class:`AdditionalityError` if the report is incomplete (§5.5)."""
    section = _EX_POST_SECTION[report.level]
    problems: list[Problem] = []
    findings: list[tuple[bool, str]] = []
    if report.level in (Level.L2A, Level.L2B, Level.L3, Level.L5) and not report.sources:
        problems.append(Problem("ex-post-sources", section, "references to official or independent sources",
                                "sources"))
    if report.level is Level.L3 and claim.method is Level3Method.common_practice_option_i:
        if report.common_practice is None:
            problems.append(Problem("ex-post-recreated", "§5.5.3.1", "recreate the Option I analysis",
                                    "common_practice"))
        else:
            findings.append((report.common_practice.passes, f"common practice share {report.common_practice.percent} %"))
    if report.level is Level.L3 and claim.method is Level3Method.common_practice_option_ii:
        if report.market_penetration is None:
            problems.append(Problem("ex-post-recreated", "§5.5.3.1", "recreate the Option II analysis",
                                    "market_penetration"))
        else:
            findings.append((report.market_penetration.passes,
                             f"market penetration {report.market_penetration.percent} %"))
    if report.level is Level.L4A:
        names = {p.name for p in claim.parameters}
        missing = sorted(names - {r.name for r in report.deviations})
        if missing:
            problems.append(Problem("ex-post-actuals", "§5.5.4.1", f"actual values missing for {missing}",
                                    "deviations"))
        problems += unexplained_deviations(report.deviations)
        if report.investment is None:
            problems.append(Problem("ex-post-recalculated", "§5.5.4.1", "recalculate NPV and IRR with actual data",
                                    "investment"))
        else:
            findings.append((report.investment.additional, f"actual NPV {report.investment.npv:.2f} without ICC "
                             "revenue" + ("" if report.investment.additional else ": viable without ICCs")))
    if report.level is Level.L4B:
        if report.applicability_4b is None:
            problems.append(Problem("ex-post-recalculated", "§5.5.4.2", "revenue/CAPEX with actual values",
                                    "applicability_4b"))
        else:
            findings.append((report.applicability_4b.applicable,
                             f"non-carbon revenue {report.applicability_4b.percent} % of CAPEX"))
    # Where a recalculation decides (Option I/II, 4a, 4b) a missing one is the problem, and a
    # stated conclusion could not replace it; elsewhere the reviewed conclusion is required.
    calculated = report.level in (Level.L4A, Level.L4B) or (report.level is Level.L3 and claim.method in (
        Level3Method.common_practice_option_i, Level3Method.common_practice_option_ii))
    if not calculated and report.still_met is None:
        problems.append(Problem("ex-post-conclusion", section, "state whether the level is still met", "still_met"))
    if report.still_met is True and not all(ok for ok, _ in findings):
        problems.append(Problem("ex-post-conclusion", section, "still_met contradicts the recalculated analysis",
                                "still_met"))
    _raise_if(problems)
    met = all(ok for ok, _ in findings) and report.still_met is not False
    reasons = [text for _, text in findings] + ([report.summary] if report.summary else [])
    return met, "; ".join(reasons)


def apply_ex_post_report(project: ProjectAdditionality, report: ExPostReport, at: datetime,
                         actor: str) -> ProjectAdditionality:
    """Revise the reported level's status from ``report`` and append it to the history (§5.5).

    Reports come one per level and monitoring period, in order, within the crediting period.
    A level no longer met is *revised*, shown as such, and may be demonstrated again by a
    later report; issuance is not affected (see :func:`may_continue_issuance`)."""
    claim = project.claim(report.level)
    section = _EX_POST_SECTION[report.level]
    last = next((h.period for h in reversed(claim.history) if h.period is not None), None)
    problems = []
    if not report.period.within(project.crediting_period):
        problems.append(Problem("within-crediting-period", section, "the monitoring period lies outside the "
                                "crediting period", "period"))
    if last is not None and report.period.start <= last.end:
        problems.append(Problem("one-report-per-period", section, f"a report up to {last.end} exists already",
                                "period"))
    _raise_if(problems)
    met, reason = assess_ex_post(claim, report)
    new = LevelStatus.demonstrated if met else LevelStatus.revised
    change = StatusChange(report.period, claim.status, new, reason, report.report, at, actor)
    revised = replace(claim, status=new, history=claim.history + (change,))
    return replace(project, claims=tuple(revised if c.level is report.level else c for c in project.claims))


#: §5.5: "Ex-post reporting of additionality shall not affect the eligibility of projects
#: to continue issuance within their crediting period."
EX_POST_REPORTS_STOP_ISSUANCE = False


def may_continue_issuance(project: ProjectAdditionality, monitoring_period: MonitoringPeriod) -> bool:
    """Whether additionality lets the project issue for ``monitoring_period``: yes whenever it
    lies within the crediting period, whatever the levels' ex-post statuses (§5.5)."""
    return monitoring_period.within(project.crediting_period)


def levels_to_review_at_renewal(project: ProjectAdditionality) -> tuple[Level, ...]:
    """Levels revised by ex-post reports, whose ex-ante assumptions are reviewed when the
    crediting period is renewed (§6)."""
    return tuple(c.level for c in project.claims if c.status is LevelStatus.revised)
