"""What ``sync``, ``serve --relay`` and ``deploy`` do before they start: the preflight checks
(bridge/preflight.py), the start-up banner and warnings on stderr, the start-up log line; a
fatal problem ends the command with its line(s) (exit 3 when the node or database is at
fault, 2 for a setting)."""

from __future__ import annotations

import typer
from rich.markup import escape

from bridge.cli.options import err


def preflight_or_exit(command: str, engine, chain, settings, keys, **checks):
    """Run the checks for ``command`` with ``keys`` (role -> account); returns the report."""
    from bridge import preflight

    report = preflight.run(command, engine, chain, settings, keys, **checks)
    for line in report.banner():
        err.print(escape(line), highlight=False, soft_wrap=True)
    for problem in report.warnings:
        err.print(f"[yellow]{escape(problem.line)}[/]", soft_wrap=True)
    preflight.log_start(report)
    for problem in report.fatal:
        err.print(f"[red]{escape(problem.line)}[/]", soft_wrap=True)
    if report.fatal:
        raise typer.Exit(3 if any(p.infrastructure for p in report.fatal) else 2)
    return report
