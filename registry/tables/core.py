"""Registry storage: SQLModel tables (the source of truth for every ICC).

Serial blocks, split and merged as credits move, say where every unit is. Every change also
appends a :class:`LedgerEntry` (hash-chained) in the same database transaction, and that
append keeps :class:`AccountBalance` (tonnes per account, serialization and status, the sums
over the blocks) up to date from the entry's moves.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Optional

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from registry.domain.enums import (
    AccountType,
    ApiKeyRole,
    CancellationReason,
    CreditStatus,
    HoldOrigin,
    HoldStatus,
    IssuanceKind,
    TokenizationStatus,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(at: datetime) -> datetime:
    """A time to compare with the timestamp columns (which hold UTC with its zone); a time given
    without zone is taken as UTC."""
    return at.astimezone(timezone.utc) if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


class Organization(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Account(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    organization_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)
    name: str = Field(max_length=200)
    type: AccountType = Field(default=AccountType.holding)
    created_at: datetime = Field(default_factory=utcnow)


class WalletLink(SQLModel, table=True):
    """A wallet address proven (EIP-712 signature) to be controlled by an account holder."""

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    address: str = Field(unique=True, max_length=42)
    signature: str = Field(sa_type=Text)  # ECDSA, or a contract wallet's ERC-1271 signature (up to 2 KiB)
    signed_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    linked_at: datetime = Field(default_factory=utcnow)


class Project(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    project_number: int = Field(unique=True, sa_type=BigInteger)
    name: str = Field(max_length=300)
    country: str = Field(max_length=3)
    dial_code: str = Field(max_length=9)
    sector: int
    credit_type: str = Field(max_length=1)
    methodology: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Serialization(SQLModel, table=True):
    """A vintage serialization (``ICR-ISL-354-78040-14-R-0-2023``); units are numbered within it.

    Issuance locks this row before checking ranges, so two issuances of the same vintage can
    never both take overlapping units.
    """

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    vintage: int
    article6: bool = False
    text: str = Field(unique=True, max_length=60)
    issued_through: int = Field(default=0, sa_type=BigInteger)


class CreditClass(SQLModel, table=True):
    """A token id on the chain: project, vintage and Article 6.2 designation (with letter)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    token_id: str = Field(unique=True, max_length=80)  # decimal uint256
    serialization_id: int = Field(foreign_key="serialization.id", unique=True)
    letter_number: int = 0
    # Bit 1 << purpose per retirement purpose (registry.domain.classes.Purpose). ``authorized_uses``:
    # what the ICCs may be retired for now (pushed on-chain); ``requested_uses``: what the class's
    # designations asked for (Article 6.2), see registry.domain.article6.uses.
    authorized_uses: int = 1
    requested_uses: int = 1
    ca_status: int = 0
    registered_on_chain: bool = False


