"""Operator commands: ``icr-bridge deploy | sync | status | reconcile | snapshot verify``.

Settings come from ``ICR_*`` environment variables or ``--config FILE`` (see
:mod:`bridge.settings`); the options below override them. Keys come only from the
environment or encrypted keystores, never from options (they would land in shell history).
Failures are raised and explained by :mod:`bridge.cli.errors` (one line, exit codes 1-4).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridge import logs
from bridge.cli.errors import EXIT_CONFIG, EXIT_INFRA, ConfigError, Disagreement, InfraError, remember, settings_error
from bridge.cli.options import (
    LogLevel,
    ServiceDbOption,
    announce_created,
    check_database_url,
    console,
    err,
    open_registry,
)
from registry.db import sqlite_path

ConfigOption = Annotated[Optional[Path], typer.Option("--config", envvar="ICR_CONFIG",
                                                      help="Settings file (ICR_* variables, .env format).")]
RpcOption = Annotated[Optional[str], typer.Option("--rpc-url", help="JSON-RPC URL (env ICR_RPC_URL).")]
ContractOption = Annotated[Optional[str], typer.Option("--contract", help="ICCToken address (env ICR_CONTRACT).")]
ConfirmationsOption = Annotated[Optional[int], typer.Option(
    "--confirmations", min=0, help="Depth before events apply when the chain has no finalized tag (env ICR_CONFIRMATIONS).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _settings(config: Optional[Path], **overrides):
    from pydantic import ValidationError

    from bridge.settings import load_settings, unknown_settings

    try:
        settings = load_settings(config, **overrides)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    except ValidationError as exc:  # one line naming the ICR_* variable
        raise ConfigError(settings_error(exc)) from None
    if config is not None:
        for warning in unknown_settings(config):
            err.print(f"[yellow]{escape(warning)}[/]", soft_wrap=True)
    return settings


def _open(settings, *, need_contract: bool = True):
    from bridge.operator import open_chain

    engine = open_registry(settings.database_url)
    chain = open_chain(settings, engine, need_contract=need_contract)
    remember(chain=chain)
    return engine, chain


def _keys(settings):
    from bridge.operator import bridge_keys

    keys = bridge_keys(settings)
    remember(keys=keys)
    return keys


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def deploy(
    config: ConfigOption = None,
    db: ServiceDbOption = None,
    rpc_url: RpcOption = None,
    metadata_uri: Annotated[Optional[str], typer.Option(
        "--metadata-uri", help="ERC-1155 uri with {id} (env ICR_METADATA_URI).")] = None,
    fund_from_dev_account: Annotated[bool, typer.Option(
        "--fund-from-dev-account", help="Fund the three keys from the node's first unlocked account (anvil).")] = False,
    allow_loopback_metadata: Annotated[bool, typer.Option(
        "--allow-loopback-metadata", help="Write a metadata URI on 127.0.0.1/localhost into a contract on a chain "
                                          "other than a local dev chain (refused otherwise).")] = False,
    as_json: JsonOption = False,
    log_level: LogLevel = "WARNING",
) -> None:
    """Deploy the ICC token and record it, with its bridge custody account, in the registry.

    Needs ICR_ADMIN_KEY, ICR_REGISTRY_SIGNER_KEY and ICR_RELAYER_KEY (or *_KEYSTORE)."""
    from bridge.engine.deploy import AlreadyDeployed
    from bridge.engine.deploy import deploy as do_deploy
    from bridge.operator import open_chain

    logs.configure(log_level)
    settings = _settings(config, database_url=db, rpc_url=rpc_url, metadata_uri=metadata_uri)
    keys = _keys(settings)
    check_database_url(settings.database_url)
    chain = open_chain(settings, None, need_contract=False)
    remember(chain=chain)
    _check_metadata_uri(settings.metadata_uri, chain.chain_id, allow_loopback_metadata)
    if fund_from_dev_account:
        try:
            chain.fund_from_dev_account(keys.admin.address, keys.registry_signer.address, keys.relayer.address)
        except Exception as exc:  # noqa: BLE001 - the node decides whether it has unlocked accounts
            raise ConfigError(f"--fund-from-dev-account: the node at {settings.rpc_url} has no unlocked account to "
                              f"fund from ({exc})") from None
    from bridge.cli.startup import preflight_or_exit
    from bridge.preflight import bridge_key_map

    new_file = sqlite_path(settings.database_url)
    new_file = new_file if new_file is not None and not new_file.exists() else None
    engine = open_registry(settings.database_url, create_file=True, announce=False)
    try:
        preflight_or_exit("deploy", engine, chain, settings, bridge_key_map(keys), roles=False, history=False)
        with console.status(f"deploying ICCToken to chain {chain.chain_id}", spinner="dots") if not as_json \
                else _quiet():
            deployment = do_deploy(engine, chain, keys, settings.metadata_uri)
    except BaseException as exc:
        if new_file is not None:  # a deploy that failed or was refused leaves no registry file behind
            engine.dispose()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{new_file}{suffix}").unlink(missing_ok=True)
        if isinstance(exc, AlreadyDeployed):
            raise ConfigError(str(exc)) from None
        raise
    if new_file is not None:
        announce_created(new_file, settings.database_url)
    result = {"chain_id": deployment.chain_id, "contract": deployment.address,
              "lookup_contract": deployment.lookup_address, "block": deployment.deployed_block,
              "custody_account_id": deployment.custody_account_id, "admin": keys.admin.address,
              "registry_signer": keys.registry_signer.address, "relayer": keys.relayer.address}
    if as_json:
        _print_json(result)
        return
    table = Table(title="Deployed", show_header=False)
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)


#: Chain ids of local development nodes (anvil, hardhat, ganache, geth --dev).
DEV_CHAIN_IDS = (31337, 1337)


def _check_metadata_uri(uri: str, chain_id: int, allow_loopback: bool) -> None:
    """A metadata URI on a loopback host would be written into the contract for every wallet to
    resolve: refused on a chain other than a local dev chain, warned about loudly on one."""
    from urllib.parse import urlparse

    host = (urlparse(uri.replace("{id}", "0")).hostname or "").lower()
    if not (host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")):
        return
    line = (f"ICR_METADATA_URI / --metadata-uri: {uri} is on this machine ({host}); wallets and marketplaces "
            "cannot resolve it")
    if chain_id in DEV_CHAIN_IDS or allow_loopback:
        err.print(f"[bold yellow]warning: {escape(line)} (written into the contract on chain {chain_id})[/]",
                  soft_wrap=True)
        return
    raise ConfigError(f"{line}: set the bridge's public URL, e.g. https://bridge.example.org/metadata/{{id}}.json "
                      f"(or pass --allow-loopback-metadata); chain {chain_id} is not a local dev chain")


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def sync(
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit (the default).")] = False,
    follow_: Annotated[bool, typer.Option("--follow", help="Run cycles until SIGTERM / Ctrl-C.")] = False,
    config: ConfigOption = None,
    db: ServiceDbOption = None,
    rpc_url: RpcOption = None,
    contract: ContractOption = None,
    confirmations: ConfirmationsOption = None,
    metrics_port: Annotated[Optional[int], typer.Option(
        "--metrics-port", min=1, max=65535,
        help="Serve /metrics (Prometheus), /healthz and /readyz on this port (with --follow).")] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Interface for the metrics endpoint.")] = "127.0.0.1",
    max_cycles: Annotated[Optional[int], typer.Option("--max-cycles", min=1, help="Stop --follow after N cycles, failed ones included.")] = None,
    as_json: JsonOption = False,
    log_level: LogLevel = "INFO",
) -> None:
    """Run the bridge engine: batch pending tokenizations, commit roots, mint, apply final events.

    A failing step (commit, mint, ca_push, uses_push, sync, redemptions) is shown as one line naming the key
    or the contract, and the other steps still run. Exit codes of --once: 0 every step ran;
    2 a setting or a key is unusable (a step failed for good: a key without its role or ether);
    3 the node or the database failed (a step waits on the node, or the cycle failed as a
    whole); --debug adds the traceback. --follow exits 0 when stopped."""
    from bridge.operator import BridgeMetrics, StopFlag, follow

    if once and follow_:
        raise ConfigError("--once and --follow: choose one")
    if metrics_port is not None and not follow_:
        raise ConfigError("--metrics-port: only with --follow")
    logs.configure(log_level)
    settings = _settings(config, database_url=db, rpc_url=rpc_url, contract=contract, confirmations=confirmations)
    keys = _keys(settings)
    engine, chain = _open(settings)
    from bridge.cli.startup import preflight_or_exit
    from bridge.preflight import bridge_key_map

    preflight_or_exit("sync --follow" if follow_ else "sync --once", engine, chain, settings, bridge_key_map(keys))
    if follow_:
        from bridge.liveness import Liveness

        metrics = BridgeMetrics()
        liveness = Liveness(settings.ready_max_age, settings.ready_failures)
        server = None
        if metrics_port is not None:
            try:
                server = metrics.serve(metrics_port, metrics_host, liveness)
            except OSError as exc:
                raise ConfigError(f"--metrics-port: cannot listen on {metrics_host}:{metrics_port} ({exc})") from None
        stop = StopFlag()
        stop.install()

        def on_cycle(report, current):
            if not as_json and not report.idle:  # idle cycles: the log's debug lines and heartbeat
                console.print(_cycle_line(report, current), soft_wrap=True)

        try:
            cycles = follow(engine, chain, keys, settings, metrics, stop, on_cycle=on_cycle, max_cycles=max_cycles,
                            liveness=liveness)
        finally:
            if server is not None:
                server.close()
        console.print(f"stopped after {cycles} cycles")
        return
    report, current = _one_cycle(engine, chain, keys, settings, show_progress=not as_json)
    if as_json:
        _print_json({"cycle": _cycle_json(report), "status": current.as_json()})
    else:
        console.print(_cycle_line(report, current), soft_wrap=True)
    if report.failures:
        raise typer.Exit(step_failures_code(report.failures.values()))


def step_failures_code(failures) -> int:
    """``sync --once``'s exit code when steps failed: 2 when one needs the operator (a key
    without its role or its ether: permanent), 3 when they all wait on the node (transient)."""
    from bridge.engine.steps import PERMANENT

    return EXIT_CONFIG if any(f.kind == PERMANENT for f in failures) else EXIT_INFRA


def _one_cycle(engine, chain, keys, settings, show_progress: bool):
    from bridge.engine.cycle import run_cycle
    from bridge.operator import status

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=not show_progress, transient=True) as progress:
        minting = progress.add_task("mint transactions: leaves", total=None)
        syncing = progress.add_task("sync: blocks", total=None)
        report = run_cycle(
            engine, chain, keys, confirmations=settings.confirmations, use_finalized_tag=settings.use_finalized_tag,
            mint_chunk=settings.mint_chunk,
            mint_progress=lambda n: progress.advance(minting, n),
            sync_progress=lambda done, total: progress.update(syncing, completed=done, total=total),
        )
    return report, status(engine, chain, settings)


def _cycle_json(report) -> dict:
    sync = report.sync
    return {
        "batches_built": report.batches_built, "batches_committed": report.batches_committed,
        "leaves_minted": report.leaves_minted, "mint_transactions": report.mint_transactions,
        "revoked_batches": report.revoked_batches,
        "rolled_back": report.rolled_back,
        "applied": sync.applied if sync else {}, "skipped_duplicates": sync.skipped_duplicates if sync else 0,
        "flagged": sync.flagged if sync else [], "quarantined": sync.quarantined if sync else [],
        "busy": sync.busy if sync else False,
        "to_block": sync.to_block if sync else None,
        "mint_refused": [leaf.line() for leaf in report.mint_refused],
        "steps": report.steps,
        "step_errors": report.step_errors,
        "failures": {name: {"kind": f.kind, "reason": f.reason, "error": f.error} for name, f in report.failures.items()},
    }


def _cycle_line(report, current) -> str:
    data = _cycle_json(report)
    applied = ", ".join(f"{k} {v}" for k, v in data["applied"].items()) or "none"
    line = (f"block {current.last_processed_block} (lag {current.sync_lag_blocks} final, {current.chain_lag_blocks} from "
            f"head {current.head}): built {len(data['batches_built'])}"
            f" batch(es), committed {len(data['batches_committed'])}, minted {data['leaves_minted']} leaves in "
            f"{data['mint_transactions']} tx, applied {applied}, pending requests {current.pending_requests}")
    if data["rolled_back"]:
        line += f", [yellow]rolled back {data['rolled_back']} event(s) after a reorganization[/]"
    for flag in data["flagged"]:
        line += f"\n[yellow]flagged: {flag}[/]"
    for held in data["quarantined"]:
        line += f"\n[red]quarantined: {held} (see `icr-bridge quarantine list`)[/]"
    if report.revoked_batches:
        line += (f"\n[yellow]batch(es) {', '.join(map(str, report.revoked_batches))} revoked on-chain: "
                 "not minting; their unminted units return to the requesting accounts once the revocation is final[/]")
    if data["busy"]:
        line += "\n[yellow]another worker holds the sync for this contract[/]"
    for refused in data["mint_refused"]:
        line += f"\n[yellow]mint refused: {escape(refused)}[/]"
    if current.mint_refused_leaves:
        line += (f"\n[yellow]{current.mint_refused_leaves} leaf(s) left for claim: `icr-bridge status` lists them, "
                 "`icr-bridge batch retry-refused` mints them again[/]")
    for failure in report.failures.values():
        line += f"\n[red]{escape(failure.line())}[/]"
    waiting = [name for name, outcome in data["steps"].items() if outcome == "waiting"]
    if waiting:
        line += f"\n[yellow]waiting after earlier failures: {', '.join(waiting)}[/]"
    return line


def status_command(
    config: ConfigOption = None,
    db: ServiceDbOption = None,
    rpc_url: RpcOption = None,
    contract: ContractOption = None,
    confirmations: ConfirmationsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Where the bridge stands: the applied block's lag behind the final head (sync lag) and
    behind the chain head (head lag), pending work, flagged retirements."""
    from bridge.operator import status

    settings = _settings(config, database_url=db, rpc_url=rpc_url, contract=contract, confirmations=confirmations)
    engine, chain = _open(settings)
    current = status(engine, chain, settings)
    if as_json:
        _print_json(current.as_json())
        return
    table = Table(title=f"Bridge status: chain {current.chain_id}, contract {current.contract}", show_header=False)
    for key, value in current.as_json().items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        if isinstance(value, list):
            value = "\n".join(map(str, value)) or "none"
        table.add_row(key.replace("_", " "), escape(str(value)))
    console.print(table)


