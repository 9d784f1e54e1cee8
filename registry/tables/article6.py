"""Storage of Article 6.2 (seed 003): letters, project status, designations, CA status, non-CA
events and compensation. SQLModel tables; the rules live in :mod:`registry.domain.article6`
and :mod:`registry.operations.article6` applies them.

Every state table has a history table next to it, appended in the same transaction as the
change (and mirrored by a ledger entry). Letter content is stored as canonical JSON of the
domain's :class:`~registry.domain.article6.letters.LetterContent` (see :func:`content_to_json`).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import Enum
from typing import Any, Optional

from pydantic import TypeAdapter
from sqlalchemy import BigInteger, CheckConstraint, Index, Text, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from registry.domain.article6.adjustments import NonCATrigger
from registry.domain.article6.letters import LetterContent, LetterStatus
from registry.domain.article6.projects import ProjectStatus
from registry.tables.core import utcnow

_CONTENT = TypeAdapter(LetterContent)


def content_to_json(content: LetterContent) -> str:
    """Canonical JSON of a letter's content (sorted keys; sets as sorted lists)."""
    data = _CONTENT.dump_python(content, mode="json")
    data["uses"] = sorted(data["uses"])
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def content_from_json(text: str | dict[str, Any]) -> LetterContent:
    return _CONTENT.validate_python(json.loads(text) if isinstance(text, str) else text)


class DesignationKind(str, Enum):
    issuance = "issuance"  # designated at issuance (§II.1)
    conversion = "conversion"  # standard ICCs cancelled and re-issued as Article 6.2 ICCs (§I.12)


class NonCAEventStatus(str, Enum):
    open = "open"
    compensated = "compensated"  # every tonne covered by completed compensation steps


class StepStatus(str, Enum):
    done = "done"  # the ICCs are cancelled (or the replacement's cancellation is evidenced)
    due = "due"  # replacement purchase awaiting evidence (§V.b step 4, 60 business days)
    outstanding = "outstanding"  # deduction from future Article 6.2 issuances (§V.b step 5)
    lapsed = "lapsed"  # replacement purchase not evidenced within 60 business days: re-planned into step 5


class A6HostCountry(SQLModel, table=True):
    """Whether a host country has a national framework for Article 6.2 (§4.1)."""

    __tablename__ = "a6hostcountry"

    country: str = Field(primary_key=True, max_length=3)
    article6_framework: bool = False
    reference: str = Field(default="", max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)


