"""Article 6.2 domain rules (seed 003): letter life cycle, project status, designation,
conversion, adjustment deposit, CA status, non-CA events, compensation, annual report."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.domain.additionality import Level
from registry.domain.article6.adjustments import (
    CARecord,
    Evidence,
    EvidenceKind,
    Exposure,
    NonCATrigger,
    add_ca_evidence,
    ca_labels,
    ca_reporting_deadline,
    confirm_ca_applied,
    correct_ca_status,
    detect_non_ca_events,
    first_transfer_year,
    non_ca_cutoff,
    open_ca_record,
    record_no_ca,
)
from registry.domain.article6.compensation import (
    CompensationKind,
    CompensationSources,
    add_business_days,
    plan_compensation,
    replacement_lapsed,
)
from registry.domain.article6.designation import (
    Holding,
    Insurance,
    IssuanceFacts,
    Location,
    LossPayee,
    Mechanism,
    ProjectFacts,
    adjustment_deposit,
    check_designation,
    letter_sector_code,
    mechanism_refusals,
    non_permanence_contribution,
    plan_conversion,
    remaining_cap,
    require_designation,
)
from registry.domain.article6.letters import (
    AuthorizedActivity,
    AuthorizedOutcomes,
    AuthorizedUse,
    AuthorizingParty,
    CooperativeApproach,
    FirstTransfer,
    Letter,
    LetterContent,
    LetterStatus,
    MitigationType,
    Period,
    Validity,
    VintageRange,
    amend_letter,
    approve_and_publish,
    authorized_purposes,
    authorized_uses_mask,
    letter_defects,
    receive_letter,
    reduce_letter_scope,
    reject_letter,
    start_review,
    withdraw_letter,
)
from registry.domain.article6.projects import (
    ProjectArticle6,
    ProjectStatus,
    authorize_project,
    decline_authorization,
    reinstate_project,
    request_authorization,
    revoke_authorization,
    suspend_project,
)
from registry.domain.article6.reports import (
    CSV_COLUMNS,
    AnnualReport,
    AuthorizedRecord,
    CancelledRecord,
    CountryYear,
    IssuedRecord,
    RetiredRecord,
    TransferredRecord,
    annual_report,
    authorized_records,
    report_from_dict,
    report_hash,
    report_published_by,
    report_to_csv,
    report_to_json,
)
from registry.domain.article6.rules import Article6Error, DesignationRefused, IllegalTransition, LetterIncomplete
from registry.domain.classes import CAStatus, Purpose
from registry.domain.serials import parse_serial_block

AT = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
ON = date(2026, 3, 10)
PROJECT = 78040


def content(**changes) -> LetterContent:
    base = LetterContent(
        authorizing_party=AuthorizingParty("ISL", "Ministry of Environment", "A. Jónsdóttir", "Director",
                                           "Environment Agency of Iceland", "Reykjavík, +354 000 0000"),
        cooperative_approach=CooperativeApproach(("ISL", "CHE"), "ICR registry", "ISL-CHE bilateral", "CA-1"),
        activity=AuthorizedActivity("Geothermal CO2 mineralization", PROJECT, "Proponent ehf.", "14 CCS",
                                    "ICR-M-001", "ISL"),
        outcomes=AuthorizedOutcomes(MitigationType.removal, VintageRange(2020, 2030),
                                    Period(date(2020, 1, 1), date(2030, 12, 31)), quantity_cap=10_000),
        uses=frozenset({AuthorizedUse.ndc, AuthorizedUse.corsia}),
        validity=Validity(date(2025, 6, 1), date(2025, 7, 1), date(2031, 12, 31)),
        change_terms="The authority notifies ICR in writing without delay.",
        first_transfer=FirstTransfer.use,
        ca_timing="in the year of first transfer",
        accounting_method="multi-year emissions trajectory",
    )
    return replace(base, **changes)


def approved_letter(**changes) -> Letter:
    letter = receive_letter(7, content(**changes), "sha256:abc", AT, "registry-admin")
    letter = start_review(letter, AT, "reviewer")
    return approve_and_publish(letter, AT, "reviewer", authenticity_confirmed=True,
                               published_ref="https://registry.example/letters/7")


def project(**changes) -> ProjectFacts:
    base = ProjectFacts(PROJECT, "ISL", ProjectStatus.authorized, host_country_framework=True,
                        methodology_approved=True, additionality_levels=frozenset({Level.L1, Level.L2A, Level.L3}),
                        sector=14, methodology="ICR-M-001")
    return replace(base, **changes)


def issuance(**changes) -> IssuanceFacts:
    base = IssuanceFacts(vintage=2023, quantity=1000, monitoring_period=Period(date(2023, 1, 1), date(2023, 12, 31)),
                         credit_type="R")
    return replace(base, **changes)


def rules(refusals) -> list[str]:
    return [r.rule.id for r in refusals]


# --------------------------------------------------------------------------------------------
# Letter content and life cycle
# --------------------------------------------------------------------------------------------


def test_complete_letter_has_no_defects():
    assert letter_defects(content()) == ()


@pytest.mark.parametrize("changes, field, section", [
    ({"authorizing_party": AuthorizingParty("isl", "M", "N", "T", "F", "C"),
      "activity": AuthorizedActivity("P", PROJECT, "Prop", "14", "M", "isl")}, "authorizing_party.host_country",
     "§I.1.1"),
    ({"authorizing_party": AuthorizingParty("ISL", " ", "N", "T", "F", "C")}, "authorizing_party.authority",
     "§I.1.2"),
    ({"cooperative_approach": CooperativeApproach((), "ICR")}, "cooperative_approach.participating_parties",
     "§I.2.3"),
    ({"activity": AuthorizedActivity("P", PROJECT, "Prop", "14", "M", "NOR")}, "activity.location_country",
     "§I.3.5"),
    ({"uses": frozenset()}, "uses", "§I.5"),
    ({"uses": frozenset({AuthorizedUse.other})}, "other_uses_description", "§I.5.4"),
    ({"applies_ca": False}, "applies_ca", "§I.6.1"),
    ({"reports_adjustments": False}, "reports_adjustments", "§I.6.2"),
    ({"ca_timing": ""}, "ca_timing", "§I.7.2"),
    ({"validity": Validity(date(2025, 7, 1), date(2025, 6, 1))}, "validity.effective_from", "§I.9.2"),
    ({"change_terms": ""}, "change_terms", "§I.10"),
    ({"authority_legally_empowered": False}, "authority_legally_empowered", "§I.11.1"),
    ({"complies_with_national_framework": False}, "complies_with_national_framework", "§I.11.2"),
])
def test_letter_defect_names_field_and_section(changes, field, section):
    defects = letter_defects(content(**changes))
    assert [(d.field, d.rule.section) for d in defects] == [(field, section)]
    assert defects[0].rule.id == "letter-content"


def test_quantity_cap_must_be_positive():
    c = content(outcomes=replace(content().outcomes, quantity_cap=0))
    assert [d.field for d in letter_defects(c)] == ["outcomes.quantity_cap"]


def test_inverted_ranges_are_rejected():
    with pytest.raises(ValueError):
        VintageRange(2025, 2024)
    with pytest.raises(ValueError):
        Period(date(2025, 1, 2), date(2025, 1, 1))


def test_letter_life_cycle_records_history():
    letter = approved_letter()
    assert letter.status is LetterStatus.approved and letter.in_force
    assert [h.transition for h in letter.history] == ["receive", "start_review", "approve_and_publish"]
    assert letter.history[-1].from_status == "under review"
    assert letter.history[-1].to_status == "approved and published"
    assert letter.published_ref.endswith("/7")


def test_approval_needs_authenticity_and_publication():
    letter = start_review(receive_letter(7, content(), "doc", AT, "x"), AT, "x")
    with pytest.raises(LetterIncomplete) as exc:
        approve_and_publish(letter, AT, "x", authenticity_confirmed=False, published_ref="")
    assert rules(exc.value.refusals) == ["letter-authentic", "letter-approved-and-published"]


def test_approval_of_incomplete_letter_lists_every_defect():
    letter = start_review(receive_letter(7, content(applies_ca=False, change_terms=""), "doc", AT, "x"), AT, "x")
    with pytest.raises(LetterIncomplete) as exc:
        approve_and_publish(letter, AT, "x", authenticity_confirmed=True, published_ref="url")
    assert [r.field for r in exc.value.refusals] == ["applies_ca", "change_terms"]
    assert "letter-content" in str(exc.value) and "§I.6.1" in str(exc.value)


def test_rejection_is_terminal():
    letter = reject_letter(start_review(receive_letter(7, content(), "doc", AT, "x"), AT, "x"),
                           AT, "x", "not authentic")
    assert letter.status is LetterStatus.rejected
    with pytest.raises(IllegalTransition):
        approve_and_publish(letter, AT, "x", authenticity_confirmed=True, published_ref="u")


def _received():
    return receive_letter(7, content(), "doc", AT, "x")


@pytest.mark.parametrize("make, call, transition", [
    (_received, lambda l: approve_and_publish(l, AT, "x", authenticity_confirmed=True, published_ref="u"),
     "approve_and_publish"),
    (_received, lambda l: reject_letter(l, AT, "x", "r"), "reject"),
    (_received, lambda l: amend_letter(l, content(), AT, "x", "n"), "amend"),
    (_received, lambda l: withdraw_letter(l, AT, "x", "n"), "withdraw"),
    (approved_letter, lambda l: start_review(l, AT, "x"), "start_review"),
    (approved_letter, lambda l: reject_letter(l, AT, "x", "r"), "reject"),
    (lambda: withdraw_letter(approved_letter(), AT, "x", "n"), lambda l: amend_letter(l, content(), AT, "x", "n"),
     "amend"),
    (lambda: withdraw_letter(approved_letter(), AT, "x", "n"),
     lambda l: reduce_letter_scope(l, content(), AT, "x", "n"), "reduce_scope"),
    (lambda: withdraw_letter(approved_letter(), AT, "x", "n"), lambda l: withdraw_letter(l, AT, "x", "n"),
     "withdraw"),
])
def test_illegal_letter_transition_names_it(make, call, transition):
    letter = make()
    with pytest.raises(IllegalTransition) as exc:
        call(letter)
    assert exc.value.transition == transition
    assert exc.value.rule.id == "letter-transition"
    assert transition in str(exc.value) and letter.status.value in str(exc.value)


def test_amendment_replaces_content_and_records_changed_fields():
    new = content(uses=frozenset({AuthorizedUse.ndc, AuthorizedUse.corsia, AuthorizedUse.international_mitigation}),
                  outcomes=replace(content().outcomes, quantity_cap=20_000))
    letter = amend_letter(approved_letter(), new, AT, "x", "host country notice 2026-01")
    assert letter.status is LetterStatus.amended and letter.in_force
    assert letter.content.outcomes.quantity_cap == 20_000
    assert set(letter.history[-1].changes) == {"content.outcomes.quantity_cap", "content.uses"}
    again = amend_letter(letter, content(), AT, "x", "second amendment")
    assert again.status is LetterStatus.amended


def test_amendment_cannot_change_project_or_host_country():
    other = content(activity=replace(content().activity, project_number=1))
    with pytest.raises(LetterIncomplete) as exc:
        amend_letter(approved_letter(), other, AT, "x", "n")
    assert rules(exc.value.refusals) == ["letter-same-subject"]


def test_scope_reduction_narrows():
    narrower = content(outcomes=replace(content().outcomes, vintages=VintageRange(2022, 2025), quantity_cap=5000),
                       uses=frozenset({AuthorizedUse.ndc}))
    letter = reduce_letter_scope(approved_letter(), narrower, AT, "x", "n")
    assert letter.status is LetterStatus.scope_reduced and letter.in_force


@pytest.mark.parametrize("changes, field", [
    ({"outcomes": replace(content().outcomes, quantity_cap=10_001)}, "outcomes.quantity_cap"),
    ({"outcomes": replace(content().outcomes, quantity_cap=None)}, "outcomes.quantity_cap"),
    ({"outcomes": replace(content().outcomes, vintages=VintageRange(2019, 2030))}, "outcomes.vintages"),
    ({"outcomes": replace(content().outcomes, crediting_period=Period(date(2020, 1, 1), date(2031, 1, 1)))},
     "outcomes.crediting_period"),
    ({"uses": frozenset({AuthorizedUse.ndc, AuthorizedUse.other}), "other_uses_description": "voluntary"}, "uses"),
])
def test_scope_reduction_refuses_widening(changes, field):
    with pytest.raises(LetterIncomplete) as exc:
        reduce_letter_scope(approved_letter(), content(**changes), AT, "x", "n")
    assert [(r.rule.id, r.field) for r in exc.value.refusals] == [("scope-reduction", field)]


def test_withdrawn_letter_no_longer_authorizes_designation():
    letter = withdraw_letter(approved_letter(), AT, "x", "withdrawn by host country")
    assert letter.status is LetterStatus.withdrawn and not letter.in_force
    assert rules(check_designation(letter, project(), issuance(), designated_so_far=0, on=ON)) == [
        "letter-approved-and-published"]


def test_authorized_uses_map_to_retirement_purposes():
    letter = approved_letter()
    assert authorized_purposes(letter) == {Purpose.ndc, Purpose.corsia}
    assert authorized_uses_mask(letter) == (1 << Purpose.ndc) | (1 << Purpose.corsia)
    # a class's uses start from them (tests/registry/domain/test_article6_uses.py)


# --------------------------------------------------------------------------------------------
# Project status
# --------------------------------------------------------------------------------------------


def test_project_status_life():
    p = request_authorization(ProjectArticle6(PROJECT), AT, "x", "letter 7 received")
    assert p.status is ProjectStatus.authorization_pending
    assert p.status.value == "Article 6.2 authorization pending"
    p = authorize_project(p, approved_letter(), AT, "x")
    assert p.status is ProjectStatus.authorized and p.history[-1].evidence == "letter 7"
    p = suspend_project(p, AT, "x", "non-CA event 2024")
    p = reinstate_project(p, AT, "x", ca_applied_confirmed=True, outstanding_compensation=0, evidence="BTR2")
    assert p.status is ProjectStatus.authorized
    assert [h.transition for h in p.history] == ["request_authorization", "authorize", "suspend", "reinstate"]
    assert revoke_authorization(suspend_project(p, AT, "x", "n"), AT, "x", "withdrawn").status is \
        ProjectStatus.standard
    declined = decline_authorization(request_authorization(ProjectArticle6(1), AT, "x"), AT, "x", "rejected")
    assert declined.status is ProjectStatus.standard


def test_authorization_needs_a_letter_in_force_for_the_project():
    pending = request_authorization(ProjectArticle6(PROJECT), AT, "x")
    under_review = start_review(_received(), AT, "x")
    with pytest.raises(DesignationRefused) as exc:
        authorize_project(pending, under_review, AT, "x")
    assert rules(exc.value.refusals) == ["letter-approved-and-published"]
    other = request_authorization(ProjectArticle6(1), AT, "x")
    with pytest.raises(DesignationRefused) as exc:
        authorize_project(other, approved_letter(), AT, "x")
    assert rules(exc.value.refusals) == ["letter-covers-project"]


def test_reinstatement_requires_rectification():
    p = ProjectArticle6(PROJECT, ProjectStatus.suspended)
    with pytest.raises(DesignationRefused) as exc:
        reinstate_project(p, AT, "x", ca_applied_confirmed=False, outstanding_compensation=12, evidence="")
    assert [r.field for r in exc.value.refusals] == ["ca_applied_confirmed", "outstanding_compensation"]
    assert exc.value.rule.id == "rectified-before-reinstatement"


@pytest.mark.parametrize("status, call, transition", [
    (ProjectStatus.standard, lambda p: suspend_project(p, AT, "x", "n"), "suspend"),
    (ProjectStatus.standard, lambda p: authorize_project(p, approved_letter(), AT, "x"), "authorize"),
    (ProjectStatus.authorized, lambda p: request_authorization(p, AT, "x"), "request_authorization"),
    (ProjectStatus.authorized, lambda p: reinstate_project(p, AT, "x", ca_applied_confirmed=True,
                                                           outstanding_compensation=0, evidence="e"), "reinstate"),
    (ProjectStatus.suspended, lambda p: suspend_project(p, AT, "x", "n"), "suspend"),
    (ProjectStatus.authorization_pending, lambda p: revoke_authorization(p, AT, "x", "n"), "revoke"),
])
def test_illegal_project_transition(status, call, transition):
    with pytest.raises(IllegalTransition) as exc:
        call(ProjectArticle6(PROJECT, status))
    assert exc.value.transition == transition and exc.value.current is status


# --------------------------------------------------------------------------------------------
# Designation (§4.1)
# --------------------------------------------------------------------------------------------


def test_eligible_issuance_has_no_refusals():
    assert check_designation(approved_letter(), project(), issuance(), designated_so_far=0, on=ON) == ()
    require_designation(approved_letter(), project(), issuance(), designated_so_far=0, on=ON)


@pytest.mark.parametrize("project_changes, issuance_changes, rule, field", [
    ({"status": ProjectStatus.suspended}, {}, "project-not-suspended", "project.status"),
    ({"status": ProjectStatus.authorization_pending}, {}, "project-authorized", "project.status"),
    ({"host_country_framework": False}, {}, "host-country-framework", "project.host_country_framework"),
    ({"additionality_levels": frozenset({Level.L1, Level.L2A, Level.L2B})}, {}, "not-additionality-level-2b",
     "project.additionality_levels"),
    # the level 2b gate failed open: no claims at all, or level 2a revised by an ex-post report
    ({"additionality_levels": frozenset()}, {}, "additionality-level-2a-demonstrated", "project.additionality_levels"),
    ({"additionality_levels": frozenset({Level.L1, Level.L3})}, {}, "additionality-level-2a-demonstrated",
     "project.additionality_levels"),
    ({"demonstrated_levels": frozenset({Level.L1, Level.L3})}, {}, "additionality-level-2a-demonstrated",
     "project.additionality_levels"),
    ({"ex_ante_issued_in_crediting_period": True}, {}, "ex-post-only", "project.ex_ante_issued_in_crediting_period"),
    ({"methodology_approved": False}, {}, "approved-methodology", "project.methodology_approved"),
    ({"project_number": 1}, {}, "letter-covers-project", "letter"),
    ({"host_country": "NOR"}, {}, "letter-covers-project", "letter"),
    ({}, {"ex_ante": True}, "ex-post-only", "issuance.ex_ante"),
    ({}, {"quantity": 0}, "whole-tonnes", "issuance.quantity"),
    ({}, {"vintage": 2031, "monitoring_period": Period(date(2030, 1, 1), date(2030, 12, 31))}, "vintage-authorized",
     "issuance.vintage"),
    ({}, {"monitoring_period": Period(date(2030, 7, 1), date(2031, 6, 30))}, "crediting-period-authorized",
     "issuance.monitoring_period"),
    ({}, {"credit_type": "A"}, "mitigation-type-authorized", "issuance.credit_type"),
    # the letter's sector and methodology are the project's (§I.3.4; issue 16 item 6)
    ({"sector": 3}, {}, "letter-sector-matches-project", "letter.activity.sector"),
    ({"sector": None}, {}, "letter-sector-matches-project", "letter.activity.sector"),
    ({"methodology": "ICR-M-002"}, {}, "letter-methodology-matches-project", "letter.activity.methodology"),
    ({"methodology": None}, {}, "letter-methodology-matches-project", "letter.activity.methodology"),
])
def test_each_designation_refusal_names_its_rule(project_changes, issuance_changes, rule, field):
    refusals = check_designation(approved_letter(), project(**project_changes), issuance(**issuance_changes),
                                 designated_so_far=0, on=ON)
    assert [(r.rule.id, r.field) for r in refusals] == [(rule, field)]
    assert refusals[0].rule.section in str(refusals[0])


def test_fractional_tonnes_are_refused():
    refusals = check_designation(approved_letter(), project(), issuance(quantity=1.5), designated_so_far=0, on=ON)
    assert rules(refusals) == ["whole-tonnes"]


def test_vintage_2020_is_refused_and_2021_accepted():
    p2020 = Period(date(2020, 1, 1), date(2020, 12, 31))
    refusals = check_designation(approved_letter(), project(), issuance(vintage=2020, monitoring_period=p2020),
                                 designated_so_far=0, on=ON)
    assert rules(refusals) == ["vintage-from-2021"]
    p2021 = Period(date(2021, 1, 1), date(2021, 12, 31))
    assert check_designation(approved_letter(), project(), issuance(vintage=2021, monitoring_period=p2021),
                             designated_so_far=0, on=ON) == ()


def test_cap_reached_exactly_is_allowed_one_more_is_refused():
    letter = approved_letter()
    assert check_designation(letter, project(), issuance(quantity=1000), designated_so_far=9000, on=ON) == ()
    refusals = check_designation(letter, project(), issuance(quantity=1001), designated_so_far=9000, on=ON)
    assert rules(refusals) == ["quantity-cap"]
    assert remaining_cap(letter, 9000) == 1000 and remaining_cap(letter, 12_000) == 0


def test_letter_without_cap_has_no_quantity_limit():
    letter = approved_letter(outcomes=replace(content().outcomes, quantity_cap=None))
    assert check_designation(letter, project(), issuance(quantity=10**9), designated_so_far=10**9, on=ON) == ()
    assert remaining_cap(letter, 5) is None


@pytest.mark.parametrize("day, ok", [
    (date(2025, 6, 30), False), (date(2025, 7, 1), True), (date(2031, 12, 31), True), (date(2032, 1, 1), False)])
def test_letter_validity_dates(day, ok):
    refusals = check_designation(approved_letter(), project(), issuance(), designated_so_far=0, on=day)
    assert rules(refusals) == ([] if ok else ["letter-valid-on-date"])


def test_crediting_period_boundaries():
    letter = approved_letter()
    edge = Period(date(2030, 1, 1), date(2030, 12, 31))
    assert check_designation(letter, project(), issuance(vintage=2030, monitoring_period=edge),
                             designated_so_far=0, on=ON) == ()


def test_requested_uses_must_be_authorized():
    letter = approved_letter()
    assert check_designation(letter, project(), issuance(), designated_so_far=0, on=ON,
                             uses={AuthorizedUse.corsia}) == ()
    refusals = check_designation(letter, project(), issuance(), designated_so_far=0, on=ON,
                                 uses={AuthorizedUse.corsia, AuthorizedUse.other})
    assert rules(refusals) == ["uses-authorized"] and "other" in refusals[0].detail
    assert rules(check_designation(letter, project(), issuance(), designated_so_far=0, on=ON, uses=set())) == [
        "uses-authorized"]


def test_no_letter_is_refused():
    assert rules(check_designation(None, project(), issuance(), designated_so_far=0, on=ON)) == [
        "letter-approved-and-published"]


def test_letter_under_review_is_refused():
    letter = start_review(_received(), AT, "x")
    assert rules(check_designation(letter, project(), issuance(), designated_so_far=0, on=ON)) == [
        "letter-approved-and-published"]


def test_require_designation_raises_with_every_refusal():
    with pytest.raises(DesignationRefused) as exc:
        require_designation(approved_letter(), project(methodology_approved=False),
                            issuance(ex_ante=True, quantity=20_000), designated_so_far=0, on=ON)
    assert rules(exc.value.refusals) == ["approved-methodology", "ex-post-only", "quantity-cap"]
    assert exc.value.rule.id == "approved-methodology"
    assert "seed 003 §4.1" in str(exc.value) and "quantity-cap" in str(exc.value)


# --------------------------------------------------------------------------------------------
# Conversion (§I.12)
# --------------------------------------------------------------------------------------------


def block(vintage: int, first: int, last: int, *, flag: int = 0, kind: str = "R", project_number: int = PROJECT):
    return parse_serial_block(f"ICR-ISL-354-{project_number}-14-{kind}-{flag}-{vintage}-{first:06d}-{last:06d}")


def holding(b, location=Location.holding, active=True):
    v = b.serialization.vintage
    return Holding(b, location, active, Period(date(v, 1, 1), date(v, 12, 31)))


def test_conversion_excludes_ineligible_and_fills_cap_lowest_serial_first():
    holdings = [
        holding(block(2023, 1, 4000)),
        holding(block(2022, 1, 3000)),
        holding(block(2022, 3001, 3500), Location.bridge_custody),
        holding(block(2022, 3501, 3600), Location.retired),
        holding(block(2023, 4001, 4100), active=False),
        holding(block(2020, 1, 500)),
        holding(block(2021, 1, 100, flag=1)),
        holding(block(2024, 1, 9000)),
    ]
    plan = plan_conversion(approved_letter(), project(), holdings, designated_so_far=2000, on=ON)
    assert [(str(i.block), i.quantity) for i in plan.convert] == [
        ("ICR-ISL-354-78040-14-R-0-2022-000001-003000", 3000),
        ("ICR-ISL-354-78040-14-R-0-2023-000001-004000", 4000),
        ("ICR-ISL-354-78040-14-R-0-2024-000001-009000", 1000),  # cap 10,000 - 2,000 already
    ]
    assert plan.total == 8000
    excluded = {str(b): rules(r) for b, r in plan.excluded}
    assert excluded == {
        "ICR-ISL-354-78040-14-R-0-2020-000001-000500": ["vintage-from-2021"],
        "ICR-ISL-354-78040-14-R-0-2022-003001-003500": ["not-in-bridge-custody"],
        "ICR-ISL-354-78040-14-R-0-2022-003501-003600": ["remaining-active-ex-post"],
        "ICR-ISL-354-78040-14-R-0-2023-004001-004100": ["ex-post-only"],
        "ICR-ISL-354-78040-14-R-1-2021-000001-000100": ["already-article6"],
    }


def test_conversion_after_cap_is_reached_excludes_with_cap_rule():
    plan = plan_conversion(approved_letter(), project(), [holding(block(2023, 1, 10))], designated_so_far=10_000,
                           on=ON)
    assert plan.convert == () and rules(plan.excluded[0][1]) == ["quantity-cap"]


def test_conversion_refused_for_suspended_project():
    with pytest.raises(DesignationRefused) as exc:
        plan_conversion(approved_letter(), project(status=ProjectStatus.suspended), [holding(block(2023, 1, 10))],
                        designated_so_far=0, on=ON)
    assert exc.value.rule.id == "project-not-suspended"


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=8), so_far=st.integers(0, 12_000),
       custody=st.lists(st.booleans(), min_size=8, max_size=8))
def test_conversion_never_exceeds_cap_or_eligible_total(sizes, so_far, custody):
    holdings, start = [], 1
    for i, size in enumerate(sizes):
        b = block(2023, start, start + size - 1)
        holdings.append(holding(b, Location.bridge_custody if custody[i] else Location.holding))
        start += size
    plan = plan_conversion(approved_letter(), project(), holdings, designated_so_far=so_far, on=ON)
    eligible = sum(s for s, c in zip(sizes, custody) if not c)
    assert plan.total == min(eligible, max(0, 10_000 - so_far))
    assert all(0 < i.quantity <= i.block.quantity for i in plan.convert)
    assert len(plan.convert) + len(plan.excluded) == len(holdings)


# --------------------------------------------------------------------------------------------
# Adjustment deposit (§II.3.b)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("issued, pct, deposit", [
    (1000, 7, 70), (1001, 7, 71), (1000, "1.1", 11), (1000, 1.1, 11), (1000, Decimal("2.5"), 25),
    (1, 5, 1), (0, 5, 0), (999, 0, 0), (999, 100, 999)])
def test_adjustment_deposit_rounds_up_to_whole_tonnes(issued, pct, deposit):
    split = adjustment_deposit(issued, pct)
    assert split.deposit == deposit and split.to_proponent == issued - deposit


INSURED = Insurance("Nordic Re hf.", "policy NR-2026-17", True, LossPayee.icr)


@pytest.mark.parametrize("mechanism, rule, section, field", [
    (Mechanism(0), "compensation-mechanism", "§II.3", "adjustment_percentage"),
    (Mechanism("0.000"), "compensation-mechanism", "§II.3", "adjustment_percentage"),
    (Mechanism(0, replace(INSURED, insurer=" ")), "insurance-eligible", "§II.3.a", "insurance.insurer"),
    (Mechanism(0, replace(INSURED, policy="")), "insurance-eligible", "§II.3.a", "insurance.policy"),
    (Mechanism(0, replace(INSURED, investment_grade=False)), "insurance-eligible", "§II.3.a",
     "insurance.investment_grade"),
    (Mechanism(5, None, True, 0), "non-permanence-contribution", "§II.3.b", "non_permanence_percentage"),
    (Mechanism(5, None, False, 3), "non-permanence-contribution", "§II.3.b", "non_permanence_risk"),
    (Mechanism(60, None, True, 50), "non-permanence-contribution", "§II.3.b", "non_permanence_percentage"),
    (Mechanism(5, None, True, 101), "non-permanence-contribution", "§II.3.b", "non_permanence_percentage"),
])
def test_each_compensation_mechanism_refusal_names_its_rule_and_section(mechanism, rule, section, field):
    (refusal,) = mechanism_refusals(mechanism)
    assert (refusal.rule.id, refusal.rule.section, refusal.field) == (rule, section, field)


@pytest.mark.parametrize("mechanism", [
    Mechanism(10), Mechanism(0, INSURED), Mechanism(5, INSURED), Mechanism(10, None, True, 5),
])
def test_accepted_compensation_mechanisms(mechanism):
    assert mechanism_refusals(mechanism) == ()


def test_non_permanence_contribution_rounds_up_within_what_is_left():
    assert non_permanence_contribution(900, 5, 1000) == 50
    assert non_permanence_contribution(900, "0.01", 1000) == 1  # 0.1 t rounds up
    assert non_permanence_contribution(3, 50, 10) == 3


@pytest.mark.parametrize("issued, pct", [(-1, 5), (10, -1), (10, 101), (10, "abc"), (1.5, 5)])
def test_adjustment_deposit_rejects_bad_input(issued, pct):
    with pytest.raises(ValueError):
        adjustment_deposit(issued, pct)


@given(issued=st.integers(0, 10**9), pct=st.decimals(0, 100, places=3))
def test_adjustment_deposit_is_never_short_and_less_than_a_tonne_over(issued, pct):
    split = adjustment_deposit(issued, pct)
    exact = Decimal(issued) * pct / 100
    assert split.deposit >= exact > split.deposit - 1
    assert split.deposit + split.to_proponent == issued and split.to_proponent >= 0


# --------------------------------------------------------------------------------------------
# CA status (§II.2, §IV)
# --------------------------------------------------------------------------------------------

BTR = Evidence(EvidenceKind.ca_applied, "BTR2 table 4, ICR 78040, letter 7", date(2026, 12, 31), 100, 2025)
EXPOSED = (Exposure(2025, 100),)


def test_ca_record_life_and_labels():
    record = open_ca_record(PROJECT, 2023, AT, "x")
    assert record.status is CAStatus.pending and record.label == "Pending CA"
    record = add_ca_evidence(record, Evidence(EvidenceKind.intention, "AEF 2025", date(2026, 4, 1)), AT, "x")
    assert record.status is CAStatus.pending and len(record.evidence) == 1
    record = confirm_ca_applied(record, BTR, AT, "x", EXPOSED)
    assert record.label == "CA applied"
    assert [h.transition for h in record.history] == ["open", "add_evidence", "confirm_applied"]
    assert record.history[-1].evidence == BTR.reference and record.evidence[-1] == BTR


def test_no_ca_by_decision_then_late_confirmation():
    record = record_no_ca(open_ca_record(PROJECT, 2023, AT, "x"), AT, "x", "BTR shows no adjustment")
    assert record.label == "No CA applied"
    assert confirm_ca_applied(record, BTR, AT, "x", EXPOSED).status is CAStatus.applied


def test_ca_confirmation_needs_evidence_of_the_ca():
    with pytest.raises(Article6Error) as exc:
        confirm_ca_applied(open_ca_record(PROJECT, 2023, AT, "x"),
                           Evidence(EvidenceKind.intention, "letter", date(2026, 1, 1)), AT, "x")
    assert exc.value.rule.id == "ca-evidence" and exc.value.field == "evidence.kind"


@pytest.mark.parametrize("status, call, transition", [
    (CAStatus.applied, lambda r: record_no_ca(r, AT, "x", "n"), "record_not_applied"),
    (CAStatus.not_applied, lambda r: record_no_ca(r, AT, "x", "n"), "record_not_applied"),
    (CAStatus.pending, lambda r: correct_ca_status(r, CAStatus.not_applied, FIX, "n", AT, "x"),
     "correct_to_not_applied"),
])
def test_illegal_ca_transition(status, call, transition):
    with pytest.raises(IllegalTransition) as exc:
        call(CARecord(PROJECT, 2023, status))
    assert exc.value.transition == transition


# --------------------------------------------------------------------------------------------
# Non-CA events (§V)
# --------------------------------------------------------------------------------------------


def test_reporting_deadline_and_cutoff():
    assert ca_reporting_deadline(2024) == date(2025, 4, 15)
    assert non_ca_cutoff(2024) == date(2026, 4, 15)


def test_first_transfer_year_follows_the_letters_definition():
    kw = dict(authorized_on=date(2025, 7, 1), issued_on=date(2026, 2, 1), used_on=date(2027, 5, 5))
    assert first_transfer_year(FirstTransfer.authorization, **kw) == 2025
    assert first_transfer_year(FirstTransfer.issuance, **kw) == 2026
    assert first_transfer_year(FirstTransfer.use, **kw) == 2027
    assert first_transfer_year(FirstTransfer.use, **{**kw, "used_on": None}) is None


def test_date_rule_cutoff_day_versus_day_after():
    record = open_ca_record(PROJECT, 2023, AT, "x")
    exposures = [Exposure(2024, 500)]
    assert detect_non_ca_events(record, exposures, date(2026, 4, 15)) == ()
    events = detect_non_ca_events(record, exposures, date(2026, 4, 16))
    assert [(e.first_transfer_year, e.quantity, e.trigger) for e in events] == [(2024, 500, NonCATrigger.date_rule)]
    assert events[0].detected_on == date(2026, 4, 16)


def test_credible_evidence_on_the_cutoff_day_prevents_the_event_a_day_later_does_not():
    record = open_ca_record(PROJECT, 2023, AT, "x")
    on_time = add_ca_evidence(record, Evidence(EvidenceKind.intention, "AEF", date(2026, 4, 15)), AT, "x")
    late = add_ca_evidence(record, Evidence(EvidenceKind.intention, "AEF", date(2026, 4, 16)), AT, "x")
    no_ca = add_ca_evidence(record, Evidence(EvidenceKind.no_ca, "BTR", date(2026, 1, 1)), AT, "x")
    day = date(2026, 6, 1)
    assert detect_non_ca_events(on_time, [Exposure(2024, 5)], day) == ()
    assert len(detect_non_ca_events(late, [Exposure(2024, 5)], day)) == 1
    assert len(detect_non_ca_events(no_ca, [Exposure(2024, 5)], day)) == 1


def test_each_exposure_year_has_its_own_cutoff():
    record = open_ca_record(PROJECT, 2023, AT, "x")
    events = detect_non_ca_events(record, [Exposure(2024, 5), Exposure(2025, 7), Exposure(2023, 0)],
                                  date(2026, 4, 16))
    assert [(e.first_transfer_year, e.quantity) for e in events] == [(2024, 5)]


def test_non_ca_by_decision_and_none_once_applied():
    record = record_no_ca(open_ca_record(PROJECT, 2023, AT, "x"), AT, "x", "decision")
    events = detect_non_ca_events(record, [Exposure(2025, 9)], date(2026, 1, 1))
    assert [e.trigger for e in events] == [NonCATrigger.decision]
    applied = confirm_ca_applied(record, BTR, AT, "x", EXPOSED)
    assert detect_non_ca_events(applied, [Exposure(2025, 100)], date(2030, 1, 1)) == ()
    grown = detect_non_ca_events(applied, [Exposure(2025, 130)], date(2030, 1, 1))  # 30 t the evidence never covered
    assert [(e.quantity, e.trigger) for e in grown] == [(30, NonCATrigger.date_rule)]


FIX = Evidence(EvidenceKind.correction, "BTR2 erratum: table 4 row 12 is project 78041", date(2027, 2, 1))


def test_a_confirmation_for_100_t_labels_100_t_not_800():
    record = open_ca_record(PROJECT, 2023, AT, "x")
    exposed = [Exposure(2025, 800)]
    record = confirm_ca_applied(record, BTR, AT, "x", exposed)
    assert record.status is CAStatus.pending and record.history[-1].transition == "confirm_applied_in_part"
    assert "700 t of 2025" in record.history[-1].note
    assert ca_labels(record, exposed) == ((2025, "CA applied", 100), (2025, "Pending CA", 700))
    later = detect_non_ca_events(record, exposed, date(2027, 4, 16))  # after the 2025 cutoff
    assert [(e.quantity, e.trigger) for e in later] == [(700, NonCATrigger.date_rule)]
    record = confirm_ca_applied(record, replace(BTR, quantity=700, reference="BTR3"), AT, "x", exposed)
    assert record.status is CAStatus.applied and ca_labels(record, exposed) == ((2025, "CA applied", 800),)
    more = confirm_ca_applied(record, replace(BTR, quantity=5, first_transfer_year=2026), AT, "x", exposed)
    assert more.status is CAStatus.applied and more.history[-1].transition == "confirm_more_applied"


def test_nothing_first_transferred_yet_keeps_the_status():
    record = confirm_ca_applied(open_ca_record(PROJECT, 2023, AT, "x"), BTR, AT, "x", ())
    assert record.status is CAStatus.pending and "nothing first transferred yet" in record.history[-1].note


def test_a_wrong_applied_is_reversed_on_evidence_and_voids_what_came_before():
    applied = confirm_ca_applied(open_ca_record(PROJECT, 2023, AT, "x"), BTR, AT, "x", EXPOSED)
    corrected = correct_ca_status(applied, CAStatus.pending, FIX, "the report names another project", AT, "x")
    assert corrected.status is CAStatus.pending and corrected.history[-1].transition == "correct_to_pending"
    assert corrected.history[-1].evidence == FIX.reference and corrected.evidence[-1] == FIX
    assert ca_labels(corrected, EXPOSED) == ((2025, "Pending CA", 100),)
    assert correct_ca_status(applied, CAStatus.not_applied, FIX, "why", AT, "x").label == "No CA applied"


@pytest.mark.parametrize("evidence, target, reason, field", [
    (None, CAStatus.pending, "wrong", "evidence"),
    (replace(FIX, reference=" "), CAStatus.pending, "wrong", "evidence"),
    (BTR, CAStatus.pending, "wrong", "evidence.kind"),
    (FIX, CAStatus.pending, " ", "reason"),
    (FIX, CAStatus.applied, "wrong", "status"),
])
def test_a_correction_without_evidence_is_refused_naming_the_rule(evidence, target, reason, field):
    applied = confirm_ca_applied(open_ca_record(PROJECT, 2023, AT, "x"), BTR, AT, "x", EXPOSED)
    with pytest.raises(Article6Error) as exc:
        correct_ca_status(applied, target, evidence, reason, AT, "x")
    assert (exc.value.rule.id, exc.value.rule.section, exc.value.field) == ("ca-correction-evidence", "§II.2, §IV",
                                                                           field)


@pytest.mark.parametrize("quantity, year, field", [
    (None, 2025, "evidence.quantity"), (0, 2025, "evidence.quantity"), (True, 2025, "evidence.quantity"),
    (100, None, "evidence.first_transfer_year"), (100, 2019, "evidence.first_transfer_year"),
])
def test_a_ca_confirmation_states_quantity_and_first_transfer_year(quantity, year, field):
    with pytest.raises(Article6Error) as exc:
        confirm_ca_applied(open_ca_record(PROJECT, 2023, AT, "x"),
                           replace(BTR, quantity=quantity, first_transfer_year=year), AT, "x", EXPOSED)
    assert (exc.value.rule.id, exc.value.rule.section, exc.value.field) == ("ca-quantity", "§IV, §I.7.1", field)


def test_evidence_without_a_quantity_covers_the_whole_vintage():
    legacy = replace(BTR, quantity=None, first_transfer_year=None)
    record = CARecord(PROJECT, 2023, CAStatus.applied, evidence=(legacy,))
    assert ca_labels(record, [Exposure(2025, 800)]) == ((2025, "CA applied", 800),)
    assert detect_non_ca_events(record, [Exposure(2025, 800)], date(2030, 1, 1)) == ()


# --------------------------------------------------------------------------------------------
# Compensation (§V.b)
# --------------------------------------------------------------------------------------------


def test_business_days_skip_weekends_and_holidays():
    assert add_business_days(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Friday -> Monday
    assert add_business_days(date(2026, 3, 2), 60) == date(2026, 5, 25)
    assert add_business_days(date(2026, 3, 2), 60, {date(2026, 4, 3)}) == date(2026, 5, 26)


@pytest.mark.parametrize("due_by, on, lapsed", [
    (date(2027, 1, 25), date(2027, 1, 25), False),  # the last business day: still due
    (date(2027, 1, 25), date(2027, 1, 26), True),
    (None, date(2030, 1, 1), False),  # no deadline (not a purchase)
])
def test_a_replacement_purchase_lapses_the_day_after_its_deadline(due_by, on, lapsed):
    assert replacement_lapsed(due_by, on) is lapsed


def test_compensation_follows_the_order_of_v_b_with_partial_availability():
    sources = CompensationSources(own_excess=10, other_projects_excess={7: 5, 3: 4}, proponent_deposit=6,
                                  replacement_purchase=8, proponent_holdings=2)
    plan = plan_compensation(50, sources, notified_on=date(2026, 3, 2))
    assert [(s.kind, s.quantity, s.from_project) for s in plan.steps] == [
        (CompensationKind.cancel_own_excess, 10, None),
        (CompensationKind.cancel_other_excess, 4, 3),
        (CompensationKind.cancel_other_excess, 5, 7),
        (CompensationKind.proponent_deposit, 6, None),
        (CompensationKind.purchase_replacements, 8, None),
        (CompensationKind.cancel_subsequent_holdings, 2, None),
        (CompensationKind.deduct_future_issuances, 15, None),
    ]
    assert plan.steps[4].due_by == date(2026, 5, 25)
    assert plan.covered == 50 and plan.unresolved == 0


def test_compensation_stops_at_the_first_sufficient_step():
    plan = plan_compensation(8, CompensationSources(own_excess=3, other_projects_excess={1: 100}),
                             notified_on=ON)
    assert [(s.kind, s.quantity) for s in plan.steps] == [
        (CompensationKind.cancel_own_excess, 3), (CompensationKind.cancel_other_excess, 5)]


def test_additional_double_claim_bars_step_five_and_leaves_a_remainder():
    plan = plan_compensation(20, CompensationSources(own_excess=5, proponent_holdings=50,
                                                     additional_double_claim=True), notified_on=ON)
    assert [s.kind for s in plan.steps] == [CompensationKind.cancel_own_excess]
    assert plan.unresolved == 15


def test_compensation_rejects_negative_or_fractional_quantities():
    with pytest.raises(ValueError, match="other_projects_excess\\[4\\]"):
        plan_compensation(5, CompensationSources(other_projects_excess={4: -1}), notified_on=ON)
    with pytest.raises(ValueError, match="shortfall"):
        plan_compensation(2.5, CompensationSources(), notified_on=ON)


@given(shortfall=st.integers(0, 10_000), own=st.integers(0, 3000),
       others=st.dictionaries(st.integers(1, 50), st.integers(0, 2000), max_size=5),
       deposit=st.integers(0, 3000), purchase=st.integers(0, 3000), holdings=st.integers(0, 3000),
       barred=st.booleans())
def test_compensation_steps_sum_to_the_shortfall_or_report_the_remainder(shortfall, own, others, deposit,
                                                                         purchase, holdings, barred):
    sources = CompensationSources(own, others, deposit, purchase, holdings, barred)
    plan = plan_compensation(shortfall, sources, notified_on=ON)
    assert plan.covered + plan.unresolved == shortfall
    assert all(s.quantity > 0 for s in plan.steps)
    order = list(CompensationKind)
    assert [order.index(s.kind) for s in plan.steps] == sorted(order.index(s.kind) for s in plan.steps)
    available = own + sum(others.values()) + deposit + purchase
    assert plan.unresolved == (max(0, shortfall - available) if barred else 0)
    by_kind = {k: sum(s.quantity for s in plan.steps if s.kind is k) for k in CompensationKind}
    assert by_kind[CompensationKind.cancel_own_excess] == min(own, shortfall)


# --------------------------------------------------------------------------------------------
# Annual report (§III)
# --------------------------------------------------------------------------------------------


def _report() -> AnnualReport:
    issued = [IssuedRecord("ISL", 2025, 1000), IssuedRecord("ISL", 2025, 500),
              IssuedRecord("GHA", 2025, 300), IssuedRecord("ISL", 2024, 9999)]
    retired = [
        RetiredRecord("ISL", 2025, 100, Purpose.corsia, CAStatus.pending, "2024-2026"),
        RetiredRecord("ISL", 2025, 50, Purpose.corsia, CAStatus.applied, "2021-2023"),
        RetiredRecord("ISL", 2025, 40, Purpose.ndc, CAStatus.applied),
        RetiredRecord("ISL", 2025, 30, Purpose.voluntary, CAStatus.not_applied),
        RetiredRecord("GHA", 2025, 20, Purpose.other_international, CAStatus.pending),
        RetiredRecord("GHA", 2024, 777, Purpose.ndc, CAStatus.pending),
    ]
    cancelled = [CancelledRecord("ISL", 2025, 30, double_claim=True),
                 CancelledRecord("ISL", 2025, 60, double_claim=False)]
    authorized = [*authorized_records(approved_letter()),
                  AuthorizedRecord("ISL", 2025, None), AuthorizedRecord("GHA", 2025, 2000)]
    return annual_report(2025, issued, retired, cancelled, authorized)


def test_annual_report_aggregates_by_host_country():
    report = _report()
    assert report.due_by == date(2026, 6, 30)
    gha, isl = report.countries
    assert isl == CountryYear("ISL", issued=1500, retired_corsia=150, retired_ndc=40, retired_voluntary=30,
                              cancelled_double_claim=30, max_authorized=10_000, uncapped_letters=1,
                              ca_pending=100, ca_applied=90, ca_not_applied=30)
    assert gha == CountryYear("GHA", issued=300, retired_other_international=20, max_authorized=2000,
                              ca_pending=20)
    assert report.corsia_by_period == (("ISL", "2021-2023", 50), ("ISL", "2024-2026", 100))


def test_annual_report_json():
    data = json.loads(report_to_json(_report()))
    assert data["year"] == 2025 and data["due_by"] == "2026-06-30"
    assert [c["host_country"] for c in data["countries"]] == ["GHA", "ISL"]
    assert data["countries"][1]["retired_corsia"] == 150 and data["countries"][1]["ca_not_applied"] == 30
    assert data["corsia_by_compliance_period"] == [
        {"host_country": "ISL", "compliance_period": "2021-2023", "quantity": 50},
        {"host_country": "ISL", "compliance_period": "2024-2026", "quantity": 100}]
    assert report_to_json(_report()) == report_to_json(_report())


def test_annual_report_csv():
    text = report_to_csv(_report())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    value = {(r["host_country"], r["metric"], r["compliance_period"]): int(r["quantity"]) for r in rows}
    assert value[("ISL", "issued", "")] == 1500
    assert value[("ISL", "cancelled_double_claim", "")] == 30
    assert value[("GHA", "max_authorized", "")] == 2000
    assert value[("ISL", "retired_corsia_period", "2024-2026")] == 100
    assert len(rows) == 2 * 12 + 2
    assert all(r["year"] == "2025" for r in rows)


def test_a_letter_counts_its_maximum_in_every_year_of_its_scope():
    records = authorized_records(approved_letter())  # vintages 2020-2030, cap 10,000
    assert [r.year for r in records] == list(range(2020, 2031))
    assert {(r.host_country, r.max_quantity) for r in records} == {("ISL", 10_000)}
    for year in (2021, 2030):
        (isl,) = annual_report(year, [], [], [], records).countries
        assert isl.max_authorized == 10_000
    assert annual_report(2031, [], [], [], records).countries == ()


def test_transfers_are_reported_by_host_country_and_year():
    report = annual_report(2025, [], [], [], [], [TransferredRecord("ISL", 2025, 70), TransferredRecord("ISL", 2024, 5)])
    assert report.countries == (CountryYear("ISL", transferred=70),)


def test_an_edition_reads_back_exactly_and_its_hash_stamps_the_json():
    report = _report()
    assert report_from_dict(json.loads(report_to_json(report))) == report
    assert report_hash(report) == hashlib.sha256(report_to_json(report).encode()).hexdigest()
    assert report_hash(annual_report(2025, [IssuedRecord("ISL", 2025, 1)], [], [], [])) != report_hash(report)


@pytest.mark.parametrize("today, due", [(date(2026, 6, 30), False), (date(2026, 7, 1), True)])
def test_a_report_is_published_once_its_six_months_are_over(today, due):
    assert report_published_by(2025, today) is due


def test_annual_report_refusals():
    with pytest.raises(ValueError, match="corsia_compliance_period"):
        annual_report(2025, [], [RetiredRecord("ISL", 2025, 1, Purpose.corsia, CAStatus.pending)], [], [])
    with pytest.raises(ValueError, match="ca_status"):
        annual_report(2025, [], [RetiredRecord("ISL", 2025, 1, Purpose.ndc, CAStatus.not_applicable)], [], [])


def test_empty_annual_report():
    report = annual_report(2025, [], [], [], [])
    assert report.countries == () and report_to_csv(report) == ",".join(CSV_COLUMNS) + "\n"


@pytest.mark.parametrize("sector, code", [("14 CCS", 14), (" 3 energy", 3), ("14", 14), ("CCS 14", None),
                                          ("140 x", None), ("", None)])
def test_letter_sector_code_leads_its_text(sector, code):
    assert letter_sector_code(sector) == code


def test_sector_and_methodology_match_whatever_the_case_and_spacing():
    letter = approved_letter(activity=replace(content().activity, sector="14 Carbon capture", methodology=" icr-m-001 "))
    assert check_designation(letter, project(), issuance(), designated_so_far=0, on=ON) == ()


def test_a_back_dated_designation_needs_the_letter_valid_today_too():
    """Reproduction 3 of issue 16: a letter that expired on 2026-06-30 designates nothing on
    2026-12-07, even "as of" 2026-01-15, when it was valid."""
    expired = approved_letter(validity=replace(content().validity, expires_on=date(2026, 6, 30)))
    assert check_designation(expired, project(), issuance(), designated_so_far=0, on=date(2026, 1, 15)) == ()
    refusals = check_designation(expired, project(), issuance(), designated_so_far=0, on=date(2026, 1, 15),
                                 acting_on=date(2026, 12, 7))
    assert [(r.rule.id, r.field) for r in refusals] == [("letter-valid-on-date", "as_of")]
    assert "2026-12-07 (today)" in refusals[0].detail
