"""``icr-bridge demo`` and ``icr-bridge serve``: the whole loop on an in-process chain, and the
HTTP API."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from bridge import logs
from bridge.cli.options import DbOption, LogLevel, console, err, open_registry
from registry.db import DEFAULT_DATABASE_URL, database_url, make_engine, sqlite_path

app = typer.Typer()


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
    engine = open_registry(db)
    chains = deployed_chains(engine, rpc_url) if rpc_url else []
    relayer = None
    if relay:
        from bridge.settings import KeyError_, load_settings

        if not rpc_url:
            err.print("[red]--relay: give --rpc-url too (the chain to relay retirements to)[/]")
            raise typer.Exit(2)
        try:
            settings = load_settings(rpc_url=rpc_url, database_url=db)
            relayer = settings.account("relayer")
        except KeyError_ as exc:
            err.print(f"[red]--relay: {exc}[/]")
            raise typer.Exit(2)
        _relay_preflight(engine, settings, relayer)
    uvicorn.run(create_app(engine, chains=chains, public_base_url=public_url, relayer=relayer), host=host, port=port,
                log_level=log_level.lower(), log_config=logs.uvicorn_log_config(log_level))


def _relay_preflight(engine, settings, relayer) -> None:
    """The start-up checks of ``serve --relay``: schema, the token's code, finality and the
    relayer's ether (its role is not needed to relay)."""
    from rich.markup import escape

    from bridge.cli.startup import preflight_or_exit
    from bridge.operator import OperatorError, open_chain

    try:
        chain = open_chain(settings, engine)
    except OperatorError as exc:
        err.print(f"[red]--relay: {escape(str(exc))}[/]")
        raise typer.Exit(2)
    preflight_or_exit("serve --relay", engine, chain, settings, {"relayer": relayer}, roles=False, history=False)
