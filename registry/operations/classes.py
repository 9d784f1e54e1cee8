"""The one lookup of a credit class by its ERC-1155 token id."""

from __future__ import annotations

from sqlmodel import Session, select

from registry.errors import NotFound
from registry.tables.core import CreditClass


def find_class_by_token(session: Session, token_id: int | str) -> CreditClass | None:
    """The credit class whose token id is ``token_id``, or None."""
    return session.exec(select(CreditClass).where(CreditClass.token_id == str(token_id))).first()


def class_for_token(session: Session, token_id: int | str) -> CreditClass:
    """The credit class whose token id is ``token_id``; NotFound (field ``token_id``) otherwise."""
    row = find_class_by_token(session, token_id)
    if row is None:
        raise NotFound(f"no credit class has token id {token_id}", field="token_id")
    return row
