"""Shared pieces of the registry's HTTP layer: the engine and session dependencies and the
endpoint's one transaction (imported by :mod:`registry.api.auth` and the routers in
:mod:`registry.api.routes`)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from registry.errors import Conflict

log = logging.getLogger("icr_bridge.api")


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One session per request; nothing is committed unless an endpoint commits (closing rolls back)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """The endpoint's one transaction: commit if the block succeeds, roll back otherwise.

    A unique-constraint race lost at commit (another request inserted the same row first)
    becomes a 409 problem instead of a server error."""
    try:
        yield session
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        log.warning("commit conflict", extra={"error": str(exc.orig)})  # the database's text stays in the log
        raise Conflict("a concurrent change conflicted with this one; nothing was changed: try again",
                       rule="concurrent-change") from exc
    except BaseException:
        session.rollback()
        raise
