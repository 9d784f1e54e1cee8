"""The registry's enumerations: account types, credit statuses, issuance kinds, cancellation
reasons, API key roles, tokenization and hold statuses (pure: the tables and the rules share them)."""

from __future__ import annotations

from enum import Enum


class AccountType(str, Enum):
    holding = "holding"
    bridge_custody = "bridge_custody"
    buffer = "buffer"
    adjustment = "adjustment"


class CreditStatus(str, Enum):
    active = "active"  # ex-post, can be transferred, tokenized, retired
    inactive = "inactive"  # ex-ante, awaiting verification
    retired = "retired"
    cancelled = "cancelled"
    held = "held"  # active ICCs under a unit hold (registry/operations/holds.py): nothing moves them until released


class IssuanceKind(str, Enum):
    ex_post = "ex_post"
    ex_ante = "ex_ante"


class CancellationReason(str, Enum):
    """Why credits were cancelled (removed from use for a program reason, never for a claim)."""

    conversion_article6 = "conversion_article6"  # originals of standard ICCs converted to Article 6.2 ICCs
    non_ca_compensation = "non_ca_compensation"  # compensation of a non-CA event (seed 003 §V.b)
    correction = "correction"  # registry correction (e.g. an issuance error)
    buffer_use = "buffer_use"  # buffer credits used to compensate a reversal (non-permanence)
    ex_ante_shortfall = "ex_ante_shortfall"  # ex-ante credits the final verification did not cover


class ApiKeyRole(str, Enum):
    organization = "organization"  # acts on its own organization's accounts only
    administrator = "administrator"  # registry administrator: issuance, letter review, CA decisions


class TokenizationStatus(str, Enum):
    pending = "pending"  # serials in custody, not yet in a batch
    batched = "batched"  # leaves in a persisted batch
    minted = "minted"  # every leaf minted on-chain
    returned = "returned"  # its batch was revoked on-chain before any of its leaves was minted: units back in the account
    partially_returned = "partially_returned"  # batch revoked after some of its leaves were minted: the rest returned


class HoldStatus(str, Enum):
    placed = "placed"  # the units are held (status ``held``)
    released = "released"  # the units are active again


class HoldOrigin(str, Enum):
    operator = "operator"  # placed by the registry administrator (e.g. a KYC case)
    rule = "rule"  # placed by a registry rule (e.g. a non-CA event, seed 003 §V)