def reconcile_command(
    config: ConfigOption = None,
    db: ServiceDbOption = None,
    rpc_url: RpcOption = None,
    contract: ContractOption = None,
    confirmations: ConfirmationsOption = None,
    snapshot: Annotated[Optional[Path], typer.Option(
        "--snapshot", help="Also write a custody snapshot signed by the registry signer to this file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Prove the registry and the chain agree up to the final head; exit 1 where they don't.

    Per class: on-chain supply (+ units awaiting their mint, + tonnes of quarantined events)
    == registry custody; every Retired event has exactly one registry retirement or is
    quarantined; every minted leaf matches its tokenization request. Quarantined events and
    flagged records are listed; they are not disagreements."""
    from bridge.engine.reconcile import custody_snapshot, reconcile

    settings = _settings(config, database_url=db, rpc_url=rpc_url, contract=contract, confirmations=confirmations)
    engine, chain = _open(settings)
    report = reconcile(engine, chain, settings.confirmations, settings.use_finalized_tag)
    written = None
    if snapshot is not None:
        if not report.ok:
            raise Disagreement(f"--snapshot: not written, the two sides disagree at block {report.head}")
        signer = settings.account("registry_signer")
        try:
            document = custody_snapshot(engine, chain, signer, report.head)
        except ValueError as exc:  # nothing in custody to snapshot: the option cannot be met
            raise ConfigError(f"--snapshot: {exc}") from None
        snapshot.write_text(json.dumps(document, indent=2) + "\n")
        written = {"file": str(snapshot), "root": document["root"], "block": document["block"]}
    if as_json:
        _print_json({**report.as_json(), "snapshot": written})
    else:
        behind = f" (final head {report.final_head}: run the sync to compare up to it)" \
            if report.final_head > report.head else ""
        table = Table(title=f"Conservation at block {report.head}, the last the registry has applied{behind}")
        for col in ("token id", "serialization"):
            table.add_column(col)
        for col in ("custody", "awaiting mint", "on-chain supply", "quarantined"):
            table.add_column(col, justify="right")
        table.add_column("result")
        for c in report.conservation:
            held = c.quarantined_burned - c.quarantined_minted
            table.add_row(c.token_id, c.serialization, f"{c.registry_custody:,}", f"{c.awaiting_mint:,}",
                          f"{c.onchain_supply:,}", f"{held:+,}" if held else "0",
                          "[green]OK[/]" if c.ok else "[red]MISMATCH[/]")
        console.print(table)
        console.print(f"{report.retirement_events} Retired and {report.minted_leaf_events} LeafMinted events checked")
        for held in report.quarantined:
            console.print(f"[yellow]quarantined: {held}[/]")
        for flag in report.flagged:
            console.print(f"[yellow]flagged: {flag}[/]")
        for problem in report.problems:
            console.print(f"[red]{problem}[/]")
        if written:
            console.print(f"snapshot root {written['root']} at block {written['block']} written to {written['file']}")
        console.print("[bold green]the registry and the chain agree[/]" if report.ok
                      else "[bold red]the registry and the chain DISAGREE[/]")
    if not report.ok:
        raise typer.Exit(1)


def snapshot_verify(
    file: Annotated[Path, typer.Argument(help="A snapshot written by `icr-bridge reconcile --snapshot`.")],
    config: ConfigOption = None,
    rpc_url: RpcOption = None,
) -> None:
    """Check a published custody snapshot against the chain (needs no registry access)."""
    from bridge.chain.client import Chain, http_web3
    from bridge.engine.reconcile import verify_snapshot

    settings = _settings(config, rpc_url=rpc_url)
    if settings.rpc_url in ("", "eth-tester"):
        raise ConfigError("ICR_RPC_URL / --rpc-url: give the JSON-RPC URL of the snapshot's chain")
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"FILE: {file} is not a readable snapshot ({exc})") from None
    missing = [k for k in ("chain_id", "contract", "block", "root", "signer", "signature", "custody", "tree")
               if k not in document]
    if missing:
        raise ConfigError(f"FILE: {file} lacks {', '.join(missing)}")
    try:
        chain = Chain(http_web3(settings.rpc_url))
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS, not JSON-RPC
        raise InfraError(f"ICR_RPC_URL / --rpc-url: no JSON-RPC node answers at {settings.rpc_url} "
                         f"({type(exc).__name__})") from None
    remember(chain=chain)
    if chain.chain_id != document["chain_id"]:
        raise ConfigError(f"--rpc-url: the node serves chain {chain.chain_id}, the snapshot is for chain "
                          f"{document['chain_id']}")
    problems = verify_snapshot(document, chain)
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]snapshot root {document['root']} at block {document['block']} verified: "
                  f"signed by {document['signer']} and equal to the on-chain supply[/]")


app = typer.Typer()
app.command("deploy")(deploy)
app.command("sync")(sync)
app.command("status")(status_command)
app.command("reconcile")(reconcile_command)

snapshot_app = typer.Typer(help="Signed custody snapshots.")
snapshot_app.command("verify")(snapshot_verify)
