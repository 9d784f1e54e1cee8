"""``icr-bridge batch``: mint batches as OpenZeppelin StandardMerkleTree dumps."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bridge.cli.errors import ConfigError
from bridge.cli.options import DbOption, console, open_registry
from registry.db import database_url, transaction

app = typer.Typer(help="Mint batches.")


@app.command("export")
def batch_export(
    batch_id: Annotated[int, typer.Argument(help="Batch id (as committed on-chain).")],
    db: DbOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write a batch as an OpenZeppelin StandardMerkleTree JSON dump (standard-v1)."""
    from bridge.tables import MintBatch

    engine = open_registry(db, create=False)
    with transaction(engine) as session:
        batch = session.get(MintBatch, batch_id)
    if batch is None:
        raise ConfigError(f"BATCH_ID: batch {batch_id} does not exist in {database_url(db)}")
    text = json.dumps(json.loads(batch.tree_dump), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        console.print(f"wrote {out} (root {batch.root}, {batch.leaf_count} leaves)")


@app.command("retry-refused")
def batch_retry_refused(
    batch_id: Annotated[Optional[int], typer.Argument(help="Only this batch (default: every batch).")] = None,
    db: DbOption = None,
    chain_id: Annotated[Optional[int], typer.Option("--chain-id", help="Only batches on this chain.")] = None,
) -> None:
    """Mint leaves flagged as refused again: the next `icr-bridge sync` cycle tries them (after,
    say, their holder's wallet accepts ERC-1155 tokens again); still refused, they are flagged again."""
    from bridge.engine.batcher import retry_refused

    engine = open_registry(db, create=False)
    cleared = retry_refused(engine, chain_id=chain_id, batch_id=batch_id)
    for batch, leaf in cleared:
        console.print(f"batch {batch} leaf {leaf}: will be minted again by the next cycle")
    console.print(f"{len(cleared)} refused leaf(s) cleared")
