"""``icr-bridge``: the operator and developer command line (Typer + Rich).

Every command takes the registry database URL from ``--db`` or ``ICR_DATABASE_URL``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bridge import logs
from bridge.cli.options import DbOption, console, err
from registry.db import DEFAULT_DATABASE_URL, database_url, make_engine, sqlite_path, transaction

app = typer.Typer(help="ICR bridge: mirror ICC serial blocks into ERC-1155 tokens and back.", no_args_is_help=True)
contracts_app = typer.Typer(help="Compile the Solidity contracts and check the committed artifacts.")
ledger_app = typer.Typer(help="The registry's append-only ledger.")
batch_app = typer.Typer(help="Mint batches.")
app.add_typer(contracts_app, name="contracts")
app.add_typer(ledger_app, name="ledger")
app.add_typer(batch_app, name="batch")


LogLevel = Annotated[str, typer.Option("--log-level", help="Structured log level (JSON lines on stderr).")]


def _open_registry(db: Optional[str], *, create: bool = True):
    from bridge.schema import create_schema

    engine = make_engine(db)
    if create:
        create_schema(engine)
    return engine


def _database_is_empty(engine) -> bool:
    from sqlalchemy import inspect, text

    tables = inspect(engine).get_table_names()
    if "ledgerentry" not in tables:
        return True
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM ledgerentry")).scalar() == 0


@app.command()
def demo(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Empty a non-empty database given with --db first.")] = False,
    log_level: LogLevel = "WARNING",
) -> None:
    """Run the whole bridge loop on an in-process eth-tester chain and print a summary.

    Exits 1 if the conservation check (registry custody == on-chain supply) fails."""
    from bridge.chain.client import eth_tester_web3
    from bridge.demo import run_demo
    from bridge.schema import create_schema, drop_schema

    logs.configure(log_level)
    url = database_url(db)
    engine = make_engine(url)
    path = sqlite_path(url)
    if url == DEFAULT_DATABASE_URL and path is not None:
        drop_schema(engine)  # the demo's own file: always start fresh
    elif not _database_is_empty(engine):
        if not reset:
            err.print(f"[red]--db: the database {url} already holds a registry; pass --reset to empty it for the demo[/]")
            raise typer.Exit(2)
        drop_schema(engine)
    create_schema(engine)

    total_steps = 8
    counter = {"n": 0}

    def step(text: str) -> None:
        counter["n"] += 1
        if not as_json:
            console.print(f"[bold cyan][{counter['n']}/{total_steps}][/] {text}")

    with console.status("starting the in-process chain", spinner="dots") if not as_json else _nullcontext():
        w3 = eth_tester_web3()
    summary = run_demo(engine, w3, step=step)
    summary["database_url"] = url
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        step("summary")
        print_summary(summary)
    if not summary["ok"]:
        raise typer.Exit(1)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def print_summary(summary: dict) -> None:
    chain = summary["chain"]
    console.print(f"chain {chain['chain_id']}  contract {chain['contract']}  block {chain['block']}")
    console.print(f"registry database {summary.get('database_url', '')}")

    table = Table(title="Registry balances by account")
    for col in ("account", "type", "serialization", "status"):
        table.add_column(col)
    table.add_column("tonnes", justify="right")
    for b in summary["registry_balances"]:
        table.add_row(b["account_name"], b["account_type"], b["serialization"], b["status"], f"{b['quantity']:,}")
    console.print(table)

    table = Table(title="On-chain balances by wallet")
    for col in ("wallet", "label", "token id"):
        table.add_column(col)
    table.add_column("tokens", justify="right")
    for b in summary["onchain_balances"]:
        table.add_row(b["wallet"], b["label"], b["token_id"], f"{b['balance']:,}")
    console.print(table)

    table = Table(title="Retirements recorded in the registry")
    for col in ("id", "tonnes", "serials", "purpose", "beneficiary", "transaction", "log"):
        table.add_column(col)
    for r in summary["retirements"]:
        table.add_row(
            str(r["retirement_id"]), f"{r['quantity']:,}", "\n".join(r["serial_blocks"]), r["purpose"],
            f"{r['beneficiary_name']}\n{r['beneficiary_wallet']}", r["tx_hash"], str(r["log_index"]),
        )
    console.print(table)

    table = Table(title="Conservation check: registry custody == on-chain supply (+ units awaiting mint)")
    for col in ("token id", "serialization"):
        table.add_column(col)
    for col in ("custody", "awaiting mint", "on-chain supply"):
        table.add_column(col, justify="right")
    table.add_column("result")
    for c in summary["conservation"]:
        table.add_row(
            c["token_id"], c["serialization"], f"{c['registry_custody']:,}", f"{c['awaiting_mint']:,}",
            f"{c['onchain_supply']:,}", "[green]OK[/]" if c["ok"] else "[red]MISMATCH[/]",
        )
    console.print(table)
    ledger = summary["ledger"]
    console.print(
        f"ledger: {ledger['entries']} entries, head {ledger['head'][:16]}..., "
        + ("[green]hash chain verified[/]" if ledger["ok"] else f"[red]{'; '.join(ledger['problems'])}[/]")
    )
    console.print("[bold green]conservation holds[/]" if summary["ok"] else "[bold red]conservation FAILED[/]")


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    rpc_url: Annotated[Optional[str], typer.Option(
        "--rpc-url", help="JSON-RPC node to read on-chain token supply from (default: the synced figure).")] = None,
    public_url: Annotated[Optional[str], typer.Option(
        "--public-url", help="Origin for absolute links in token metadata, e.g. https://bridge.example.org.")] = None,
    relay: Annotated[bool, typer.Option(
        "--relay", help="Relay gasless retirements (POST /relay/retirements) with the relayer key "
                        "(ICR_RELAYER_KEY or ICR_RELAYER_KEYSTORE); needs --rpc-url.")] = False,
    log_level: LogLevel = "INFO",
) -> None:
    """Start the HTTP API (OpenAPI document at /openapi.json, docs at /docs, explorer at /explorer)."""
    import uvicorn

    from bridge.app import create_app
    from bridge.public.views import deployed_chains

    logs.configure(log_level)
    engine = _open_registry(db)
    chains = deployed_chains(engine, rpc_url) if rpc_url else []
    relayer = None
    if relay:
        from bridge.settings import KeyError_, load_settings

        if not rpc_url:
            err.print("[red]--relay: give --rpc-url too (the chain to relay retirements to)[/]")
            raise typer.Exit(2)
        try:
            relayer = load_settings().account("relayer")
        except KeyError_ as exc:
            err.print(f"[red]--relay: {exc}[/]")
            raise typer.Exit(2)
    uvicorn.run(create_app(engine, chains=chains, public_base_url=public_url, relayer=relayer), host=host, port=port,
                log_level=log_level.lower())


@contracts_app.command("build")
def contracts_build(
    check: Annotated[bool, typer.Option("--check", help="Only compare with the committed artifacts.")] = False,
) -> None:
    """Recompile contracts/src, test and bench with solc-js and write (or check) contracts/artifacts."""
    from bridge.chain.solidity import (
        ARTIFACTS_DIR,
        CompilationError,
        compile_contracts,
        render_artifact,
        write_artifacts,
    )

    with console.status("compiling with solc-js (via py-solc-x)", spinner="dots"):
        try:
            artifacts = compile_contracts()
        except CompilationError as exc:
            err.print(f"[red]compilation failed:[/]\n{exc}")
            raise typer.Exit(1)
    if check:
        stale = [
            name for name, doc in artifacts.items()
            if not (ARTIFACTS_DIR / f"{name}.json").exists()
            or (ARTIFACTS_DIR / f"{name}.json").read_text() != render_artifact(doc)
        ]
        if stale:
            err.print(f"[red]committed artifacts differ from a fresh build: {', '.join(stale)}[/]")
            raise typer.Exit(1)
        console.print("[green]committed artifacts match a fresh build[/]")
        return
    for path in write_artifacts(artifacts):
        console.print(f"wrote {path}")


@ledger_app.command("verify")
def ledger_verify(db: DbOption = None) -> None:
    """Recompute the ledger's hash chain and replay its moves against the serial blocks
    (balances by account, serialization and status); exit 1 on any difference."""
    from registry.operations.ledger import verify_ledger

    engine = _open_registry(db, create=False)
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


@ledger_app.command("rebuild-balances")
def ledger_rebuild_balances(db: DbOption = None) -> None:
    """Recompute the maintained balance table (what `GET /balances` reads) from the serial
    blocks, in one transaction under the ledger's lock; prints the rows that differed. The
    serial blocks are the source: run `ledger verify` to check them against the ledger."""
    from registry.operations import balances
    from registry.operations.ledger import lock_ledger

    engine = _open_registry(db, create=False)
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


@batch_app.command("export")
def batch_export(
    batch_id: Annotated[int, typer.Argument(help="Batch id (as committed on-chain).")],
    db: DbOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write a batch as an OpenZeppelin StandardMerkleTree JSON dump (standard-v1)."""
    from bridge.tables import MintBatch

    engine = _open_registry(db, create=False)
    with transaction(engine) as session:
        batch = session.get(MintBatch, batch_id)
    if batch is None:
        err.print(f"[red]BATCH_ID: batch {batch_id} does not exist in {database_url(db)}[/]")
        raise typer.Exit(2)
    text = json.dumps(json.loads(batch.tree_dump), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        console.print(f"wrote {out} (root {batch.root}, {batch.leaf_count} leaves)")


from bridge.cli.operator import register as _register_operator_commands  # noqa: E402 - after app exists

_register_operator_commands(app)

from bridge.cli.webhooks import register as _register_webhook_commands  # noqa: E402 - after app exists

_register_webhook_commands(app)

from bridge.cli.admin import register as _register_admin_commands  # noqa: E402 - after app exists

_register_admin_commands(app)


if __name__ == "__main__":  # pragma: no cover
    app()