class A6Letter(SQLModel, table=True):
    """A host country letter (§I). ``id`` is the letter number used in credit class ids."""

    __tablename__ = "a6letter"
    __table_args__ = (CheckConstraint("id > 0 AND id < 4294967296", name="a6letter_number_32_bits"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    status: LetterStatus = Field(sa_type=SAEnum(LetterStatus, name="a6letterstatus"))
    content: str  # canonical JSON, see content_to_json
    document: str = Field(max_length=500)
    published_ref: Optional[str] = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class A6LetterHistory(SQLModel, table=True):
    """One transition of a letter; amendments and scope reductions keep the replaced content."""

    __tablename__ = "a6letterhistory"

    id: Optional[int] = Field(default=None, primary_key=True)
    letter_id: int = Field(foreign_key="a6letter.id", index=True)
    transition: str = Field(max_length=40)
    from_status: Optional[str] = Field(default=None, max_length=40)
    to_status: str = Field(max_length=40)
    at: datetime
    actor: str = Field(max_length=200)
    note: str = Field(default="", max_length=2000)
    changes: str = "[]"  # JSON list of changed content fields
    previous_content: Optional[str] = None  # JSON of the content before an amendment / reduction


class A6Project(SQLModel, table=True):
    """A project's Article 6.2 settings and status (§I.12, §II.3.b, §V.b)."""

    __tablename__ = "a6project"

    project_id: int = Field(foreign_key="project.id", primary_key=True)
    status: ProjectStatus = Field(default=ProjectStatus.standard,
                                  sa_type=SAEnum(ProjectStatus, name="a6projectstatus"))
    letter_id: Optional[int] = Field(default=None, foreign_key="a6letter.id")  # the letter in force
    adjustment_percentage: str = Field(default="0", max_length=20)  # exact decimal, §II.3.b
    risk_assessment: str = Field(default="", max_length=500)  # reference to ICR's risk assessment
    methodology_approved: bool = False  # ICR approved, or approved by host country and accepted (§4.1)
    # §II.3.a insurance or guarantee (insurer empty: none)
    insurer: str = Field(default="", max_length=200)
    insurance_policy: str = Field(default="", max_length=500)
    insurer_investment_grade: bool = False
    loss_payee: Optional[str] = Field(default=None, max_length=20)  # a LossPayee name
    # §II.3.b last paragraph: contribution to the Article 6.2 non-permanence risk adjustment account
    non_permanence_risk: bool = False
    non_permanence_percentage: str = Field(default="0", max_length=20)  # exact decimal
    proponent_organization_id: Optional[int] = Field(default=None, foreign_key="organization.id")
    updated_at: datetime = Field(default_factory=utcnow)


class A6ProjectHistory(SQLModel, table=True):
    __tablename__ = "a6projecthistory"

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    transition: str = Field(max_length=40)
    from_status: Optional[str] = Field(default=None, max_length=60)
    to_status: str = Field(max_length=60)
    at: datetime
    actor: str = Field(max_length=200)
    note: str = Field(default="", max_length=2000)
    evidence: Optional[str] = Field(default=None, max_length=500)


class A6Designation(SQLModel, table=True):
    """Article 6.2 ICCs issued (at issuance or by conversion) under a letter: the cumulative
    quantity cap counts ``quantity``. They are issued as two issuances of consecutive units:
    the lowest ``deposit`` units into the non-CA adjustment account (``deposit_issuance_id``),
    the rest into the proponent's account (``issuance_id``), of which ``deducted`` were then
    cancelled for outstanding non-CA compensation."""

    __tablename__ = "a6designation"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="a6designation_quantity_positive"),
        CheckConstraint("deposit >= 0 AND deducted >= 0 AND deposit + deducted <= quantity",
                        name="a6designation_split"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    letter_id: int = Field(foreign_key="a6letter.id", index=True)
    serialization_id: int = Field(foreign_key="serialization.id")
    issuance_id: Optional[int] = Field(default=None, foreign_key="issuance.id", unique=True)  # to the proponent
    deposit_issuance_id: Optional[int] = Field(default=None, foreign_key="issuance.id", unique=True)  # §II.3.b
    kind: DesignationKind = Field(sa_type=SAEnum(DesignationKind, name="a6designationkind"))
    account_id: int = Field(foreign_key="account.id")
    quantity: int = Field(sa_type=BigInteger)
    deposit: int = Field(default=0, sa_type=BigInteger)
    deducted: int = Field(default=0, sa_type=BigInteger)
    # units after the deposit contributed to the non-permanence risk adjustment account (§II.3.b)
    non_permanence: int = Field(default=0, sa_type=BigInteger)
    non_permanence_issuance_id: Optional[int] = Field(default=None, foreign_key="issuance.id")
    adjustment_percentage: str = Field(max_length=20)
    requested_uses: int = 0  # bit 1 << purpose per use requested (§I.5), see registry.domain.article6.uses
    monitoring_start: date
    monitoring_end: date
    converted_from: str = "[]"  # JSON list of the cancelled standard serial blocks (conversion)
    created_at: datetime = Field(default_factory=utcnow)


class A6CARecord(SQLModel, table=True):
    """Corresponding-adjustment status of one project and vintage (§II.2, §IV);
    ``status`` is a :class:`~registry.domain.classes.CAStatus` value."""

    __tablename__ = "a6carecord"
    __table_args__ = (UniqueConstraint("project_id", "vintage", name="uq_a6carecord_project_vintage"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    vintage: int
    status: int = 1
    updated_at: datetime = Field(default_factory=utcnow)


class A6CAEvidence(SQLModel, table=True):
    """A piece of evidence from the host country's reports (BTR, annual information, §IV)."""

    __tablename__ = "a6caevidence"

    id: Optional[int] = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="a6carecord.id", index=True)
    kind: str = Field(max_length=20)  # EvidenceKind name
    reference: str = Field(max_length=500)
    received_on: date
    # Tonnes first transferred in ``first_transfer_year`` the evidence covers (§I.7.1, §IV);
    # NULL: not stated (rows from before migration 0014 cover the whole vintage).
    quantity: Optional[int] = Field(default=None, sa_type=BigInteger)
    first_transfer_year: Optional[int] = None
    added_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=200)


class A6CAHistory(SQLModel, table=True):
    """One change of a CA record. ``class_id`` is the Article 6.2 credit class (token id) whose
    on-chain CA status mirrors the record; ``pushed_at``/``onchain_tx`` are set once the
    bridge has sent ``setCAStatus`` for it (see :func:`registry.operations.article6.adjustments.pending_ca_pushes`)."""

    __tablename__ = "a6cahistory"
    __table_args__ = (Index("ix_a6cahistory_unpushed", "pushed_at", "class_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="a6carecord.id", index=True)
    class_id: Optional[int] = Field(default=None, foreign_key="creditclass.id")
    transition: str = Field(max_length=40)
    from_status: Optional[int] = None
    to_status: int
    at: datetime
    actor: str = Field(max_length=200)
    note: str = Field(default="", max_length=2000)
    evidence: Optional[str] = Field(default=None, max_length=500)
    pushed_at: Optional[datetime] = None
    onchain_tx: Optional[str] = Field(default=None, max_length=66)


class A6NonCAEvent(SQLModel, table=True):
    """A non-CA event (§V) of one project, vintage and first-transfer year."""

    __tablename__ = "a6noncaevent"
    __table_args__ = (UniqueConstraint("project_id", "vintage", "first_transfer_year", name="uq_a6noncaevent"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    vintage: int
    first_transfer_year: int
    quantity: int = Field(sa_type=BigInteger)  # double-claimed tonnes
    trigger: NonCATrigger = Field(sa_type=SAEnum(NonCATrigger, name="a6noncatrigger"))
    detected_on: date
    status: NonCAEventStatus = Field(default=NonCAEventStatus.open,
                                     sa_type=SAEnum(NonCAEventStatus, name="a6noncaeventstatus"))
    notified_on: Optional[date] = None  # formal ICR notification (starts the 60 business days)
    created_at: datetime = Field(default_factory=utcnow)


class A6CompensationStep(SQLModel, table=True):
    """A step of §V.b for one event, numbered in the order it was taken. Cancellations made by
    a step carry ``reference`` = ``a6-compensation:<step id>``."""

    __tablename__ = "a6compensationstep"
    __table_args__ = (
        UniqueConstraint("event_id", "seq", name="uq_a6compensationstep_seq"),
        CheckConstraint("completed >= 0 AND completed <= quantity", name="a6compensationstep_completed"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="a6noncaevent.id", index=True)
    seq: int
    kind: str = Field(max_length=40)  # CompensationKind name
    quantity: int = Field(sa_type=BigInteger)  # tonnes this step covers
    completed: int = Field(default=0, sa_type=BigInteger)  # tonnes cancelled / evidenced so far
    status: StepStatus = Field(sa_type=SAEnum(StepStatus, name="a6stepstatus"))
    from_project_id: Optional[int] = Field(default=None, foreign_key="project.id")
    due_by: Optional[date] = None
    evidence: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    completed_at: Optional[datetime] = None


class A6ReportEdition(SQLModel, table=True):
    """A published edition of the §III annual report of one year: frozen JSON and its SHA-256.
    Edition 1 is published once the report is due; a later change of the figures is published
    as a correction (the next edition, ``supersedes`` the previous one), never written over it."""

    __tablename__ = "a6reportedition"
    __table_args__ = (UniqueConstraint("year", "edition", name="uq_a6reportedition_year_edition"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    edition: int
    kind: str = Field(max_length=20)  # original | correction
    content: str = Field(sa_type=Text)  # the report's deterministic JSON
    sha256: str = Field(max_length=64)
    supersedes: Optional[int] = Field(default=None, foreign_key="a6reportedition.id")
    published_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=200)
