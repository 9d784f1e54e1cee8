"""The icr-bridge command line as a whole: --version, and help that shows every setting's name."""

from __future__ import annotations

from typer.testing import CliRunner

from bridge.cli.main import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("icr-bridge ")


def test_help_names_the_environment_variables_rich_would_otherwise_swallow():
    """``[env X]`` in help text is Rich markup and vanished (``JSON-RPC URL .``)."""
    sync = runner.invoke(app, ["sync", "--help"], env={"COLUMNS": "200"}).output
    for name in ("ICR_RPC_URL", "ICR_CONTRACT", "ICR_CONFIRMATIONS"):
        assert f"(env {name})" in sync
    demo = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"}).output
    assert "(default: sqlite:///icr-bridge.sqlite)" in demo
