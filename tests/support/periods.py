"""Monitoring periods and verifications for test issuances: each issuance of a project takes
the next free days of its vintage year, so tests that issue a vintage many times never issue a
period twice (registry.domain.monitoring refuses that)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from registry.tables.core import ExAnteConversion, Issuance, Serialization, utcnow


def next_period(session: Session, project_id: int, vintage: int, days: int = 1) -> tuple[date, date]:
    """The first ``days`` days of ``vintage`` that no period issued for the project covers."""
    taken = sorted(session.exec(select(Issuance.monitoring_start, Issuance.monitoring_end).join(
        Serialization, Serialization.id == Issuance.serialization_id).where(
        Serialization.project_id == project_id, Issuance.monitoring_end.is_not(None))).all())
    start = date(vintage, 1, 1)
    for first, last in taken:
        if last < start:
            continue
        if start + timedelta(days=days - 1) < first:
            break
        start = max(start, last + timedelta(days=1))
    end = start + timedelta(days=days - 1)
    if end.year != vintage:
        raise RuntimeError(f"no free monitoring period of {days} days left in {vintage}")
    return start, end


def verified(session: Session, project_id: int, vintage: int, days: int = 1) -> dict:
    """Keyword arguments of an ex-post issuance: the next free period and a verification of it."""
    start, end = next_period(session, project_id, vintage, days)
    return {"monitoring_start": start, "monitoring_end": end, "verification_reference": f"VR-{vintage}-{start}",
            "verification_body": "Test Verification Body", "verified_on": max(end, utcnow().date())}


def predicted(session: Session, project_id: int, vintage: int, days: int = 10) -> dict:
    """Keyword arguments of an ex-ante issuance: the next free period, predicted (no verification)."""
    start, end = next_period(session, project_id, vintage, days)
    return {"monitoring_start": start, "monitoring_end": end}


def verification_of(session: Session, issuance_id: int) -> dict:
    """Keyword arguments of a conversion of an ex-ante issuance: the next day of its predicted
    period no earlier conversion verified (the last day again when none is left), and a
    verification."""
    issuance = session.get(Issuance, issuance_id)
    ends = session.exec(select(ExAnteConversion.monitoring_end).where(
        ExAnteConversion.issuance_id == issuance_id)).all()
    day = issuance.monitoring_start if not ends else max(ends) + timedelta(days=1)
    day = min(day, issuance.monitoring_end)
    return {"monitoring_start": day, "monitoring_end": day, "verification_body": "Test Verification Body",
            "verified_on": max(day, utcnow().date())}


def verified_year(vintage: int) -> dict:
    """Keyword arguments of an ex-post issuance for the whole of ``vintage``, verified in March after it."""
    return {"monitoring_start": date(vintage, 1, 1), "monitoring_end": date(vintage, 12, 31),
            "verification_reference": f"VR-{vintage}", "verification_body": "Test Verification Body",
            "verified_on": min(date(vintage + 1, 3, 1), utcnow().date())}
