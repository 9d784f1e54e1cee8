"""Read models of the public side: credit classes with their supply, retirement certificates,
the Article 6.2 annual report. Plain queries over the registry database (and, when the app
has a chain connection, the token's on-chain supply); used by the JSON routes, the token
metadata and the HTML pages alike, so all of them say the same thing.

Where the Article 6.2 storage (letters, CA status history) or additionality records are not
available, the views fall back to what the credit class itself carries (its letter number,
authorized uses and current CA status) and say so in ``source`` fields.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import date, datetime, timezone
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import Session, select

from bridge.deployments import deployment_on
from bridge.public.links import certificate_links, chain_name, explorer_tx_link
from bridge.tables import Deployment
from registry.api.schemas.article6 import Article6AnnualReport, CorsiaPeriodPublic, CountryYearPublic
from registry.bridged import custody
from registry.domain import serials as sr
from registry.domain.article6 import reports as a6_reports
from registry.domain.article6.reports import IssuedRecord, RetiredRecord
from registry.domain.classes import CERTIFICATE_FLAG, CAStatus, Purpose, decode_token_id, purposes_in, token_id_hex
from registry.domain.enums import CreditStatus
from registry.errors import Conflict, NotFound
from registry.operations.article6 import uses as uses_ops
from registry.operations.classes import find_class_by_token
from registry.tables.core import CreditClass, Issuance, LedgerEntry, Project, Retirement, SerialBlock, Serialization

log = logging.getLogger("icr_bridge.views")

CA_LABELS = {
    CAStatus.not_applicable: "Not applicable",
    CAStatus.pending: "Pending CA",
    CAStatus.applied: "CA applied",
    CAStatus.not_applied: "No CA applied",
}
PURPOSE_LABELS = {
    "voluntary": "Voluntary",
    "corsia": "CORSIA",
    "ndc": "Another party's NDC",
    "other_international": "Other international mitigation purposes",
    "malformed": "Unreadable retirement data",
}
MAX_LISTED_BLOCKS = 1_000


# --------------------------------------------------------------------------------------------
# Response models
# --------------------------------------------------------------------------------------------


class SerialRangePublic(BaseModel):
    serial_block: str = Field(description="vintage serialization plus inclusive unit range")
    unit_first: int
    unit_last: int
    quantity: int
    state: Literal["minted", "awaiting_mint", "retired"] = Field(
        description="minted: mirrored as tokens on-chain; awaiting_mint: in custody, leaf not yet minted")


class SupplyPublic(BaseModel):
    in_custody: int = Field(description="tonnes of the class in bridge custody at the registry")
    minted: int = Field(description="custody tonnes whose leaves are minted on-chain (as synced)")
    awaiting_mint: int = Field(description="custody tonnes not yet minted")
    retired: int = Field(description="tonnes of the class retired in the registry")
    onchain: int = Field(description="token supply on-chain: read from the chain, or the synced figure")
    onchain_source: Literal["chain", "registry"] = Field(
        description="chain: totalSupply(id) read live; registry: the supply implied by synced events")
    conserved: bool = Field(description="in_custody == onchain + awaiting_mint")


class CAChangePublic(BaseModel):
    status: str = Field(description="status after the change")
    label: str
    transition: Optional[str] = None
    at: Optional[datetime] = None
    actor: Optional[str] = None
    note: Optional[str] = None
    evidence: Optional[str] = None


class CAEvidencePublic(BaseModel):
    kind: str
    reference: str
    received_on: date


class CAStatusPublic(BaseModel):
    status: str = Field(description="not_applicable | pending | applied | not_applied")
    label: str = Field(description="the registry's label (seed 003 §II.2)")
    history: list[CAChangePublic]
    evidence: list[CAEvidencePublic] = []
    source: str = Field(description="where the status and its history come from")


class LetterPublic(BaseModel):
    number: int = Field(description="letter number (bits 0..31 of the token id)")
    status: Optional[str] = None
    host_country: Optional[str] = None
    authority: Optional[str] = None
    authorized_uses: list[str] = Field(default_factory=list, description="retirement purposes the class allows")
    vintages: Optional[str] = None
    quantity_cap: Optional[int] = None
    issued_on: Optional[date] = None
    effective_from: Optional[date] = None
    expires_on: Optional[date] = None
    published_ref: Optional[str] = None
    source: str


class AdditionalityLevelPublic(BaseModel):
    level: str = Field(description="seed 002 level: 1, 2a, 2b, 3, 4a, 4b, 5")
    status: str = Field(description="demonstrated, or revised by an ex-post report")
    since: Optional[datetime] = None
    note: Optional[str] = None


class ProjectSummary(BaseModel):
    project_number: int
    name: str
    host_country: str
    methodology: str
    sector: int
    credit_type: str


class UseWithheldPublic(BaseModel):
    purpose: str = Field(description="a use requested at designation that the class's ICCs cannot be retired for now")
    rule: str
    section: str = Field(description="seed 003 section of the rule")
    detail: str


class ClassPublic(BaseModel):
    token_id: str = Field(description="decimal uint256")
    token_id_hex: str = Field(description="64 lower-case hex digits, as substituted for {id} in uri(id)")
    project: ProjectSummary
    vintage: int
    serialization: str
    designation: Literal["Standard ICC", "Article 6.2 ICC"]
    article6: bool
    letter: Optional[LetterPublic]
    authorized_uses: list[str] = Field(description="retirement purposes the class's ICCs may be used for now")
    uses_withheld: list[UseWithheldPublic] = Field(default_factory=list, description=(
        "uses requested at designation that the letter's current scope or a hold (withdrawal, suspension, "
        "No CA applied) takes away"))
    ca_status: CAStatusPublic
    additionality: Optional[list[AdditionalityLevelPublic]]
    supply: SupplyPublic


class ChainOriginPublic(BaseModel):
    chain_id: int
    chain_name: str
    contract: Optional[str]
    tx_hash: str
    explorer_tx_url: Optional[str] = Field(description="the transaction on a block explorer (ICR_EXPLORER_TX_URL)")
    block_number: Optional[int]
    block_time: Optional[datetime] = Field(description="time of the retirement's block (null if synced before 0016)")
    log_index: Optional[int]
    holder_wallet: Optional[str]
    beneficiary_wallet: Optional[str]
    onchain_retirement_id: Optional[int]
    certificate_token_id: Optional[str] = Field(description="decimal id of the soulbound certificate token")
    certificate_token_id_hex: Optional[str]


class LedgerEntryPublic(BaseModel):
    seq: int
    kind: str
    entry_hash: str
    prev_hash: str
    created_at: datetime


class CertificatePublic(BaseModel):
    retirement_id: int
    retired_at: datetime
    quantity: int
    unit: str = "tCO2e"
    serial_blocks: list[SerialRangePublic]
    beneficiary_name: str
    beneficiary_address: str
    retiree: str
    purpose: str
    purpose_label: str
    purpose_details: dict[str, Any] = Field(description="CORSIA operator and period, NDC party, consumption period")
    comment: str
    custom_uri: str
    token_id: str
    designation: str
    project: ProjectSummary
    vintage: int
    serialization: str
    ca_status: CAStatusPublic
    chain: Optional[ChainOriginPublic]
    ledger_entry: Optional[LedgerEntryPublic] = Field(description="the registry ledger entry recording it")
    links: dict[str, str]
    verification_url: str = Field(description="the registry's live copy of this certificate (the QR code's URL)")


class RetirementRow(BaseModel):
    retirement_id: int
    retired_at: datetime
    quantity: int
    project_name: str
    vintage: int
    serialization: str
    purpose: str
    beneficiary_name: str
    ca_status: str
    ca_label: str
    tx_hash: Optional[str]


class AnnualReportPublic(Article6AnnualReport):
    """The registry's §III report as the explorer shows it, with where it came from."""

    due_by: str
    source: str = Field(description="which records the report was computed from")
    years_available: list[int]


