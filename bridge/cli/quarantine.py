"""``icr-bridge quarantine``: final chain events the sync could not apply, held with their raw
log and the error, and asking for them to be applied again (by the next sync pass)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table
from sqlmodel import Session, select

from bridge.cli.errors import ConfigError
from bridge.cli.options import ServiceDbOption, console, open_registry
from bridge.tables import QuarantinedEvent
from registry.db import transaction
from registry.operations.ledger import append_entry

app = typer.Typer(help="Chain events the sync could not apply: list them, retry them after a fix.",
                  no_args_is_help=True)


@app.command("list")
def list_quarantined(
    db: ServiceDbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every quarantined event: its origin, the tonnes it moves, the error and whether a retry is asked for."""
    engine = open_registry(db)
    with Session(engine) as session:
        rows = session.exec(select(QuarantinedEvent).order_by(QuarantinedEvent.block_number,
                                                              QuarantinedEvent.log_index)).all()
    if as_json:
        sys.stdout.write(json.dumps([{**row.model_dump(exclude={"raw_log"}), "raw_log": json.loads(row.raw_log)}
                                     for row in rows], indent=2, default=str) + "\n")
        return
    table = Table(title=f"{len(rows)} quarantined event(s)")
    for col in ("id", "chain", "event", "origin", "block", "tonnes", "attempts", "retry", "error"):
        table.add_column(col)
    for row in rows:
        table.add_row(str(row.id), str(row.chain_id), row.event, f"{row.tx_hash}#{row.log_index}",
                      str(row.block_number), f"{row.amount or 0} of {row.token_id or '?'}", str(row.attempts),
                      "asked" if row.retry_requested else "", row.error)
    console.print(table)


@app.command("retry")
def retry(
    ids: Annotated[Optional[list[int]], typer.Argument(help="Quarantined event ids (see `quarantine list`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every quarantined event.")] = False,
    db: ServiceDbOption = None,
) -> None:
    """Ask the next sync pass to apply these events again (after the cause is fixed)."""
    if not ids and not all_:
        raise ConfigError("IDS: name the quarantined events to retry, or pass --all")
    engine = open_registry(db)
    with transaction(engine) as session:
        query = select(QuarantinedEvent)
        if not all_:
            query = query.where(QuarantinedEvent.id.in_(ids))
        rows = session.exec(query.with_for_update()).all()
        missing = sorted(set(ids or []) - {row.id for row in rows})
        if missing:
            raise ConfigError(f"IDS: no quarantined event {', '.join(map(str, missing))}")
        for row in rows:
            row.retry_requested = True
            session.add(row)
        append_entry(session, "sync.quarantine_retry_requested", {"ids": sorted(row.id for row in rows)})
    console.print(f"{len(rows)} event(s) will be applied again by the next sync pass")
