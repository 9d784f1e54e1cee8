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


def test_migration_0013_backfills_requested_uses_and_recomputes_class_uses(engine):
    """A registry from before 0013: a class designated for CORSIA and NDC whose letter was then
    narrowed to NDC kept CORSIA. Upgrading stores what it was designated with as requested and
    takes CORSIA away."""
    from alembic import command
    from sqlalchemy import text

    from bridge.schema import alembic_config
    from registry.db import transaction
    from registry.domain.article6.letters import AuthorizedUse
    from registry.operations.article6 import letters as letter_ops
    from tests.support import a6_world

    world = a6_world.make_world(engine)
    letter_id = a6_world.authorized(world)
    a6_world.issue(world, 100)
    with transaction(engine) as s:
        letter_ops.reduce_letter_scope(s, letter_id, content=a6_world.content(uses=frozenset({AuthorizedUse.ndc})),
                                       note="notice", actor="admin")
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    with engine.begin() as conn:  # as before 0013: the class kept the uses it was created with
        conn.execute(text("UPDATE creditclass SET authorized_uses = 6 WHERE letter_number > 0"))
    create_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT letter_number, requested_uses, authorized_uses FROM creditclass "
                                 "ORDER BY letter_number")).all()
        designations = conn.execute(text("SELECT requested_uses FROM a6designation")).scalars().all()
    assert [tuple(r) for r in rows] == [(letter_id, 6, 4)]  # corsia | ndc requested, ndc now
    assert designations == [6]
