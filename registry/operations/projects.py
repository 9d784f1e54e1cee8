"""Projects and their vintage serializations (each with its credit class)."""

from __future__ import annotations

from sqlmodel import Session, select

from registry.domain import serials as sr
from registry.domain.classes import STANDARD_AUTHORIZED_USES, ClassKey
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations.ledger import append_entry
from registry.tables.core import CreditClass, Project, Serialization


def register_project(
    session: Session,
    *,
    project_number: int,
    name: str,
    country: str,
    dial_code: str,
    sector: int,
    credit_type: str,
    methodology: str,
) -> Project:
    # Validate the serialization fields through the same parser users' serials go through.
    probe = f"ICR-{country}-{dial_code}-{project_number}-{sector:02d}-{credit_type}-0-2000"
    try:
        sr.parse_serialization(probe)
    except sr.SerialFormatError as exc:
        raise RuleViolation(str(exc), field=exc.segment.replace(" ", "_")) from exc
    if session.exec(select(Project).where(Project.project_number == project_number)).first():
        raise Conflict(f"project number {project_number} is already registered", field="project_number")
    project = Project(
        project_number=project_number,
        name=name,
        country=country,
        dial_code=dial_code,
        sector=sector,
        credit_type=credit_type,
        methodology=methodology,
    )
    session.add(project)
    session.flush()
    append_entry(session, "project.registered", project.model_dump(mode="json", exclude={"created_at"}))
    return project


def serialization_of(project: Project, vintage: int, article6: bool) -> sr.VintageSerialization:
    return sr.VintageSerialization(
        country=project.country,
        dial_code=project.dial_code,
        project_number=project.project_number,
        sector=project.sector,
        credit_type=project.credit_type,
        article6=article6,
        vintage=vintage,
    )


def ensure_serialization(session: Session, project: Project, vintage: int, article6: bool = False) -> Serialization:
    text = str(serialization_of(project, vintage, article6))
    row = session.exec(select(Serialization).where(Serialization.text == text)).first()
    if row is None:
        row = Serialization(project_id=project.id, vintage=vintage, article6=article6, text=text)
        session.add(row)
        session.flush()
        key = ClassKey(project.project_number, vintage, article6)
        session.add(
            CreditClass(
                token_id=str(key.token_id),
                serialization_id=row.id,
                authorized_uses=STANDARD_AUTHORIZED_USES,
                requested_uses=STANDARD_AUTHORIZED_USES,
            )
        )
        session.flush()
    return row


def serialization_by_text(session: Session, text: str) -> Serialization:
    """The serialization row for ``ICR-ISL-354-78040-14-R-0-2023`` (parsed, then normalized)."""
    try:
        parsed = sr.parse_serialization(text)
    except sr.SerialFormatError as exc:
        raise RuleViolation(str(exc), field="serialization", rule="serial-format") from exc
    row = session.exec(select(Serialization).where(Serialization.text == str(parsed))).first()
    if row is None:
        raise NotFound(f"no ICCs have been issued under {parsed}", field="serialization")
    return row
