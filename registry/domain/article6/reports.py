"""The Article 6.2 annual report (§III): plain records in, one line per host country out,
as a dict, JSON or CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Iterable

from registry.domain.article6.letters import Letter
from registry.domain.classes import CAStatus, Purpose


@dataclass(frozen=True)
class IssuedRecord:
    """Article 6.2 ICCs issued or designated (incl. by conversion) in ``year``."""

    host_country: str
    year: int
    quantity: int


@dataclass(frozen=True)
class RetiredRecord:
    """A retirement of Article 6.2 ICCs, with the CA status of its project and vintage."""

    host_country: str
    year: int
    quantity: int
    purpose: Purpose
    ca_status: CAStatus
    corsia_compliance_period: str | None = None  # e.g. "2024-2026"; required for CORSIA


@dataclass(frozen=True)
class CancelledRecord:
    """A cancellation of Article 6.2 ICCs; only ``double_claim`` ones are reported (§III.1.4)."""

    host_country: str
    year: int
    quantity: int
    double_claim: bool


@dataclass(frozen=True)
class TransferredRecord:
    """Article 6.2 ICCs transferred from one registry account to another in ``year``."""

    host_country: str
    year: int
    quantity: int


@dataclass(frozen=True)
class AuthorizedRecord:
    """A letter's maximum authorized quantity (None: no cap) counted in ``year``."""

    host_country: str
    year: int
    max_quantity: int | None


def authorized_records(letter: Letter) -> tuple[AuthorizedRecord, ...]:
    """The §III.3 records of a letter: its maximum authorized quantity counted in every calendar
    year of its scope (its authorized vintages, §I.4.4), not only in the year it was issued.
    The cap is cumulative over the scope (§I.4.6), so each of those years shows the whole cap."""
    c = letter.content
    v = c.outcomes.vintages
    return tuple(AuthorizedRecord(c.authorizing_party.host_country, year, c.outcomes.quantity_cap)
                 for year in range(v.first, v.last + 1))


@dataclass(frozen=True)
class CountryYear:
    """One host country's line of the report (§III.1, §III.3, §III.4)."""

    host_country: str
    issued: int = 0
    transferred: int = 0  # between registry accounts (a transfer of the units, not an international transfer)
    retired_corsia: int = 0
    retired_ndc: int = 0
    retired_voluntary: int = 0
    retired_other_international: int = 0
    cancelled_double_claim: int = 0
    max_authorized: int = 0  # sum of the caps of capped letters
    uncapped_letters: int = 0  # letters without a cap (unbounded maximum)
    ca_pending: int = 0
    ca_applied: int = 0
    ca_not_applied: int = 0


@dataclass(frozen=True)
class AnnualReport:
    year: int
    due_by: date  # six months after the end of the year (§III)
    countries: tuple[CountryYear, ...]
    corsia_by_period: tuple[tuple[str, str, int], ...]  # (host country, compliance period, t) §III.2


_PURPOSE_COLUMN = {Purpose.corsia: "retired_corsia", Purpose.ndc: "retired_ndc",
                   Purpose.voluntary: "retired_voluntary", Purpose.other_international: "retired_other_international"}
_CA_COLUMN = {CAStatus.pending: "ca_pending", CAStatus.applied: "ca_applied", CAStatus.not_applied: "ca_not_applied"}


def annual_report_due(year: int) -> date:
    """Publication deadline: within six months after the end of ``year`` (§III)."""
    return date(year + 1, 6, 30)


def annual_report(year: int, issued: Iterable[IssuedRecord], retired: Iterable[RetiredRecord],
                  cancelled: Iterable[CancelledRecord], authorized: Iterable[AuthorizedRecord],
                  transferred: Iterable[TransferredRecord] = ()) -> AnnualReport:
    """Aggregate plain records into the §III report for ``year`` (records of other years are
    ignored), by host country. Retirements for other international mitigation purposes are
    reported in a column of their own, beside the four of §III.1."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    corsia: dict[tuple[str, str], int] = defaultdict(int)
    for i in issued:
        if i.year == year:
            rows[i.host_country]["issued"] += i.quantity
    for t in transferred:
        if t.year == year:
            rows[t.host_country]["transferred"] += t.quantity
    for r in retired:
        if r.year != year:
            continue
        if r.ca_status not in _CA_COLUMN:
            raise ValueError(f"ca_status: retired Article 6.2 ICCs have a CA status, not {r.ca_status.name}")
        row = rows[r.host_country]
        row[_PURPOSE_COLUMN[r.purpose]] += r.quantity
        row[_CA_COLUMN[r.ca_status]] += r.quantity
        if r.purpose is Purpose.corsia:
            if not r.corsia_compliance_period:
                raise ValueError("corsia_compliance_period: required for a CORSIA retirement (§III.2)")
            corsia[(r.host_country, r.corsia_compliance_period)] += r.quantity
    for c in cancelled:
        if c.year == year and c.double_claim:
            rows[c.host_country]["cancelled_double_claim"] += c.quantity
    for a in authorized:
        if a.year != year:
            continue
        if a.max_quantity is None:
            rows[a.host_country]["uncapped_letters"] += 1
        else:
            rows[a.host_country]["max_authorized"] += a.max_quantity
    countries = tuple(CountryYear(country, **dict(rows[country])) for country in sorted(rows))
    return AnnualReport(year, annual_report_due(year), countries,
                        tuple((h, p, q) for (h, p), q in sorted(corsia.items())))


def report_to_dict(report: AnnualReport) -> dict[str, Any]:
    return {
        "year": report.year,
        "due_by": report.due_by.isoformat(),
        "countries": [{f.name: getattr(c, f.name) for f in fields(c)} for c in report.countries],
        "corsia_by_compliance_period": [
            {"host_country": h, "compliance_period": p, "quantity": q} for h, p, q in report.corsia_by_period],
    }


def report_to_json(report: AnnualReport) -> str:
    """Deterministic JSON of the report (sorted keys)."""
    return json.dumps(report_to_dict(report), sort_keys=True, indent=2)


def report_from_dict(data: dict[str, Any]) -> AnnualReport:
    """The report :func:`report_to_dict` wrote (a frozen edition read back)."""
    return AnnualReport(int(data["year"]), date.fromisoformat(data["due_by"]),
                        tuple(CountryYear(**c) for c in data["countries"]),
                        tuple((c["host_country"], c["compliance_period"], c["quantity"])
                              for c in data["corsia_by_compliance_period"]))


def report_hash(report: AnnualReport) -> str:
    """SHA-256 (hex) of the report's deterministic JSON: the stamp of a published edition."""
    return hashlib.sha256(report_to_json(report).encode()).hexdigest()


def report_published_by(year: int, today: date) -> bool:
    """A year's report is due, and published, once its six months are over (§III)."""
    return today > annual_report_due(year)


CSV_COLUMNS = ("year", "host_country", "metric", "compliance_period", "quantity")


def report_to_csv(report: AnnualReport) -> str:
    """The report as one long-format CSV: one row per host country and metric, then one per
    host country and CORSIA compliance period (metric ``retired_corsia_period``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in report.countries:
        for f in fields(c):
            if f.name != "host_country":
                writer.writerow((report.year, c.host_country, f.name, "", getattr(c, f.name)))
    for h, p, q in report.corsia_by_period:
        writer.writerow((report.year, h, "retired_corsia_period", p, q))
    return out.getvalue()