# --------------------------------------------------------------------------------------------
# Article 6.2 letter, CA status and additionality of a class
# --------------------------------------------------------------------------------------------


def _article6_ops(concept: str):
    """A module of the Article 6.2 storage (``adjustments``: CA records, ``letters`` or
    ``reports``), when this registry has it."""
    try:
        from registry.operations.article6 import adjustments, letters, reports
    except ImportError:  # pragma: no cover - registries without Article 6.2 storage
        return None
    return {"adjustments": adjustments, "letters": letters, "reports": reports}[concept]


def _additionality_ops():
    try:
        from registry.operations import additionality as additionality_ops
    except ImportError:  # pragma: no cover - registries without additionality records
        return None
    return additionality_ops


def ca_status_view(session: Session, credit_class: CreditClass, project: Project, vintage: int,
                   article6: bool) -> CAStatusPublic:
    """Current CA status with its history: from the project-and-vintage CA record (§IV) when
    the registry stores one, else the class's status and the CA changes journaled in the ledger."""
    status = CAStatus(credit_class.ca_status)
    ops6 = _article6_ops("adjustments")
    if article6 and ops6 is not None:
        try:
            record = ops6.ca_status(session, project.id, vintage)
        except NotFound:
            record = None
        if record is not None:
            history = [CAChangePublic(status=h.to_status, label=CA_LABELS[CAStatus[h.to_status]], at=h.at,
                                      actor=h.actor, note=h.note or None, evidence=h.evidence or None,
                                      transition=h.transition) for h in record.history]
            evidence = [CAEvidencePublic(kind=e.kind.name, reference=e.reference, received_on=e.received_on)
                        for e in record.evidence]
            return CAStatusPublic(status=record.status.name, label=CA_LABELS[record.status], history=history,
                                  evidence=evidence, source="registry CA record of the project and vintage (§IV)")
        return CAStatusPublic(status=status.name, label=CA_LABELS[status], history=[],
                              source="credit class (no CA record yet: opened with the first Article 6.2 retirement)")
    history = _ca_history_from_ledger(session, credit_class)
    source = "registry ledger" if history else "credit class"
    return CAStatusPublic(status=status.name, label=CA_LABELS[status], history=history, source=source)


