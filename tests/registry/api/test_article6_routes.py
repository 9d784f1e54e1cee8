"""Article 6.2 and additionality over HTTP, on SQLite and PostgreSQL: administrator-only writes,
the proponent's letter submission, problem+json naming the rule and field, pagination, the
annual report as JSON and CSV, and the additionality calculators."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from registry.api.auth import create_api_key
from registry.db import transaction
from registry.domain.article6.letters import AuthorizedUse, Validity
from registry.domain.classes import Purpose
from registry.domain.enums import ApiKeyRole
from registry.domain.lifecycle import RetirementDetails
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.operations.retirements import retire
from registry.tables.article6 import A6Designation, content_to_json
from registry.tables.core import Serialization
from tests.support.a6_world import AT, MP, content, make_world


@pytest.fixture
def api(engine):
    world = make_world(engine)
    with transaction(engine) as s:
        _, admin = create_api_key(s, name="registry admin", role=ApiKeyRole.administrator)
        _, proponent = create_api_key(s, name="proponent", role=ApiKeyRole.organization, organization_id=world.org)
        _, buyer = create_api_key(s, name="buyer", role=ApiKeyRole.organization, organization_id=world.buyer_org)
    client = TestClient(create_app(engine))
    client.world = world
    client.keys = {"admin": {"X-API-Key": admin}, "proponent": {"X-API-Key": proponent},
                   "buyer": {"X-API-Key": buyer}}
    return client


#: A verification of any of the periods issued here (after them, before today).
VERIFIED = {"verification_reference": "VR-1", "verification_body": "VVB hf.", "verified_on": "2025-03-01"}


def letter_body(world, **changes) -> dict:
    return {"project_id": world.project, "document": "sha256:abc", "content": json.loads(content_to_json(
        content(**changes)))}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def authorize(api, **changes) -> int:
    w, admin = api.world, api.keys["admin"]
    created = api.post("/article6/letters", json=letter_body(w, **changes), headers=api.keys["proponent"])
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert api.post(f"/article6/letters/{number}/review", headers=admin).status_code == 200
    approved = api.post(f"/article6/letters/{number}/approve", headers=admin,
                        json={"authenticity_confirmed": True, "published_ref": "https://icr/letters/1"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved and published"
    return number


def test_letters_over_http_with_their_permissions(api):
    w = api.world
    assert problem(api.post("/article6/letters", json=letter_body(w)), 401)["rule"] == "api-key-required"
    assert problem(api.post("/article6/letters", json=letter_body(w), headers=api.keys["buyer"]),
                   403)["rule"] == "own-projects-only"
    number = authorize(api)
    letter = api.get(f"/article6/letters/{number}").json()
    assert [h["transition"] for h in letter["history"]] == ["receive", "start_review", "approve_and_publish"]
    assert letter["content"]["outcomes"]["quantity_cap"] == 10_000
    project = api.get(f"/projects/{w.project}/article6").json()
    assert (project["status"], project["letter_number"]) == ("authorized", number)
    # administrator-only transitions
    assert problem(api.post(f"/article6/letters/{number}/withdraw", json={"note": "n"},
                            headers=api.keys["proponent"]), 403)["rule"] == "administrator-only"
    assert problem(api.post(f"/article6/letters/{number}/review", headers=api.keys["admin"]),
                   409)["rule"] == "letter-transition"
    wider = letter_body(w, outcomes=replace(content().outcomes, quantity_cap=20_000))["content"]
    refused = problem(api.post(f"/article6/letters/{number}/reduce-scope", headers=api.keys["admin"],
                               json={"content": wider, "note": "n"}), 422)
    assert (refused["rule"], refused["field"]) == ("scope-reduction", "outcomes.quantity_cap")
    amended = api.post(f"/article6/letters/{number}/amend", headers=api.keys["admin"],
                       json={"content": wider, "note": "host country notice"})
    assert amended.json()["status"] == "amended"
    # a second letter, rejected; pagination over both
    second = api.post("/article6/letters", json=letter_body(w), headers=api.keys["admin"]).json()["number"]
    api.post(f"/article6/letters/{second}/review", headers=api.keys["admin"])
    assert api.post(f"/article6/letters/{second}/reject", json={"reason": "duplicate"},
                    headers=api.keys["admin"]).json()["status"] == "rejected"
    page = api.get("/article6/letters", params={"limit": 1, "offset": 1}).json()
    assert page["page"] == {"offset": 1, "limit": 1, "total": 2} and page["items"][0]["number"] == second
    assert api.get("/article6/letters", params={"status": "rejected"}).json()["page"]["total"] == 1
    # bad content is a problem naming the field
    bad = letter_body(w)
    bad["content"]["outcomes"]["vintages"] = {"first": 2030, "last": 2020}
    body = problem(api.post("/article6/letters", json=bad, headers=api.keys["admin"]), 422)
    assert "vintages" in body["field"]
    assert problem(api.get("/article6/letters/999"), 404)["field"] == "number"


def test_designation_ca_and_report_over_http(api):
    w, admin = api.world, api.keys["admin"]
    issuance = {"project_id": w.project, "vintage": 2023, "quantity": 1000, "account_id": w.account,
                "monitoring_start": str(MP[0]), "monitoring_end": str(MP[1]), **VERIFIED}
    refused = problem(api.post("/article6/issuances", json=issuance, headers=admin), 422)
    assert refused["rule"] == "project-authorized"
    authorize(api)
    assert problem(api.post("/article6/issuances", json=issuance, headers=api.keys["proponent"]),
                   403)["rule"] == "administrator-only"
    refused = problem(api.post("/article6/issuances", json={**issuance, "vintage": 2020, "monitoring_start": "2020-01-01",
                                                                  "monitoring_end": "2020-12-31"}, headers=admin), 422)
    assert (refused["rule"], refused["field"]) == ("vintage-from-2021", "issuance.vintage")
    refused = problem(api.post("/article6/issuances", json={**issuance, "uses": ["CORSIA compliance", "other purposes "
                                                                                  "authorized by the host country"]},
                               headers=admin), 422)
    assert refused["rule"] == "uses-authorized"
    created = api.post("/article6/issuances", json=issuance, headers=admin)
    assert created.status_code == 201, created.text
    d = created.json()
    assert (d["quantity"], d["deposit"], d["kind"]) == (1000, 100, "issuance")
    assert d["deposit_blocks"] == ["ICR-ISL-354-78040-14-R-1-2023-000001-000100"]
    assert api.get("/article6/designations", params={"project_id": w.project}).json()["page"]["total"] == 1
    conversion = problem(api.post("/article6/conversions", headers=admin, json={
        "project_id": w.project, "account_id": w.account, "vintage": 2023, "monitoring_start": str(MP[0]),
        "monitoring_end": str(MP[1])}), 422)
    assert conversion["rule"] == "conversion-of-issued-period"  # no standard ICCs were issued for the period
    with transaction(api.world.engine) as s:
        serialization = s.exec(select(Serialization).where(Serialization.article6 == True)).one()  # noqa: E712
        retire(s, account_id=w.account, serialization_id=serialization.id, quantity=40,
               details=RetirementDetails(purpose=Purpose.corsia, corsia_operator="Icelandair", corsia_state="ISL",
                                             compliance_period_start=2024, compliance_period_end=2026))
    retired = api.get("/article6/retirements").json()
    assert retired["items"][0]["ca_label"] == "Pending CA" and retired["items"][0]["purpose"] == "corsia"
    ca_url = f"/projects/{w.project}/article6/ca/2023"
    wrong = problem(api.post(f"{ca_url}/applied", headers=admin, json={
        "kind": "intention", "reference": "letter"}), 422)
    assert (wrong["rule"], wrong["field"]) == ("ca-evidence", "evidence.kind")
    no_quantity = problem(api.post(f"{ca_url}/applied", headers=admin, json={
        "kind": "ca_applied", "reference": "BTR1 table 4"}), 422)
    assert (no_quantity["rule"], no_quantity["field"]) == ("ca-quantity", "evidence.quantity")
    part = ok(api.post(f"{ca_url}/applied", headers=admin, json={
        "kind": "ca_applied", "reference": "BTR1 table 4", "quantity": 10,
        "first_transfer_year": AT.year}))
    assert (part["status"], part["labels"]) == ("pending", [
        {"first_transfer_year": AT.year, "label": "CA applied", "quantity": 10},
        {"first_transfer_year": AT.year, "label": "Pending CA", "quantity": 30}])
    applied = ok(api.post(f"{ca_url}/applied", headers=admin, json={
        "kind": "ca_applied", "reference": "BTR1 table 4 (rest)", "quantity": 30,
        "first_transfer_year": AT.year}))
    assert (applied["status"], applied["label"]) == ("applied", "CA applied")
    assert [h["transition"] for h in applied["history"]] == ["open", "confirm_applied_in_part", "confirm_applied"]
    assert applied["evidence"][0]["quantity"] == 10
    assert api.get("/article6/retirements").json()["items"][0]["ca_label"] == "CA applied"
    assert problem(api.post(f"{ca_url}/not-applied", headers=admin, json={"reason": "x"}), 409)["rule"]
    assert api.get("/article6/ca").json()["page"]["total"] == 1
    report = api.get(f"/article6/annual-reports/{AT.year}")
    assert report.headers["content-type"].startswith("application/json")
    (isl,) = report.json()["countries"]
    assert (isl["issued"], isl["retired_corsia"], isl["ca_applied"]) == (1000, 40, 40)
    as_csv = api.get(f"/article6/annual-reports/{AT.year}", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {"year": str(AT.year), "host_country": "ISL", "metric": "retired_corsia_period",
            "compliance_period": "2024-2026", "quantity": "40"} in rows
    assert problem(api.get(f"/article6/annual-reports/{AT.year}", params={"format": "xml"}), 422)["field"] == "format"
    # a wrong "CA applied" is reversed only on evidence, as a recorded transition
    refused = problem(api.post(f"{ca_url}/correction", headers=admin, json={"status": "pending", "reason": "x"}), 422)
    assert (refused["rule"], refused["field"]) == ("ca-correction-evidence", "evidence")
    corrected = ok(api.post(f"{ca_url}/correction", headers=admin, json={
        "status": "not_applied", "reason": "BTR1 row 9 is another project",
        "evidence": {"kind": "correction", "reference": "BTR1 erratum"}}))
    assert (corrected["status"], corrected["history"][-1]["transition"]) == ("not_applied", "correct_to_not_applied")
    assert corrected["labels"] == [{"first_transfer_year": AT.year, "label": "No CA applied", "quantity": 40}]


def test_non_ca_events_and_compensation_over_http(api):
    w, admin = api.world, api.keys["admin"]
    authorize(api)
    api.post("/article6/issuances", headers=admin, json={
        "project_id": w.project, "vintage": 2024, "quantity": 500, "account_id": w.account,
        "monitoring_start": "2024-01-01", "monitoring_end": "2024-12-31", **VERIFIED})
    api.post("/article6/issuances", headers=admin, json={
        "project_id": w.project, "vintage": 2023, "quantity": 100, "account_id": w.account,
        "monitoring_start": str(MP[0]), "monitoring_end": str(MP[1]), **VERIFIED})
    with transaction(w.engine) as s:
        serialization = s.exec(select(Serialization).where(
            Serialization.text == "ICR-ISL-354-78040-14-R-1-2023")).one()
        retire(s, account_id=w.account, serialization_id=serialization.id, quantity=60,
               details=RetirementDetails(purpose=Purpose.ndc, ndc_party="CHE"))
    events = api.post(f"/projects/{w.project}/article6/ca/2023/not-applied", headers=admin,
                      json={"reason": "BTR shows no CA", "suspend": True}).json()
    assert [(e["quantity"], e["trigger"]) for e in events] == [(60, "decision")]
    assert api.get(f"/projects/{w.project}/article6").json()["status"] == "suspended"
    event_id = events[0]["id"]
    compensated = api.post(f"/article6/non-ca-events/{event_id}/compensation", headers=admin,
                           json={"notified_on": "2026-01-05", "replacement_purchase": 10})
    body = compensated.json()
    assert [(s["kind"], s["quantity"], s["status"]) for s in body["steps"]] == [
        ("cancel_own_excess", 50, "done"), ("purchase_replacements", 10, "due")]
    step = body["steps"][1]
    assert step["due_by"] == "2026-03-30"  # 60 business days: over by the server's date
    assert problem(api.post("/article6/compensation-steps/lapse", headers=api.keys["proponent"]), 403)
    replanned = ok(api.post("/article6/compensation-steps/lapse", headers=admin))
    assert [(s["kind"], s["quantity"], s["status"], s["seq"]) for s in replanned] == [
        ("cancel_subsequent_holdings", 10, "done", 3)]  # the proponent's 2024 ICCs
    assert ok(api.post("/article6/compensation-steps/lapse", headers=admin)) == []
    late = problem(api.post(f"/article6/compensation-steps/{step['id']}/complete", headers=admin,
                            json={"evidence": "Registry X #1"}), 409)
    assert late["rule"] == "replacement-due"
    assert api.get(f"/article6/non-ca-events/{event_id}").json()["status"] == "compensated"
    assert problem(api.post(f"/article6/non-ca-events/{event_id}/compensation", headers=admin,
                            json={"notified_on": "2026-11-02"}), 409)["rule"] == "event-compensated"
    refused = problem(api.post(f"/projects/{w.project}/article6/reinstate", headers=admin,
                               json={"evidence": "x"}), 422)
    assert refused["rule"] == "rectified-before-reinstatement"
    assert api.get("/article6/non-ca-events", params={"project_id": w.project}).json()["page"]["total"] == 1
    assert api.post("/article6/non-ca-events/detect", headers=admin, json={}).json() == []
    with Session(w.engine) as s:
        assert verify_ledger(s).ok


def test_annual_report_editions_over_http(api):
    w, admin = api.world, api.keys["admin"]
    authorize(api)
    ok(api.post("/article6/issuances", headers=admin, json={
        "project_id": w.project, "vintage": 2023, "quantity": 1000, "account_id": w.account,
        "monitoring_start": str(MP[0]), "monitoring_end": str(MP[1]), **VERIFIED}), 201)
    year = AT.year - 2  # due whatever the server's date: its six months are over
    with transaction(w.engine) as s:
        for d in s.exec(select(A6Designation)).all():
            d.created_at = datetime(year, 5, 1, tzinfo=timezone.utc)
            s.add(d)
    live = ok(api.get(f"/article6/annual-reports/{year}"))
    assert ok(api.get(f"/article6/annual-reports/{year}/editions"))["items"] == []
    assert problem(api.post("/article6/annual-reports/publish", headers=api.keys["proponent"]), 403)
    published = ok(api.post("/article6/annual-reports/publish", headers=admin))
    assert [(e["year"], e["edition"], e["kind"]) for e in published if e["year"] == year] == [(year, 1, "original")]
    assert all(e["kind"] == "original" for e in published)
    assert ok(api.post("/article6/annual-reports/publish", headers=admin)) == []
    edition = api.get(f"/article6/annual-reports/{year}/editions/1")
    assert edition.status_code == 200 and edition.json() == live
    assert hashlib.sha256(edition.content).hexdigest() == published[0]["sha256"] == edition.headers["x-report-sha256"]
    served = api.get(f"/article6/annual-reports/{year}")
    assert served.headers["x-report-edition"] == "1" and served.json()["countries"][0]["issued"] == 1000
    as_csv = api.get(f"/article6/annual-reports/{year}/editions/1", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv") and "issued" in as_csv.text
    assert problem(api.get(f"/article6/annual-reports/{year}/editions/2"), 404)["field"] == "edition"


def test_compensation_mechanism_over_http(api):
    w, admin = api.world, api.keys["admin"]
    url = f"/projects/{w.project}/article6"
    body = {"adjustment_percentage": 0, "risk_assessment": "RA-2026-02", "methodology_approved": True}
    refused = problem(api.put(url, headers=admin, json=body), 422)
    assert (refused["rule"], refused["field"]) == ("compensation-mechanism", "adjustment_percentage")
    assert ok(api.get(url))["adjustment_percentage"] == "10"  # unchanged
    weak = {**body, "insurance": {"insurer": "Small Re", "policy": "SR-1", "investment_grade": False}}
    assert problem(api.put(url, headers=admin, json=weak), 422)["rule"] == "insurance-eligible"
    insured = {**body, "insurance": {"insurer": "Nordic Re hf.", "policy": "NR-2026-17", "investment_grade": True,
                                     "loss_payee": "icr"}, "non_permanence_risk": True, "non_permanence_percentage": 5}
    project = ok(api.put(url, headers=admin, json=insured))
    assert (project["adjustment_percentage"], project["insurer"], project["non_permanence_percentage"]) == (
        "0", "Nordic Re hf.", "5")


def test_additionality_over_http(api):
    w, admin = api.world, api.keys["admin"]
    data = api.get(f"/projects/{w.project}/additionality").json()
    assert [c["level"] for c in data["claims"]] == ["1", "2a", "3"]
    assert problem(api.post(f"/projects/{w.project}/additionality", headers=admin, json={
        "crediting_start": "2021-01-01", "crediting_end": "2030-12-31", "claims": []}), 409)["rule"] == \
        "claims-registered-once"
    with transaction(w.engine) as s:
        other = register_project(s, project_number=5, name="P5", country="ISL", dial_code="354", sector=1,
                                 credit_type="A", methodology="M").id
    refused = problem(api.post(f"/projects/{other}/additionality", headers=admin, json={
        "crediting_start": "2021-01-01", "crediting_end": "2030-12-31",
        "claims": [{"level": "3", "justification": "j", "method": "common practice, Option I (comparable activity)",
                    "common_practice": {"n_all": 10, "n_diff": 5},
                    "sources": [{"reference": "r", "authority": "a", "published_on": "2025-01-01"}]}]}), 422)
    assert refused["rule"] == "level-1-required" and "common-practice" in refused["detail"]
    assert problem(api.post(f"/projects/{other}/additionality", headers=api.keys["proponent"], json={}),
                   403)["rule"] == "administrator-only"
    src = [{"reference": "Regulation 2026/3", "authority": "Althingi", "published_on": "2026-02-01"}]
    report = {"level": "2a", "period_start": "2024-01-01", "period_end": "2024-12-31", "report": "MR-2024",
              "summary": "the activity is now mandated", "sources": src, "still_met": False}
    created = api.post(f"/projects/{w.project}/additionality/reports", headers=admin, json=report)
    assert created.status_code == 201 and created.json()["still_met"] is False
    again = problem(api.post(f"/projects/{w.project}/additionality/reports", headers=admin, json=report), 422)
    assert (again["rule"], again["field"]) == ("one-report-per-period", "period")
    claims = {c["level"]: c for c in api.get(f"/projects/{w.project}/additionality").json()["claims"]}
    assert claims["2a"]["status"] == "revised: no longer met"
    assert [h["to_status"] for h in claims["2a"]["history"]] == ["demonstrated", "revised: no longer met"]
    assert claims["2a"]["history"][-1]["report"] == "MR-2024"
    api.post(f"/projects/{w.project}/additionality/reports", headers=admin, json={
        **report, "level": "1", "still_met": True, "summary": "monitored"})
    page = api.get(f"/projects/{w.project}/additionality/reports", params={"limit": 1}).json()
    assert page["page"]["total"] == 2 and len(page["items"]) == 1
    assert api.get(f"/projects/{w.project}/additionality/reports", params={"level": "1"}).json()["page"]["total"] == 1


def test_additionality_calculators(api):
    r = api.post("/additionality/calculators/common-practice", json={"n_all": 100, "n_diff": 81}).json()
    assert (r["share"], r["passes"]) == ("19/100", True)
    r = api.post("/additionality/calculators/market-penetration",
                 json={"adoption": "5", "max_adoption_potential": "100"}).json()
    assert (r["percent"], r["passes"]) == ("5.00", False)
    r = api.post("/additionality/calculators/level-4b",
                 json={"non_carbon_gross_annual_revenue": 50, "capex": 1000}).json()
    assert r["passes"] is True
    r = api.post("/additionality/calculators/investment", json={"model": {
        "capex": 1000, "annual_opex": 100, "annual_revenue": 300, "lifetime_years": 5, "discount_rate": "0.10"},
        "sensitivity_variations": [-10, 10]}).json()
    assert r["npv"] == pytest.approx(-241.8426, abs=1e-4) and r["irr"] == pytest.approx(0, abs=1e-12)
    assert len(r["sensitivity"]) == 8 and r["sensitivity_robust"] is True
    r = api.post("/additionality/calculators/deviations", json={
        "ex_ante": {"capex": 1000, "opex": 100}, "actual": {"capex": 1150, "opex": 120}}).json()
    assert r["unexplained"] == ["deviations.opex"]
    bad = problem(api.post("/additionality/calculators/investment", json={"model": {
        "capex": 0, "annual_opex": 1, "annual_revenue": 1, "lifetime_years": 5, "discount_rate": "0.1"}}), 422)
    assert (bad["rule"], bad["field"]) == ("4a-model", "model.capex")
    assert problem(api.post("/additionality/calculators/common-practice", json={"n_all": 1, "n_diff": 2}),
                   422)["field"] == "n_diff"


@pytest.mark.parametrize("path, body, field", [
    # 55 bytes that held the interpreter for minutes (a 100-million-digit fraction)
    ("market-penetration", {"adoption": "1e99999999", "max_adoption_potential": "3"}, "adoption"),
    # overflowed the 28-digit decimal context when shown as a percentage (answered 500)
    ("level-4b", {"non_carbon_gross_annual_revenue": "1e40", "capex": "1"}, "non_carbon_gross_annual_revenue"),
    # one cash flow per year: 3000 years ran for minutes
    ("investment", {"model": {"capex": 100, "annual_opex": 1, "annual_revenue": 5, "lifetime_years": 3000,
                              "discount_rate": "0.08"}}, "model.lifetime_years"),
    ("investment", {"model": {"capex": 100, "annual_opex": 1, "annual_revenue": 5, "lifetime_years": 5,
                              "discount_rate": "0.08"}, "sensitivity_variations": list(range(1, 30))},
     "sensitivity_variations"),
    ("common-practice", {"n_all": 10**13, "n_diff": 1}, "n_all"),
    ("deviations", {"ex_ante": {"capex": "Infinity"}, "actual": {"capex": 1}}, "ex_ante.capex"),
])
def test_calculator_inputs_are_bounded_before_any_arithmetic(api, path, body, field):
    """Refused by the request model, so no calculator runs (each of these ran for minutes or
    answered 500 before)."""
    body = problem(api.post(f"/additionality/calculators/{path}", json=body), 422)
    assert body["field"] == field


def test_the_largest_bounded_inputs_are_answered(sqlite_engine):
    """At the bounds the calculators answer (a percentage of 38 digits is computed, not a 500)."""
    client = TestClient(create_app(sqlite_engine))
    r = client.post("/additionality/calculators/level-4b",
                    json={"non_carbon_gross_annual_revenue": "9" * 24 + "." + "9" * 12, "capex": "0.000000000001"})
    assert r.status_code == 200 and r.json()["passes"] is False and r.json()["percent"].endswith(".00")


def test_reproduction_1_double_issuance_is_refused_over_http(api):
    """Issue 16, reproduction 1: 1,000 standard ICCs for 2023, then ``POST /article6/issuances``
    for the same period was accepted, twice; 2019 mitigation could be issued as vintage 2021."""
    w, admin = api.world, api.keys["admin"]
    year = {"monitoring_start": "2023-01-01", "monitoring_end": "2023-12-31", **VERIFIED}
    standard = api.post("/issuances", headers=admin, json={"project_id": w.project, "vintage": 2023,
                                                            "quantity": 1000, "account_id": w.account, **year})
    assert standard.status_code == 201, standard.text
    assert (standard.json()["monitoring_start"], standard.json()["verification_body"]) == ("2023-01-01", "VVB hf.")
    authorize(api)
    a6 = {"project_id": w.project, "vintage": 2023, "quantity": 1000, "account_id": w.account, **year}
    for _ in range(2):
        refused = problem(api.post("/article6/issuances", json=a6, headers=admin), 422)
        assert (refused["rule"], refused["field"]) == ("article6-by-conversion-only", "monitoring_start")
        assert "seed 003 §I.12" in refused["detail"]
    again = problem(api.post("/issuances", headers=admin, json={"project_id": w.project, "vintage": 2023,
                                                                  "quantity": 5, "account_id": w.account, **year}), 422)
    assert again["rule"] == "no-double-issuance" and "seed 004 criterion 7(a)" in again["detail"]
    as_2021 = problem(api.post("/article6/issuances", headers=admin, json={
        **a6, "vintage": 2021, "monitoring_start": "2019-01-01", "monitoring_end": "2019-12-31"}), 422)
    assert as_2021["rule"] == "vintage-is-monitoring-year" and "seed 003 §4" in as_2021["detail"]
    unverified = problem(api.post("/issuances", headers=admin, json={
        "project_id": w.project, "vintage": 2024, "quantity": 5, "account_id": w.account,
        "monitoring_start": "2024-01-01", "monitoring_end": "2024-01-31"}), 422)
    assert unverified["rule"] == "ex-post-verified" and "seed 004 criterion 3" in unverified["detail"]
    converted = api.post("/article6/conversions", headers=admin, json={
        "project_id": w.project, "account_id": w.account, "vintage": 2023, "monitoring_start": "2023-01-01",
        "monitoring_end": "2023-12-31", "quantity": 300})
    assert converted.status_code == 201, converted.text


def test_reproduction_3_compliance_dates_are_the_registrys_over_http(api):
    """Issue 16, reproduction 3: a letter that expired on 2026-06-30 designated 1,000 t with
    ``on: 2026-01-15``; evidence and detection dates were the caller's."""
    w, admin = api.world, api.keys["admin"]
    authorize(api, validity=Validity(date(2025, 6, 1), date(2025, 7, 1), date(2026, 6, 30)))
    body = {"project_id": w.project, "vintage": 2023, "quantity": 1000, "account_id": w.account,
            "monitoring_start": "2023-01-01", "monitoring_end": "2023-12-31", **VERIFIED}
    old = problem(api.post("/article6/issuances", headers=admin, json={**body, "on": "2026-01-15"}), 422)
    assert old["field"] == "on"  # the field is gone: the caller does not choose the date
    if AT.date() > date(2026, 6, 30):
        today = problem(api.post("/article6/issuances", headers=admin, json=body), 422)
        assert (today["rule"], today["field"]) == ("letter-valid-on-date", "as_of") and "§I.9" in today["detail"]
    unexplained = problem(api.post("/article6/issuances", headers=admin, json={**body, "as_of": "2026-01-15"}), 422)
    assert (unexplained["rule"], unexplained["field"]) == ("back-dating-needs-reason", "as_of_reason")
    explained = problem(api.post("/article6/issuances", headers=admin, json={
        **body, "as_of": "2026-01-15", "as_of_reason": "the review concluded then"}), 422)
    # the letter was approved today: the registry could not have designated under it in January
    assert explained["rule"] == "as-of-after-registry-could-act" and "§II.1" in explained["detail"]
    assert problem(api.post("/article6/non-ca-events/detect", headers=admin, json={"on": "2030-01-01"}),
                   422)["field"] == "on"
    assert api.get("/article6/designations").json()["page"]["total"] == 0


