"""Liveness of a ``sync --follow`` process: what its metrics port answers besides ``/metrics``.

- ``/healthz``: 200 while the process runs (its HTTP thread answers).
- ``/readyz``: 200 when the follower is a standby waiting on the chain's follower claim, or the
  active follower whose last successful cycle (or progress inside a long cycle: a mint
  transaction, a block range applied) is younger than ``ICR_READY_MAX_AGE`` seconds and which
  has not failed ``ICR_READY_FAILURES`` cycles in a row; 503 otherwise. The body is JSON naming
  the role, the age of the last success and the failures in a row, so a probe's log says why.

A node that stops answering (hung, SIGSTOP) fails each JSON-RPC request after
``ICR_RPC_TIMEOUT`` seconds (10 by default), so two failed cycles, and a 503, follow within
about 25 seconds (tests/bridge/test_liveness.py stops anvil with SIGSTOP and waits for both).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def bridge_version() -> str:
    """The installed icr-bridge version (``unknown`` from a checkout without the package)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("icr-bridge")
    except PackageNotFoundError:
        return "unknown"


#: Roles of a follow process: starting (preflight), standby (another follower holds the claim),
#: active (holding the claim and running cycles), stopping (shutdown asked for).
ROLES = ("starting", "standby", "active", "stopping")


@dataclass
class Liveness:
    """What ``/readyz`` decides from; the follow loop updates it, the HTTP thread reads it."""

    max_age: float = 60.0
    max_failures: int = 2
    clock: Callable[[], float] = time.time
    role: str = "starting"
    last_success: float | None = None  # wall time of the last successful cycle
    last_progress: float | None = None  # last success, or progress made inside a running cycle
    failures_in_row: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def activate(self) -> None:
        """This process now holds the follower claim: readiness counts from now, not from the
        start of a standby that may have waited for hours."""
        self.role, self.started = "active", self.clock()
        self.last_success = self.last_progress = None
        self.failures_in_row = 0

    def succeeded(self) -> None:
        self.last_success = self.last_progress = self.clock()
        self.failures_in_row = 0

    def progressed(self) -> None:
        self.last_progress = self.clock()

    def failed(self) -> None:
        self.failures_in_row += 1

    def age(self) -> float | None:
        """Seconds since the last success or progress (None before the first)."""
        return None if self.last_progress is None else max(self.clock() - self.last_progress, 0.0)

    def ready(self) -> tuple[bool, str]:
        """(ready, why) as ``/readyz`` answers it."""
        if self.role == "standby":
            return True, "standby: another follower holds the claim; this one takes over when it ends"
        if self.role != "active":
            return False, f"{self.role}: no cycle is running"
        if self.failures_in_row >= self.max_failures:
            return False, f"{self.failures_in_row} cycles failed in a row"
        age = self.age()
        if age is None:
            waited = self.clock() - self.started
            if waited > self.max_age:
                return False, f"no successful cycle in the {waited:.0f} s since the start"
            return True, "starting: the first cycle runs"
        if age > self.max_age:
            return False, f"last successful cycle {age:.0f} s ago (ICR_READY_MAX_AGE {self.max_age:g} s)"
        return True, f"last successful cycle {age:.1f} s ago"

    def as_json(self) -> dict:
        ready, why = self.ready()
        age = self.age()
        return {"ready": ready, "role": self.role, "reason": why, "failures_in_row": self.failures_in_row,
                "last_success_age_seconds": None if age is None else round(age, 3)}


class MetricsServer:
    """``/metrics`` (Prometheus text format of ``registry``), ``/healthz`` and ``/readyz`` on one
    port, served by a daemon thread; :meth:`close` stops it."""

    def __init__(self, registry: CollectorRegistry, liveness: Liveness, host: str, port: int):
        handler = _handler(registry, liveness)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="icr-bridge-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(registry: CollectorRegistry, liveness: Liveness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b'{"status": "ok"}\n', "application/json")
            elif path == "/readyz":
                state = liveness.as_json()
                body = (json.dumps(state) + "\n").encode()
                self._answer(200 if state["ready"] else 503, body, "application/json")
            else:
                self._answer(404, b'{"error": "not found: /metrics, /healthz, /readyz"}\n', "application/json")

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:  # scrapes every 15 s are not news
            return

    return Handler
