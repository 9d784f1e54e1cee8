"""README "Operating the bridge" runs top to bottom as written, the way a newcomer copies it: its
first ``sh`` block is taken from the README and run by bash, stopping at the first command that
fails, in an empty directory beside the checkout's virtualenv, against the anvil it starts
itself. Only the two fixed ports become free ones (other tests run nodes at the same time)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from bridge.chain.anvil import ANVIL_BIN, free_port

pytestmark = pytest.mark.anvil

ROOT = Path(__file__).resolve().parents[3]


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Operating the bridge\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README's operator section lost its walkthrough block"
    return block.group(1)


def test_the_walkthrough_block_is_the_dev_chain_path():
    script = walkthrough()
    for command in ("icr-bridge dev-node", "icr-bridge keys new", "icr-bridge deploy", "icr-bridge sync --once",
                    "icr-bridge status", "icr-bridge reconcile", "kill $ICR_DEV_NODE_PID"):
        assert command in script


def test_the_readme_walkthrough_runs_on_anvil(tmp_path):
    if not ANVIL_BIN.exists():
        pytest.skip(f"anvil is not installed at {ANVIL_BIN}: run `make setup`")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    script = walkthrough().replace("8545", str(free_port())).replace("9108", str(free_port()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICR_")}  # a newcomer's shell
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\ntrap 'kill ${ICR_DEV_NODE_PID:-} 2>/dev/null || true' EXIT\n" + script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert f"created the registry database {tmp_path / 'bridge.sqlite'}" in done.stderr
    assert "the registry and the chain agree" in done.stdout
    assert "stopped after 3 cycles" in done.stdout
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "icr-bridge.sqlite").exists()
