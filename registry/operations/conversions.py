"""Conversion of ex-ante ICCs to ex-post on verification; a final verification cancels the shortfall."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from registry.domain import lifecycle as lc
from registry.domain import monitoring as mon
from registry.domain import serials as sr
from registry.domain.article6.letters import Period
from registry.domain.blocks import move_record
from registry.domain.enums import CancellationReason, CreditStatus, IssuanceKind
from registry.errors import RuleViolation
from registry.operations.cancellations import _cancel_rows
from registry.operations.ledger import append_entry
from registry.operations.preconditions import check, get_row
from registry.operations.serial_blocks import (
    MovedBlock,
    coalesce,
    describe_blocks,
    lock_serialization,
    place,
    take_lowest_blocks,
)
from registry.tables.core import Cancellation, ExAnteConversion, Issuance, SerialBlock, utcnow


@dataclass(frozen=True)
class ConversionResult:
    conversion: ExAnteConversion
    converted: list[MovedBlock]
    cancellations: list[tuple[Cancellation, list[MovedBlock]]]


def convert_ex_ante(
    session: Session,
    *,
    issuance_id: int,
    verified_quantity: int,
    final: bool,
    verification_reference: str,
    verification_body: str,
    verified_on: date,
    monitoring_start: date,
    monitoring_end: date,
    at: datetime | None = None,
) -> ConversionResult:
    """Convert ex-ante ICCs of one issuance to ex-post on verification.

    ``verified_quantity`` inactive units of the issuance become active where they are, lowest
    serial first across all accounts holding them, keeping their serials. More than the
    outstanding ex-ante units is refused (issue the excess ex-post). A ``final`` verification
    closes the issuance: the units it did not cover are cancelled (reason
    ``ex_ante_shortfall``, one cancellation per holding account); a non-final one leaves
    them inactive for the next verification.

    The verification records the period it verified (within the issuance's predicted period,
    overlapping no period an earlier conversion of the issuance verified), its report, body and
    date (after the period ended, not after today)."""
    issuance = get_row(session, Issuance, issuance_id, "issuance")
    if issuance.kind is not IssuanceKind.ex_ante:
        raise RuleViolation(f"issuance {issuance_id} is an ex-post issuance", field="issuance_id",
                            rule="conversion-of-ex-ante-only")
    serialization = lock_serialization(session, issuance.serialization_id)
    earlier = session.exec(select(ExAnteConversion).where(ExAnteConversion.issuance_id == issuance.id)).all()
    if any(c.final for c in earlier):
        raise RuleViolation(f"issuance {issuance_id} was closed by a final verification", field="issuance_id",
                            rule="ex-ante-issuance-closed")
    period = check(mon.monitoring_period, monitoring_start, monitoring_end, serialization.vintage)
    verification = check(mon.check_ex_ante_verification,
                         Period(issuance.monitoring_start, issuance.monitoring_end),
                         [Period(c.monitoring_start, c.monitoring_end) for c in earlier if c.monitoring_start],
                         period, mon.Verification(verification_reference, verification_body, verified_on),
                         (at or utcnow()).date())
    reference = verification.reference
    blocks = list(
        session.exec(
            select(SerialBlock)
            .where(SerialBlock.issuance_id == issuance.id, SerialBlock.status == CreditStatus.inactive)
            .order_by(SerialBlock.unit_first)
            .with_for_update()
        )
    )
    plan = check(lc.plan_ex_ante_conversion, [sr.SerialRange(b.unit_first, b.unit_last) for b in blocks],
                 verified_quantity, final)
    moves: list[dict] = []
    converted_rows: list[SerialBlock] = []
    if plan.converted_quantity:
        converted_rows = take_lowest_blocks(session, blocks, plan.converted_quantity)
        for row in converted_rows:
            moves.append(move_record(serialization.text, row.unit_first, row.unit_last, place(row),
                                     (row.account_id, CreditStatus.active.value)))
            row.status = CreditStatus.active
            session.add(row)
        session.flush()
    converted = describe_blocks(session, converted_rows)
    for account_id in sorted({r.account_id for r in converted_rows}):
        coalesce(session, serialization.id, account_id=account_id, status=CreditStatus.active)
    cancellations = []
    if plan.shortfall_quantity:
        left = session.exec(
            select(SerialBlock)
            .where(SerialBlock.issuance_id == issuance.id, SerialBlock.status == CreditStatus.inactive)
            .order_by(SerialBlock.unit_first)
        ).all()
        if sum(r.quantity for r in left) != plan.shortfall_quantity:  # the serialization lock makes this impossible
            raise RuntimeError(f"issuance {issuance.id}: inactive units changed while converting")
        by_account: dict[int, list[SerialBlock]] = defaultdict(list)
        for row in left:
            by_account[row.account_id].append(row)
        for account_id in sorted(by_account):
            record, moved, cancel_moves = _cancel_rows(
                session, account_id=account_id, serialization=serialization, rows=by_account[account_id],
                reason=CancellationReason.ex_ante_shortfall,
                note=f"ex-ante shortfall of issuance {issuance.id} at final verification", reference=reference,
            )
            cancellations.append((record, moved))
            moves.extend(cancel_moves)
    conversion = ExAnteConversion(
        issuance_id=issuance.id,
        verified_quantity=verified_quantity,
        converted_quantity=plan.converted_quantity,
        shortfall_cancelled=plan.shortfall_quantity,
        final=final,
        verification_reference=reference,
        verification_body=verification.body,
        verified_on=verification.verified_on,
        monitoring_start=period.start,
        monitoring_end=period.end,
    )
    session.add(conversion)
    session.flush()
    append_entry(
        session,
        "conversion.ex_ante",
        {
            "conversion_id": conversion.id,
            "issuance_id": issuance.id,
            "verified_quantity": verified_quantity,
            "final": final,
            "verification_reference": reference,
            "verification_body": verification.body,
            "verified_on": str(verification.verified_on),
            "monitoring_period": [str(period.start), str(period.end)],
            "converted": [m.serial_block for m in converted],
            "cancellation_ids": [c.id for c, _ in cancellations],
            "shortfall_cancelled": plan.shortfall_quantity,
            "moves": moves,
        },
    )
    return ConversionResult(conversion, converted, cancellations)
