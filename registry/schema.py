"""Creating the schema of the registry database (registry and bridge tables)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel


def metadata():
    import bridge.models  # noqa: F401 - registers the bridge tables
    import registry.models  # noqa: F401

    return SQLModel.metadata


def create_schema(engine: Engine) -> None:
    metadata().create_all(engine)


def drop_schema(engine: Engine) -> None:
    metadata().drop_all(engine)
