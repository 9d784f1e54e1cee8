"""Additionality rules (seed 002): levels, calculators with their boundaries, claims and
ex-post reports revising a level's status with history."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from fractions import Fraction

import numpy_financial as npf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain import additionality as ad
from registry.domain.additionality import (
    AdditionalityError,
    ExPostReport,
    FinancialModel,
    Level,
    Level3Method,
    LevelClaim,
    LevelStatus,
    MonitoringPeriod,
    Parameter,
    Source,
)

AT = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
CREDITING = MonitoringPeriod(date(2024, 1, 1), date(2033, 12, 31))
P1 = MonitoringPeriod(date(2024, 1, 1), date(2024, 12, 31))
P2 = MonitoringPeriod(date(2025, 1, 1), date(2025, 12, 31))
P3 = MonitoringPeriod(date(2026, 1, 1), date(2026, 12, 31))
SRC = Source("IEA World Energy Outlook 2025, table 3.2", "IEA", date(2025, 10, 1))


def rules(exc: AdditionalityError) -> list[tuple[str, str | None]]:
    return [(p.rule, p.field) for p in exc.problems]


# --------------------------------------------------------------------------------------------
# Option I: common practice share below 20 %
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_all, n_diff, share, passes", [
    (100, 81, Fraction(19, 100), True),   # 19 %: lower than 20 %
    (100, 80, Fraction(20, 100), False),  # exactly 20 % is not lower than 20 %
    (5, 4, Fraction(1, 5), False),        # 20 % again, small numbers
    (1000, 801, Fraction(199, 1000), True),
    (3, 0, Fraction(1), False),           # everyone uses the technology
    (0, 0, Fraction(0), True),            # no comparable activity: first of its kind
])
def test_common_practice_option_i_boundary(n_all, n_diff, share, passes):
    result = ad.common_practice_option_i(n_all, n_diff)
    assert result.share == share and result.passes is passes
    assert result.percent == Decimal(share.numerator * 100) / share.denominator


@pytest.mark.parametrize("n_all, n_diff, field", [
    (-1, 0, "n_all"),
    (10, 11, "n_diff"),
    (10, -1, "n_diff"),
    (10.0, 1, "n_all"),
    (10, True, "n_diff"),
])
def test_common_practice_option_i_refuses_bad_counts(n_all, n_diff, field):
    with pytest.raises(AdditionalityError) as exc:
        ad.common_practice_option_i(n_all, n_diff)
    assert exc.value.rule == "common-practice" and exc.value.field == field
    assert exc.value.section == "§5.4.3.1"


@given(st.integers(1, 10_000), st.data())
def test_common_practice_passes_exactly_below_one_fifth(n_all, data):
    n_diff = data.draw(st.integers(0, n_all))
    result = ad.common_practice_option_i(n_all, n_diff)
    assert result.passes is (5 * (n_all - n_diff) < n_all)


# --------------------------------------------------------------------------------------------
# Option II: market penetration below 5 %
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("adoption, potential, passes", [
    (4, 100, True),
    (5, 100, False),  # exactly 5 % is not lower than 5 %
    (Decimal("4.999"), 100, True),
    ("49.99", "1000", True),
    (0.05, 1, False),  # floats go through their repr: exactly 5 %
    (0, 1, True),
])
def test_market_penetration_option_ii_boundary(adoption, potential, passes):
    result = ad.market_penetration_option_ii(adoption, potential)
    assert result.passes is passes


def test_market_penetration_is_exact():
    result = ad.market_penetration_option_ii("12.5", "400")
    assert result.share == Fraction(1, 32) and result.percent == Decimal("3.13")


@pytest.mark.parametrize("adoption, potential, field", [
    (-1, 100, "adoption"),
    (1, 0, "max_adoption_potential"),
    (1, -5, "max_adoption_potential"),
    ("lots", 100, "adoption"),
    (1, float("nan"), "max_adoption_potential"),
    (True, 100, "adoption"),
])
def test_market_penetration_refusals(adoption, potential, field):
    with pytest.raises(AdditionalityError) as exc:
        ad.market_penetration_option_ii(adoption, potential)
    assert exc.value.field == field


# --------------------------------------------------------------------------------------------
# Level 4b applicability: non-carbon revenue at most 5 % of CAPEX
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("revenue, capex, applicable", [
    (50_000, 1_000_000, True),   # exactly 5 %: "does not exceed" includes it
    (50_001, 1_000_000, False),
    (49_999, 1_000_000, True),
    (0, 1, True),
    (Decimal("5.00"), Decimal("100"), True),
    (Decimal("5.01"), Decimal("100"), False),
])
def test_level_4b_applicability_boundary(revenue, capex, applicable):
    result = ad.level_4b_applicability(revenue, capex)
    assert result.applicable is applicable


@pytest.mark.parametrize("revenue, capex, field", [
    (-1, 100, "non_carbon_gross_annual_revenue"),
    (1, 0, "capex"),
    (1, "x", "capex"),
])
def test_level_4b_applicability_refusals(revenue, capex, field):
    with pytest.raises(AdditionalityError) as exc:
        ad.level_4b_applicability(revenue, capex)
    assert exc.value.rule in ("4b-applicability", "number") and exc.value.field == field


# --------------------------------------------------------------------------------------------
# Level 4a: NPV and IRR with numpy-financial, sensitivity
# --------------------------------------------------------------------------------------------


def model(**changes) -> FinancialModel:
    base = FinancialModel(capex=Decimal(1000), annual_opex=Decimal(100), annual_revenue=Decimal(300),
                          lifetime_years=5, discount_rate=Decimal("0.10"))
    return replace(base, **changes)


def test_npv_irr_known_values():
    # numpy-financial's documented examples
    r = ad.npv_irr([-100, 39, 59, 55, 20], 0.281)
    assert r.irr == pytest.approx(0.28095, abs=1e-5)
    assert r.npv == pytest.approx(-0.0085, abs=1e-4)
    assert ad.npv_irr([-40_000, 5_000, 8_000, 12_000, 30_000], 0.08).npv == pytest.approx(3065.22, abs=0.01)
    # one period at 10 %: IRR 10 %, NPV 0 at 10 %
    simple = ad.npv_irr([-1000, 1100], 0.10)
    assert simple.irr == pytest.approx(0.10) and simple.npv == pytest.approx(0, abs=1e-9)


def test_npv_has_first_flow_at_year_zero():
    # 1000 received in a year at 10 % is worth 909.09 today; year 0 is not discounted
    assert ad.npv_irr([0, 1000], 0.10).npv == pytest.approx(909.0909, abs=1e-4)
    assert ad.npv_irr([1000], 0.10).npv == pytest.approx(1000)


def test_investment_analysis_of_a_model():
    # -1000, then 5 x (300 - 100): NPV at 10 % = -1000 + 200 * 3.790787 = -241.84; IRR exactly 0
    result = ad.investment_analysis(model())
    assert result.npv == pytest.approx(-241.8426, abs=1e-4)
    assert result.irr == pytest.approx(0.0, abs=1e-12)
    assert result.additional  # not viable without ICC revenue
    assert model().cash_flows() == [-1000.0, 200.0, 200.0, 200.0, 200.0, 200.0]


def test_residual_value_lands_in_the_last_year():
    flows = model(residual_value=Decimal(500)).cash_flows()
    assert flows == [-1000.0, 200.0, 200.0, 200.0, 200.0, 700.0]
    result = ad.investment_analysis(model(residual_value=Decimal(500)))
    assert result.npv == pytest.approx(-241.8426 + 500 / 1.1 ** 5, abs=1e-4)
    assert result.npv == pytest.approx(float(npf.npv(0.1, flows)))


def test_viable_project_is_not_financially_additional():
    result = ad.investment_analysis(model(annual_revenue=Decimal(500)))
    assert result.npv > 0 and not result.additional
    # NPV exactly zero (IRR equals the discount rate) is viable too: not additional
    assert not ad.InvestmentResult(0.0, 0.1).additional


def test_irr_is_none_without_a_sign_change():
    assert ad.npv_irr([100, 100], 0.1).irr is None
    assert ad.npv_irr([-100, -100], 0.1).irr is None


@pytest.mark.parametrize("changes, field", [
    ({"lifetime_years": 0}, "lifetime_years"),
    ({"lifetime_years": True}, "lifetime_years"),
    ({"capex": Decimal(0)}, "capex"),
    ({"annual_opex": Decimal(-1)}, "annual_opex"),
    ({"annual_revenue": Decimal(-1)}, "annual_revenue"),
    ({"residual_value": Decimal(-1)}, "residual_value"),
    ({"discount_rate": Decimal("-0.01")}, "discount_rate"),
])
def test_financial_model_refusals(changes, field):
    with pytest.raises(AdditionalityError) as exc:
        model(**changes)
    assert exc.value.rule == "4a-model" and exc.value.field == field


@pytest.mark.parametrize("flows, rate, field", [
    ([], 0.1, "cash_flows"),
    ([-1, float("inf")], 0.1, "cash_flows"),
    ([-1, 2], -1, "discount_rate"),
])
def test_npv_irr_refusals(flows, rate, field):
    with pytest.raises(AdditionalityError) as exc:
        ad.npv_irr(flows, rate)
    assert exc.value.field == field


def test_sensitivity_varies_the_four_parameters():
    rows = ad.sensitivity_analysis(model())
    assert len(rows) == 4 * 6
    assert {r.parameter for r in rows} == {"capex", "opex", "revenue", "discount_rate"}
    by = {(r.parameter, r.variation): r.result for r in rows}
    # CAPEX +10 %: -1100 + 200 * 3.790787
    assert by[("capex", 10)].npv == pytest.approx(-341.8426, abs=1e-4)
    # revenue +30 %: yearly 290
    assert by[("revenue", 30)].npv == pytest.approx(-1000 + 290 * 3.790787, abs=1e-3)
    # discount rate -30 %: 7 %
    assert by[("discount_rate", -30)].npv == pytest.approx(float(npf.npv(0.07, model().cash_flows())))
    assert ad.sensitivity_robust(rows) is False  # +30 % revenue makes it viable
    robust = ad.sensitivity_analysis(model(annual_revenue=Decimal(200)), (-10, 10))
    assert ad.sensitivity_robust(robust)


@pytest.mark.parametrize("variations", [(), (0,), (100,), (-100,), (True,), (10.5,)])
def test_sensitivity_refuses_bad_variations(variations):
    with pytest.raises(AdditionalityError) as exc:
        ad.sensitivity_analysis(model(), variations)
    assert exc.value.rule == "4a-sensitivity" and exc.value.field == "variations"


# --------------------------------------------------------------------------------------------
# Level 4a ex-post deviation table: above 15 % needs an explanation
# --------------------------------------------------------------------------------------------


def test_deviation_table_boundary_at_15_percent():
    rows = ad.deviation_table({"capex": 1000, "opex": 100, "revenue": 200, "rate": "0.08"},
                              {"capex": 1150, "opex": "84.99", "revenue": 200, "rate": "0.0920"})
    by = {r.name: r for r in rows}
    assert by["capex"].deviation == Fraction(15, 100) and not by["capex"].needs_explanation  # exactly 15 %
    assert by["opex"].deviation_percent == Decimal("-15.01") and by["opex"].needs_explanation
    assert by["revenue"].deviation == 0 and not by["revenue"].needs_explanation
    assert by["rate"].deviation == Fraction(15, 100) and not by["rate"].needs_explanation
    problems = ad.unexplained_deviations(rows)
    assert [(p.rule, p.field) for p in problems] == [("deviation-explained", "deviations.opex")]
    assert "-15.01" in problems[0].detail


def test_explained_deviation_passes():
    rows = ad.deviation_table({"capex": 1000}, {"capex": 1500}, {"capex": "steel prices rose 40 %"})
    assert rows[0].deviation_percent == Decimal("50.00") and rows[0].needs_explanation
    assert not rows[0].unexplained and ad.unexplained_deviations(rows) == ()
    blank = ad.deviation_table({"capex": 1000}, {"capex": 1500}, {"capex": "   "})
    assert blank[0].unexplained


def test_deviation_from_a_zero_ex_ante_value():
    rows = ad.deviation_table({"subsidy": 0, "other": 0}, {"subsidy": 10, "other": 0})
    by = {r.name: r for r in rows}
    assert by["subsidy"].deviation is None and by["subsidy"].needs_explanation
    assert not by["other"].needs_explanation
    assert "n/a" in ad.unexplained_deviations(rows)[0].detail


def test_deviation_of_a_negative_ex_ante_value_is_relative_to_its_size():
    (row,) = ad.deviation_table({"net": -100}, {"net": -120})
    assert row.deviation == Fraction(-20, 100) and row.needs_explanation


def test_deviation_table_needs_every_actual_value():
    with pytest.raises(AdditionalityError) as exc:
        ad.deviation_table({"capex": 1, "opex": 2}, {"capex": 1})
    assert rules(exc.value) == [("4a-ex-post", "actual.opex")]
    with pytest.raises(AdditionalityError) as exc:
        ad.deviation_table({"capex": 1}, {"capex": "n/a"})
    assert exc.value.field == "actual.capex"


# --------------------------------------------------------------------------------------------
# Claims (ex-ante)
# --------------------------------------------------------------------------------------------


def param(name: str, value, **changes) -> Parameter:
    base = Parameter(name, Decimal(value), "USD", SRC, "supplier quote", "IRENA cost database 2025")
    return replace(base, **changes)


PARAMS_4A = (param("capex", 1000), param("opex", 100), param("non_carbon_revenue", 300),
             param("discount_rate", "0.10"))


def claim_l1() -> LevelClaim:
    return LevelClaim(Level.L1, "baseline per methodology ICR-M-001")


def claim_l2a() -> LevelClaim:
    return LevelClaim(Level.L2A, "no law requires the activity", (SRC,))


def claim_l3(**changes) -> LevelClaim:
    base = LevelClaim(Level.L3, "technology is rare in Iceland", (SRC,),
                      method=Level3Method.common_practice_option_i,
                      common_practice=ad.common_practice_option_i(100, 90))
    return replace(base, **changes)


def claim_l4a(**changes) -> LevelClaim:
    m = model()
    base = LevelClaim(Level.L4A, "investment analysis without ICC revenue", (SRC,), parameters=PARAMS_4A,
                      investment=ad.investment_analysis(m), sensitivity=ad.sensitivity_analysis(m),
                      signed_statement=True)
    return replace(base, **changes)


def claim_l4b(**changes) -> LevelClaim:
    base = LevelClaim(Level.L4B, "no revenue besides ICCs", (SRC,),
                      applicability_4b=ad.level_4b_applicability(10, 1000), signed_statement=True)
    return replace(base, **changes)


def claim_l5() -> LevelClaim:
    return LevelClaim(Level.L5, "outside the NDC's scope", (SRC,))


def test_complete_claims_have_no_problems():
    for c in (claim_l1(), claim_l2a(), claim_l3(), claim_l4a(), claim_l4b(), claim_l5()):
        assert ad.claim_problems(c) == (), c.level


@pytest.mark.parametrize("claim, expected", [
    (replace(claim_l1(), justification=" "), [("justification", "justification")]),
    (replace(claim_l2a(), sources=()), [("sources", "sources")]),
    (replace(claim_l5(), sources=()), [("sources", "sources")]),
    (claim_l3(method=None), [("level-3-method", "method")]),
    (claim_l3(common_practice=None), [("common-practice", "common_practice")]),
    (claim_l3(common_practice=ad.common_practice_option_i(100, 80)), [("common-practice", "common_practice")]),
    (claim_l3(method=Level3Method.common_practice_option_ii), [("market-penetration", "market_penetration")]),
    (claim_l3(method=Level3Method.common_practice_option_ii, common_practice=None,
              market_penetration=ad.market_penetration_option_ii(5, 100)),
     [("market-penetration", "market_penetration")]),
    (claim_l3(sources=(Source("report", "", date(2025, 1, 1)),)), [("sources", "sources[0]")]),
    (claim_l3(sources=(Source("report", "IEA", None),)), [("sources", "sources[0]")]),
    (claim_l4a(investment=None), [("4a-investment", "investment")]),
    (claim_l4a(investment=ad.investment_analysis(model(annual_revenue=Decimal(500)))),
     [("4a-investment", "investment")]),
    (claim_l4a(sensitivity=()), [("4a-sensitivity", "sensitivity")]),
    (claim_l4a(signed_statement=False), [("signed-statement", "signed_statement")]),
    (claim_l4a(parameters=PARAMS_4A[:3]), [("4a-disclosure", "parameters.discount_rate")]),
    (claim_l4a(parameters=(param("capex", 1000, source=Source("", "x", None)),) + PARAMS_4A[1:]),
     [("4a-disclosure", "parameters.capex.source")]),
    (claim_l4a(parameters=(param("capex", 1000, rationale=""),) + PARAMS_4A[1:]),
     [("4a-disclosure", "parameters.capex.rationale")]),
    (claim_l4a(parameters=(param("capex", 1000, benchmark=""),) + PARAMS_4A[1:]),
     [("4a-disclosure", "parameters.capex.benchmark")]),
    (claim_l4b(applicability_4b=None), [("4b-applicability", "applicability_4b")]),
    (claim_l4b(applicability_4b=ad.level_4b_applicability(51, 1000)), [("4b-applicability", "applicability_4b")]),
    (claim_l4b(signed_statement=False), [("signed-statement", "signed_statement")]),
])
def test_claim_problem_names_rule_and_field(claim, expected):
    assert [(p.rule, p.field) for p in ad.claim_problems(claim)] == expected


def test_barrier_analysis_and_first_of_its_kind_need_no_calculator():
    for method in (Level3Method.barrier_analysis, Level3Method.first_of_its_kind):
        assert ad.claim_problems(claim_l3(method=method, common_practice=None,
                                          sources=(Source("bank letter", "", None),))) == ()


def test_register_claims_starts_each_history():
    project = ad.register_claims(78040, CREDITING, [claim_l1(), claim_l2a(), claim_l3(), claim_l4a()], AT, "vvb")
    assert project.levels == {Level.L1, Level.L2A, Level.L3, Level.L4A}
    for c in project.claims:
        assert c.status is LevelStatus.demonstrated
        assert [(h.from_status, h.to_status, h.period) for h in c.history] == [(None, LevelStatus.demonstrated, None)]
        assert c.history[0].actor == "vvb" and c.history[0].at == AT
    assert project.claim(Level.L3).common_practice.passes


@pytest.mark.parametrize("claims, expected", [
    ([claim_l2a()], [("level-1-required", "claims")]),
    ([claim_l1(), claim_l1()], [("one-claim-per-level", "claims")]),
    ([claim_l1(), claim_l2a(), LevelClaim(Level.L2B, "mandated, not enforced", (SRC,))], [("one-variant", "claims")]),
    ([claim_l1(), claim_l4a(), claim_l4b()], [("one-variant", "claims")]),
    ([claim_l1(), claim_l4b(signed_statement=False)], [("signed-statement", "claims[4b].signed_statement")]),
])
def test_register_claims_refusals(claims, expected):
    with pytest.raises(AdditionalityError) as exc:
        ad.register_claims(78040, CREDITING, claims, AT, "vvb")
    assert rules(exc.value) == expected
    assert exc.value.rule == expected[0][0]


def test_register_claims_reports_duplicates_in_claimed_order():
    claims = [claim_l1(), claim_l3(), claim_l2a(), claim_l3(), claim_l2a()]
    with pytest.raises(AdditionalityError) as exc:
        ad.register_claims(78040, CREDITING, claims, AT, "vvb")
    assert [p.detail for p in exc.value.problems] == ["level 3 claimed twice", "level 2a claimed twice"]


def test_claim_lookup_of_an_unclaimed_level():
    project = ad.register_claims(78040, CREDITING, [claim_l1()], AT, "vvb")
    with pytest.raises(AdditionalityError) as exc:
        project.claim(Level.L5)
    assert exc.value.rule == "level-claimed"


# --------------------------------------------------------------------------------------------
# Ex-post reports revise a level's status with history
# --------------------------------------------------------------------------------------------


def registered():
    return ad.register_claims(78040, CREDITING, [claim_l1(), claim_l2a(), claim_l3(), claim_l4a(), claim_l5()],
                              AT, "vvb")


def at(day: int) -> datetime:
    return datetime(2026, 4, day, tzinfo=timezone.utc)


def test_common_practice_crossing_20_percent_revises_level_3_and_back():
    project = registered()
    r1 = ExPostReport(Level.L3, P1, "MR-2024", "", (SRC,), common_practice=ad.common_practice_option_i(100, 85))
    project = ad.apply_ex_post_report(project, r1, at(1), "vvb")
    assert project.claim(Level.L3).status is LevelStatus.demonstrated
    r2 = ExPostReport(Level.L3, P2, "MR-2025", "uptake after new subsidy", (SRC,),
                      common_practice=ad.common_practice_option_i(100, 80))
    project = ad.apply_ex_post_report(project, r2, at(2), "vvb")
    l3 = project.claim(Level.L3)
    assert l3.status is LevelStatus.revised
    change = l3.history[-1]
    assert (change.from_status, change.to_status, change.period, change.report) == (
        LevelStatus.demonstrated, LevelStatus.revised, P2, "MR-2025")
    assert "20.00 %" in change.reason and "subsidy" in change.reason
    r3 = ExPostReport(Level.L3, P3, "MR-2026", "", (SRC,), common_practice=ad.common_practice_option_i(200, 170))
    project = ad.apply_ex_post_report(project, r3, at(3), "vvb")
    l3 = project.claim(Level.L3)
    assert l3.status is LevelStatus.demonstrated
    assert [(h.from_status, h.to_status) for h in l3.history] == [
        (None, LevelStatus.demonstrated), (LevelStatus.demonstrated, LevelStatus.demonstrated),
        (LevelStatus.demonstrated, LevelStatus.revised), (LevelStatus.revised, LevelStatus.demonstrated)]
    assert ad.levels_to_review_at_renewal(project) == ()
    # other levels are untouched
    assert len(project.claim(Level.L5).history) == 1


def test_market_penetration_at_5_percent_revises_level_3():
    project = ad.register_claims(1, CREDITING, [claim_l1(), claim_l3(
        method=Level3Method.common_practice_option_ii, common_practice=None,
        market_penetration=ad.market_penetration_option_ii(2, 100))], AT, "vvb")
    report = ExPostReport(Level.L3, P1, "MR", "", (SRC,), market_penetration=ad.market_penetration_option_ii(5, 100))
    project = ad.apply_ex_post_report(project, report, at(1), "vvb")
    assert project.claim(Level.L3).status is LevelStatus.revised
    assert ad.levels_to_review_at_renewal(project) == (Level.L3,)


def test_level_4a_report_recomputes_npv_and_needs_explanations():
    project = registered()
    rows = ad.deviation_table({"capex": 1000, "opex": 100, "non_carbon_revenue": 300, "discount_rate": "0.10"},
                              {"capex": 1200, "opex": 100, "non_carbon_revenue": 300, "discount_rate": "0.10"})
    actual = ad.investment_analysis(model(capex=Decimal(1200)))
    report = ExPostReport(Level.L4A, P1, "MR-2024", "", deviations=rows, investment=actual)
    with pytest.raises(AdditionalityError) as exc:
        ad.apply_ex_post_report(project, report, at(1), "vvb")
    assert rules(exc.value) == [("deviation-explained", "deviations.capex")]
    explained = ad.deviation_table({"capex": 1000, "opex": 100, "non_carbon_revenue": 300, "discount_rate": "0.1"},
                                   {"capex": 1200, "opex": 100, "non_carbon_revenue": 300, "discount_rate": "0.1"},
                                   {"capex": "turbine price increase"})
    project = ad.apply_ex_post_report(project, replace(report, deviations=explained), at(1), "vvb")
    l4 = project.claim(Level.L4A)
    assert l4.status is LevelStatus.demonstrated and "-441.84" in l4.history[-1].reason
    # the next period the project turns viable without ICCs: level 4 revised
    viable = ad.investment_analysis(model(annual_revenue=Decimal(600)))
    rows2 = ad.deviation_table({"capex": 1000, "opex": 100, "non_carbon_revenue": 300, "discount_rate": "0.1"},
                               {"capex": 1000, "opex": 100, "non_carbon_revenue": 600, "discount_rate": "0.1"},
                               {"non_carbon_revenue": "heat sales contract"})
    project = ad.apply_ex_post_report(project, ExPostReport(Level.L4A, P2, "MR-2025", "", deviations=rows2,
                                                            investment=viable), at(2), "vvb")
    assert project.claim(Level.L4A).status is LevelStatus.revised
    assert "viable without ICCs" in project.claim(Level.L4A).history[-1].reason


@pytest.mark.parametrize("report, expected", [
    (ExPostReport(Level.L4A, P1, "MR", "", deviations=(), investment=ad.InvestmentResult(-1.0, 0.01)),
     [("ex-post-actuals", "deviations")]),
    (ExPostReport(Level.L4A, P1, "MR", "", deviations=ad.deviation_table(
        {"capex": 1, "opex": 1, "non_carbon_revenue": 1, "discount_rate": 1},
        {"capex": 1, "opex": 1, "non_carbon_revenue": 1, "discount_rate": 1})),
     [("ex-post-recalculated", "investment")]),
    (ExPostReport(Level.L3, P1, "MR", "", (SRC,)), [("ex-post-recreated", "common_practice")]),
    (ExPostReport(Level.L3, P1, "MR", "", ()), [("ex-post-sources", "sources"),
                                                ("ex-post-recreated", "common_practice")]),
    (ExPostReport(Level.L2A, P1, "MR", "no change", (SRC,)), [("ex-post-conclusion", "still_met")]),
    (ExPostReport(Level.L5, P1, "MR", "", (), still_met=True), [("ex-post-sources", "sources")]),
    (ExPostReport(Level.L3, P1, "MR", "", (SRC,), still_met=True,
                  common_practice=ad.common_practice_option_i(10, 5)), [("ex-post-conclusion", "still_met")]),
])
def test_incomplete_ex_post_report_is_refused(report, expected):
    project = registered()
    with pytest.raises(AdditionalityError) as exc:
        ad.apply_ex_post_report(project, report, at(1), "vvb")
    assert rules(exc.value) == expected


def test_statutory_change_revises_level_2_by_conclusion():
    project = registered()
    report = ExPostReport(Level.L2A, P1, "MR", "new regulation mandates the activity", (SRC,), still_met=False)
    project = ad.apply_ex_post_report(project, report, at(1), "vvb")
    l2 = project.claim(Level.L2A)
    assert l2.status is LevelStatus.revised and l2.history[-1].reason == "new regulation mandates the activity"


def test_level_4b_report_over_5_percent_revises():
    project = ad.register_claims(1, CREDITING, [claim_l1(), claim_l4b()], AT, "vvb")
    with pytest.raises(AdditionalityError) as exc:
        ad.apply_ex_post_report(project, ExPostReport(Level.L4B, P1, "MR", ""), at(1), "vvb")
    assert rules(exc.value) == [("ex-post-recalculated", "applicability_4b")]
    ok = ExPostReport(Level.L4B, P1, "MR", "", applicability_4b=ad.level_4b_applicability(50, 1000))
    project = ad.apply_ex_post_report(project, ok, at(1), "vvb")
    assert project.claim(Level.L4B).status is LevelStatus.demonstrated
    over = ExPostReport(Level.L4B, P2, "MR2", "", applicability_4b=ad.level_4b_applicability(51, 1000))
    project = ad.apply_ex_post_report(project, over, at(2), "vvb")
    assert project.claim(Level.L4B).status is LevelStatus.revised


def test_level_1_report_by_conclusion():
    project = ad.apply_ex_post_report(registered(), ExPostReport(Level.L1, P1, "MR", "monitored per methodology",
                                                                 still_met=True), at(1), "vvb")
    assert project.claim(Level.L1).status is LevelStatus.demonstrated


def test_reports_follow_periods_within_the_crediting_period():
    project = registered()
    report = ExPostReport(Level.L2A, P2, "MR", "", (SRC,), still_met=True)
    project = ad.apply_ex_post_report(project, report, at(1), "vvb")
    with pytest.raises(AdditionalityError) as exc:
        ad.apply_ex_post_report(project, replace(report, period=P2), at(2), "vvb")
    assert rules(exc.value) == [("one-report-per-period", "period")]
    with pytest.raises(AdditionalityError) as exc:  # an earlier period after a later one
        ad.apply_ex_post_report(project, replace(report, period=P1), at(2), "vvb")
    assert rules(exc.value) == [("one-report-per-period", "period")]
    outside = MonitoringPeriod(date(2033, 6, 1), date(2034, 5, 31))
    with pytest.raises(AdditionalityError) as exc:
        ad.apply_ex_post_report(project, replace(report, period=outside), at(2), "vvb")
    assert rules(exc.value) == [("within-crediting-period", "period")]
    with pytest.raises(AdditionalityError) as exc:
        ad.apply_ex_post_report(project, ExPostReport(Level.L4B, P3, "MR", "", still_met=True), at(2), "vvb")
    assert exc.value.rule == "level-claimed"


def test_revised_levels_never_stop_issuance_within_the_crediting_period():
    project = ad.apply_ex_post_report(registered(), ExPostReport(
        Level.L2A, P1, "MR", "now mandated", (SRC,), still_met=False), at(1), "vvb")
    assert project.claim(Level.L2A).status is LevelStatus.revised
    assert ad.EX_POST_REPORTS_STOP_ISSUANCE is False
    assert ad.may_continue_issuance(project, P2)
    assert not ad.may_continue_issuance(project, MonitoringPeriod(date(2034, 1, 1), date(2034, 12, 31)))


def test_monitoring_period_must_be_ordered():
    with pytest.raises(ValueError):
        MonitoringPeriod(date(2025, 1, 2), date(2025, 1, 1))
    assert P1.within(CREDITING) and not CREDITING.within(P1)
