"""Monitoring periods, verifications and double issuance (registry.domain.monitoring): each
refusal in a rule table, naming its rule and section, and what is allowed."""

from datetime import date

import pytest

from registry.domain import monitoring as mon
from registry.domain.article6.letters import Period
from registry.domain.enums import IssuanceKind
from registry.domain.lifecycle import LifecycleError

POST, ANTE = IssuanceKind.ex_post, IssuanceKind.ex_ante
TODAY = date(2026, 12, 7)
JAN, FEB, H1, YEAR = (Period(date(2023, 1, 1), date(2023, 1, 31)), Period(date(2023, 2, 1), date(2023, 2, 28)),
                      Period(date(2023, 1, 1), date(2023, 6, 30)), Period(date(2023, 1, 1), date(2023, 12, 31)))
VR = mon.Verification("VR-2023", "VVB hf.", date(2024, 3, 1))


def standard(i, period, kind=POST, verified=()):
    return mon.IssuedPeriod(i, kind, False, period, tuple(verified))


def article6(i, period):
    return mon.IssuedPeriod(i, POST, True, period)


@pytest.mark.parametrize("call, rule, field, section", [
    (lambda: mon.monitoring_period(None, date(2023, 1, 31), 2023), "monitoring-period-recorded", "monitoring_start",
     "seed 004 criterion 7(a)"),
    (lambda: mon.monitoring_period(date(2023, 1, 1), None, 2023), "monitoring-period-recorded", "monitoring_end",
     "seed 004 criterion 7(a)"),
    (lambda: mon.monitoring_period(date(2023, 2, 1), date(2023, 1, 31), 2023), "monitoring-period-ordered",
     "monitoring_end", "seed 004 criterion 7(a)"),
    (lambda: mon.monitoring_period(date(2022, 7, 1), date(2023, 6, 30), 2023), "monitoring-period-within-one-year",
     "monitoring_end", "seed 003 §4"),
    # a 2019 period cannot be issued as vintage 2021 (reproduction 1 of issue 16)
    (lambda: mon.monitoring_period(date(2019, 1, 1), date(2019, 12, 31), 2021), "vintage-is-monitoring-year",
     "vintage", "seed 003 §4"),
    (lambda: mon.check_verification(POST, YEAR, None, TODAY), "ex-post-verified", "verification_reference",
     "seed 004 criterion 3"),
    (lambda: mon.check_verification(ANTE, YEAR, VR, TODAY), "ex-ante-unverified", "verification_reference",
     "seed 004 criterion 3"),
    (lambda: mon.check_verification(POST, YEAR, mon.Verification(" ", "VVB", date(2024, 1, 1)), TODAY),
     "ex-post-verified", "verification_reference", "seed 004 criterion 3"),
    (lambda: mon.check_verification(POST, YEAR, mon.Verification("VR", "", date(2024, 1, 1)), TODAY),
     "ex-post-verified", "verification_body", "seed 004 criterion 3"),
    (lambda: mon.check_verification(POST, YEAR, mon.Verification("VR", "VVB", date(2023, 12, 30)), TODAY),
     "verified-after-period", "verified_on", "seed 004 criterion 3"),
    (lambda: mon.check_verification(POST, YEAR, mon.Verification("VR", "VVB", date(2026, 12, 8)), TODAY),
     "verification-not-in-future", "verified_on", "seed 004 criterion 3"),
    (lambda: mon.check_no_double_issuance(FEB, kind=POST, article6=False, earlier=[standard(1, YEAR)]),
     "no-double-issuance", "monitoring_start", "seed 004 criterion 7(a), seed 003 §II.1"),
    (lambda: mon.check_no_double_issuance(YEAR, kind=POST, article6=True, earlier=[article6(1, JAN)]),
     "no-double-issuance", "monitoring_start", "seed 004 criterion 7(a)"),
    (lambda: mon.check_no_double_issuance(YEAR, kind=ANTE, article6=False, earlier=[standard(1, FEB)]),
     "no-double-issuance", "monitoring_start", "seed 004 criterion 7(a)"),
    # Article 6.2 ICCs over standard ICCs only by the §I.12 conversion (reproduction 1)
    (lambda: mon.check_no_double_issuance(YEAR, kind=POST, article6=True, earlier=[standard(1, YEAR)]),
     "article6-by-conversion-only", "monitoring_start", "seed 003 §I.12"),
    # the excess over an ex-ante prediction names the conversion's verification, for its period only
    (lambda: mon.check_no_double_issuance(FEB, kind=POST, article6=False, verification_reference="VR-other",
                                          earlier=[standard(1, H1, ANTE, [(FEB, "VR-feb")])]),
     "no-double-issuance", "monitoring_start", "seed 004 criterion 7(a)"),
    (lambda: mon.check_no_double_issuance(H1, kind=POST, article6=False, verification_reference="VR-feb",
                                          earlier=[standard(1, H1, ANTE, [(FEB, "VR-feb")])]),
     "no-double-issuance", "monitoring_start", "seed 004 criterion 7(a)"),
    (lambda: mon.check_no_double_issuance(FEB, kind=POST, article6=True, verification_reference="VR-feb",
                                          earlier=[standard(1, H1, ANTE, [(FEB, "VR-feb")])]),
     "article6-by-conversion-only", "monitoring_start", "seed 003 §I.12"),
    (lambda: mon.check_ex_ante_verification(H1, [], Period(date(2023, 6, 1), date(2023, 7, 31)), VR, TODAY),
     "verified-within-predicted-period", "monitoring_start", "seed 004 criterion 7(a)"),
    (lambda: mon.check_ex_ante_verification(H1, [JAN], Period(date(2023, 1, 31), date(2023, 2, 28)), VR, TODAY),
     "no-double-issuance", "monitoring_start", "seed 004 criterion 7(a)"),
    (lambda: mon.check_ex_ante_verification(H1, [], JAN, mon.Verification("VR", "VVB", date(2023, 1, 30)), TODAY),
     "verified-after-period", "verified_on", "seed 004 criterion 3"),
    (lambda: mon.conversion_sources(FEB, [standard(1, YEAR), article6(2, FEB), standard(3, FEB, ANTE)]),
     "conversion-of-issued-period", "monitoring_start", "seed 003 §I.12"),
])
def test_refusal_names_rule_field_and_section(call, rule, field, section):
    with pytest.raises(LifecycleError) as info:
        call()
    assert (info.value.rule, info.value.field) == (rule, field)
    assert section in info.value.section and f"({rule}, {info.value.section})" in info.value.detail


