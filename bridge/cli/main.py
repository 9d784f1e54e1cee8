"""``icr-bridge``: the operator and developer command line (Typer + Rich).

One Typer sub-app per area, each in its own module, put together here:

- :mod:`bridge.cli.local`: ``demo`` and ``serve``;
- :mod:`bridge.cli.operator`: ``deploy``, ``sync``, ``status``, ``reconcile`` and ``snapshot``;
- :mod:`bridge.cli.dev`: ``dev-node`` and ``keys new``, the development chain path;
- :mod:`bridge.cli.contracts`, :mod:`bridge.cli.ledger`, :mod:`bridge.cli.batch`,
  :mod:`bridge.cli.quarantine`, :mod:`bridge.cli.webhooks`, :mod:`bridge.cli.admin`: the command
  groups of those names.

Options they share (the database URL, the log level, the consoles) are in
:mod:`bridge.cli.options`. Every command takes the registry database URL from ``--db`` or
``ICR_DATABASE_URL``. How commands fail (one line, exit codes 0-4, ``--debug``) is
:mod:`bridge.cli.errors`: the root group below explains whatever a command raises.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from bridge.cli import admin, batch, contracts, db, dev, ledger, local, operator, quarantine, webhooks
from bridge.cli.errors import FailingGroup, set_debug

app = typer.Typer(help="ICR bridge: mirror ICC serial blocks into ERC-1155 tokens and back.", no_args_is_help=True,
                  cls=FailingGroup)


def _print_version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"icr-bridge {version('icr-bridge')}")
        except PackageNotFoundError:  # running from a checkout without the package installed
            typer.echo("icr-bridge (not installed)")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", envvar="ICR_DEBUG",
                                        help="Print the traceback of a failure (env ICR_DEBUG).")] = False,
) -> None:
    """ICR bridge: mirror ICC serial blocks into ERC-1155 tokens and back.

    Exit codes: 0 ok; 1 the registry and the chain disagree (reconcile, snapshot verify);
    2 configuration (a setting, a key, the database URL); 3 infrastructure (the node or the
    database does not answer, missing historical state); 4 an unexpected error."""
    set_debug(debug)

app.add_typer(local.app)  # demo, serve: top-level commands
app.add_typer(operator.app)  # deploy, sync, status, reconcile: top-level commands
app.add_typer(dev.app)  # dev-node: a top-level command
app.add_typer(dev.keys_app, name="keys")
app.add_typer(contracts.app, name="contracts")
app.add_typer(ledger.app, name="ledger")
app.add_typer(batch.app, name="batch")
app.add_typer(operator.snapshot_app, name="snapshot")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(admin.app, name="admin")
app.add_typer(db.app, name="db")


if __name__ == "__main__":  # pragma: no cover
    app()
