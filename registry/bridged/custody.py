"""Bridge custody in the registry: tokenization requests move serials into custody, and
on-chain retirements become registry retirements of specific custody serials.

Like every registry operation these run inside the caller's transaction and append a ledger
entry; bridged operations are keyed by their chain origin so applying one twice is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from registry.bulk import one_of
from registry.domain import lifecycle as lc
from registry.domain import serials as sr
from registry.domain.blocks import move_record
from registry.domain.classes import Purpose
from registry.domain.enums import AccountType, CreditStatus
from registry.domain.text import storable
from registry.errors import RuleViolation
from registry.operations import hooks
from registry.operations.article6 import uses as uses_ops
from registry.operations.classes import class_for_token
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.operations.serial_blocks import (
    MovedBlock,
    describe_blocks,
    held_refusal,
    lock_serialization,
    locked_blocks,
    place,
    require_units,
    take_lowest_blocks,
)
from registry.tables.core import (
    Account,
    CreditClass,
    Retirement,
    SerialBlock,
    Serialization,
    TokenizationRequest,
    WalletLink,
)


def tokenization_custody_blocks(
    session: Session,
    *,
    custody_account_id: int,
    serialization_id: int,
    tokenization_id: int,
    first: int,
    last: int,
    mirrored: bool,
) -> list[SerialBlock]:
    """The active custody blocks of a tokenization within units ``first..last`` (a mint leaf's
    range), mirrored or not, lowest first, locked for update."""
    return list(session.exec(
        select(SerialBlock).where(
            SerialBlock.serialization_id == serialization_id,
            SerialBlock.account_id == custody_account_id,
            SerialBlock.tokenization_id == tokenization_id,
            SerialBlock.status == CreditStatus.active,
            SerialBlock.mirrored == mirrored,
            SerialBlock.unit_first >= first,
            SerialBlock.unit_first <= last,  # bounds the index range scan
            SerialBlock.unit_last <= last,
        ).order_by(SerialBlock.unit_first).with_for_update()
    ))


def unminted_custody_rows(session: Session, custody_account_id: int, tokenization_ids: list[int], *,
                          lock: bool = False) -> list[Any]:
    """The active unmirrored custody blocks of these tokenizations as plain rows (id,
    serialization, tokenization, first and last unit, quantity), by tokenization and lowest
    first: one query on PostgreSQL, one per 500 tokenizations on SQLite
    (:func:`registry.bulk.one_of`); ``lock`` locks them for update (the sync marking them
    mirrored) rather than reading them (the batch)."""
    found: list[Any] = []
    for condition in one_of(session, SerialBlock.tokenization_id, tokenization_ids):
        statement = select(SerialBlock.id, SerialBlock.serialization_id, SerialBlock.tokenization_id,
                           SerialBlock.unit_first, SerialBlock.unit_last, SerialBlock.quantity).where(
            condition,
            SerialBlock.account_id == custody_account_id,
            SerialBlock.status == CreditStatus.active,
            SerialBlock.mirrored == False,  # noqa: E712 - SQL expression
        ).order_by(SerialBlock.tokenization_id, SerialBlock.unit_first)
        found.extend(session.exec(statement.with_for_update() if lock else statement).all())
    return found


def default_custody_account(session: Session) -> int:
    """The registry's only bridge custody account (there is one per deployment); a rule
    violation naming ``custody_account_id`` when there is none or more than one."""
    ids = list(session.exec(select(Account.id).where(Account.type == AccountType.bridge_custody).limit(2)))
    if len(ids) != 1:
        raise RuleViolation("the registry has " + ("no bridge custody account (no deployment)" if not ids else
                            "several bridge custody accounts (one per deployment): name one, see /deployments"),
                            field="custody_account_id", rule="custody-account-required")
    return ids[0]


def request_tokenization(
    session: Session,
    *,
    account_id: int,
    wallet: str,
    class_id: int,
    quantity: int,
    custody_account_id: int,
) -> tuple[TokenizationRequest, list[MovedBlock]]:
    """Move ``quantity`` active ICCs of a class (lowest serials first) from a holding account to
    bridge custody, recorded as a pending tokenization request to a linked wallet. Article 6.2
    ICCs whose letter is withdrawn are not tokenized (§I.10.3)."""
    if quantity < 1:
        raise RuleViolation("quantity must be a positive whole number of tonnes", field="quantity")
    account = get_row(session, Account, account_id, "account")
    credit_class = get_row(session, CreditClass, class_id, "class")
    custody = get_row(session, Account, custody_account_id, "custody_account")
    if custody.type is not AccountType.bridge_custody:
        raise RuleViolation(f"account {custody_account_id} is not a bridge custody account", field="custody_account_id")
    check(lc.check_tokenization, account.type, CreditStatus.active)
    uses_ops.require_tokenizable(session, credit_class)
    link = session.exec(select(WalletLink).where(WalletLink.address == wallet)).first()
    if link is None or link.account_id != account.id:
        raise RuleViolation(
            f"wallet {wallet} is not linked to account {account_id}", field="wallet", rule="wallet-must-be-linked"
        )
    serialization = lock_serialization(session, credit_class.serialization_id)
    blocks = locked_blocks(
        session, account_id=account_id, serialization_id=credit_class.serialization_id, status=CreditStatus.active,
        covering=quantity,
    )
    try:
        rows = take_lowest_blocks(session, blocks, quantity)
    except sr.InsufficientCredits as exc:
        raise held_refusal(session, account_id, serialization.id, str(exc)) or RuleViolation(
            str(exc), field="quantity", rule="sufficient-active-credits") from exc
    moves = [move_record(serialization.text, r.unit_first, r.unit_last, place(r), (custody.id, CreditStatus.active.value))
             for r in rows]
    request = TokenizationRequest(account_id=account_id, class_id=class_id, wallet=link.address, quantity=quantity)
    session.add(request)
    session.flush()
    for row in rows:
        row.account_id = custody.id
        row.tokenization_id = request.id
        session.add(row)
    session.flush()
    moved = describe_blocks(session, rows)
    append_entry(
        session,
        "tokenization.requested",
        {
            "tokenization_id": request.id,
            "account_id": account_id,
            "custody_account_id": custody.id,
            "wallet": link.address,
            "token_id": credit_class.token_id,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": quantity,
            "moves": moves,
        },
    )
    return request, moved


@dataclass(frozen=True)
class ChainOrigin:
    """Where a bridged operation came from: its idempotency key."""

    chain_id: int
    tx_hash: str
    log_index: int
    block_number: int
    block_time: datetime | None = None  # the block's timestamp, when the chain reported it


def find_bridged_retirement(session: Session, origin: ChainOrigin) -> Retirement | None:
    return session.exec(
        select(Retirement).where(
            Retirement.chain_id == origin.chain_id,
            Retirement.tx_hash == origin.tx_hash,
            Retirement.log_index == origin.log_index,
        )
    ).first()


@dataclass(frozen=True)
class OnchainRetirement:
    """An on-chain retirement (a final ``Retired`` event) as the registry records it: one typed
    object from the log to the registry row.

    ``details`` is the claim as the chain states it (empty strings and zeros mean not given).
    ``data_malformed`` marks a retirement whose ``data`` did not decode: the tokens are burned
    all the same, so it is recorded, with purpose ``malformed`` and only what the event's own
    strings say."""

    token_id: int
    quantity: int
    origin: ChainOrigin
    details: lc.RetirementDetails = lc.RetirementDetails()
    data_malformed: bool = False
    custom_uri: str = ""
    holder_wallet: str | None = None
    beneficiary_wallet: str | None = None
    onchain_retirement_id: int | None = None
    #: What the bridge already changed to read it (undecodable data, dates that are no dates, ...).
    input_flags: tuple[str, ...] = ()

    @property
    def purpose(self) -> str:
        return "malformed" if self.data_malformed else Purpose(self.details.purpose).name


#: Text fields of an on-chain retirement, stored at most their column's length.
_RETIREMENT_TEXT = ("beneficiary_name", "beneficiary_address", "retiree", "comment", "purpose_detail",
                    "corsia_operator", "corsia_state", "ndc_party", "jurisdiction")


def _column_length(name: str) -> int:
    return Retirement.__table__.c[name].type.length


def storable_retirement(retirement: OnchainRetirement) -> tuple[lc.RetirementDetails, str, list[str]]:
    """The claim and custom URI as the registry can store them, and the flags saying what was
    changed (with the flags the retirement came with): nothing a holder sends is refused."""
    flags = list(retirement.input_flags)

    def fit(field: str, value: str | None) -> str | None:
        if not value:
            return value
        text = storable(field, value, _column_length(field))
        flags.extend(text.flags)
        return text.text

    details = replace(retirement.details, **{f: fit(f, getattr(retirement.details, f)) for f in _RETIREMENT_TEXT})
    return details, fit("custom_uri", retirement.custom_uri), flags


def custody_short(token_id: int, exc: sr.InsufficientCredits) -> RuleViolation:
    """The refusal of an on-chain retirement the class's mirrored custody serials do not cover."""
    return RuleViolation(f"custody holds too few ICCs of class {token_id} for this retirement: {exc}",
                         field="quantity", rule="custody-covers-supply")


