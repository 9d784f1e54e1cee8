"""What the ``icr-bridge`` command modules share: the Rich consoles (``console`` for output,
``err`` for errors on stderr), the database URL options (``--db``, from ``ICR_DATABASE_URL``),
the log level option, and opening the registry database.

Only ``demo`` and ``deploy`` create a SQLite registry file (and say where); every other
command refuses a missing one, naming the URL it tried, so a mistyped path or a command run
from the wrong directory never opens an empty registry."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bridge.cli.errors import ConfigError, remember_database
from bridge.redaction import redact_url
from registry.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, database_url, make_engine, sqlite_path

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

#: ``--db`` of the registry commands, its help naming the default URL.
DbOption = Annotated[
    Optional[str],
    typer.Option("--db", envvar=DATABASE_URL_ENV, help=f"Registry database URL (default: {DEFAULT_DATABASE_URL})."),
]
#: ``--db`` of the service commands (operator, webhooks), whose settings say the default.
ServiceDbOption = Annotated[Optional[str], typer.Option("--db", envvar=DATABASE_URL_ENV, help="Registry database URL.")]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

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
        raise ConfigError(f"--explorer-tx-url / {EXPLORER_TX_URL_ENV}: {template!r} is not an http(s) URL with one "
                          "{tx} placeholder, such as https://polygonscan.com/tx/{tx}")
    return template


def public_url_or_exit(url: Optional[str], *, required: bool) -> Optional[str]:
    """``--public-url`` checked: an http(s) origin without path, query or fragment; a bad one (or
    a missing one where ``required``) exits 2 with one line naming the setting."""
    from urllib.parse import urlsplit

    if url is None:
        if required:
            raise ConfigError(f"--public-url / {PUBLIC_URL_ENV}: required (the origin of links in webhook payloads, "
                              "e.g. https://bridge.example.org)")
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise ConfigError(f"--public-url / {PUBLIC_URL_ENV}: {url!r} is not an http(s) origin such as "
                          "https://bridge.example.org")
    return url.rstrip("/")


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ConfigError(f"--log-level: {value!r} is not a level; use one of {', '.join(LOG_LEVELS)}")
    return value.upper()


LogLevel = Annotated[str, typer.Option("--log-level", callback=_log_level,
                                       help=f"Structured log level (JSON lines on stderr): {', '.join(LOG_LEVELS)}.")]

_SETTING = f"{DATABASE_URL_ENV} / --db"
_SCHEMES = {"sqlite", "postgresql"}
#: Schemes people write for the ones the registry knows.
_SCHEME_HINTS = {"postgres": "postgresql", "psql": "postgresql", "pg": "postgresql", "postgre": "postgresql",
                 "sqllite": "sqlite", "sqlite3": "sqlite", "sql": "sqlite"}


def check_database_url(url: str) -> None:
    """Refuse a database URL the registry cannot use, naming the mistake (ConfigError)."""
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if not sep:
        raise ConfigError(f"{_SETTING}: {redact_url(url)!r} is not a URL; write sqlite:///PATH or "
                          "postgresql://USER@HOST:5432/DATABASE")
    if base not in _SCHEMES:
        hint = _SCHEME_HINTS.get(base)
        better = f"use {hint}://" if hint else "use sqlite:///PATH or postgresql://USER@HOST:5432/DATABASE"
        raise ConfigError(f"{_SETTING}: {redact_url(url)}: unknown database scheme {scheme}://; {better}")
    if base == "sqlite" and rest in ("", "/", "/:memory:"):
        raise ConfigError(f"{_SETTING}: {url} is an in-memory database that ends with the command; "
                          "write sqlite:///PATH (relative) or sqlite:////PATH (absolute)")


def _missing_sqlite(url: str, path: Path) -> str:
    line = f"{_SETTING}: no registry database at {path.resolve()} ({url})"
    # sqlite:///tmp/x.sqlite is ./tmp/x.sqlite: when ./tmp is not there but /tmp is, four slashes were meant
    if not path.is_absolute() and not path.parent.exists() and Path("/", path.parts[0]).is_dir():
        line += f"; three slashes make a relative path, an absolute one needs four: sqlite:////{path}"
    return line + "; `icr-bridge deploy` or `icr-bridge demo` creates one"


def open_registry(db: Optional[str], *, create: bool = True, create_file: bool = False, announce: bool = True):
    """The registry database engine for ``--db`` / ``ICR_DATABASE_URL`` (the default URL when
    neither is set), upgraded to the latest schema unless ``create`` is False.

    A SQLite file that does not exist is refused (ConfigError naming the URL) unless
    ``create_file`` (``demo``, ``deploy``), which creates it and says where on stderr."""
    url = database_url(db)
    remember_database(url)
    check_database_url(url)
    path = sqlite_path(url)
    created = False
    if path is not None and not path.exists():
        if not create_file:
            raise ConfigError(_missing_sqlite(url, path))
        if not path.parent.exists():
            raise ConfigError(f"{_SETTING}: cannot create {path.resolve()}: the directory {path.parent.resolve()} "
                              "does not exist")
        created = True
    engine = make_engine(url)
    if create or created:
        from sqlalchemy import inspect

        from bridge.schema import create_schema

        empty = not created and not inspect(engine).get_table_names()
        create_schema(engine)
        if empty and announce:  # an empty server database (PostgreSQL) got the schema: say so
            announce_schema(url)
    if created and announce:
        announce_created(path, url)
    return engine


def announce_schema(url: str) -> None:
    """Say that a command created the registry's tables in an empty database (stderr, and the log)."""
    shown = redact_url(url)
    err.print(f"created the registry schema in the empty database {shown}", soft_wrap=True, highlight=False)
    logging.getLogger("icr_bridge.cli").info("schema created", extra={"database": shown})


def announce_created(path: Path, url: str) -> None:
    """Say where a command created the registry's SQLite file (stderr, and the log)."""
    err.print(f"created the registry database {path.resolve()} ({url})", soft_wrap=True, highlight=False)
    logging.getLogger("icr_bridge.cli").info("database created", extra={"path": str(path.resolve())})
