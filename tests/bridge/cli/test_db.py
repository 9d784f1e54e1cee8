"""``icr-bridge db upgrade``: brings a registry database behind the migrations to their head."""

from __future__ import annotations

from alembic import command
from typer.testing import CliRunner

from bridge.cli.main import app
from bridge.preflight import schema_problem
from bridge.schema import alembic_config
from registry.db import make_engine

runner = CliRunner()


def test_upgrade_brings_a_database_behind_the_migrations_to_their_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "0010")
    assert schema_problem(engine, url) is not None
    done = runner.invoke(app, ["db", "upgrade", "--db", url], env={"COLUMNS": "200"})
    assert done.exit_code == 0 and done.output.strip() == f"{url}: upgraded to the current schema"
    assert schema_problem(engine, url) is None
    again = runner.invoke(app, ["db", "upgrade", "--db", url], env={"COLUMNS": "200"})
    assert again.exit_code == 0 and again.output.strip() == f"{url}: already current"


def test_upgrade_refuses_a_missing_sqlite_file_and_creates_nothing(tmp_path):
    missing = tmp_path / "typo.sqlite"
    done = runner.invoke(app, ["db", "upgrade", "--db", f"sqlite:///{missing}"], env={"COLUMNS": "200"})
    assert done.exit_code == 2 and f"ICR_DATABASE_URL / --db: {missing} does not exist" in done.output
    assert not missing.exists()