def purpose_refusal(session: Session, credit_class: CreditClass, retirement: OnchainRetirement) -> str | None:
    """Why the class's registry uses no longer allow the retirement's purpose (None if they do,
    and for malformed data, whose purpose is unknown)."""
    if retirement.data_malformed:
        return None
    refusal = uses_ops.use_refusal(session, credit_class, Purpose(retirement.details.purpose))
    return None if refusal is None else str(refusal)


def retirement_record(retirement: OnchainRetirement, class_id: int, custody_account_id: int,
                      refusal: str | None) -> tuple[Retirement, list[str]]:
    """The Retirement row of an on-chain retirement (not added to the session) and its flags."""
    values, flags = retirement_values(retirement, class_id, custody_account_id, refusal)
    return Retirement(**values), flags


def retirement_values(retirement: OnchainRetirement, class_id: int, custody_account_id: int,
                      refusal: str | None) -> tuple[dict, list[str]]:
    """The column values of an on-chain retirement's Retirement row and its flags: the claim
    made storable (:func:`storable_retirement`) and a purpose the class's uses no longer allow
    (``refusal``, from :func:`purpose_refusal`) flagged, never refused."""
    d, custom_uri, flags = storable_retirement(retirement)
    if refusal is not None:  # accepted on-chain before the registry's uses reached the chain
        flags.append(f"purpose: {refusal} (the contract accepted it before the registry's uses were pushed)")
    origin = retirement.origin
    values = dict(
        class_id=class_id,
        account_id=custody_account_id,
        quantity=retirement.quantity,
        purpose=retirement.purpose,
        beneficiary_name=d.beneficiary_name,
        beneficiary_address=d.beneficiary_address,
        retiree=d.retiree,
        comment=d.comment,
        custom_uri=custom_uri,
        chain_id=origin.chain_id,
        tx_hash=origin.tx_hash,
        log_index=origin.log_index,
        block_number=origin.block_number,
        block_time=origin.block_time,
        holder_wallet=retirement.holder_wallet,
        beneficiary_wallet=retirement.beneficiary_wallet,
        onchain_retirement_id=retirement.onchain_retirement_id,
        corsia_operator=d.corsia_operator or None,
        corsia_state=d.corsia_state or None,
        compliance_period_start=d.compliance_period_start or None,
        compliance_period_end=d.compliance_period_end or None,
        ndc_party=d.ndc_party or None,
        purpose_detail=d.purpose_detail or None,
        consumption_start=d.consumption_start,
        consumption_end=d.consumption_end,
        jurisdiction=d.jurisdiction or None,
        input_flags=json.dumps(flags) if flags else None,
    )
    return values, flags


