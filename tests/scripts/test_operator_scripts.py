"""scripts/ are thin wrappers: each runs its icr-bridge command from the project's venv."""

import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize("script, command", [
    ("deploy", "deploy"), ("sync", "sync"), ("status", "status"), ("reconcile", "reconcile"),
    ("batch-export", "batch export"),
])
def test_script_runs_its_command(script, command):
    done = subprocess.run([str(SCRIPTS / script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Usage: icr-bridge {command}" in done.stdout


def test_script_passes_failures_through():
    done = subprocess.run([str(SCRIPTS / "batch-export"), "not-a-number"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "batch_id" in done.stderr.lower()
