"""Storage of a project's additionality (seed 002): claimed levels with their ex-ante data and
sources, ex-post reports per monitoring period, and each level's status history.

Claim and report inputs are stored as the JSON the API received (see
:mod:`registry.operations.additionality`); the calculators' results are recomputed from them with
the pure rules in :mod:`registry.domain.additionality` and stored next to them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import Enum as SAEnum
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.domain.additionality import Level, LevelStatus
from registry.tables.core import utcnow


class AdditionalityProfile(SQLModel, table=True):
    """A project's crediting period for additionality and when its claims were registered."""

    __tablename__ = "addprofile"

    project_id: int = Field(foreign_key="project.id", primary_key=True)
    crediting_start: date
    crediting_end: date
    registered_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=200)


class AdditionalityClaim(SQLModel, table=True):
    """One claimed level (§5.4) and its current status (§5.5)."""

    __tablename__ = "addclaim"
    __table_args__ = (UniqueConstraint("project_id", "level", name="uq_addclaim_project_level"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    level: Level = Field(sa_type=SAEnum(Level, name="addlevel"))
    status: LevelStatus = Field(default=LevelStatus.demonstrated, sa_type=SAEnum(LevelStatus, name="addlevelstatus"))
    input: str  # JSON of the claim as submitted
    results: str = "{}"  # JSON of the calculators' results
    created_at: datetime = Field(default_factory=utcnow)


class AdditionalityReport(SQLModel, table=True):
    """An ex-post report of one level for one monitoring period (§5.5)."""

    __tablename__ = "addreport"
    __table_args__ = (UniqueConstraint("claim_id", "period_start", name="uq_addreport_claim_period"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="addclaim.id", index=True)
    period_start: date
    period_end: date
    report: str = Field(max_length=500)  # monitoring report reference
    input: str  # JSON of the report as submitted
    results: str = "{}"
    still_met: bool
    created_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=200)


class AdditionalityStatusChange(SQLModel, table=True):
    """One entry of a level's status history: the ex-ante demonstration or a report's revision."""

    __tablename__ = "addstatuschange"

    id: Optional[int] = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="addclaim.id", index=True)
    report_id: Optional[int] = Field(default=None, foreign_key="addreport.id")
    period_start: Optional[date] = None
    period_end: Optional[date] = None
    from_status: Optional[LevelStatus] = Field(default=None, sa_type=SAEnum(LevelStatus, name="addlevelstatus"))
    to_status: LevelStatus = Field(sa_type=SAEnum(LevelStatus, name="addlevelstatus"))
    reason: str = Field(default="", max_length=4000)
    report: str = Field(default="", max_length=500)
    at: datetime
    actor: str = Field(max_length=200)