def retirement_entry(record: Retirement, retirement: OnchainRetirement, serial_blocks: list[str],
                     moves: list[dict], flags: list[str]) -> dict:
    """The payload of the ``retirement.bridged`` ledger entry of a recorded retirement."""
    origin = retirement.origin
    return {
        "retirement_id": record.id,
        "token_id": str(retirement.token_id),
        "serial_blocks": serial_blocks,
        "quantity": retirement.quantity,
        "purpose": retirement.purpose,
        "beneficiary_name": record.beneficiary_name,
        "chain_id": origin.chain_id,
        "tx_hash": origin.tx_hash,
        "log_index": origin.log_index,
        "custody_account_id": record.account_id,
        "moves": moves,
        **({"input_flags": flags} if flags else {}),
    }


def retire_from_custody(
    session: Session, *, custody_account_id: int, retirement: OnchainRetirement
) -> tuple[Retirement, list[MovedBlock], bool]:
    """Record an on-chain retirement as a registry retirement of specific custody serials.

    Takes the lowest mirrored custody serials of the class. Idempotent on the chain origin: a
    second call with the same (chain id, tx hash, log index) returns the first retirement and
    ``created=False``. The tokens are already burned, so the record keeps what the chain says
    (the contract checked the purpose against the class, and the details against the registry's
    retirement rules and column lengths: contracts/README.md "Retirement rules"): empty or zero
    details are stored as not given, and text the registry cannot store is made storable and
    flagged (:func:`storable_retirement`); so is a purpose the class's registry uses no longer
    allow (the contract accepted it before ``setClassUses`` landed). A new retirement emits the ``retirement.recorded``
    registry hook, as :func:`registry.operations.retirements.retire` does.
    """
    origin, token_id, quantity = retirement.origin, retirement.token_id, retirement.quantity
    existing = find_bridged_retirement(session, origin)
    if existing is not None:
        rows = session.exec(select(SerialBlock).where(SerialBlock.retirement_id == existing.id)).all()
        return existing, describe_blocks(session, sorted(rows, key=lambda r: r.unit_first)), False
    credit_class = class_for_token(session, token_id)
    serialization = lock_serialization(session, credit_class.serialization_id)
    blocks = locked_blocks(
        session,
        account_id=custody_account_id,
        serialization_id=credit_class.serialization_id,
        status=CreditStatus.active,
        mirrored=True,
        covering=quantity,
    )
    try:
        require_units(blocks, quantity)
    except sr.InsufficientCredits as exc:
        raise custody_short(token_id, exc) from exc
    record, flags = retirement_record(retirement, credit_class.id, custody_account_id,
                                      purpose_refusal(session, credit_class, retirement))
    session.add(record)
    session.flush()  # the retirement's id, before the blocks change: each block is then updated once
    rows = take_lowest_blocks(session, blocks, quantity, flush=False)
    moves = [move_record(serialization.text, r.unit_first, r.unit_last, place(r), (None, CreditStatus.retired.value))
             for r in rows]
    for row in rows:
        row.status = CreditStatus.retired
        row.account_id = None
        row.retirement_id = record.id
        session.add(row)
    moved = describe_blocks(session, rows)  # the blocks' update goes out with the ledger entry's flush
    append_entry(session, "retirement.bridged",
                 retirement_entry(record, retirement, [m.serial_block for m in moved], moves, flags))
    hooks.emit(session, "retirement.recorded", retirement=record, serial_blocks=[m.serial_block for m in moved])
    return record, moved, True


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def custody_total(session: Session, custody_account_id: int, class_id: int, mirrored: bool | None = None) -> int:
    """Tonnes of a class in custody; ``mirrored=True`` counts only units minted on-chain."""
    credit_class = get_row(session, CreditClass, class_id, "class")
    conditions = [
        SerialBlock.account_id == custody_account_id,
        SerialBlock.serialization_id == credit_class.serialization_id,
        SerialBlock.status == CreditStatus.active,
    ]
    if mirrored is not None:
        conditions.append(SerialBlock.mirrored == mirrored)
    total = session.exec(select(func.coalesce(func.sum(SerialBlock.quantity), 0)).where(*conditions)).one()
    return int(total)


