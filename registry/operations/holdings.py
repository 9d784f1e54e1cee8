"""Reads of holdings: balance rows per account, vintage serialization and status, from the maintained
balance table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from registry.domain.enums import AccountType, CreditStatus
from registry.tables.core import Account, AccountBalance, Serialization


@dataclass(frozen=True)
class BalanceRow:
    account_id: int | None
    account_name: str
    account_type: str
    serialization: str
    status: str
    quantity: int


def _balance_conditions(account_ids: Iterable[int] | None) -> list:
    conditions = [AccountBalance.quantity > 0]
    if account_ids is not None:
        conditions.append(AccountBalance.account_id.in_(list(account_ids)))
    return conditions


def balances(
    session: Session, *, account_ids: Iterable[int] | None = None, offset: int = 0, limit: int | None = None
) -> list[BalanceRow]:
    """Tonnes per (account, serialization, status), ordered by account, serialization and status;
    retired and cancelled credits sit under no account. ``account_ids`` limits the rows to those
    accounts; ``offset``/``limit`` take one page.

    Read from the maintained balance table (:mod:`registry.operations.balances`), not summed over the
    serial blocks, so the registry-wide list costs what one account's does."""
    stmt = (
        select(AccountBalance.account_id, Account.name, Account.type, Serialization.text, AccountBalance.status,
               AccountBalance.quantity)
        .join(Serialization, Serialization.id == AccountBalance.serialization_id)
        .outerjoin(Account, Account.id == AccountBalance.account_id)
        .where(*_balance_conditions(account_ids))
        .order_by(AccountBalance.account_id, Serialization.text, AccountBalance.status)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = []
    for account_id, name, type_, text, status, total in session.exec(stmt):
        rows.append(
            BalanceRow(
                account_id=account_id,
                account_name=name if account_id is not None else f"({CreditStatus(status).value})",
                account_type=AccountType(type_).value if account_id is not None else "terminal",
                serialization=text,
                status=CreditStatus(status).value,
                quantity=int(total),
            )
        )
    return rows


def balance_count(session: Session, *, account_ids: Iterable[int] | None = None) -> int:
    """How many rows :func:`balances` lists for these accounts (all without ``account_ids``)."""
    return session.exec(
        select(func.count()).select_from(AccountBalance).where(*_balance_conditions(account_ids))
    ).one()
