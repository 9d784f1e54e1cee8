"""The development chain path: ``icr-bridge dev-node`` (a local anvil that makes blocks on its
own, and the settings that work on it) and ``icr-bridge keys new`` (the three bridge keys).

anvil answers ``finalized`` with head - 64 and, without ``--block-time``, makes a block only
when a transaction arrives, so a bridge waiting for the finalized block on an idle anvil waits
forever. ``dev-node`` starts anvil with a block time and prints settings that count
confirmations instead (``ICR_USE_FINALIZED_TAG=false``, ``ICR_CONFIRMATIONS``), as shell
``export`` lines: ``eval "$(icr-bridge dev-node --detach)"`` sets them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from typing import Annotated, Optional

import typer

from bridge.cli.errors import ConfigError
from bridge.cli.options import err

app = typer.Typer()
keys_app = typer.Typer(help="Bridge keys for a development chain.", no_args_is_help=True)

#: The roles of the bridge's keys, in the order ``keys new`` prints them.
ROLES = ("admin", "registry_signer", "relayer")


def dev_settings(url: str, confirmations: int) -> list[str]:
    """The ``export`` lines of the settings that work on a dev node at ``url``."""
    return [
        f"export ICR_RPC_URL={url}",
        "export ICR_USE_FINALIZED_TAG=false  # anvil's finalized block trails 64 blocks: count confirmations",
        f"export ICR_CONFIRMATIONS={confirmations}",
    ]


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


@app.command("dev-node")
def dev_node(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port for the node.")] = 8545,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    block_time: Annotated[float, typer.Option("--block-time", min=0.1, help="Seconds between blocks.")] = 1.0,
    confirmations: Annotated[int, typer.Option(
        "--confirmations", min=1, help="ICR_CONFIRMATIONS to print: blocks before events apply.")] = 2,
    detach: Annotated[bool, typer.Option(
        "--detach", help="Start the node in the background, print the settings and exit "
                         "(stop it with kill $ICR_DEV_NODE_PID).")] = False,
) -> None:
    """Start a local anvil node (from contracts/node_modules) that makes a block every
    --block-time seconds, and print the settings that work on it as shell export lines.

    eval "$(icr-bridge dev-node --detach)" starts it in the background and sets them."""
    from bridge.chain.anvil import AnvilUnavailable, launch

    if _port_taken(host, port):
        raise ConfigError(f"--port: {host}:{port} is already in use (another node?); choose another port")
    try:
        node = launch(["--block-time", f"{block_time:g}"], port=port, host=host, detached=detach)
    except AnvilUnavailable as exc:
        raise ConfigError(f"dev-node: {exc}") from None
    lines = [*dev_settings(node.url, confirmations), f"export ICR_DEV_NODE_PID={node.process.pid}"]
    typer.echo("\n".join(lines))
    if detach:
        typer.echo(f"# anvil (chain 31337) at {node.url}, a block every {block_time:g}s; stop it: kill {node.process.pid}")
        return
    err.print(f"anvil at {node.url}, a block every {block_time:g}s: Ctrl-C stops it", highlight=False)

    def _stop(*_):
        node.stop()

    signal.signal(signal.SIGTERM, _stop)
    try:
        node.process.wait()
    except KeyboardInterrupt:
        node.stop()


@keys_app.command("new")
def keys_new(
    keystore_dir: Annotated[Optional[Path], typer.Option(
        "--keystore-dir", help="Write encrypted keystores (admin.json, registry_signer.json, relayer.json) here, "
                               "with the password of ICR_KEYSTORE_PASSWORD or ICR_KEYSTORE_PASSWORD_FILE, and "
                               "print ICR_*_KEYSTORE lines instead of keys.")] = None,
) -> None:
    """Make the bridge's three keys (admin, registry signer, relayer) and print them as
    `export ICR_<ROLE>_KEY=0x...` lines (a shell's eval and a --config file both read them).

    New keys hold no ether: `icr-bridge deploy --fund-from-dev-account` funds them on anvil."""
    from eth_account import Account

    from bridge.settings import BridgeSettings, KeyError_

    accounts = {role: Account.create() for role in ROLES}
    if keystore_dir is None:
        for role, account in accounts.items():
            typer.echo(f"export ICR_{role.upper()}_KEY=0x{bytes(account.key).hex()}  # {role.replace('_', ' ')} "
                       f"{account.address}")
        err.print("these keys are printed in the clear: for a development chain only (--keystore-dir encrypts them)",
                  highlight=False)
        return
    try:
        password = BridgeSettings().keystore_password_for("admin")
    except KeyError_:
        raise ConfigError("--keystore-dir: set ICR_KEYSTORE_PASSWORD or ICR_KEYSTORE_PASSWORD_FILE "
                          "(the password the keystores are encrypted with)") from None
    if not keystore_dir.is_dir():
        raise ConfigError(f"--keystore-dir: {keystore_dir} is not a directory")
    paths = {role: (keystore_dir / f"{role}.json").resolve() for role in ROLES}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing:
        raise ConfigError(f"--keystore-dir: {', '.join(existing)} already exist(s); not overwritten")
    for role, account in accounts.items():
        fd = os.open(paths[role], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(Account.encrypt(account.key, password), out)
        typer.echo(f"export ICR_{role.upper()}_KEYSTORE={paths[role]}  # {role.replace('_', ' ')} {account.address}")
