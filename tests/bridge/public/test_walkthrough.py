"""README "Walkthrough": the curl block between its markers runs as it stands, against a real
``icr-bridge serve`` process and anvil, from an empty registry to a retirement certificate."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.chain.anvil import free_port
from registry.db import make_engine
from registry.tables.core import Retirement, WalletLink

REPO = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"<!-- walkthrough:begin -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", re.S)


def walkthrough() -> str:
    (block,) = BLOCK.findall((REPO / "README.md").read_text())
    return block


def setup_exports() -> dict[str, str]:
    """The keys the README's setup block exports before the walkthrough."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Walkthrough"):readme.index("<!-- walkthrough:begin -->")]
    return dict(re.findall(r"export (ICR_\w+_KEY)=(0x[0-9a-f]{64})", section))


def _shape(path: str) -> str:
    """A path with its parameters (``{name}`` or a shell ``$VAR``) as ``{}``, without query or suffix."""
    path = path.split("?")[0]
    return re.sub(r"\{[^}]+\}|\$\w+", "{}", path)


def test_the_openapi_description_walks_the_same_routes_in_the_same_order(tmp_path):
    app = create_app(make_engine(f"sqlite:///{tmp_path / 'r.sqlite'}"))
    doc = app.openapi()
    called = []
    for path in re.findall(r'\$API(/[^"\s]*)', walkthrough()):
        if _shape(path) not in called:
            called.append(_shape(path))
    routes = {_shape(p) for p in doc["paths"]}
    assert [p for p in called if p not in routes] == []
    described = [_shape(p) for p in re.findall(r"`(?:GET|POST) (/[^`]*)`", doc["info"]["description"])]
    order = [p for p in dict.fromkeys(described) if p in called]
    assert order == [p for p in called if p in described] and set(called) - {"/health"} <= set(described)
    assert {t["name"] for t in doc["tags"]} >= {"registry", "bridge", "certificates", "metadata"}


@pytest.mark.anvil
def test_the_readme_walkthrough_runs_from_an_empty_registry_to_a_certificate(tmp_path, anvil_url):
    for shared in (".venv", "contracts"):  # the block runs from the repository root; its files go to tmp
        (tmp_path / shared).symlink_to(REPO / shared)
    database = f"sqlite:///{tmp_path / 'walkthrough.sqlite'}"
    keys = setup_exports()
    assert sorted(keys) == ["ICR_ADMIN_KEY", "ICR_REGISTRY_SIGNER_KEY", "ICR_RELAYER_KEY"]
    env = {**os.environ, **keys, "ICR_RPC_URL": anvil_url, "ICR_DATABASE_URL": database, "PORT": str(free_port())}
    env.pop("ICR_CONTRACT", None)
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + walkthrough()
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "seen on-chain, 0 of 2 confirmations; the registry records it once final" in out
    assert "recorded in the registry" in out
    assert "Buyer AG" in (tmp_path / "certificate.html").read_text()
    engine = make_engine(database)
    with Session(engine) as s:
        (retirement,) = s.exec(select(Retirement)).all()
        (link,) = s.exec(select(WalletLink)).all()
    engine.dispose()
    assert retirement.quantity == 40 and retirement.holder_wallet == link.address
