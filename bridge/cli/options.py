"""What the ``icr-bridge`` command modules share: the Rich consoles (``console`` for output,
``err`` for errors on stderr), the database URL options (``--db``, from ``ICR_DATABASE_URL``),
the log level option, and opening the registry database."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from registry.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, make_engine

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

#: ``--db`` of the registry commands, its help naming the default URL.
DbOption = Annotated[
    Optional[str],
    typer.Option("--db", envvar=DATABASE_URL_ENV, help=f"Registry database URL (default: {DEFAULT_DATABASE_URL})."),
]
#: ``--db`` of the service commands (operator, webhooks), whose settings say the default.
ServiceDbOption = Annotated[Optional[str], typer.Option("--db", envvar=DATABASE_URL_ENV, help="Registry database URL.")]

LogLevel = Annotated[str, typer.Option("--log-level", help="Structured log level (JSON lines on stderr).")]

PUBLIC_URL_ENV = "ICR_PUBLIC_URL"
#: ``--public-url``: the origin of absolute links (token metadata, certificates, webhook payloads).
PublicUrlOption = Annotated[Optional[str], typer.Option(
    "--public-url", envvar=PUBLIC_URL_ENV,
    help="Origin of absolute links (token metadata, certificates, webhook payloads), e.g. https://bridge.example.org.")]


EXPLORER_TX_URL_ENV = "ICR_EXPLORER_TX_URL"
#: ``--explorer-tx-url``: a block explorer's transaction page, ``{tx}`` standing for the hash.
ExplorerTxUrlOption = Annotated[Optional[str], typer.Option(
    "--explorer-tx-url", envvar=EXPLORER_TX_URL_ENV,
    help="Block explorer transaction page linked from certificates, {tx} standing for the hash, "
         "e.g. https://polygonscan.com/tx/{tx}.")]


def explorer_tx_url_or_exit(template: Optional[str]) -> Optional[str]:
    """``--explorer-tx-url`` checked: an http(s) URL holding ``{tx}``; else one line naming the setting, exit 2."""
    from urllib.parse import urlsplit

    if template is None:
        return None
    parts = urlsplit(template.replace("{tx}", "0x"))
    if parts.scheme not in ("http", "https") or not parts.hostname or template.count("{tx}") != 1:
        err.print(f"[red]--explorer-tx-url / {EXPLORER_TX_URL_ENV}: {template!r} is not an http(s) URL with one "
                  "{tx} placeholder, such as https://polygonscan.com/tx/{tx}[/]", soft_wrap=True)
        raise typer.Exit(2)
    return template


def public_url_or_exit(url: Optional[str], *, required: bool) -> Optional[str]:
    """``--public-url`` checked: an http(s) origin without path, query or fragment; a bad one (or
    a missing one where ``required``) exits 2 with one line naming the setting."""
    from urllib.parse import urlsplit

    if url is None:
        if required:
            err.print(f"[red]--public-url / {PUBLIC_URL_ENV}: required (the origin of links in webhook payloads, "
                      "e.g. https://bridge.example.org)[/]", soft_wrap=True)
            raise typer.Exit(2)
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        err.print(f"[red]--public-url / {PUBLIC_URL_ENV}: {url!r} is not an http(s) origin such as "
                  "https://bridge.example.org[/]", soft_wrap=True)
        raise typer.Exit(2)
    return url.rstrip("/")


def open_registry(db: Optional[str], *, create: bool = True):
    """The registry database engine for ``--db`` (tables created unless ``create`` is False)."""
    from bridge.schema import create_schema

    engine = make_engine(db)
    if create:
        create_schema(engine)
    return engine
