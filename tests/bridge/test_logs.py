"""Structured logs: ``serve`` writes its server and access lines as JSON like the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

from bridge.chain.anvil import free_port
from bridge.schema import create_schema
from registry.db import make_engine
from tests.bridge.test_operator import CLI


def test_serve_writes_json_access_logs(tmp_path):
    port = free_port()
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    create_schema(make_engine(url))  # serve opens an existing registry only
    env = {**os.environ, "ICR_DATABASE_URL": url}
    log_file = tmp_path / "serve.log"
    with log_file.open("w") as out:
        server = subprocess.Popen([str(CLI), "serve", "--port", str(port)], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health?probe=1", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = log_file.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is JSON: no plain uvicorn lines
    (access,) = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert access["level"] == "info" and access["method"] == "GET" and access["path"] == "/health?probe=1"
    assert access["status"] == 200 and access["client"].startswith("127.0.0.1:")
    assert any(e["logger"] == "uvicorn.error" and "Uvicorn running" in e["msg"] for e in entries)
    assert not any("color_message" in e for e in entries)  # no ANSI copies of the messages
