"""Pagination of list endpoints: one envelope and one default for every list (issue 18).

Every list answers ``{"page": {"offset", "limit", "total"}, "items": [...]}``, takes ``offset``
(default 0) and ``limit`` (default :data:`DEFAULT_LIMIT`, at most :data:`MAX_LIMIT`), and gives
the total in ``X-Total-Count`` and the next page in a ``Link: <...>; rel="next"`` header. A route
takes a :data:`PageDep` and answers ``page.answer(total, items)`` (or ``page.rows(...)`` first
for a plain table query)."""

from __future__ import annotations

from typing import Annotated, Generic, Sequence, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 500

Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT,
                             description=f"Items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}).")]

# What changed in issue 18, for the README and the OpenAPI description.
ENVELOPE_NOTE = (
    "Every list answers `{\"page\": {\"offset\", \"limit\", \"total\"}, \"items\": [...]}` with `offset` "
    f"(default 0) and `limit` (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}); `X-Total-Count` carries the "
    "total and `Link: <...>; rel=\"next\"` the next page. Deprecation: `/organizations`, `/accounts`, "
    "`/balances`, `/projects`, `/deployments` answered a bare array (default limit 500) before; read "
    "`items` (the headers are unchanged)."
)


class Page(BaseModel):
    offset: int
    limit: int
    total: int


class Paged(BaseModel, Generic[T]):
    page: Page
    items: list[T]


def given(*pairs) -> list:
    """List filters: ``column == value`` for each (column, value) pair whose value was given."""
    return [column == value for column, value in pairs if value is not None]


def _count(session: Session, model, *conditions) -> int:
    return session.exec(select(func.count()).select_from(model).where(*conditions)).one()


def page_of(session: Session, model, conditions, order, offset: int, limit: int):
    total = _count(session, model, *conditions)
    rows = session.exec(select(model).where(*conditions).order_by(*order).offset(offset).limit(limit)).all()
    return Page(offset=offset, limit=limit, total=total), rows


class PageQuery:
    """The ``offset``/``limit`` of one list request and the means to answer it."""

    def __init__(self, request: Request, response: Response, offset: Offset = 0, limit: Limit = DEFAULT_LIMIT):
        self.request = request
        self.response = response
        self.offset = offset
        self.limit = limit

    def rows(self, session: Session, model, conditions, order) -> tuple[int, Sequence]:
        page, rows = page_of(session, model, conditions, order, self.offset, self.limit)
        return page.total, rows

    def window(self, items: Sequence) -> list:
        """This page of a list computed whole (small catalogues)."""
        return list(items[self.offset:self.offset + self.limit])

    def answer(self, total: int, items: list) -> Paged:
        self.response.headers["X-Total-Count"] = str(total)
        if self.offset + self.limit < total:
            url = self.request.url.include_query_params(offset=self.offset + self.limit, limit=self.limit)
            self.response.headers["Link"] = f'<{url}>; rel="next"'
        return Paged(page=Page(offset=self.offset, limit=self.limit, total=total), items=items)


PageDep = Annotated[PageQuery, Depends()]
