"""Lowest-first selection for many requests at once, as pure values.

The registry's rule for a partial operation is: take the lowest serials first, splitting the
last block used (:func:`registry.domain.serials.take_lowest`, applied to blocks by
:func:`registry.operations.serial_blocks.take_lowest_blocks`: the split block keeps its row for
the taken, lower part, and a new row holds the rest). :func:`allot_lowest` computes what a run
of requests on one serialization does when each is served in turn that way, without touching
the blocks in between: which units each request takes, from which row, which rows the splits
create (in the order they are created) and where every row ends. The set-based paths (the sync's
bulk retirement) write that outcome with a few statements and get the same blocks, row for row,
as serving the requests one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from registry.domain.serials import InsufficientCredits, SerialRange


@dataclass(frozen=True)
class Portion:
    """Units one request takes: ``units`` from row ``row`` (rows are numbered as in
    :class:`Allotment`)."""

    row: int
    units: SerialRange


class ShortOfCredits(InsufficientCredits):
    """Request number ``index`` (0-based) asks for more units than the requests before it left."""

    def __init__(self, index: int, requested: int, available: int):
        super().__init__(requested, available)
        self.index = index


@dataclass(frozen=True)
class Allotment:
    """The outcome of serving requests lowest first.

    Rows ``0..n-1`` are the given ranges, in the order given; rows ``n, n+1, ...`` are the rows
    splits created, in the order they were created. ``taken[i]`` are the portions request ``i``
    took, lowest first; ``ranges[r]`` is where row ``r`` ends (a row keeps its first unit:
    splitting only lowers its last); ``owner[r]`` the request that took row ``r`` (None: it is
    still where it was); ``split_from[k]`` the row that new row ``n + k`` was split off, and
    ``created_by[k]`` the request whose split created it."""

    taken: tuple[tuple[Portion, ...], ...]
    ranges: tuple[SerialRange, ...]
    owner: tuple[int | None, ...]
    split_from: tuple[int, ...]
    created_by: tuple[int, ...]

    @property
    def given(self) -> int:
        return len(self.ranges) - len(self.split_from)


def allot_lowest(ranges: Sequence[SerialRange], quantities: Sequence[int]) -> Allotment:
    """Serve ``quantities`` in order from ``ranges`` (disjoint), each lowest serial first.

    The same as calling ``take_lowest(left, q)`` for each ``q`` in turn with what the previous
    calls left, with the rows of :func:`~registry.operations.serial_blocks.take_lowest_blocks`.
    Raises :class:`ShortOfCredits` naming the first request the units left do not cover, and
    ``ValueError`` for a quantity below 1 or overlapping ranges."""
    order = sorted(range(len(ranges)), key=lambda i: ranges[i].first)
    for a, b in zip(order, order[1:]):
        if ranges[b].first <= ranges[a].last:
            raise ValueError(f"serial ranges {ranges[a]} and {ranges[b]} overlap")
    final: list[SerialRange] = list(ranges)
    owner: list[int | None] = [None] * len(ranges)
    split_from: list[int] = []
    created_by: list[int] = []
    live = order[::-1]  # a stack of row numbers, the lowest on top
    available = sum(r.quantity for r in ranges)
    taken: list[tuple[Portion, ...]] = []
    for index, quantity in enumerate(quantities):
        if quantity < 1:
            raise ValueError(f"quantity must be a positive whole number of tonnes, got {quantity}")
        if quantity > available:
            raise ShortOfCredits(index, quantity, available)
        available -= quantity
        portions: list[Portion] = []
        remaining = quantity
        while remaining:
            row = live.pop()
            units = final[row]
            if units.quantity > remaining:
                kept = SerialRange(units.first, units.first + remaining - 1)
                final[row] = kept
                final.append(SerialRange(kept.last + 1, units.last))
                owner.append(None)
                split_from.append(row)
                created_by.append(index)
                live.append(len(final) - 1)
                units = kept
            owner[row] = index
            portions.append(Portion(row, units))
            remaining -= units.quantity
        taken.append(tuple(portions))
    return Allotment(tuple(taken), tuple(final), tuple(owner), tuple(split_from), tuple(created_by))


def take_lowest_each(ranges: Sequence[SerialRange],
                     quantities: Sequence[int]) -> list[list[SerialRange] | InsufficientCredits]:
    """:func:`allot_lowest` for callers that report every shortfall (bulk tokenization refuses
    the whole call but names each refused request): a quantity the units left by the ones before
    it cannot cover takes nothing and gets :class:`InsufficientCredits` (requested, available
    then) in its place; the ones after it go on with the same units. Otherwise the units each
    quantity takes, lowest serial first. ``ValueError`` for a quantity below 1."""
    out: list[list[SerialRange] | InsufficientCredits | None] = [None] * len(quantities)
    served = list(range(len(quantities)))
    while True:
        try:
            allotment = allot_lowest(ranges, [quantities[i] for i in served])
            break
        except ShortOfCredits as short:  # it takes nothing: serve the others again without it
            out[served.pop(short.index)] = InsufficientCredits(short.requested, short.available)
    for position, index in enumerate(served):
        out[index] = [portion.units for portion in allotment.taken[position]]
    return out  # type: ignore[return-value]

