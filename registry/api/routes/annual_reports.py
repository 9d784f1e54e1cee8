"""The Article 6.2 annual report (§III), as JSON or long-format CSV."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from registry.api.deps import SessionDep
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.article6 import Article6AnnualReport, ReportFormat
from registry.domain.article6 import reports as a6_reports
from registry.errors import RuleViolation
from registry.operations.article6 import reports as report_ops

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@router.get("/article6/annual-reports/{year}", response_model=Article6AnnualReport,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "The §III report as JSON, or as long-format CSV with ?format=csv"}})
def annual_report(year: int, session: SessionDep, format: ReportFormat = ReportFormat.json) -> Response:
    """Annual report for a calendar year (§III), computed from the registry's data."""
    if not 1000 <= year <= 9999:
        raise RuleViolation(f"{year} is not a four-digit year", field="year")
    report = report_ops.annual_report_for(session, year)
    if format is ReportFormat.csv:
        return Response(a6_reports.report_to_csv(report), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="icr-article6-{year}.csv"'})
    return Response(a6_reports.report_to_json(report), media_type="application/json")