def _ca_from_name(value: Any) -> CAStatus | None:
    """A CA status from its number, enum name or registry label; None if it is none of them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return CAStatus(value) if value in CAStatus._value2member_map_ else None
    text = str(getattr(value, "value", value))
    for status in CAStatus:
        if text in (status.name, CA_LABELS[status]):
            return status
    return None


def _ca_history_from_ledger(session: Session, credit_class: CreditClass) -> list[CAChangePublic]:
    """CA status changes the registry journaled for this class (kinds ``*ca_status*``)."""
    rows = session.exec(
        select(LedgerEntry).where(LedgerEntry.kind.contains("ca_status"))
        .where(LedgerEntry.payload.contains(credit_class.token_id)).order_by(LedgerEntry.seq)
    ).all()
    out = []
    for row in rows:
        payload = json.loads(row.payload)
        if str(payload.get("token_id")) != credit_class.token_id:
            continue
        status = _ca_from_name(payload.get("new_status", payload.get("status")))
        if status is None:
            continue
        out.append(CAChangePublic(status=status.name, label=CA_LABELS[status], at=row.created_at,
                                  actor=payload.get("actor"), note=payload.get("note") or None,
                                  evidence=payload.get("evidence") or payload.get("evidence_hash") or None))
    return out


def letter_view(session: Session, credit_class: CreditClass, project: Project, uses: list[str]) -> LetterPublic | None:
    """The letter of authorization an Article 6.2 class was designated under (its number is in
    the token id), as the registry publishes it."""
    if not credit_class.letter_number:
        return None
    ops6 = _article6_ops("letters")
    letter = None
    if ops6 is not None:
        try:
            letter = ops6.get_letter(session, credit_class.letter_number)
        except NotFound:
            letter = None
    if letter is None:
        return LetterPublic(number=credit_class.letter_number, authorized_uses=uses, host_country=project.country,
                            source="credit class (letter number and authorized uses registered with the class)")
    c = letter.content
    return LetterPublic(
        number=letter.number, status=letter.status.value, host_country=c.authorizing_party.host_country,
        authority=c.authorizing_party.authority, authorized_uses=uses,
        vintages=f"{c.outcomes.vintages.first}-{c.outcomes.vintages.last}", quantity_cap=c.outcomes.quantity_cap,
        issued_on=c.validity.issued_on, effective_from=c.validity.effective_from, expires_on=c.validity.expires_on,
        published_ref=letter.published_ref, source="registry letters of authorization (§I)",
    )


def additionality_view(session: Session, project: Project) -> list[AdditionalityLevelPublic] | None:
    """Claimed additionality levels with their current status (seed 002), or None if the
    registry holds no claims for the project."""
    ops = _additionality_ops()
    if ops is None:
        return None
    try:
        record = ops.load_additionality(session, project.id)
    except NotFound:
        return None
    out = []
    for claim in record.claims:
        last = claim.history[-1] if claim.history else None
        out.append(AdditionalityLevelPublic(level=claim.level.value, status=claim.status.value,
                                            since=last.at if last else None,
                                            note=(last.reason or None) if last else None))
    return out


# --------------------------------------------------------------------------------------------
# Classes and supply
# --------------------------------------------------------------------------------------------


def class_by_token(session: Session, token_id: int) -> CreditClass:
    credit_class = find_class_by_token(session, token_id)
    if credit_class is None:
        raise NotFound(f"token id {token_id_hex(token_id)} is not a registered credit class", field="id")
    return credit_class


def _project_summary(project: Project) -> ProjectSummary:
    return ProjectSummary(project_number=project.project_number, name=project.name, host_country=project.country,
                          methodology=project.methodology, sector=project.sector, credit_type=project.credit_type)


def authorized_uses(credit_class: CreditClass) -> list[str]:
    return [p.name for p in sorted(purposes_in(credit_class.authorized_uses))]


def supply_view(session: Session, credit_class: CreditClass, chains: dict[int, Any]) -> SupplyPublic:
    deployments = session.exec(select(Deployment)).all()
    in_custody = minted = 0
    for d in deployments:
        in_custody += custody.custody_total(session, d.custody_account_id, credit_class.id)
        minted += custody.custody_total(session, d.custody_account_id, credit_class.id, mirrored=True)
    live = bool(chains) and all(d.chain_id in chains for d in deployments)
    onchain_live = 0
    if live:
        try:
            for d in deployments:
                onchain_live += chains[d.chain_id].token.functions.totalSupply(int(credit_class.token_id)).call()
        except Exception as exc:  # node unreachable: say the figure is the synced one rather than fail
            log.warning("on-chain supply unavailable", extra={"token_id": credit_class.token_id, "error": str(exc)})
            live = False
    retired = session.exec(
        select(func.coalesce(func.sum(SerialBlock.quantity), 0)).where(
            SerialBlock.serialization_id == credit_class.serialization_id, SerialBlock.status == CreditStatus.retired)
    ).one()
    onchain = onchain_live if live else minted
    awaiting = in_custody - minted
    return SupplyPublic(in_custody=in_custody, minted=minted, awaiting_mint=awaiting, retired=int(retired),
                        onchain=onchain, onchain_source="chain" if live else "registry",
                        conserved=in_custody == onchain + awaiting)


def backing_blocks(session: Session, credit_class: CreditClass, limit: int = MAX_LISTED_BLOCKS
                   ) -> tuple[list[SerialRangePublic], int]:
    """The custody serial blocks behind the class's tokens (adjacent ranges in the same state
    merged), and how many merged ranges there are in all."""
    custody_ids = [d.custody_account_id for d in session.exec(select(Deployment)).all()]
    serialization = session.get(Serialization, credit_class.serialization_id)
    parsed = sr.parse_serialization(serialization.text)
    if not custody_ids:
        return [], 0
    rows = session.exec(
        select(SerialBlock.unit_first, SerialBlock.unit_last, SerialBlock.mirrored).where(
            SerialBlock.serialization_id == credit_class.serialization_id,
            SerialBlock.account_id.in_(custody_ids),
            SerialBlock.status == CreditStatus.active,
        ).order_by(SerialBlock.unit_first)
    ).all()
    by_state: dict[bool, list[sr.SerialRange]] = defaultdict(list)
    for first, last, mirrored in rows:
        by_state[bool(mirrored)].append(sr.SerialRange(first, last))
    merged = [(r, state) for state, ranges in by_state.items() for r in sr.merge_adjacent(ranges)]
    merged.sort(key=lambda item: item[0].first)
    out = [
        SerialRangePublic(serial_block=str(sr.SerialBlock(parsed, r)), unit_first=r.first, unit_last=r.last,
                          quantity=r.quantity, state="minted" if mirrored else "awaiting_mint")
        for r, mirrored in merged[:limit]
    ]
    return out, len(merged)


def class_view(session: Session, credit_class: CreditClass, chains: dict[int, Any]) -> ClassPublic:
    serialization = session.get(Serialization, credit_class.serialization_id)
    project = session.get(Project, serialization.project_id)
    key = decode_token_id(int(credit_class.token_id))
    uses = authorized_uses(credit_class)
    return ClassPublic(
        token_id=credit_class.token_id,
        token_id_hex=token_id_hex(credit_class.token_id),
        project=_project_summary(project),
        vintage=serialization.vintage,
        serialization=serialization.text,
        designation="Article 6.2 ICC" if key.article6 else "Standard ICC",
        article6=key.article6,
        letter=letter_view(session, credit_class, project, uses),
        authorized_uses=uses,
        uses_withheld=[UseWithheldPublic(purpose=p.name, rule=r.rule.id, section=r.rule.section, detail=r.detail)
                       for p, r in uses_ops.withheld_uses(session, credit_class)],
        ca_status=ca_status_view(session, credit_class, project, serialization.vintage, key.article6),
        additionality=additionality_view(session, project),
        supply=supply_view(session, credit_class, chains),
    )


def list_classes(session: Session, chains: dict[int, Any]) -> list[ClassPublic]:
    return [class_view(session, c, chains) for c in session.exec(select(CreditClass).order_by(CreditClass.id))]


# --------------------------------------------------------------------------------------------
# Retirements and certificates
# --------------------------------------------------------------------------------------------


def get_retirement(session: Session, retirement_id: int) -> Retirement:
    retirement = session.get(Retirement, retirement_id)
    if retirement is None:
        raise NotFound(f"retirement {retirement_id} does not exist", field="retirement_id")
    return retirement


def retirement_for_certificate_token(session: Session, token_id: int) -> Retirement:
    """The registry retirement behind a certificate token id (``CERTIFICATE_FLAG | on-chain id``)."""
    onchain_id = token_id & ~CERTIFICATE_FLAG
    rows = session.exec(select(Retirement).where(Retirement.onchain_retirement_id == onchain_id)).all()
    if not rows:
        raise NotFound(f"certificate token {token_id_hex(token_id)}: on-chain retirement {onchain_id} is not recorded "
                       "in the registry (yet: the sync applies it once its block is final)", field="id")
    if len(rows) > 1:
        raise Conflict(f"on-chain retirement {onchain_id} exists on several chains "
                       f"({', '.join(str(r.chain_id) for r in rows)}); use /certificates/{{retirement_id}}", field="id")
    return rows[0]


def ledger_entry_for(session: Session, retirement: Retirement) -> LedgerEntryPublic | None:
    """The newest ledger entry that recorded this retirement (``retirement`` for registry retirements,
    ``retirement.bridged`` for on-chain ones; never a revert)."""
    key = f'"retirement_id":{retirement.id}'
    rows = session.exec(
        select(LedgerEntry).where(
            or_(LedgerEntry.kind == "retirement", LedgerEntry.kind.startswith("retirement.")),
            LedgerEntry.kind != "retirement.reverted",
            or_(LedgerEntry.payload.contains(key + ","), LedgerEntry.payload.contains(key + "}")),
        ).order_by(LedgerEntry.seq.desc())
    ).all()
    for row in rows:
        payload = json.loads(row.payload)
        if payload.get("retirement_id") != retirement.id:
            continue
        if retirement.tx_hash and payload.get("tx_hash") not in (None, retirement.tx_hash):
            continue  # an earlier retirement with a reused id, reverted by a reorganization
        return LedgerEntryPublic(seq=row.seq, kind=row.kind, entry_hash=row.entry_hash, prev_hash=row.prev_hash,
                                 created_at=row.created_at)
    return None


def retired_blocks(session: Session, retirement: Retirement) -> list[SerialRangePublic]:
    rows = session.exec(
        select(SerialBlock).where(SerialBlock.retirement_id == retirement.id).order_by(SerialBlock.unit_first)
    ).all()
    out = []
    for row in rows:
        text = session.get(Serialization, row.serialization_id).text
        block = sr.SerialBlock(sr.parse_serialization(text), sr.SerialRange(row.unit_first, row.unit_last))
        out.append(SerialRangePublic(serial_block=str(block), unit_first=row.unit_first, unit_last=row.unit_last,
                                     quantity=row.quantity, state="retired"))
    return out


def _purpose_details(retirement: Retirement) -> dict[str, Any]:
    details = {}
    for name in ("purpose_detail", "corsia_operator", "corsia_state", "compliance_period_start",
                 "compliance_period_end", "ndc_party", "consumption_start", "consumption_end", "jurisdiction"):
        value = getattr(retirement, name, None)
        if value not in (None, ""):
            details[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return details


def retired_at(retirement: Retirement) -> datetime:
    at = getattr(retirement, "created_at", None)
    if at is None:
        return datetime(1970, 1, 1, tzinfo=timezone.utc)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def certificate_view(session: Session, retirement: Retirement, base_url: str,
                     explorer_tx_url: Optional[str] = None) -> CertificatePublic:
    credit_class = session.get(CreditClass, retirement.class_id)
    serialization = session.get(Serialization, credit_class.serialization_id)
    project = session.get(Project, serialization.project_id)
    key = decode_token_id(int(credit_class.token_id))
    chain = None
    if retirement.chain_id is not None and retirement.tx_hash:
        deployment = deployment_on(session, retirement.chain_id)
        cert_id = (CERTIFICATE_FLAG | retirement.onchain_retirement_id) if retirement.onchain_retirement_id else None
        chain = ChainOriginPublic(
            chain_id=retirement.chain_id, chain_name=chain_name(retirement.chain_id),
            contract=deployment.address if deployment else None, tx_hash=retirement.tx_hash,
            explorer_tx_url=explorer_tx_link(explorer_tx_url, retirement.tx_hash), block_number=retirement.block_number,
            block_time=retirement.block_time, log_index=retirement.log_index,
            holder_wallet=retirement.holder_wallet, beneficiary_wallet=retirement.beneficiary_wallet,
            onchain_retirement_id=retirement.onchain_retirement_id,
            certificate_token_id=str(cert_id) if cert_id else None,
            certificate_token_id_hex=token_id_hex(cert_id) if cert_id else None,
        )
    links = certificate_links(base_url, retirement.id, credit_class.token_id,
                              chain.certificate_token_id if chain is not None else None)
    return CertificatePublic(
        retirement_id=retirement.id,
        retired_at=retired_at(retirement),
        quantity=retirement.quantity,
        serial_blocks=retired_blocks(session, retirement),
        beneficiary_name=retirement.beneficiary_name,
        beneficiary_address=retirement.beneficiary_address,
        retiree=retirement.retiree,
        purpose=retirement.purpose,
        purpose_label=PURPOSE_LABELS.get(retirement.purpose, retirement.purpose),
        purpose_details=_purpose_details(retirement),
        comment=retirement.comment,
        custom_uri=retirement.custom_uri,
        token_id=credit_class.token_id,
        designation="Article 6.2 ICC" if key.article6 else "Standard ICC",
        project=_project_summary(project),
        vintage=serialization.vintage,
        serialization=serialization.text,
        ca_status=ca_status_view(session, credit_class, project, serialization.vintage, serialization.article6),
        chain=chain,
        ledger_entry=ledger_entry_for(session, retirement),
        links=links,
        verification_url=links["html"],
    )


def recent_retirements(session: Session, limit: int = 20, offset: int = 0) -> list[RetirementRow]:
    rows = session.exec(select(Retirement).order_by(Retirement.id.desc()).offset(offset).limit(limit)).all()
    out = []
    for r in rows:
        credit_class = session.get(CreditClass, r.class_id)
        serialization = session.get(Serialization, credit_class.serialization_id)
        project = session.get(Project, serialization.project_id)
        status = CAStatus(credit_class.ca_status)
        out.append(RetirementRow(retirement_id=r.id, retired_at=retired_at(r), quantity=r.quantity,
                                 project_name=project.name, vintage=serialization.vintage,
                                 serialization=serialization.text, purpose=r.purpose,
                                 beneficiary_name=r.beneficiary_name, ca_status=status.name,
                                 ca_label=CA_LABELS[status], tx_hash=r.tx_hash))
    return out


# --------------------------------------------------------------------------------------------
# Article 6.2 annual report (seed 003 §III)
# --------------------------------------------------------------------------------------------


def _year(at: datetime | None) -> int:
    return (at or datetime.now(timezone.utc)).year


def _report_records(session: Session):
    """Plain §III records from the registry's Article 6.2 serializations."""
    issued: list[IssuedRecord] = []
    retired: list[RetiredRecord] = []
    rows = session.exec(
        select(Issuance, Project.country)
        .join(Serialization, Serialization.id == Issuance.serialization_id)
        .join(Project, Project.id == Serialization.project_id)
        .where(Serialization.article6 == True)  # noqa: E712
    ).all()
    for issuance, country in rows:
        issued.append(IssuedRecord(country, _year(issuance.created_at), issuance.quantity))
    rows = session.exec(
        select(Retirement, CreditClass.ca_status, Project.country)
        .join(CreditClass, CreditClass.id == Retirement.class_id)
        .join(Serialization, Serialization.id == CreditClass.serialization_id)
        .join(Project, Project.id == Serialization.project_id)
        .where(Serialization.article6 == True)  # noqa: E712
    ).all()
    for retirement, ca_status, country in rows:
        try:
            purpose = Purpose[retirement.purpose]
        except KeyError:
            continue  # unreadable retirement data: reported on the certificate, not in §III columns
        status = CAStatus(ca_status)
        if status is CAStatus.not_applicable:
            status = CAStatus.pending  # a retired Article 6.2 ICC is pending until the CA is confirmed (§II.2)
        period = None
        if purpose is Purpose.corsia:
            start = getattr(retirement, "compliance_period_start", None)
            end = getattr(retirement, "compliance_period_end", None)
            period = f"{start}-{end}" if start and end else "unspecified"
        retired.append(RetiredRecord(country, _year(retirement.created_at), retirement.quantity, purpose, status,
                                     period))
    return issued, retired


