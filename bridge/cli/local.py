"""``icr-bridge demo`` and ``icr-bridge serve``: the whole loop on an in-process chain, and the
HTTP API."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from bridge import logs
from bridge.cli.errors import ConfigError
from bridge.cli.options import (
    DbOption,
    ExplorerTxUrlOption,
    LogLevel,
    PublicUrlOption,
    console,
    explorer_tx_url_or_exit,
    open_registry,
    public_url_or_exit,
)
from registry.db import DEFAULT_DATABASE_URL, database_url, sqlite_path

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
    engine = open_registry(url, create=False, create_file=True)  # creates a missing SQLite file, saying where
    path = sqlite_path(url)
    if url == DEFAULT_DATABASE_URL and path is not None:
        drop_schema(engine)  # the demo's own file: always start fresh
    elif not _database_is_empty(engine):
        if not reset:
            raise ConfigError(f"--db: the database {url} already holds a registry; pass --reset to empty it for the demo")
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
    summary["database_path"] = str(path.resolve()) if path is not None else None
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
    console.print(f"ICR-compatible lookup (getProjectIdFromAddress) {chain['lookup_contract']}")
    where = f" ({summary['database_path']})" if summary.get("database_path") else ""
    console.print(f"registry database {summary.get('database_url', '')}{where}", soft_wrap=True)

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
    widest = max((len(s) for r in summary["retirements"] for s in r["serial_blocks"]), default=0)
    for col in ("id", "tonnes", "serials", "purpose", "beneficiary", "transaction", "log"):
        # the serial range is what the table is for: never cut (the hash folds instead)
        table.add_column(col, **({"min_width": widest, "no_wrap": True} if col == "serials" else
                                 {"overflow": "fold"} if col in ("transaction", "beneficiary") else {}))
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
    public_url: PublicUrlOption = None,
    explorer_tx_url: ExplorerTxUrlOption = None,
    relay: Annotated[bool, typer.Option(
        "--relay", help="Relay gasless retirements (POST /relay/retirements) with the relayer key "
                        "(ICR_RELAYER_KEY or ICR_RELAYER_KEYSTORE); needs --rpc-url.")] = False,
    log_level: LogLevel = "INFO",
) -> None:
    """Start the HTTP API (OpenAPI document at /openapi.json, docs at /docs, explorer at /explorer)."""
    import uvicorn

    from bridge.app import create_app
    from bridge.public.protocol import server_config
    from bridge.public.views import deployed_chains

    logs.configure(log_level)
    public_url = public_url_or_exit(public_url, required=False)
    explorer_tx_url = explorer_tx_url_or_exit(explorer_tx_url)
    engine = open_registry(db)
    chains = deployed_chains(engine, rpc_url) if rpc_url else []
    relayer, finality = None, None
    if rpc_url:  # receipts of retirements not yet final wait as the sync does (ICR_CONFIRMATIONS, ...)
        from bridge.settings import KeyError_, load_settings

        settings = load_settings(rpc_url=rpc_url, database_url=db)
        finality = (settings.confirmations, settings.use_finalized_tag)
    if relay:
        if not rpc_url:
            raise ConfigError("--relay: give --rpc-url too (the chain to relay retirements to)")
        try:
            relayer = settings.account("relayer")
        except KeyError_ as exc:
            raise ConfigError(f"--relay: {exc}") from None
        _relay_preflight(engine, settings, relayer)
    app_ = create_app(engine, chains=chains, public_base_url=public_url, relayer=relayer, finality=finality,
                      explorer_tx_url=explorer_tx_url)
    uvicorn.Server(server_config(app_, host=host, port=port, log_level=log_level.lower(),
                                 log_config=logs.uvicorn_log_config(log_level))).run()


def _relay_preflight(engine, settings, relayer) -> None:
    """The start-up checks of ``serve --relay``: schema, the token's code, finality and the
    relayer's ether (its role is not needed to relay)."""
    from bridge.cli.startup import preflight_or_exit
    from bridge.operator import OperatorError, open_chain

    try:
        chain = open_chain(settings, engine)
    except OperatorError as exc:
        raise ConfigError(f"--relay: {exc}") from None
    preflight_or_exit("serve --relay", engine, chain, settings, {"relayer": relayer}, roles=False, history=False)
