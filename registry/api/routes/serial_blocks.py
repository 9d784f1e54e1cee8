"""Serial blocks: the registry's units, public."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from sqlalchemy import func
from sqlmodel import Session, select

from registry.api.deps import SessionDep
from registry.api.pagination import Paged, PageDep
from registry.api.problems import PROBLEM_RESPONSES
from registry.api.schemas.registry import SerialBlockPublic
from registry.domain.enums import CreditStatus
from registry.domain.serials import serial_block_text
from registry.operations import projects as projects_ops
from registry.operations import serial_blocks as serial_blocks_ops
from registry.tables.core import SerialBlock, Serialization

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)


def blocks_of(session: Session, *condition) -> list[str]:
    rows = session.exec(select(SerialBlock).where(*condition).order_by(SerialBlock.unit_first)).all()
    return [m.serial_block for m in serial_blocks_ops.describe_blocks(session, rows)]


@router.get("/serial-blocks")
def list_serial_blocks(
    session: SessionDep,
    page: PageDep,
    account_id: Optional[int] = None,
    status: Optional[CreditStatus] = None,
    serialization: Optional[str] = None,
) -> Paged[SerialBlockPublic]:
    conditions = []
    if account_id is not None:
        conditions.append(SerialBlock.account_id == account_id)
    if status is not None:
        conditions.append(SerialBlock.status == status)
    if serialization is not None:
        conditions.append(SerialBlock.serialization_id == projects_ops.serialization_by_text(session, serialization).id)
    total = session.exec(select(func.count()).select_from(SerialBlock).where(*conditions)).one()
    rows = session.exec(
        select(SerialBlock, Serialization.text)
        .join(Serialization, Serialization.id == SerialBlock.serialization_id)
        .where(*conditions)
        .order_by(Serialization.text, SerialBlock.unit_first)
        .offset(page.offset)
        .limit(page.limit)
    ).all()
    items = [
        SerialBlockPublic(
            serial_block=serial_block_text(text, b.unit_first, b.unit_last),
            serialization=text,
            unit_first=b.unit_first,
            unit_last=b.unit_last,
            quantity=b.quantity,
            status=b.status,
            account_id=b.account_id,
            mirrored=b.mirrored,
            retirement_id=b.retirement_id,
            cancellation_id=b.cancellation_id,
            hold_id=b.hold_id,
        )
        for b, text in rows
    ]
    return page.answer(total, items)
