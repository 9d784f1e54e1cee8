"""Issuances record their monitoring period and verification, and a period of mitigation is
issued once, whatever the designation (registry.operations.issuances, and the Article 6.2
designation and conversion that issue through it); compliance dates are the registry's own.
Each refusal names its rule and section and changes nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from alembic import command
from sqlmodel import Session, select

from bridge.schema import alembic_config, create_schema
from registry.db import transaction
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.article6.letters import Validity
from registry.domain.classes import Purpose
from registry.domain.lifecycle import RetirementDetails
from registry.errors import RuleViolation
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import designation as designation_ops
from registry.operations.article6 import letters as letter_ops
from registry.operations.conversions import convert_ex_ante
from registry.operations.issuances import issue_ex_ante, issue_ex_post
from registry.operations.retirements import retire
from registry.tables.core import ExAnteConversion, Issuance, LedgerEntry, SerialBlock, Serialization
from tests.support.a6_world import AT, authorized, content, issue, make_world, snapshot, submit

JAN = {"monitoring_start": date(2023, 1, 1), "monitoring_end": date(2023, 1, 31)}
FEB = {"monitoring_start": date(2023, 2, 1), "monitoring_end": date(2023, 2, 28)}
YEAR = {"monitoring_start": date(2023, 1, 1), "monitoring_end": date(2023, 12, 31)}
VERIFIED = {"verification_reference": "VR-2023", "verification_body": "VVB hf.", "verified_on": date(2024, 3, 1)}


@pytest.fixture
def world(engine):
    return make_world(engine)


def standard(world, period=YEAR, quantity=1000, **verification):
    with transaction(world.engine) as s:
        return issue_ex_post(s, project_id=world.project, vintage=2023, quantity=quantity, account_id=world.account,
                             **period, **{**VERIFIED, **verification})


def refused(world, call) -> RuleViolation:
    before = snapshot(world.engine)
    with pytest.raises(RuleViolation) as info, transaction(world.engine) as s:
        call(s)
    assert snapshot(world.engine) == before
    return info.value


def last_entry(engine, kind: str) -> dict:
    with Session(engine) as s:
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.kind == kind).order_by(LedgerEntry.seq.desc())).first()
    return json.loads(entry.payload)


def test_an_issuance_records_its_period_and_verification(world):
    issuance = standard(world, JAN)
    assert (issuance.monitoring_start, issuance.monitoring_end) == (date(2023, 1, 1), date(2023, 1, 31))
    assert (issuance.verification_reference, issuance.verification_body, issuance.verified_on) == (
        "VR-2023", "VVB hf.", date(2024, 3, 1))
    entry = last_entry(world.engine, "issuance.ex_post")
    assert entry["monitoring_period"] == ["2023-01-01", "2023-01-31"]
    assert entry["verification"] == {"reference": "VR-2023", "body": "VVB hf.", "verified_on": "2024-03-01"}
    standard(world, FEB)  # the next period of the same vintage: no overlap


@pytest.mark.parametrize("period, extra, rule, field", [
    (FEB, {}, "no-double-issuance", "monitoring_start"),  # inside January-December
    ({"monitoring_start": date(2023, 12, 1), "monitoring_end": date(2024, 1, 31)}, {},
     "monitoring-period-within-one-year", "monitoring_end"),
    ({"monitoring_start": date(2022, 1, 1), "monitoring_end": date(2022, 12, 31)}, {}, "vintage-is-monitoring-year",
     "vintage"),
    (FEB, {"verification_reference": None, "verification_body": None, "verified_on": None}, "ex-post-verified",
     "verification_reference"),
    (FEB, {"verified_on": None}, "ex-post-verified", "verified_on"),
    (FEB, {"verified_on": date(2023, 2, 27)}, "verified-after-period", "verified_on"),
])
def test_issuance_refusals(world, period, extra, rule, field):
    standard(world, YEAR)
    error = refused(world, lambda s: issue_ex_post(s, project_id=world.project, vintage=2023, quantity=5,
                                                   account_id=world.account, **period, **{**VERIFIED, **extra}))
    assert (error.rule, error.field) == (rule, field)
    assert "seed 00" in error.detail


def test_reproduction_1_article6_over_standard_only_by_conversion_and_never_twice(world):
    """Issue 16, reproduction 1: 1,000 standard ICCs for 2023, then Article 6.2 ICCs for the same
    period (accepted twice on main) are refused; the §I.12 conversion of those ICCs is the way."""
    standard(world, YEAR)
    authorized(world)
    error = refused(world, lambda s: designation_ops.issue_article6(
        s, project_id=world.project, vintage=2023, quantity=1000, account_id=world.account, **YEAR, **VERIFIED,
        actor="admin"))
    assert error.rule == "article6-by-conversion-only" and "seed 003 §I.12" in error.detail
    with transaction(world.engine) as s:
        result = designation_ops.convert_to_article6(s, project_id=world.project, account_id=world.account,
                                                     vintage=2023, **YEAR, quantity=400, actor="admin")
    with Session(world.engine) as s:
        issued = s.get(Issuance, result.designation.issuance_id)
    # the Article 6.2 ICCs are for the converted ICCs' period, on their verification
    assert (issued.monitoring_start, issued.monitoring_end, issued.verification_reference) == (
        date(2023, 1, 1), date(2023, 12, 31), "VR-2023")
    error = refused(world, lambda s: designation_ops.issue_article6(
        s, project_id=world.project, vintage=2023, quantity=10, account_id=world.account, **FEB, **VERIFIED,
        actor="admin"))
    assert error.rule == "article6-by-conversion-only"


def test_two_designations_for_one_period_are_refused(world):
    authorized(world)
    issue(world, 100, **JAN, **VERIFIED)
    error = refused(world, lambda s: designation_ops.issue_article6(
        s, project_id=world.project, vintage=2023, quantity=100, account_id=world.account, **JAN, **VERIFIED,
        actor="admin"))
    assert (error.rule, error.field) == ("no-double-issuance", "monitoring_start")
    # and standard ICCs cannot be issued for it afterwards either
    error = refused(world, lambda s: issue_ex_post(s, project_id=world.project, vintage=2023, quantity=5,
                                                   account_id=world.account, **JAN, **VERIFIED))
    assert error.rule == "no-double-issuance"


def test_a_designation_for_2019_mitigation_as_vintage_2021_is_refused(world):
    """Reproduction 1, second half: a letter whose crediting period starts in 2018 let 2019
    mitigation be issued as vintage 2021."""
    authorized(world)
    error = refused(world, lambda s: designation_ops.issue_article6(
        s, project_id=world.project, vintage=2021, quantity=10, account_id=world.account,
        monitoring_start=date(2019, 1, 1), monitoring_end=date(2019, 12, 31), **VERIFIED, actor="admin"))
    assert (error.rule, error.field) == ("vintage-is-monitoring-year", "vintage") and "seed 003 §4" in error.detail


def test_a_conversion_converts_the_units_of_its_period_only(world):
    h1 = standard(world, {"monitoring_start": date(2023, 1, 1), "monitoring_end": date(2023, 6, 30)}, 100)
    h2 = standard(world, {"monitoring_start": date(2023, 7, 1), "monitoring_end": date(2023, 12, 31)}, 100,
                  verification_reference="VR-2023-H2")
    authorized(world)
    with transaction(world.engine) as s:
        result = designation_ops.convert_to_article6(s, project_id=world.project, account_id=world.account,
                                                     vintage=2023, monitoring_start=date(2023, 7, 1),
                                                     monitoring_end=date(2023, 12, 31), actor="admin")
    assert result.cancelled_blocks == ["ICR-ISL-354-78040-14-R-0-2023-000101-000200"]  # h2's units, not h1's
    with Session(world.engine) as s:
        left = s.exec(select(SerialBlock).where(SerialBlock.issuance_id == h1.id)).one()
        assert (left.status.value, left.quantity) == ("active", 100)
        issued = s.get(Issuance, result.designation.issuance_id)
        assert issued.verification_reference == "VR-2023-H2" and h2.id != issued.id
    error = refused(world, lambda s: designation_ops.convert_to_article6(
        s, project_id=world.project, account_id=world.account, vintage=2023, monitoring_start=date(2023, 1, 1),
        monitoring_end=date(2023, 3, 31), actor="admin"))
    assert error.rule == "conversion-of-issued-period"


def test_ex_ante_records_a_predicted_period_and_each_conversion_its_verification(world):
    with transaction(world.engine) as s:
        ante = issue_ex_ante(s, project_id=world.project, vintage=2023, quantity=100, account_id=world.account,
                             monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 6, 30))
    assert ante.verification_reference is None and ante.monitoring_end == date(2023, 6, 30)
    # the predicted period is taken: ex-post ICCs for it are refused ...
    error = refused(world, lambda s: issue_ex_post(s, project_id=world.project, vintage=2023, quantity=5,
                                                   account_id=world.account, **FEB, **VERIFIED))
    assert error.rule == "no-double-issuance"
    with transaction(world.engine) as s:
        convert_ex_ante(s, issuance_id=ante.id, verified_quantity=100, final=True, verification_reference="VR-Q1",
                        verification_body="VVB hf.", verified_on=date(2023, 5, 2),
                        monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 3, 31))
    with Session(world.engine) as s:
        conversion = s.exec(select(ExAnteConversion)).one()
    assert (conversion.monitoring_end, conversion.verification_body, conversion.verified_on) == (
        date(2023, 3, 31), "VVB hf.", date(2023, 5, 2))
    # ... except the excess over the prediction, on the same verification and within its period
    error = refused(world, lambda s: issue_ex_post(s, project_id=world.project, vintage=2023, quantity=5,
                                                   account_id=world.account, **FEB, **VERIFIED))
    assert error.rule == "no-double-issuance"
    with transaction(world.engine) as s:
        issue_ex_post(s, project_id=world.project, vintage=2023, quantity=20, account_id=world.account,
                      monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 3, 31),
                      verification_reference="VR-Q1", verification_body="VVB hf.", verified_on=date(2023, 5, 2))
    error = refused(world, lambda s: issue_ex_post(  # once
        s, project_id=world.project, vintage=2023, quantity=20, account_id=world.account,
        monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 3, 31), verification_reference="VR-Q1",
        verification_body="VVB hf.", verified_on=date(2023, 5, 2)))
    assert error.rule == "no-double-issuance"


def test_ex_ante_conversion_refusals(world):
    with transaction(world.engine) as s:
        ante = issue_ex_ante(s, project_id=world.project, vintage=2023, quantity=100, account_id=world.account,
                             monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 6, 30))
        convert_ex_ante(s, issuance_id=ante.id, verified_quantity=10, final=False, verification_reference="VR-1",
                        verification_body="VVB", verified_on=date(2023, 3, 1), **JAN)
    for period, verified_on, rule in ((JAN, date(2023, 3, 1), "no-double-issuance"),
                                      ({"monitoring_start": date(2023, 6, 1), "monitoring_end": date(2023, 7, 31)},
                                       date(2023, 9, 1), "verified-within-predicted-period"),
                                      (FEB, date(2023, 2, 27), "verified-after-period")):
        error = refused(world, lambda s: convert_ex_ante(s, issuance_id=ante.id, verified_quantity=10, final=False,
                                                         verification_reference="VR-2", verification_body="VVB",
                                                         verified_on=verified_on, **period))
        assert error.rule == rule


def test_an_authorized_project_issues_no_ex_ante_in_its_crediting_period(world):
    """§4.1 (issue 16 item 6): ex-ante issuance by an Article 6.2 authorized project was accepted."""
    authorized(world)
    error = refused(world, lambda s: issue_ex_ante(s, project_id=world.project, vintage=2024, quantity=10,
                                                   account_id=world.account, monitoring_start=date(2024, 1, 1),
                                                   monitoring_end=date(2024, 3, 31)))
    assert (error.rule, error.field) == ("ex-post-only", "kind") and "seed 003 §4.1" in error.detail


def test_ex_ante_before_authorization_keeps_the_project_from_designation(world):
    with transaction(world.engine) as s:
        issue_ex_ante(s, project_id=world.project, vintage=2024, quantity=10, account_id=world.account,
                      monitoring_start=date(2024, 1, 1), monitoring_end=date(2024, 3, 31))
    authorized(world)
    error = refused(world, lambda s: designation_ops.issue_article6(
        s, project_id=world.project, vintage=2023, quantity=10, account_id=world.account, **JAN, **VERIFIED,
        actor="admin"))
    assert (error.rule, error.field) == ("ex-post-only", "project.ex_ante_issued_in_crediting_period")


# --------------------------------------------------------------------------------------------
# Server time for compliance decisions
# --------------------------------------------------------------------------------------------


def _expire(world, on: date) -> None:
    with transaction(world.engine) as s:
        letter_id = letter_ops.list_letters(s, project_id=world.project)[1][0].id
        letter_ops.amend_letter(s, letter_id, actor="admin", note="validity", content=content(
            validity=Validity(date(2025, 6, 1), date(2025, 7, 1), on)))


def designate(world, **kwargs):
    return lambda s: designation_ops.issue_article6(s, project_id=world.project, vintage=2023, quantity=100,
                                                    account_id=world.account, **JAN, **VERIFIED, actor="admin",
                                                    **kwargs)


def approved_on_2025_07_02(world) -> None:
    letter_id = submit(world)
    approved_at = datetime(2025, 7, 2, tzinfo=timezone.utc)
    with transaction(world.engine) as s:
        letter_ops.start_letter_review(s, letter_id, actor="reviewer", at=approved_at)
        letter_ops.approve_letter(s, letter_id, authenticity_confirmed=True, published_ref="https://icr/letters/1",
                                  actor="reviewer", at=approved_at)


def test_reproduction_3_an_expired_letter_designates_nothing_whatever_the_date(world):
    """Issue 16, reproduction 3: a letter that expired on 2026-06-30 designated 1,000 t with
    ``on: 2026-01-15``. The registry's date decides; a back-dated "as of" needs a reason and
    the letter valid on both days."""
    approved_on_2025_07_02(world)
    _expire(world, date(2026, 6, 30))
    now = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
    error = refused(world, designate(world, at=now))
    assert (error.rule, error.field) == ("letter-valid-on-date", "as_of")
    error = refused(world, designate(world, as_of=date(2026, 1, 15), at=now))
    assert (error.rule, error.field) == ("back-dating-needs-reason", "as_of_reason")
    error = refused(world, designate(world, as_of=date(2026, 1, 15), as_of_reason="review ended then", at=now))
    assert error.rule == "letter-valid-on-date" and "(today)" in error.detail


def test_a_back_dated_designation_is_recorded_with_its_reason(world):
    approved_on_2025_07_02(world)
    today = AT.date()
    with pytest.raises(RuleViolation) as info, transaction(world.engine) as s:
        designate(world, as_of=date(2025, 7, 1), as_of_reason="before the letter")(s)
    assert info.value.rule == "as-of-after-registry-could-act"
    with pytest.raises(RuleViolation) as info, transaction(world.engine) as s:
        designate(world, as_of=date(2099, 1, 1), as_of_reason="the future")(s)
    assert info.value.rule == "as-of-not-in-future"
    with transaction(world.engine) as s:
        designate(world, as_of=today, as_of_reason="not back-dated")(s)
    entry = last_entry(world.engine, "article6.issuance")
    assert (entry["decided_on"], entry["as_of"], entry["as_of_reason"]) == (str(today), str(today), None)
    with transaction(world.engine) as s:
        designation_ops.issue_article6(s, project_id=world.project, vintage=2023, quantity=100,
                                       account_id=world.account, **FEB, **VERIFIED, actor="admin",
                                       as_of=date(2025, 7, 2), as_of_reason="review concluded on the approval day")
    entry = last_entry(world.engine, "article6.issuance")
    assert (entry["decided_on"], entry["as_of"], entry["as_of_reason"]) == (
        str(today), "2025-07-02", "review concluded on the approval day")


def designated_and_used(world) -> None:
    """Article 6.2 ICCs of January 2023, 10 t of them retired for an NDC today (first transfer at use)."""
    authorized(world)
    issue(world, 100, **JAN, **VERIFIED)
    with transaction(world.engine) as s:
        serialization = s.exec(select(Serialization).where(Serialization.article6 == True)).first()  # noqa: E712
        retire(s, account_id=world.account, serialization_id=serialization.id, quantity=10,
               details=RetirementDetails(purpose=Purpose.ndc, ndc_party="CHE"))


def test_evidence_is_received_on_the_registrys_date_unless_a_reason_back_dates_it(world):
    designated_and_used(world)
    evidence = Evidence(EvidenceKind.intention, "ministry letter", None)
    with transaction(world.engine) as s:
        record = adjustment_ops.add_ca_evidence(s, world.project, 2023, evidence, actor="admin")
    assert record.evidence[-1].received_on == AT.date()
    entry = last_entry(world.engine, "article6.ca.add_evidence")
    assert (entry["evidence_received_on"], entry["evidence_received_on_reason"]) == (str(AT.date()), None)
    early = Evidence(EvidenceKind.intention, "ministry letter 2", date(2020, 1, 1))
    error = refused(world, lambda s: adjustment_ops.add_ca_evidence(s, world.project, 2023, early, actor="admin",
                                                                    received_on_reason="by post"))
    assert error.rule == "as-of-after-registry-could-act"  # before the vintage's CA record existed
    error = refused(world, lambda s: adjustment_ops.add_ca_evidence(
        s, world.project, 2023, Evidence(EvidenceKind.intention, "x", date(2099, 1, 1)), actor="admin"))
    assert (error.rule, error.field) == ("as-of-not-in-future", "evidence.received_on")


def test_detection_uses_the_registrys_date(world):
    """No date comes from the caller: detecting "as of" a later day cannot raise events early."""
    designated_and_used(world)
    with transaction(world.engine) as s:  # first transfer this year: the cutoff is 15 April two years on
        assert adjustment_ops.detect_non_ca_events(s, actor="cron") == []
    later = datetime(AT.year + 2, 4, 16, tzinfo=timezone.utc)  # the registry's clock on the day after the cutoff
    with transaction(world.engine) as s:
        (event,) = adjustment_ops.detect_non_ca_events(s, actor="cron", suspend=False, at=later)
    assert (event.detected_on, event.first_transfer_year, event.quantity) == (later.date(), AT.year, 10)


def test_migration_0012_backfills_periods_and_verifications(world):
    """Rows from before 0012: downgrade (drops the columns) and upgrade again; designations'
    issuances get the designation's period, others their vintage year, ex-post a 'not recorded'
    verification, conversions their issuance's period and their day."""
    engine = world.engine
    authorized(world)
    issue(world, 100, **JAN, **VERIFIED)
    with transaction(engine) as s:
        post = issue_ex_post(s, project_id=world.project, vintage=2023, quantity=10, account_id=world.account, **FEB,
                             **VERIFIED)
        ante = issue_ex_ante(s, project_id=world.project, vintage=2019, quantity=10, account_id=world.account,
                             monitoring_start=date(2019, 1, 1), monitoring_end=date(2019, 1, 31))
        convert_ex_ante(s, issuance_id=ante.id, verified_quantity=5, final=False, verification_reference="VR-A",
                        verification_body="VVB", verified_on=date(2019, 3, 1), monitoring_start=date(2019, 1, 1),
                        monitoring_end=date(2019, 1, 10))
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    create_schema(engine)
    with Session(engine) as s:
        rows = {i.id: i for i in s.exec(select(Issuance))}
        conversion = s.exec(select(ExAnteConversion)).one()
    designated = [i for i in rows.values() if i.id not in (post.id, ante.id)]
    assert len(designated) == 2 and all((i.monitoring_start, i.monitoring_end) == (date(2023, 1, 1), date(2023, 1, 31))
                                        for i in designated)
    assert (rows[post.id].monitoring_start, rows[post.id].monitoring_end) == (date(2023, 1, 1), date(2023, 12, 31))
    assert (rows[post.id].verification_reference, rows[post.id].verified_on) == (
        "not recorded before migration 0012", None)
    assert (rows[ante.id].monitoring_start, rows[ante.id].verification_reference) == (date(2019, 1, 1), None)
    assert (conversion.monitoring_start, conversion.monitoring_end, conversion.verification_body) == (
        date(2019, 1, 1), date(2019, 12, 31), "not recorded")
    assert conversion.verified_on == conversion.created_at.date()
