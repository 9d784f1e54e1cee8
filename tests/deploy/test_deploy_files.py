"""The single-host deployment files in deploy/ match the code: every metric an alert rule reads is
exported, every key of .env.example is a setting the bridge reads, every unit runs a valid
``icr-bridge`` command line."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bridge.cli.main import app
from bridge.operator import BridgeMetrics
from bridge.settings import BridgeSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
#: The sample names Prometheus sees for each metric type (prometheus_client's exposition).
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "info": ("_info",), "summary": ("", "_sum", "_count", "_created")}


def exported_names() -> set[str]:
    metrics = BridgeMetrics()
    return {family.name + suffix for family in metrics.registry.collect() for suffix in SUFFIXES[family.type]}


def alert_rules() -> list[dict]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "icr-bridge-alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_metric_an_alert_reads_is_exported():
    exported = exported_names()
    used = {name for rule in alert_rules() for name in re.findall(r"\bicr_bridge_[a-z0-9_]+", rule["expr"])}
    assert used and used <= exported, sorted(used - exported)
    # the liveness metrics each have a rule
    for name in ("icr_bridge_ready", "icr_bridge_follower_active", "icr_bridge_consecutive_failed_cycles",
                 "icr_bridge_last_success_timestamp_seconds", "icr_bridge_relayer_balance_ether",
                 "icr_bridge_quarantined_events", "icr_bridge_cycle_duration_seconds_bucket"):
        assert name in used, name


def test_exported_names_are_read_from_the_metrics_themselves():
    """The check above cannot pass by accident: a name the bridge does not export is refused."""
    assert "icr_bridge_sync_lag_blocks" in exported_names()
    assert "icr_bridge_ready_total" not in exported_names() and "icr_bridge_no_such_metric" not in exported_names()


def test_alert_rules_are_complete():
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


def known_environment_names() -> set[str]:
    """``ICR_*`` names the bridge reads: its settings, and the names the code reads itself."""
    names = {f"ICR_{field.upper()}" for field in BridgeSettings.model_fields}
    for source in [*(ROOT / "bridge").rglob("*.py"), *(ROOT / "registry").rglob("*.py")]:
        names |= set(re.findall(r"[\"'](ICR_[A-Z0-9_]+)[\"']", source.read_text()))
    return names


def env_example_keys() -> list[str]:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    return [m.group(1) for line in lines if (m := re.match(r"^#?\s*(ICR_[A-Z0-9_]+)=", line))]


def test_env_example_keys_are_settings_the_bridge_reads():
    keys = env_example_keys()
    assert len(keys) == len(set(keys))
    assert set(keys) <= known_environment_names(), sorted(set(keys) - known_environment_names())
    assert "ICR_NOT_A_SETTING" not in known_environment_names()
    # values parse as the settings they set (inline comments are not part of a value in .env files)
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.removeprefix("ICR_").lower()] = value.split("  #")[0].strip()
    settings = BridgeSettings(**{k: v for k, v in values.items() if k in BridgeSettings.model_fields})
    assert settings.rpc_timeout == 10 and settings.ready_max_age == 60 and settings.relayer_min_balance == 0.05


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("path", UNITS, ids=[p.name for p in UNITS])
def test_each_unit_runs_a_valid_icr_bridge_command(path):
    unit = _unit(path)
    service = unit["Service"]
    assert service["EnvironmentFile"] == "/etc/icr-bridge/bridge.env"
    assert service["KillSignal"] == "SIGTERM" and service["RestartPreventExitStatus"] == "2"
    binary, *args = service["ExecStart"].replace("%i", "9108").split()
    assert binary.endswith("/.venv/bin/icr-bridge")
    done = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output  # an unknown command or option fails here


def test_the_units_cover_the_follower_the_api_and_the_webhook_worker():
    commands = {" ".join(_unit(p)["Service"]["ExecStart"].split()[1:3]) for p in UNITS}
    assert commands == {"sync --follow", "serve --host", "webhooks deliver"}
