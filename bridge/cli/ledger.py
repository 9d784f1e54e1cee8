"""``icr-bridge ledger``: verify the registry's append-only ledger and rebuild the balance table."""

from __future__ import annotations

import typer

from bridge.cli.options import DbOption, console, err, open_registry
from registry.db import transaction

app = typer.Typer(help="The registry's append-only ledger.")


@app.command("verify")
def ledger_verify(db: DbOption = None) -> None:
    """Recompute the ledger's hash chain and replay its moves against the serial blocks
    (balances by account, serialization and status); exit 1 on any difference."""
    from registry.operations.ledger import verify_ledger

    engine = open_registry(db, create=False)
    with transaction(engine) as session:
        result = verify_ledger(session)
    check, balances = result.chain, result.balances
    for problem in check.problems + balances.problems:
        err.print(f"[red]{problem}[/]")
    console.print(f"{check.entries} entries, head {check.head}: " + ("[green]OK[/]" if check.ok else "[red]BROKEN[/]"))
    console.print(f"{balances.moves} moves replayed over {balances.serializations} serializations: "
                  + ("[green]balances match the serial blocks[/]" if balances.ok else "[red]BALANCES DIFFER[/]"))
    if not result.ok:
        raise typer.Exit(1)


@app.command("rebuild-balances")
def ledger_rebuild_balances(db: DbOption = None) -> None:
    """Recompute the maintained balance table (what `GET /balances` reads) from the serial
    blocks, in one transaction under the ledger's lock; prints the rows that differed. The
    serial blocks are the source: run `ledger verify` to check them against the ledger."""
    from registry.operations import balances
    from registry.operations.ledger import lock_ledger

    engine = open_registry(db, create=False)
    with transaction(engine) as session:
        lock_ledger(session)  # no credit operation changes blocks or the table meanwhile
        differed = balances.table_problems(session)
        balances.rebuild(session.connection())
        left = balances.table_problems(session)
        if left:  # only if the rebuild itself were wrong: raising here rolls it back
            raise RuntimeError(f"the rebuilt balance table still differs: {left[0]}")
    for problem in differed:
        err.print(f"[yellow]{problem}[/]")
    console.print(f"balance table rebuilt from the serial blocks: {len(differed)} row(s) differed"
                  + ("" if differed else " [green](it was already right)[/]"))
