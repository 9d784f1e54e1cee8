"""Bridge state kept in the registry database, so that it changes in the same transaction as
the credits it concerns: mint batches and their leaves, applied chain events, and cursors."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional

from sqlalchemy import BigInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.tables.core import utcnow


class BatchStatus(str, Enum):
    built = "built"  # tree persisted, root not yet on-chain
    committed = "committed"  # root committed on-chain
    minted = "minted"  # every leaf minted
    revoked = "revoked"  # revoked on-chain (BatchRevoked final): unminted leaves' units returned


class Deployment(SQLModel, table=True):
    """The token contract this registry mirrors into, per chain."""

    id: Optional[int] = Field(default=None, primary_key=True)
    chain_id: int = Field(unique=True, sa_type=BigInteger)
    address: str = Field(max_length=42)
    deployed_block: int = Field(sa_type=BigInteger)
    custody_account_id: int = Field(foreign_key="account.id")
    # ICRCarbonContractRegistry answering getProjectIdFromAddress(address) (deployments since 0016)
    lookup_address: Optional[str] = Field(default=None, max_length=42)
    created_at: datetime = Field(default_factory=utcnow)


class MintBatch(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    root: str = Field(max_length=66, index=True)
    leaf_count: int
    status: BatchStatus = Field(default=BatchStatus.built, index=True)
    tree_dump: str  # OpenZeppelin StandardMerkleTree JSON (standard-v1)
    commit_tx: Optional[str] = Field(default=None, max_length=66)
    revoked_tx: Optional[str] = Field(default=None, max_length=66)  # the BatchRevoked transaction, once synced
    created_at: datetime = Field(default_factory=utcnow)


class MintLeaf(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("batch_id", "leaf_index", name="uq_leaf_position"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="mintbatch.id", index=True)
    leaf_index: int
    token_id: str = Field(max_length=80)
    recipient: str = Field(max_length=42)
    amount: int = Field(sa_type=BigInteger)
    unit_first: int = Field(sa_type=BigInteger)
    unit_last: int = Field(sa_type=BigInteger)
    serial_block: str = Field(max_length=80)
    tokenization_id: int = Field(foreign_key="tokenizationrequest.id", index=True)
    minted: bool = False
    mint_tx: Optional[str] = Field(default=None, max_length=66)
    # Why ``mintLeaves`` cannot mint this leaf (its recipient refuses ERC-1155 tokens, ...): the
    # engine no longer sends it and its holder may ``claim`` it; cleared by
    # ``icr-bridge batch retry-refused``. None for a leaf nothing is known against.
    mint_refused: Optional[str] = Field(default=None, max_length=300)
    mint_refused_at: Optional[datetime] = None


class ChainEvent(SQLModel, table=True):
    """Every chain log the sync applied, keyed by its origin: applying is idempotent."""

    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_chain_event_origin"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)
    log_index: int
    block_number: int = Field(sa_type=BigInteger)
    block_hash: str = Field(max_length=66)
    event: str = Field(max_length=40)
    applied_at: datetime = Field(default_factory=utcnow)


class ChainCursor(SQLModel, table=True):
    """How far the sync has applied events of a contract (inclusive block number)."""

    __table_args__ = (UniqueConstraint("chain_id", "address", name="uq_cursor_contract"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    address: str = Field(max_length=42)
    last_block: int = Field(sa_type=BigInteger)
    last_block_hash: str = Field(default="", max_length=66)


class RedemptionStatus(str, Enum):
    requested = "requested"  # tokens escrowed on-chain, the bridge has not answered (final event seen)
    finalized = "finalized"  # escrow burned; the serials are in the destination account
    rejected = "rejected"  # tokens returned to the holder, with a reason
    reclaimed = "reclaimed"  # the holder took the escrow back after the timeout


class Redemption(SQLModel, table=True):
    """A request to take bridged credits back into a registry account, as the chain reported
    it, with the registry's decision. Keyed by the on-chain redemption id."""

    __table_args__ = (UniqueConstraint("chain_id", "redemption_id", name="uq_redemption_onchain_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    redemption_id: int = Field(sa_type=BigInteger)
    holder: str = Field(max_length=42)
    class_id: int = Field(foreign_key="creditclass.id")
    token_id: str = Field(max_length=80)
    amount: int = Field(sa_type=BigInteger)
    account_reference: str = Field(max_length=200)
    reclaimable_at: int = Field(sa_type=BigInteger)
    status: RedemptionStatus = Field(default=RedemptionStatus.requested, index=True)
    request_tx: str = Field(max_length=66)
    # The registry's decision, made before anything is sent: finalize into decided_account_id,
    # or reject with decision_reason.
    decision: Optional[str] = Field(default=None, max_length=10)
    decided_account_id: Optional[int] = Field(default=None, foreign_key="account.id")
    decision_reason: Optional[str] = Field(default=None, max_length=500)
    decided_at: Optional[datetime] = None
    answer_tx: Optional[str] = Field(default=None, max_length=66)
    # Set when the RedemptionFinalized event is applied: the unit ranges moved (JSON), so a
    # reorganization can put exactly those back into custody.
    account_id: Optional[int] = Field(default=None, foreign_key="account.id")
    moved_ranges: Optional[str] = None
    answered_tx: Optional[str] = Field(default=None, max_length=66)
    # What was changed to store the request's account reference (JSON list of flags), or None.
    input_flags: Optional[str] = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class QuarantinedEvent(SQLModel, table=True):
    """A final chain event the sync could not apply, kept with its raw log and the error so the
    sync moves on and an operator can retry it after a fix (``icr-bridge quarantine``).

    Its ChainEvent row is written with it, so no pass applies it behind the operator's back;
    ``retry_requested`` asks the next pass to apply it again. Reconcile counts the tonnes of a
    quarantined ``Retired`` or ``RedemptionFinalized`` event as quarantined, never as missing."""

    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_quarantined_event_origin"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)
    log_index: int
    block_number: int = Field(sa_type=BigInteger, index=True)
    event: str = Field(max_length=40)
    token_id: Optional[str] = Field(default=None, max_length=80)  # the class whose tonnes it moves, if any
    amount: Optional[int] = Field(default=None, sa_type=BigInteger)
    raw_log: str = Field(sa_type=Text)  # JSON: address, topics, data, block and transaction of the log
    error: str = Field(sa_type=Text)
    attempts: int = 1
    retry_requested: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    last_attempt_at: datetime = Field(default_factory=utcnow)