class Issuance(SQLModel, table=True):
    __table_args__ = (CheckConstraint("unit_last >= unit_first", name="issuance_range_ordered"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    serialization_id: int = Field(foreign_key="serialization.id", index=True)
    kind: IssuanceKind
    account_id: int = Field(foreign_key="account.id")
    unit_first: int = Field(sa_type=BigInteger)
    unit_last: int = Field(sa_type=BigInteger)
    quantity: int = Field(sa_type=BigInteger)
    # What the issuance is for (registry.domain.monitoring): the monitoring period (predicted, for
    # ex-ante) and, for ex-post, the verification. None only on rows from before migration 0012
    # that had no verification to record.
    monitoring_start: Optional[date] = None
    monitoring_end: Optional[date] = None
    verification_reference: Optional[str] = Field(default=None, max_length=200)
    verification_body: Optional[str] = Field(default=None, max_length=200)
    verified_on: Optional[date] = None
    created_at: datetime = Field(default_factory=utcnow)


class SerialBlock(SQLModel, table=True):
    """An inclusive unit range of one serialization held in one state by one account."""

    __table_args__ = (
        CheckConstraint("unit_last >= unit_first", name="serial_block_range_ordered"),
        CheckConstraint("quantity = unit_last - unit_first + 1", name="serial_block_quantity"),
        Index("ix_serial_block_holding", "account_id", "serialization_id", "status", "unit_first"),
        UniqueConstraint("serialization_id", "unit_first", name="uq_serial_block_start"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    serialization_id: int = Field(foreign_key="serialization.id")
    unit_first: int = Field(sa_type=BigInteger)
    unit_last: int = Field(sa_type=BigInteger)
    quantity: int = Field(sa_type=BigInteger)
    status: CreditStatus
    account_id: Optional[int] = Field(default=None, foreign_key="account.id")
    issuance_id: int = Field(foreign_key="issuance.id")
    tokenization_id: Optional[int] = Field(default=None, foreign_key="tokenizationrequest.id", index=True)
    # In bridge custody: True once the leaf minting these units as tokens is on-chain. Only
    # mirrored custody units can be used by an on-chain retirement.
    mirrored: bool = False
    retirement_id: Optional[int] = Field(default=None, foreign_key="retirement.id", index=True)
    cancellation_id: Optional[int] = Field(default=None, foreign_key="cancellation.id", index=True)
    # Status ``held``: the unit hold keeping these units (registry/operations/holds.py).
    hold_id: Optional[int] = Field(default=None, foreign_key="unithold.id", index=True)


class UnitHold(SQLModel, table=True):
    """A hold on units of one serialization in one account: their serial blocks are ``held``
    (and point here) until the hold is released. Placed by an operator or a rule, with a
    reason; both the placing and the release are ledger entries with the units' moves."""

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    serialization_id: int = Field(foreign_key="serialization.id")
    quantity: int = Field(sa_type=BigInteger)
    status: str = Field(default=HoldStatus.placed.value, sa_type=String(20))  # a HoldStatus value
    origin: str = Field(default=HoldOrigin.operator.value, sa_type=String(20))  # a HoldOrigin value
    rule: Optional[str] = Field(default=None, max_length=80)  # the rule that placed it (origin ``rule``)
    reason: str = Field(max_length=500)
    reference: str = Field(default="", max_length=200)  # e.g. the KYC case or the non-CA event
    tokenization_id: Optional[int] = Field(default=None, foreign_key="tokenizationrequest.id")  # custody units
    placed_by: str = Field(max_length=200)
    placed_at: datetime = Field(default_factory=utcnow)
    released_by: Optional[str] = Field(default=None, max_length=200)
    released_at: Optional[datetime] = None
    release_note: str = Field(default="", max_length=500)


class AccountBalance(SQLModel, table=True):
    """Tonnes per (account, serialization, status): the sum of the serial blocks there, kept
    by :func:`registry.operations.balances.apply_moves` in the transaction of every change (retired and
    cancelled tonnes sit under no account). Only positive balances have a row: one that
    reaches zero is deleted. ``icr-bridge ledger verify`` checks it against the blocks."""

    __table_args__ = (
        CheckConstraint("quantity >= 0", name="account_balance_not_negative"),
        # one row per place; NULL accounts (terminal units) need their own index to be unique
        Index("uq_account_balance_held", "account_id", "serialization_id", "status", unique=True,
              sqlite_where=text("account_id IS NOT NULL"), postgresql_where=text("account_id IS NOT NULL")),
        Index("uq_account_balance_terminal", "serialization_id", "status", unique=True,
              sqlite_where=text("account_id IS NULL"), postgresql_where=text("account_id IS NULL")),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: Optional[int] = Field(default=None, foreign_key="account.id")
    serialization_id: int = Field(foreign_key="serialization.id")
    status: CreditStatus
    quantity: int = Field(sa_type=BigInteger)


class TokenizationRequest(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    class_id: int = Field(foreign_key="creditclass.id")
    wallet: str = Field(max_length=42)
    quantity: int = Field(sa_type=BigInteger)
    status: TokenizationStatus = Field(default=TokenizationStatus.pending, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Retirement(SQLModel, table=True):
    """A terminal use of specific serials; bridged ones are keyed by their chain log."""

    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_retirement_origin"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    class_id: int = Field(foreign_key="creditclass.id")
    account_id: int = Field(foreign_key="account.id")
    quantity: int = Field(sa_type=BigInteger)
    purpose: str = Field(default="voluntary", max_length=40)
    beneficiary_name: str = Field(default="", max_length=500)
    beneficiary_address: str = Field(default="", max_length=500)
    retiree: str = Field(default="", max_length=500)
    comment: str = Field(default="", max_length=2000)
    custom_uri: str = Field(default="", max_length=2000)
    chain_id: Optional[int] = Field(default=None, sa_type=BigInteger)
    tx_hash: Optional[str] = Field(default=None, max_length=66, index=True)  # lowercase hex, as the sync writes it
    log_index: Optional[int] = None
    block_number: Optional[int] = Field(default=None, sa_type=BigInteger)
    block_time: Optional[datetime] = None  # the on-chain retirement's block time (synced since 0016)
    holder_wallet: Optional[str] = Field(default=None, max_length=42)
    beneficiary_wallet: Optional[str] = Field(default=None, max_length=42)
    onchain_retirement_id: Optional[int] = None
    # Purpose details (see registry.domain.lifecycle.RetirementDetails for the rules).
    purpose_detail: Optional[str] = Field(default=None, max_length=500)
    corsia_operator: Optional[str] = Field(default=None, max_length=200)  # aeroplane operator
    corsia_state: Optional[str] = Field(default=None, max_length=3)  # state the operator is attributed to
    compliance_period_start: Optional[int] = None  # CORSIA compliance period, first year
    compliance_period_end: Optional[int] = None
    ndc_party: Optional[str] = Field(default=None, max_length=3)  # party whose NDC the credits count toward
    consumption_start: Optional[date] = None  # period of the emissions the retirement claims against
    consumption_end: Optional[date] = None
    jurisdiction: Optional[str] = Field(default=None, max_length=100)
    # What was changed to store an on-chain retirement (JSON list of flags: text that could not
    # be stored or was too long, dates that are no dates, undecodable data); None when nothing was.
    input_flags: Optional[str] = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class Cancellation(SQLModel, table=True):
    """Credits removed from one account for a program reason; their serial blocks point here."""

    id: Optional[int] = Field(default=None, primary_key=True)
    serialization_id: int = Field(foreign_key="serialization.id", index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    quantity: int = Field(sa_type=BigInteger)
    reason: CancellationReason
    note: str = Field(default="", max_length=2000)
    reference: str = Field(default="", max_length=200)  # e.g. the non-CA event, letter or verification
    created_at: datetime = Field(default_factory=utcnow)


class Transfer(SQLModel, table=True):
    """Credits moved from one account to another (lowest serials first)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    serialization_id: int = Field(foreign_key="serialization.id")
    from_account_id: int = Field(foreign_key="account.id", index=True)
    to_account_id: int = Field(foreign_key="account.id", index=True)
    status: CreditStatus
    quantity: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class ExAnteConversion(SQLModel, table=True):
    """A verification converting inactive ex-ante ICCs of one issuance into active ex-post ICCs.

    ``final`` closes the issuance: inactive units it did not convert are cancelled
    (``ex_ante_shortfall``)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    issuance_id: int = Field(foreign_key="issuance.id", index=True)
    verified_quantity: int = Field(sa_type=BigInteger)
    converted_quantity: int = Field(sa_type=BigInteger)
    shortfall_cancelled: int = Field(default=0, sa_type=BigInteger)
    final: bool = False
    verification_reference: str = Field(max_length=200)
    # The period this verification verified (within the issuance's predicted period) and who
    # verified it when; None only on rows from before migration 0012.
    monitoring_start: Optional[date] = None
    monitoring_end: Optional[date] = None
    verification_body: Optional[str] = Field(default=None, max_length=200)
    verified_on: Optional[date] = None
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """An API key: ``key_id`` is public (part of the key), only a SHA-256 of the key is stored."""

    id: Optional[int] = Field(default=None, primary_key=True)
    key_id: str = Field(unique=True, max_length=16)
    key_hash: str = Field(max_length=64)
    role: ApiKeyRole
    organization_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: Optional[datetime] = None


class LedgerEntry(SQLModel, table=True):
    """Append-only journal; ``entry_hash`` = sha256 over the previous hash and this entry."""

    seq: int = Field(primary_key=True)
    kind: str = Field(max_length=40)
    payload: str
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
