"""What the ``icr-bridge`` command modules share: the Rich consoles (``console`` for output,
``err`` for errors on stderr) and the database URL option of the registry commands (``--db``,
from ``ICR_DATABASE_URL``, its help naming the default URL)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from registry.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

DbOption = Annotated[
    Optional[str],
    typer.Option("--db", envvar=DATABASE_URL_ENV, help=f"Registry database URL [default: {DEFAULT_DATABASE_URL}]"),
]