def revert_bridged_retirement(session: Session, origin: ChainOrigin, reason: str) -> Retirement | None:
    """Undo a bridged retirement whose chain log was reorganized away: its serials go back to
    custody (mirrored) and the retirement row is removed; the ledger keeps the record of both.
    Returns the removed retirement, or None if no retirement has this origin."""
    retirement = find_bridged_retirement(session, origin)
    if retirement is None:
        return None
    lock_serialization(session, session.get(CreditClass, retirement.class_id).serialization_id)
    rows = sorted(session.exec(select(SerialBlock).where(SerialBlock.retirement_id == retirement.id)).all(),
                  key=lambda r: r.unit_first)
    moved = describe_blocks(session, rows)
    serialization = session.get(Serialization, rows[0].serialization_id) if rows else None
    moves = [move_record(serialization.text, r.unit_first, r.unit_last, place(r),
                         (retirement.account_id, CreditStatus.active.value)) for r in rows]
    for row in rows:
        row.status = CreditStatus.active
        row.account_id = retirement.account_id
        row.mirrored = True
        row.retirement_id = None
        session.add(row)
    session.flush()
    session.delete(retirement)
    session.flush()
    append_entry(
        session,
        "retirement.reverted",
        {
            "retirement_id": retirement.id,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": retirement.quantity,
            "chain_id": origin.chain_id,
            "tx_hash": origin.tx_hash,
            "log_index": origin.log_index,
            "reason": reason,
            "moves": moves,
        },
    )
    return retirement
