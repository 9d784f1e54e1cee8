"""``icr-bridge contracts``: compile the Solidity contracts and check the committed artifacts."""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli.options import console, err

app = typer.Typer(help="Compile the Solidity contracts and check the committed artifacts.")


@app.command("build")
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
            raise typer.Exit(2)  # the sources, not a disagreement (1 is --check's)
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