def test_what_the_rules_allow():
    assert mon.monitoring_period(date(2023, 1, 1), date(2023, 12, 31), 2023) == YEAR
    assert mon.monitoring_period(date(2023, 5, 5), date(2023, 5, 5), 2023) == Period(date(2023, 5, 5), date(2023, 5, 5))
    assert mon.check_verification(ANTE, YEAR, None, TODAY) is None
    assert mon.check_verification(POST, YEAR, mon.Verification(" VR ", " VVB ", date(2023, 12, 31)), TODAY) == \
        mon.Verification("VR", "VVB", date(2023, 12, 31))
    # periods that touch do not overlap; other projects' issuances are not passed in
    mon.check_no_double_issuance(FEB, kind=POST, article6=True, earlier=[standard(1, JAN)])
    mon.check_no_double_issuance(FEB, kind=POST, article6=False, earlier=[])
    # the excess over the prediction: same verification, within the period it verified
    mon.check_no_double_issuance(FEB, kind=POST, article6=False, verification_reference=" VR-feb ",
                                 earlier=[standard(1, H1, ANTE, [(JAN, "VR-jan"), (FEB, "VR-feb")])])
    assert mon.check_ex_ante_verification(H1, [JAN], FEB, VR, TODAY) == VR
    assert mon.conversion_sources(YEAR, [standard(1, YEAR), standard(2, JAN), article6(3, YEAR),
                                         standard(4, YEAR)]) == (1, 4)
