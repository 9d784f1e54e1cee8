"""The registry database schema (registry and bridge tables), managed by Alembic migrations
in registry/migrations. :func:`create_schema` upgrades a database to the latest revision."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def metadata():
    import bridge.tables  # noqa: F401 - registers the bridge tables
    import bridge.webhooks.tables  # noqa: F401 - webhook subscriptions, outbox and delivery log
    import registry.tables.additionality  # noqa: F401 - additionality claims, reports, status history
    import registry.tables.article6  # noqa: F401 - Article 6.2 letters, designations, CA, non-CA events
    import registry.tables.core  # noqa: F401

    return SQLModel.metadata


def alembic_config(engine: Engine | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def create_schema(engine: Engine) -> None:
    """Upgrade the database to the latest migration (creates every table on an empty one).

    Upgrades to every head: parallel lines of work each add a revision on their own branch,
    and a merge revision joins them when they land together."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def drop_schema(engine: Engine) -> None:
    """Drop every table, including Alembic's version table (used by the demo's reset)."""
    from sqlalchemy import Enum, MetaData

    reflected = MetaData()
    reflected.reflect(bind=engine)
    reflected.drop_all(bind=engine)
    if engine.dialect.name == "postgresql":  # enum types outlive their tables there
        for table in metadata().tables.values():
            for column in table.columns:
                if isinstance(column.type, Enum):
                    column.type.drop(bind=engine, checkfirst=True)
