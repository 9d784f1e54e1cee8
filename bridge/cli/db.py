"""``icr-bridge db upgrade``: apply the schema migrations (bridge/migrations) to an existing
registry database, which ``sync`` refuses to run against when it is behind (bridge/preflight.py)."""

from __future__ import annotations

import typer

from bridge.cli.options import ServiceDbOption, console, err
from registry.db import database_url, make_engine, sqlite_path

app = typer.Typer(help="The registry database.")


@app.command("upgrade")
def upgrade(db: ServiceDbOption = None) -> None:
    """Upgrade the registry database to the schema this icr-bridge needs (a no-op when it is)."""
    from bridge.preflight import redacted_database, schema_problem
    from bridge.schema import create_schema

    url = database_url(db)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        err.print(f"[red]ICR_DATABASE_URL / --db: {path} does not exist (`icr-bridge deploy` creates a registry)[/]")
        raise typer.Exit(2)
    engine = make_engine(url)
    before = schema_problem(engine, redacted_database(url))
    create_schema(engine)
    console.print(f"{redacted_database(url)}: " + ("upgraded to the current schema" if before else "already current"))
