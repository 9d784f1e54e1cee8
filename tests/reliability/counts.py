"""What the reliability tests exercised, counted while they run.

Tests call :func:`record` (an operation performed, a crash point fired, a reorganization of
some depth, a fuzz case sent). When ``ICR_TEST_COUNTS`` names a file, the counts of the
session are merged into that JSON file at its end (tests/reliability/conftest.py), and
``scripts/test_counts.py`` turns them into the README's "What is tested" section.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

COUNTS_ENV = "ICR_TEST_COUNTS"
REPO = Path(__file__).resolve().parent.parent.parent

_counts: dict[str, Counter] = defaultdict(Counter)


def record(category: str, name: str, n: int = 1) -> None:
    _counts[category][name] += n


def snapshot() -> dict[str, dict[str, int]]:
    return {category: dict(counter) for category, counter in _counts.items()}


def write(path: str | os.PathLike) -> None:
    """Merge this session's counts into ``path`` (so several pytest runs can add up)."""
    path = Path(path)
    merged: dict[str, Counter] = defaultdict(Counter)
    if path.exists():
        for category, values in json.loads(path.read_text()).items():
            merged[category].update(values)
    for category, counter in _counts.items():
        merged[category].update(counter)
    path.write_text(json.dumps({c: dict(sorted(v.items())) for c, v in sorted(merged.items())}, indent=1))


_POINT = re.compile(r"""faults\.point\((f?)["']([^"']+)["']\)""")


def crash_points() -> list[str]:
    """Every crash point in the bridge's code (``faults.point(...)`` calls), with the f-string
    points over synced events expanded (``sync.applied.{name}`` -> one per synced event)."""
    from bridge.chain.logs import SYNCED_EVENTS

    points: set[str] = set()
    for source in sorted((REPO / "bridge").rglob("*.py")):
        for is_f, name in _POINT.findall(source.read_text()):
            if is_f and "{" in name:
                prefix = name.split("{", 1)[0]
                points.update(prefix + event for event in SYNCED_EVENTS)
            else:
                points.add(name)
    return sorted(points)
