"""Crash injection at step boundaries, for tests of crash safety.

Code calls :func:`point` at each boundary where a real process could die (after a database
commit and before the next chain call, after a transaction is sent and before it is
recorded, ...). Normally nothing happens. A test arms one point with :func:`crash_at`; when
execution reaches it, :class:`SimulatedCrash` is raised, which nothing in the bridge catches,
so the run stops there as if the process had been killed. The test then "restarts" by
running the same entry point again.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_state = threading.local()


class SimulatedCrash(BaseException):
    """Raised at an armed crash point (a BaseException so that `except Exception` misses it)."""


def point(name: str) -> None:
    armed = getattr(_state, "armed", None)
    seen = getattr(_state, "seen", None)
    if seen is not None:
        seen.append(name)
    if armed is not None and armed[0] == name:
        armed[1] -= 1
        if armed[1] <= 0:
            _state.armed = None
            raise SimulatedCrash(name)


@contextmanager
def crash_at(name: str, occurrence: int = 1) -> Iterator[None]:
    """Arm crash point ``name`` to fire on its ``occurrence``-th hit inside the block."""
    _state.armed = [name, occurrence]
    try:
        yield
    finally:
        _state.armed = None


@contextmanager
def record_points() -> Iterator[list[str]]:
    """Collect the names of the crash points a run passes through, in order."""
    _state.seen = []
    try:
        yield _state.seen
    finally:
        _state.seen = None