def test_ex_ante_by_an_authorized_project_and_a_foreign_sector_are_refused_over_http(api):
    """Issue 16 item 6: ex-ante issuance by an authorized project (§4.1), and a letter whose
    sector or methodology is not the project's (§I.3.4)."""
    w, admin = api.world, api.keys["admin"]
    authorize(api, activity=replace(content().activity, methodology="ICR-M-999"))
    ex_ante = problem(api.post("/issuances", headers=admin, json={
        "project_id": w.project, "vintage": 2024, "quantity": 5, "account_id": w.account, "kind": "ex_ante",
        "monitoring_start": "2024-01-01", "monitoring_end": "2024-06-30"}), 422)
    assert ex_ante["rule"] == "ex-post-only" and "seed 003 §4.1" in ex_ante["detail"]
    refused = problem(api.post("/article6/issuances", headers=admin, json={
        "project_id": w.project, "vintage": 2023, "quantity": 10, "account_id": w.account,
        "monitoring_start": "2023-01-01", "monitoring_end": "2023-01-31", **VERIFIED}), 422)
    assert refused["rule"] == "letter-methodology-matches-project" and "§I.3.4" in refused["detail"]
def test_class_uses_follow_the_letter_over_http(api):
    """A designation for NDC only is never retired for CORSIA (§I.5); a narrowed letter takes
    CORSIA from the classes already designated (§I.10.2-3), in the registry and the metadata; a
    withdrawn letter holds NDC (§I.10.3). Each refusal is a problem naming its rule and section."""
    w, admin, proponent = api.world, api.keys["admin"], api.keys["proponent"]
    number = authorize(api)
    issuance = {"project_id": w.project, "vintage": 2023, "quantity": 100, "account_id": w.account,
                "monitoring_start": str(MP[0]), "monitoring_end": str(MP[1]), **VERIFIED}
    ndc_only = api.post("/article6/issuances", json={**issuance, "uses": ["achievement of another party's NDC"]},
                        headers=admin).json()
    assert ndc_only["requested_uses"] == ["ndc"]
    both = api.post("/article6/issuances", headers=admin, json={
        **issuance, "vintage": 2024, "monitoring_start": "2024-01-01", "monitoring_end": "2024-12-31"}).json()
    assert both["requested_uses"] == ["corsia", "ndc"]
    corsia = {"account_id": w.account, "quantity": 1, "purpose": "corsia", "corsia_operator": "Icelandair",
              "corsia_state": "ISL", "compliance_period_start": 2024, "compliance_period_end": 2026}
    ndc = {"account_id": w.account, "quantity": 1, "purpose": "ndc", "ndc_party": "CHE"}
    s23, s24 = "ICR-ISL-354-78040-14-R-1-2023", "ICR-ISL-354-78040-14-R-1-2024"
    refused = problem(api.post("/retirements", json={**corsia, "serialization": s23}, headers=proponent), 422)
    assert (refused["rule"], refused["field"]) == ("retirement-use-authorized", "purpose")
    assert "§I.5" in refused["detail"] and "did not request corsia" in refused["detail"]
    assert api.post("/retirements", json={**corsia, "serialization": s24}, headers=proponent).status_code == 201

    narrower = letter_body(w, uses=frozenset({AuthorizedUse.ndc}))["content"]
    assert api.post(f"/article6/letters/{number}/reduce-scope", headers=admin,
                    json={"content": narrower, "note": "host country notice"}).status_code == 200
    refused = problem(api.post("/retirements", json={**corsia, "serialization": s24}, headers=proponent), 422)
    assert refused["rule"] == "use-removed-by-letter" and "§I.10.2-3" in refused["detail"]
    props = api.get(f"/metadata/{int(both['token_id']):064x}.json").json()["properties"]
    assert props["letter"]["status"] == "scope reduced"
    assert props["authorized_uses"] == props["letter"]["authorized_uses"] == ["ndc"]
    assert [(u["purpose"], u["rule"], u["section"]) for u in props["uses_withheld"]] == [
        ("corsia", "use-removed-by-letter", "§I.10.2-3")]
    assert api.post("/retirements", json={**ndc, "serialization": s24}, headers=proponent).status_code == 201

    assert api.post(f"/article6/letters/{number}/withdraw", headers=admin, json={"note": "withdrawn"}).status_code == 200
    before = api.get("/retirements").json()["page"]["total"]
    refused = problem(api.post("/retirements", json={**ndc, "serialization": s23}, headers=proponent), 422)
    assert refused["rule"] == "letter-withdrawn-hold" and "§I.10.3" in refused["detail"]
    assert api.get("/retirements").json()["page"]["total"] == before
    assert api.get(f"/metadata/{int(ndc_only['token_id']):064x}.json").json()["properties"]["authorized_uses"] == []
    with Session(api.world.engine) as s:
        assert verify_ledger(s).ok
