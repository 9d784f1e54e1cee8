"""Serial blocks as pure values: merging adjacent blocks and replaying unit movements.

Two things live here, both free of I/O:

- :func:`plan_merges` decides which blocks of one serialization merge back into one after an
  operation split them: blocks merge when they touch (``a.last + 1 == b.first``) and carry an
  identical key (account, status, issuance, retirement, cancellation, mirroring...). The
  lowest block of a run survives and absorbs the others, so the ``(serialization, first
  unit)`` key of the survivor never changes.
- :class:`UnitMap` replays the ledger's unit movements (``moves``) and yields, per
  serialization, which account holds which units in which status. Replaying the whole ledger
  must reproduce the serial blocks stored in the database; :func:`registry.operations.ledger.verify_ledger`
  compares the two.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Sequence

# --------------------------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One serial block as the merge planner sees it: an id, an inclusive range and a key."""

    ident: Any
    first: int
    last: int
    key: Hashable


@dataclass(frozen=True)
class Merge:
    """Extend ``keep`` to ``first..last`` and delete the ``absorb`` blocks."""

    keep: Any
    absorb: tuple[Any, ...]
    first: int
    last: int


class OverlappingBlocks(ValueError):
    """Two blocks of one serialization share a unit: the registry is corrupt, do not merge."""


def plan_merges(pieces: Iterable[Piece]) -> list[Merge]:
    """The merges that leave no two touching blocks with identical keys.

    ``pieces`` are blocks of one serialization. Within each key the blocks are sorted by first
    unit; every maximal run of touching blocks becomes one :class:`Merge` into its lowest
    block. Blocks that touch a neighbour with a different key stay apart. Raises
    :class:`OverlappingBlocks` if any two pieces share a unit (whatever their keys).
    """
    ordered = sorted(pieces, key=lambda p: (p.first, p.last))
    for a, b in zip(ordered, ordered[1:]):
        if b.first <= a.last:
            raise OverlappingBlocks(f"blocks {a.ident} ({a.first}-{a.last}) and {b.ident} ({b.first}-{b.last}) overlap")
    by_key: dict[Hashable, list[Piece]] = defaultdict(list)
    for p in ordered:
        by_key[p.key].append(p)
    merges: list[Merge] = []
    for group in by_key.values():
        run = [group[0]]
        for p in group[1:]:
            if run[-1].last + 1 == p.first:
                run.append(p)
                continue
            if len(run) > 1:
                merges.append(Merge(run[0].ident, tuple(r.ident for r in run[1:]), run[0].first, run[-1].last))
            run = [p]
        if len(run) > 1:
            merges.append(Merge(run[0].ident, tuple(r.ident for r in run[1:]), run[0].first, run[-1].last))
    return sorted(merges, key=lambda m: m.first)


def merged(pieces: Iterable[Piece]) -> list[Piece]:
    """``pieces`` after applying :func:`plan_merges` (pure helper for tests and replays)."""
    pieces = list(pieces)
    by_ident = {p.ident: p for p in pieces}
    for m in plan_merges(pieces):
        keep = by_ident[m.keep]
        by_ident[m.keep] = Piece(keep.ident, m.first, m.last, keep.key)
        for ident in m.absorb:
            del by_ident[ident]
    return sorted(by_ident.values(), key=lambda p: p.first)


# --------------------------------------------------------------------------------------------
# Replaying unit movements
# --------------------------------------------------------------------------------------------

#: Where units are: (account id or None for terminal credits, credit status).
Place = tuple[int | None, str]


class ReplayError(ValueError):
    """A recorded movement does not fit the units' recorded history."""


def place_of(value: Mapping[str, Any] | None) -> Place | None:
    if value is None:
        return None
    return (value.get("account_id"), str(value["status"]))


def move_record(serialization: str, first: int, last: int, src: Place | None, dst: Place) -> dict[str, Any]:
    """The ledger's record of units ``first..last`` moving from ``src`` (None = newly issued) to
    ``dst``. Stored in an entry's ``moves`` list."""
    return {
        "serialization": serialization,
        "first": first,
        "last": last,
        "from": None if src is None else {"account_id": src[0], "status": src[1]},
        "to": {"account_id": dst[0], "status": dst[1]},
    }


