"""A local anvil node (Foundry's dev node, installed from npm into contracts/node_modules) for
tests and benchmarks: started on a free port, waited for, stopped afterwards.

Anvil writes the states it no longer keeps in memory to ``~/.foundry/anvil/tmp`` and never
removes them (foundry-rs/foundry#4251): a 10,000-block benchmark left 8.5 GB there per run, and
the test suite's nodes filled a machine's disk. A node launched here keeps them in a temporary
directory of its own (``--cache-path``), removed when the node is stopped; a detached node
(``icr-bridge dev-node --detach``) outlives this process and keeps anvil's default.

    with start_anvil() as node:
        w3 = http_web3(node.url)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from bridge.chain.solidity import CONTRACTS_DIR

ANVIL_BIN = CONTRACTS_DIR / "node_modules" / ".bin" / "anvil"


class AnvilUnavailable(RuntimeError):
    """The anvil binary is not installed (``make setup`` installs it from npm) or did not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AnvilNode:
    url: str
    port: int
    process: subprocess.Popen
    cache_dir: Path | None = None  # where the node persists old states; removed by stop()

    def stop(self, timeout: float = 5) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.cache_dir is not None:
            shutil.rmtree(self.cache_dir, ignore_errors=True)


def launch(extra_args: Sequence[str] = (), binary: Path = ANVIL_BIN, startup_timeout: float = 15,
           port: int | None = None, host: str = "127.0.0.1", detached: bool = False) -> AnvilNode:
    """Start anvil on ``port`` (default: a free local port) and return once it accepts connections.

    ``extra_args`` go to anvil as they are (e.g. ``["--gas-limit", "100000000"]``). A
    ``detached`` node runs in a session of its own, so it outlives the caller
    (``icr-bridge dev-node --detach``)."""
    if not binary.exists():
        raise AnvilUnavailable(f"anvil is not installed at {binary}: run `make setup`")
    if port is None:
        port = free_port()
    cache_dir = None if detached else Path(tempfile.mkdtemp(prefix="icr-anvil-"))
    cache = ["--cache-path", str(cache_dir)] if cache_dir is not None else []
    process = subprocess.Popen(
        [str(binary), "--host", host, "--port", str(port), "--silent", *cache, *extra_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=detached,
    )
    node = AnvilNode(f"http://{host}:{port}", port, process, cache_dir)
    deadline = time.monotonic() + startup_timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                if process.poll() is None:  # (not another process already listening there)
                    return node
                raise OSError("anvil exited")
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                node.stop()
                raise AnvilUnavailable(f"anvil did not start on port {port} (exit code {process.poll()})") from None
            time.sleep(0.05)


@contextmanager
def start_anvil(extra_args: Sequence[str] = (), binary: Path = ANVIL_BIN) -> Iterator[AnvilNode]:
    """A fresh anvil node for the duration of the block."""
    node = launch(extra_args, binary)
    try:
        yield node
    finally:
        node.stop()
