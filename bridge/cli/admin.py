"""``icr-bridge admin``: registry administration from the operator's shell.

``admin create-key`` is how the first administrator API key comes to exist (anyone with the
database URL is already the operator); later keys can be made through ``POST /api-keys``.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from bridge.cli.errors import ConfigError
from bridge.cli.options import DbOption, console, err, open_registry
from registry.db import transaction

app = typer.Typer(help="Registry administration: API keys.", no_args_is_help=True)


@app.command("create-key")
def create_key(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    organization_id: Annotated[Optional[int], typer.Option(
        "--organization-id", help="Make an organization key for this organization (default: an administrator key).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from registry.api.auth import create_api_key
    from registry.domain.enums import ApiKeyRole
    from registry.errors import RegistryError

    role = ApiKeyRole.administrator if organization_id is None else ApiKeyRole.organization
    engine = open_registry(db)
    try:
        with transaction(engine) as session:
            row, key = create_api_key(session, name=name, role=role, organization_id=organization_id)
    except RegistryError as exc:
        raise ConfigError(f"--{(exc.field or 'name').replace('_', '-')}: {exc.detail}")
    err.print(f"created {role.value} key {row.id} ({row.key_id}) '{row.name}'; store it now, it is not shown again:")
    typer.echo(key)


@app.command("list-keys")
def list_keys(db: DbOption = None) -> None:
    """List API keys (never their secrets)."""
    from sqlmodel import select

    from registry.tables.core import ApiKey

    engine = open_registry(db)
    with transaction(engine) as session:
        rows = session.exec(select(ApiKey).order_by(ApiKey.id)).all()
    table = Table(title="API keys")
    for col in ("id", "key id", "role", "organization", "name", "created", "revoked"):
        table.add_column(col)
    for k in rows:
        table.add_row(str(k.id), k.key_id, k.role.value, str(k.organization_id or ""), k.name,
                      f"{k.created_at:%Y-%m-%d %H:%M}", f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)


@app.command("revoke-key")
def revoke_key(api_key_id: Annotated[int, typer.Argument(help="The key's id (see list-keys).")],
               db: DbOption = None) -> None:
    """Revoke an API key at once."""
    from registry.api.auth import revoke_api_key
    from registry.errors import RegistryError

    engine = open_registry(db)
    try:
        with transaction(engine) as session:
            row = revoke_api_key(session, api_key_id)
    except RegistryError as exc:
        raise ConfigError(f"API_KEY_ID: {exc.detail}")
    console.print(f"key {row.id} ({row.key_id}) revoked")
