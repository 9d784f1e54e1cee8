"""How icr-bridge commands fail: one line naming the setting, secrets redacted, exit codes that
mean one thing (bridge/cli/errors.py), and databases that are never created in silence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from web3.exceptions import Web3RPCError

from bridge.cli import errors
from bridge.cli.errors import ConfigError, explain
from bridge.cli.main import app
from bridge.cli.operator import _check_metadata_uri, step_failures_code
from bridge.engine.steps import PERMANENT, TRANSIENT, StepFailure
from bridge.redaction import redact, redact_url
from bridge.schema import create_schema
from bridge.settings import load_settings
from registry.db import make_engine


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300", **(env or {})})


def lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_redaction_hides_passwords_query_values_and_api_keys_in_rpc_urls():
    assert redact_url("postgresql://bridge:s3cret@db.internal:5432/icr") == "postgresql://bridge:***@db.internal:5432/icr"
    assert redact_url("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef") == \
        "https://mainnet.infura.io/v3/***"
    assert redact_url("https://node.example/rpc?apikey=abc&x") == "https://node.example/rpc?apikey=***&x"
    assert redact_url("sqlite:////tmp/test_create_key_prints_a_worki0/r.sqlite") == \
        "sqlite:////tmp/test_create_key_prints_a_worki0/r.sqlite"  # file paths are not secrets
    assert redact("no node at https://u:pw@rpc.example:8545 (refused)") == \
        "no node at https://u:***@rpc.example:8545 (refused)"


@pytest.mark.parametrize("url, code, expected", [
    ("sqllite:///r.sqlite", 2, "unknown database scheme sqllite://; use sqlite://"),
    ("postgres://postgres@127.0.0.1:5432/test", 2, "unknown database scheme postgres://; use postgresql://"),
    ("sqlite:///tmp/icr-no-such-dir/r.sqlite", 2,
     "three slashes make a relative path, an absolute one needs four: sqlite:////tmp/icr-no-such-dir/r.sqlite"),
    ("sqlite://", 2, "is an in-memory database"),
    ("postgresql://bridge:s3cret@127.0.0.1:9/icr", 3,
     "the registry database (postgresql://bridge:***@127.0.0.1:9/icr) does not answer"),
])
def test_every_database_url_mistake_is_one_line_with_its_exit_code(tmp_path, monkeypatch, url, code, expected):
    monkeypatch.chdir(tmp_path)
    for command in (["ledger", "verify"], ["status"], ["quarantine", "list"]):
        result = run(*command, "--db", url, env={"ICR_RPC_URL": "http://127.0.0.1:9"})
        assert result.exit_code == code, (command, result.output)
        (line,) = lines(result)
        assert expected in line, line
        assert "s3cret" not in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_a_missing_sqlite_file_is_refused_naming_the_url_and_never_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ICR_DATABASE_URL", raising=False)
    for command in (["serve"], ["ledger", "verify"], ["admin", "list-keys"], ["webhooks", "log"],
                    ["batch", "retry-refused"], ["status", "--rpc-url", "http://127.0.0.1:9"]):
        result = run(*command)
        assert result.exit_code == 2, (command, result.output)
        assert lines(result) == [f"ICR_DATABASE_URL / --db: no registry database at {tmp_path / 'icr-bridge.sqlite'} "
                                 "(sqlite:///icr-bridge.sqlite); `icr-bridge deploy` or `icr-bridge demo` creates one"]
    mistyped = run("serve", "--db", f"sqlite:///{tmp_path / 'regsitry.sqlite'}")
    assert mistyped.exit_code == 2 and "regsitry.sqlite" in mistyped.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_database_without_the_registry_names_it(postgres_url):
    result = run("ledger", "verify", "--db", postgres_url)
    assert result.exit_code == 2
    assert "holds no registry" in result.stderr and "`icr-bridge deploy` creates its tables" in result.stderr


def test_a_command_that_creates_the_schema_in_an_empty_postgresql_database_says_so(postgres_url):
    first = run("quarantine", "list", "--db", postgres_url)
    assert first.exit_code == 0, first.output
    assert lines(first) == [f"created the registry schema in the empty database {postgres_url}"]
    again = run("quarantine", "list", "--db", postgres_url)
    assert again.exit_code == 0 and again.stderr == ""


def test_an_unreachable_node_is_infrastructure_and_its_credentials_are_redacted(sqlite_engine, sqlite_url):
    result = run("status", "--db", sqlite_url, "--rpc-url", "http://operator:hunter2@127.0.0.1:9/v3/0123456789abcdef0123")
    assert result.exit_code == 3
    assert lines(result) == ["ICR_RPC_URL / --rpc-url: no JSON-RPC node answers at "
                             "http://operator:***@127.0.0.1:9/v3/*** (ConnectionError)"]


def test_log_level_is_checked_and_named():
    result = run("sync", "--once", "--log-level", "VERBOSE")
    assert result.exit_code == 2
    assert lines(result) == ["--log-level: 'VERBOSE' is not a level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"]


def test_debug_adds_the_traceback(tmp_path):
    url = "postgresql://bridge:s3cret@127.0.0.1:9/icr"
    plain = run("ledger", "verify", "--db", url)
    debug = run("--debug", "ledger", "verify", "--db", url)
    assert plain.exit_code == debug.exit_code == 3
    assert "Traceback" not in plain.stderr and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()


def test_an_unknown_error_exits_4_naming_its_type(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    create_schema(make_engine(url))

    def broken(session):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("registry.operations.ledger.verify_ledger", broken)
    result = run("ledger", "verify", "--db", url)
    assert result.exit_code == 4
    assert lines(result) == ["unexpected ZeroDivisionError: a bug (--debug shows the traceback)"]


@pytest.mark.parametrize("message", [
    "BlockOutOfRangeError: block height is 20 but requested was 3",  # anvil --prune-history
    "missing trie node 5f1c... (path ) state 0x5f1c is not available",  # geth without archive
    "historical state 0xabc is not available",
])
def test_missing_historical_state_is_infrastructure_never_a_disagreement(message):
    found = explain(Web3RPCError(str({"code": -32000, "message": message})))
    assert found.code == errors.EXIT_INFRA
    assert "lacks the historical state" in found.line and "archive node" in found.line


def test_sync_once_step_failures_exit_2_when_they_need_the_operator_3_when_they_wait_on_the_node():
    permanent = StepFailure("commit", PERMANENT, "relayer 0xAB has no ether", "InsufficientFunds")
    transient = StepFailure("sync", TRANSIENT, "the node did not answer", "ConnectionError")
    assert step_failures_code([transient, permanent]) == 2
    assert step_failures_code([transient]) == 3


def test_config_warns_on_unknown_keys_with_the_setting_meant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "bridge.env"
    config.write_text("ICR_RPC_URL=eth-tester\nICR_CONFIRMATION=3\nICR_RELAYR_KEY=0x11\n"
                      "ICR_WRITES_PER_MINUTE=10\nOTHER=1\n")
    result = run("status", "--config", str(config))
    assert result.exit_code == 2  # no registry database here, said after the warnings
    assert lines(result)[:3] == [
        f"--config {config}: unknown setting ICR_CONFIRMATION, ignored (did you mean ICR_CONFIRMATIONS?)",
        f"--config {config}: unknown setting ICR_RELAYR_KEY, ignored (did you mean ICR_RELAYER_KEY?)",
        f"--config {config}: ICR_WRITES_PER_MINUTE is read from the environment only, not from this file",
    ]
    assert lines(result)[3].startswith("ICR_DATABASE_URL / --db: no registry database at") and len(lines(result)) == 4


def test_a_bad_setting_value_is_one_line_naming_the_variable(tmp_path):
    result = run("status", env={"ICR_CONFIRMATIONS": "many"})
    assert result.exit_code == 2
    (line,) = lines(result)
    assert line.startswith("ICR_CONFIRMATIONS: Input should be a valid integer")


def test_loopback_metadata_uri_is_refused_off_dev_chains_and_warned_about_on_them(capsys):
    with pytest.raises(ConfigError, match="ICR_METADATA_URI / --metadata-uri: http://127.0.0.1:8000/"):
        _check_metadata_uri("http://127.0.0.1:8000/metadata/{id}.json", 137, allow_loopback=False)
    _check_metadata_uri("http://localhost/metadata/{id}.json", 31337, allow_loopback=False)
    assert "warning: ICR_METADATA_URI" in capsys.readouterr().err
    _check_metadata_uri("https://bridge.example.org/metadata/{id}.json", 137, allow_loopback=False)
    _check_metadata_uri("http://127.0.0.1:8000/metadata/{id}.json", 137, allow_loopback=True)  # asked for


def test_keys_new_prints_three_working_key_lines(tmp_path):
    result = run("keys", "new")
    assert result.exit_code == 0
    printed = result.stdout.splitlines()
    assert [line.split("=")[0] for line in printed] == [
        "export ICR_ADMIN_KEY", "export ICR_REGISTRY_SIGNER_KEY", "export ICR_RELAYER_KEY"]
    config = tmp_path / "keys.env"
    config.write_text(result.stdout)  # the same lines serve as a --config file
    settings = load_settings(config)
    addresses = [settings.account(role).address for role in ("admin", "registry_signer", "relayer")]
    assert len(set(addresses)) == 3
    assert [line.rsplit(" ", 1)[1] for line in printed] == addresses  # each line names its address


def test_keys_new_writes_encrypted_keystores(tmp_path):
    refused = run("keys", "new", "--keystore-dir", str(tmp_path))
    assert refused.exit_code == 2 and "ICR_KEYSTORE_PASSWORD" in refused.stderr
    env = {"ICR_KEYSTORE_PASSWORD": "correct horse"}
    result = run("keys", "new", "--keystore-dir", str(tmp_path), env=env)
    assert result.exit_code == 0, result.output
    assert "0x" + "0" * 8 not in result.stdout and "_KEY=" not in result.stdout  # no key in the clear
    config = tmp_path / "keys.env"
    config.write_text(result.stdout + "ICR_KEYSTORE_PASSWORD=correct horse\n")
    settings = load_settings(config)
    for role in ("admin", "registry_signer", "relayer"):
        path = Path(settings.model_dump()[f"{role}_keystore"])
        assert path.stat().st_mode & 0o077 == 0 and "crypto" in json.loads(path.read_text())
        assert settings.account(role).address in result.stdout
    again = run("keys", "new", "--keystore-dir", str(tmp_path), env=env)
    assert again.exit_code == 2 and "not overwritten" in again.stderr


def test_demo_summary_prints_the_whole_serial_range(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    result = run("demo", "--db", url)
    assert result.exit_code == 0, result.output
    assert "ICR-ISL-354-78040-14-R-0-2023-000001-000100" in result.stdout
    assert f"created the registry database {tmp_path / 'demo.sqlite'}" in result.stderr
