"""The Article 6.2 annual report (§III), as JSON or long-format CSV, and its published editions."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.pagination import Paged, PageDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.article6 import Article6AnnualReport, ReportEditionPublic, ReportFormat
from registry.domain.article6 import reports as a6_reports
from registry.errors import NotFound, RuleViolation
from registry.operations.article6 import reports as report_ops
from registry.tables.article6 import A6ReportEdition
from registry.tables.core import utcnow

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@router.get("/article6/annual-reports/{year}", response_model=Article6AnnualReport,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "The §III report as JSON, or as long-format CSV with ?format=csv"}})
def annual_report(year: int, session: SessionDep, format: ReportFormat = ReportFormat.json) -> Response:
    """Annual report for a calendar year (§III): its latest published edition once one exists
    (headers ``X-Report-Edition``, ``X-Report-SHA256``), computed from the registry's data before."""
    _check_year(year)
    published = report_ops.editions(session, year)
    if published:
        return _edition_response(published[-1], format)
    return _report_response(report_ops.annual_report_for(session, year), format)


def _check_year(year: int) -> None:
    if not 1000 <= year <= 9999:
        raise RuleViolation(f"{year} is not a four-digit year", field="year")


def _report_response(report, format: ReportFormat, headers: dict[str, str] | None = None) -> Response:
    if format is ReportFormat.csv:
        return Response(a6_reports.report_to_csv(report), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="icr-article6-{report.year}.csv"', **(headers or {})})
    return Response(a6_reports.report_to_json(report), media_type="application/json", headers=headers)


def _edition_response(row: A6ReportEdition, format: ReportFormat) -> Response:
    report = a6_reports.report_from_dict(json.loads(row.content))
    return _report_response(report, format, {"X-Report-Edition": str(row.edition), "X-Report-SHA256": row.sha256})


def _edition_public(row: A6ReportEdition) -> ReportEditionPublic:
    return ReportEditionPublic(year=row.year, edition=row.edition, kind=row.kind, sha256=row.sha256,
                               published_at=row.published_at, supersedes_edition=row.edition - 1 if row.supersedes
                               else None)


@router.get("/article6/annual-reports/{year}/editions")
def list_editions(year: int, session: SessionDep, page: PageDep) -> Paged[ReportEditionPublic]:
    """The published editions of a year's report, oldest first: the original, then corrections."""
    _check_year(year)
    editions = [_edition_public(r) for r in report_ops.editions(session, year)]
    return page.answer(len(editions), page.window(editions))


@router.get("/article6/annual-reports/{year}/editions/{edition}", response_model=Article6AnnualReport,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "The frozen edition as JSON, or long-format CSV with ?format=csv"}})
def get_edition(year: int, edition: int, session: SessionDep, format: ReportFormat = ReportFormat.json) -> Response:
    """One published edition, exactly as published; its SHA-256 is that of the JSON body."""
    _check_year(year)
    row = next((r for r in report_ops.editions(session, year) if r.edition == edition), None)
    if row is None:
        raise NotFound(f"the {year} report has no edition {edition}", field="edition")
    return _edition_response(row, format)


@router.post("/article6/annual-reports/publish")
def publish(session: SessionDep, principal: AdminDep) -> list[ReportEditionPublic]:
    """Publish every due report (as of the server's date) not yet published, and a correction
    edition of each whose figures changed since its last edition (administrator)."""
    with committing(session):
        return [_edition_public(r) for r in report_ops.publish_annual_reports(
            session, today=utcnow().date(), actor=actor_of(principal))]