def annual_report_view(session: Session, year: int | None = None) -> AnnualReportPublic:
    issued, retired = _report_records(session)
    years = sorted({r.year for r in issued} | {r.year for r in retired} | {datetime.now(timezone.utc).year})
    if year is None:
        year = max(y for y in years if y <= datetime.now(timezone.utc).year)
    ops6 = _article6_ops("reports")
    if ops6 is not None:
        report = ops6.annual_report_for(session, year)
        source = ("registry Article 6.2 storage: designations, retirements with their CA records, double-claim "
                  "cancellations and replacements, letters in force")
    else:
        report = a6_reports.annual_report(year, issued, retired, (), ())
        source = ("registry Article 6.2 issuances and retirements (no letters or cancellations are stored in this "
                  "registry)")
    data = a6_reports.report_to_dict(report)
    return AnnualReportPublic(
        year=data["year"], due_by=data["due_by"], countries=[CountryYearPublic(**c) for c in data["countries"]],
        corsia_by_compliance_period=[CorsiaPeriodPublic(**c) for c in data["corsia_by_compliance_period"]],
        source=source, years_available=years,
    )


def deployed_chains(engine, rpc_url: str) -> list:
    """A :class:`bridge.chain.client.Chain` at the recorded deployment for the node at ``rpc_url``."""
    from bridge.chain.client import Chain, connect

    w3 = connect(rpc_url)
    chain_id = w3.eth.chain_id
    with Session(engine) as session:
        deployment = deployment_on(session, chain_id)
    if deployment is None:
        raise LookupError(f"--rpc-url: no ICC token deployment is recorded for chain {chain_id}")
    return [Chain(w3, deployment.address)]
