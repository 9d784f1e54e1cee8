"""The shared options of the command line: a bad --public-url or --explorer-tx-url is one line
naming the setting (exit 2), before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bridge.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("option, value, setting", [
    ("--explorer-tx-url", "https://polygonscan.com/tx/", "--explorer-tx-url / ICR_EXPLORER_TX_URL"),
    ("--explorer-tx-url", "javascript:alert({tx})", "--explorer-tx-url / ICR_EXPLORER_TX_URL"),
    ("--public-url", "bridge.example.org", "--public-url / ICR_PUBLIC_URL"),
])
def test_serve_refuses_a_bad_link_setting_in_one_line(sqlite_url, option, value, setting):
    result = runner.invoke(app, ["serve", "--db", sqlite_url, option, value])
    assert result.exit_code == 2 and result.output.startswith(setting)
    assert len(result.output.strip().splitlines()) == 1


def test_serve_names_both_settings_in_its_help():
    help_text = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "ICR_EXPLORER_TX_URL" in help_text and "ICR_PUBLIC_URL" in help_text
