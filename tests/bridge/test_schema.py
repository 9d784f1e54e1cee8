"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bridge.schema import create_schema, drop_schema, metadata
from registry.db import make_engine


def test_migrations_match_the_models(db_url):
    engine = make_engine(db_url)
    create_schema(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata())
    assert diff == [], f"models changed without a migration: {diff}"
    # upgrading again is a no-op, and a reset database can be rebuilt
    create_schema(engine)
    drop_schema(engine)
    create_schema(engine)
    engine.dispose()
