"""Health check: answers when the registry database answers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func
from sqlmodel import select

from registry.api.deps import SessionDep
from registry.api.problems import PROBLEM_RESPONSES
from registry.tables.core import Organization

router = APIRouter(tags=["meta"], responses=PROBLEM_RESPONSES)


@router.get("/health")
def health(session: SessionDep) -> dict:
    session.exec(select(func.count()).select_from(Organization)).one()
    return {"status": "ok"}