class UnitMap:
    """Which place holds each unit, per serialization, as an ordered list of disjoint ranges."""

    def __init__(self) -> None:
        # serialization -> (starts, ranges) with ranges[i] = [first, last, place], sorted by first
        self._series: dict[str, tuple[list[int], list[list]]] = {}

    def _get(self, serialization: str) -> tuple[list[int], list[list]]:
        return self._series.setdefault(serialization, ([], []))

    def _overlapping(self, serialization: str, first: int, last: int) -> tuple[int, int]:
        """Index range [lo, hi) of stored ranges that overlap first..last."""
        starts, ranges = self._get(serialization)
        lo = bisect_right(starts, first) - 1
        if lo < 0 or ranges[lo][1] < first:
            lo += 1
        hi = bisect_right(starts, last)
        return lo, hi

    def apply(self, move: Mapping[str, Any]) -> None:
        """Apply one recorded movement; raises :class:`ReplayError` if it does not fit."""
        serialization = str(move["serialization"])
        first, last = int(move["first"]), int(move["last"])
        if first < 1 or last < first:
            raise ReplayError(f"{serialization}: invalid unit range {first}-{last}")
        src, dst = place_of(move.get("from")), place_of(move["to"])
        starts, ranges = self._get(serialization)
        lo, hi = self._overlapping(serialization, first, last)
        if src is None:
            if hi > lo:
                r = ranges[lo]
                raise ReplayError(f"{serialization}: units {first}-{last} issued again (units {r[0]}-{r[1]} exist)")
            ranges.insert(lo, [first, last, dst])
            starts.insert(lo, first)
        else:
            covered = first
            for r in ranges[lo:hi]:
                if r[0] > covered:
                    raise ReplayError(f"{serialization}: units {covered}-{r[0] - 1} were never issued")
                if r[2] != src:
                    raise ReplayError(
                        f"{serialization}: units {max(r[0], first)}-{min(r[1], last)} are held as {r[2]}, "
                        f"the entry moves them from {src}"
                    )
                covered = r[1] + 1
            if covered <= last:
                raise ReplayError(f"{serialization}: units {covered}-{last} were never issued")
            head, tail = ranges[lo], ranges[hi - 1]
            replacement = []
            if head[0] < first:
                replacement.append([head[0], first - 1, head[2]])
            replacement.append([first, last, dst])
            if tail[1] > last:
                replacement.append([last + 1, tail[1], tail[2]])
            ranges[lo:hi] = replacement
            starts[lo:hi] = [r[0] for r in replacement]
        self._normalize_around(serialization, max(lo - 1, 0), lo + 3)

    def _normalize_around(self, serialization: str, lo: int, hi: int) -> None:
        starts, ranges = self._get(serialization)
        i = lo
        while i < min(hi, len(ranges)) and i + 1 < len(ranges):
            a, b = ranges[i], ranges[i + 1]
            if a[1] + 1 == b[0] and a[2] == b[2]:
                a[1] = b[1]
                del ranges[i + 1]
                del starts[i + 1]
                hi -= 1
            else:
                i += 1

    def ranges(self, serialization: str) -> list[tuple[int, int, Place]]:
        return [(r[0], r[1], r[2]) for r in self._series.get(serialization, ([], []))[1]]

    def serializations(self) -> list[str]:
        return sorted(s for s, (_, ranges) in self._series.items() if ranges)

    def balances(self) -> dict[tuple[int | None, str, str], int]:
        """Tonnes per (account id, serialization, status)."""
        out: dict[tuple[int | None, str, str], int] = defaultdict(int)
        for serialization, (_, ranges) in self._series.items():
            for first, last, (account_id, status) in ranges:
                out[(account_id, serialization, status)] += last - first + 1
        return dict(out)


def normalize(ranges: Sequence[tuple[int, int, Place]]) -> list[tuple[int, int, Place]]:
    """Sort and merge touching ranges in the same place (to compare block layouts by content)."""
    out: list[list] = []
    for first, last, place in sorted(ranges):
        if out and out[-1][1] + 1 == first and out[-1][2] == place:
            out[-1][1] = last
        else:
            out.append([first, last, place])
    return [(a, b, p) for a, b, p in out]
