"""Additionality through the storage layer, on SQLite and PostgreSQL: claims with their ex-ante
data and calculator results, ex-post reports revising a level's status with history, and
each refusal leaving nothing behind."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import Session, select

from registry.db import transaction
from registry.domain.additionality import Level, LevelStatus, MonitoringPeriod
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations import additionality as aops
from registry.operations.projects import register_project
from registry.tables.additionality import (
    AdditionalityClaim,
    AdditionalityProfile,
    AdditionalityReport,
    AdditionalityStatusChange,
)
from registry.tables.core import LedgerEntry

SRC = {"reference": "IRENA Renewable Capacity Statistics 2025", "authority": "IRENA", "published_on": "2025-03-01"}
PARAMS = [{"name": n, "value": v, "unit": "USD", "rationale": "quote", "benchmark": "IRENA 2025",
           "source": {"reference": "supplier quote 17", "authority": "supplier", "published_on": "2025-01-10"}}
          for n, v in (("capex", "1000"), ("opex", "100"), ("non_carbon_revenue", "300"), ("discount_rate", "0.10"))]
MODEL = {"capex": "1000", "annual_opex": "100", "annual_revenue": "300", "lifetime_years": 5, "discount_rate": "0.10"}


def claims_in(**changes) -> aops.ClaimsIn:
    data = {"crediting_start": "2024-01-01", "crediting_end": "2033-12-31", "claims": [
        {"level": "1", "justification": "baseline per ICR-M-001"},
        {"level": "3", "justification": "rare technology", "sources": [SRC],
         "method": "common practice, Option I (comparable activity)", "common_practice": {"n_all": 100, "n_diff": 90}},
        {"level": "4a", "justification": "investment analysis", "sources": [SRC], "parameters": PARAMS,
         "financial_model": MODEL, "signed_statement": True},
    ]}
    data.update(changes)
    return aops.ClaimsIn.model_validate(data)


@pytest.fixture
def project_id(engine):
    with transaction(engine) as s:
        return register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                credit_type="R", methodology="M").id


def count(engine, model) -> int:
    with Session(engine) as s:
        return len(s.exec(select(model)).all())


def test_claims_are_stored_with_results_and_reload(engine, project_id):
    with transaction(engine) as s:
        registered = aops.register_additionality(s, project_id, claims_in(), actor="vvb")
    with Session(engine) as s:
        loaded = aops.load_additionality(s, project_id)
        rows = {r.level: r for r in s.exec(select(AdditionalityClaim))}
        assert aops.additionality_levels(s, project_id) == {Level.L1, Level.L3, Level.L4A}
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.kind == "additionality.claims_registered")).one()
    assert loaded.crediting_period == MonitoringPeriod(date(2024, 1, 1), date(2033, 12, 31))
    assert [c.level for c in loaded.claims] == [c.level for c in registered.claims]
    assert all(c.status is LevelStatus.demonstrated and len(c.history) == 1 for c in loaded.claims)
    l3 = json.loads(rows[Level.L3].results)["common_practice"]
    assert (l3["share"], l3["percent"], l3["passes"]) == ("1/10", "10.00", True)
    l4 = json.loads(rows[Level.L4A].results)
    assert l4["investment"]["npv"] == pytest.approx(-241.8426, abs=1e-4) and len(l4["sensitivity"]) == 24
    assert json.loads(entry.payload)["levels"] == ["1", "3", "4a"]


@pytest.mark.parametrize("changes, rule, field", [
    ({"claims": [{"level": "3", "justification": "j", "sources": [SRC], "method": "barrier analysis"}]},
     "level-1-required", "claims"),
    ({"crediting_end": "2020-01-01"}, "period-ordered", "crediting_end"),
    ({"claims": [{"level": "1", "justification": "j"},
                 {"level": "3", "justification": "j", "sources": [SRC],
                  "method": "common practice, Option I (comparable activity)",
                  "common_practice": {"n_all": 10, "n_diff": 11}}]},
     "common-practice", "claims[3].common_practice.n_diff"),
    ({"claims": [{"level": "1", "justification": "j"},
                 {"level": "3", "justification": "j", "sources": [SRC],
                  "method": "common practice, Option I (comparable activity)",
                  "common_practice": {"n_all": 10, "n_diff": 8}}]},
     "common-practice", "claims[3].common_practice"),
    ({"claims": [{"level": "1", "justification": "j"},
                 {"level": "4a", "justification": "j", "sources": [SRC], "parameters": PARAMS, "signed_statement": True,
                  "financial_model": {**MODEL, "annual_revenue": "600"}}]},
     "4a-investment", "claims[4a].investment"),
    ({"claims": [{"level": "1", "justification": "j"},
                 {"level": "4b", "justification": "j", "sources": [SRC], "signed_statement": True,
                  "applicability_4b": {"non_carbon_gross_annual_revenue": "51", "capex": "1000"}}]},
     "4b-applicability", "claims[4b].applicability_4b"),
])
def test_claim_refusals_store_nothing(engine, project_id, changes, rule, field):
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        aops.register_additionality(s, project_id, claims_in(**changes), actor="vvb")
    assert (info.value.rule, info.value.field) == (rule, field)
    assert count(engine, AdditionalityProfile) == count(engine, AdditionalityClaim) == 0


def test_claims_register_once(engine, project_id):
    with transaction(engine) as s:
        aops.register_additionality(s, project_id, claims_in(), actor="vvb")
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        aops.register_additionality(s, project_id, claims_in(), actor="vvb")
    assert info.value.rule == "claims-registered-once"
    with pytest.raises(NotFound), Session(engine) as s:
        aops.load_additionality(s, project_id + 1)


def report(level: str, start: str, end: str, **extra) -> aops.ExPostReportIn:
    return aops.ExPostReportIn.model_validate({"level": level, "period_start": start, "period_end": end,
                                               "report": f"MR {start}", **extra})


def test_reports_revise_a_level_with_history(engine, project_id):
    with transaction(engine) as s:
        aops.register_additionality(s, project_id, claims_in(), actor="vvb")
    with transaction(engine) as s:
        row, claim = aops.submit_ex_post_report(s, project_id, report(
            "3", "2024-01-01", "2024-12-31", sources=[SRC], common_practice={"n_all": 100, "n_diff": 80},
            summary="subsidy raised uptake"), actor="vvb")
    assert claim.status is LevelStatus.revised and row.still_met is False
    assert json.loads(row.results)["common_practice"]["percent"] == "20.00"
    with transaction(engine) as s:
        _, claim = aops.submit_ex_post_report(s, project_id, report(
            "3", "2025-01-01", "2025-12-31", sources=[SRC], common_practice={"n_all": 200, "n_diff": 170}),
            actor="vvb")
    assert claim.status is LevelStatus.demonstrated
    with Session(engine) as s:
        loaded = aops.load_additionality(s, project_id).claim(Level.L3)
        changes = s.exec(select(AdditionalityStatusChange).order_by(AdditionalityStatusChange.id)).all()
        total, listed = aops.list_reports(s, project_id, Level.L3)
    assert [(h.from_status, h.to_status) for h in loaded.history] == [
        (None, LevelStatus.demonstrated), (LevelStatus.demonstrated, LevelStatus.revised),
        (LevelStatus.revised, LevelStatus.demonstrated)]
    assert loaded.history[1].period == MonitoringPeriod(date(2024, 1, 1), date(2024, 12, 31))
    assert "subsidy" in loaded.history[1].reason and changes[-1].report_id is not None
    assert total == 2 and [r.period_start for r, _ in listed] == [date(2024, 1, 1), date(2025, 1, 1)]


def test_level_4a_report_through_storage(engine, project_id):
    with transaction(engine) as s:
        aops.register_additionality(s, project_id, claims_in(), actor="vvb")
    actual = {"capex": "1200", "opex": "100", "non_carbon_revenue": "300", "discount_rate": "0.10"}
    unexplained = report("4a", "2024-01-01", "2024-12-31", actual=actual, financial_model={**MODEL, "capex": "1200"})
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        aops.submit_ex_post_report(s, project_id, unexplained, actor="vvb")
    assert (info.value.rule, info.value.field) == ("deviation-explained", "deviations.capex")
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        aops.submit_ex_post_report(s, project_id, report("4a", "2024-01-01", "2024-12-31",
                                                         actual={"capex": "1000"}), actor="vvb")
    assert (info.value.rule, info.value.field) == ("4a-ex-post", "actual.opex")
    assert count(engine, AdditionalityReport) == 0
    explained = unexplained.model_copy(update={"explanations": {"capex": "turbine prices"}})
    with transaction(engine) as s:
        row, claim = aops.submit_ex_post_report(s, project_id, explained, actor="vvb")
    results = json.loads(row.results)
    assert results["deviations"][0] == {"name": "capex", "ex_ante": "1000", "actual": "1200",
                                        "deviation_percent": "20.00", "needs_explanation": True,
                                        "explanation": "turbine prices"}
    assert results["investment"]["npv"] == pytest.approx(-441.8426, abs=1e-4)
    assert claim.status is LevelStatus.demonstrated


def test_report_refusals(engine, project_id):
    with transaction(engine) as s:
        aops.register_additionality(s, project_id, claims_in(), actor="vvb")
    for bad, rule, field in [
        (report("5", "2024-01-01", "2024-12-31", still_met=True), "level-claimed", "level"),
        (report("1", "2034-01-01", "2034-12-31", still_met=True), "within-crediting-period", "period"),
        (report("1", "2024-12-31", "2024-01-01", still_met=True), "period-ordered", "period_end"),
        (report("1", "2024-01-01", "2024-12-31"), "ex-post-conclusion", "still_met"),
        (report("3", "2024-01-01", "2024-12-31", sources=[SRC]), "ex-post-recreated", "common_practice"),
    ]:
        with pytest.raises(RuleViolation) as info, transaction(engine) as s:
            aops.submit_ex_post_report(s, project_id, bad, actor="vvb")
        assert (info.value.rule, info.value.field) == (rule, field)
    assert count(engine, AdditionalityReport) == 0
    assert count(engine, AdditionalityStatusChange) == 3
