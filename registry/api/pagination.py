"""Pagination of list endpoints: the ``offset``/``limit`` query parameters, the ``{"page": {...},
"items": [...]}`` page models, and the helpers that read one page of rows and, for the original
array endpoints, give the total in ``X-Total-Count`` and the next page in a ``Link`` header."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select

T = TypeVar("T")

Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500).")]


class Page(BaseModel):
    offset: int
    limit: int
    total: int


class Paged(BaseModel, Generic[T]):
    page: Page
    items: list[T]


def _count(session: Session, model, *conditions) -> int:
    return session.exec(select(func.count()).select_from(model).where(*conditions)).one()


def page_of(session: Session, model, conditions, order, offset: int, limit: int):
    total = _count(session, model, *conditions)
    rows = session.exec(select(model).where(*conditions).order_by(*order).offset(offset).limit(limit)).all()
    return Page(offset=offset, limit=limit, total=total), rows


def array_page_headers(request: Request, response: Response, total: int, offset: int, limit: int) -> None:
    response.headers["X-Total-Count"] = str(total)
    if offset + limit < total:
        url = request.url.include_query_params(offset=offset + limit, limit=limit)
        response.headers["Link"] = f'<{url}>; rel="next"'
