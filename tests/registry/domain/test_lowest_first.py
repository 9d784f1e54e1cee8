"""Lowest-first selection for many requests at once gives what serving them one by one gives."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.lowest_first import Portion, ShortOfCredits, allot_lowest, take_lowest_each
from registry.domain.serials import InsufficientCredits, SerialRange, take_lowest

R = SerialRange


def test_several_requests_split_one_block_in_turn():
    allotment = allot_lowest([R(1, 10)], [3, 2, 4])
    assert allotment.taken == ((Portion(0, R(1, 3)),), (Portion(1, R(4, 5)),), (Portion(2, R(6, 9)),))
    assert allotment.ranges == (R(1, 3), R(4, 5), R(6, 9), R(10, 10))
    assert allotment.owner == (0, 1, 2, None)
    assert allotment.split_from == (0, 1, 2) and allotment.created_by == (0, 1, 2)
    assert allotment.given == 1


def test_a_request_spans_blocks_and_rows_are_numbered_as_given():
    allotment = allot_lowest([R(20, 29), R(1, 5)], [7, 5])
    assert allotment.taken == ((Portion(1, R(1, 5)), Portion(0, R(20, 21))),
                               (Portion(2, R(22, 26)),))
    assert allotment.ranges == (R(20, 21), R(1, 5), R(22, 26), R(27, 29))
    assert allotment.owner == (0, 0, 1, None) and allotment.split_from == (0, 2) and allotment.created_by == (0, 1)


def test_the_first_request_left_short_is_named():
    with pytest.raises(ShortOfCredits) as info:
        allot_lowest([R(1, 10)], [4, 4, 3])
    assert (info.value.index, info.value.requested, info.value.available) == (2, 3, 2)
    assert isinstance(info.value, InsufficientCredits)


@pytest.mark.parametrize("bad", [[0], [2, -1]])
def test_quantities_below_one_are_refused(bad):
    with pytest.raises(ValueError, match="positive"):
        allot_lowest([R(1, 10)], bad)


def test_overlapping_ranges_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        allot_lowest([R(1, 10), R(10, 12)], [1])


@st.composite
def holdings(draw):
    """Disjoint ranges in any order, and quantities (some runs more than the ranges hold)."""
    gaps = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6)), min_size=0, max_size=8))
    ranges, at = [], 1
    for gap, size in gaps:
        ranges.append(R(at + gap, at + gap + size - 1))
        at += gap + size
    ranges = draw(st.permutations(ranges))
    quantities = draw(st.lists(st.integers(1, 9), max_size=8))
    return ranges, quantities


def _one_by_one(ranges, quantities):
    """Repeated take_lowest, with rows as take_lowest_blocks keeps them: the taken part keeps
    the split row, the rest is a new row."""
    rows = [(i, r) for i, r in enumerate(ranges)]  # live rows: (row number, units)
    created = len(ranges)
    taken = []
    for index, quantity in enumerate(quantities):
        try:
            parts, _ = take_lowest([r for _, r in rows], quantity)
        except InsufficientCredits as exc:
            return taken, (index, exc.requested, exc.available)
        by_first = {r.first: (n, r) for n, r in rows}
        portions = []
        for part in parts:
            n, whole = by_first[part.first]
            rows.remove((n, whole))
            if part.last != whole.last:
                rows.append((created, R(part.last + 1, whole.last)))
                created += 1
            portions.append(Portion(n, part))
        taken.append(tuple(portions))
    return taken, None


@given(holdings())
def test_allotment_equals_repeated_take_lowest(case):
    ranges, quantities = case
    expected, short = _one_by_one(ranges, quantities)
    if short is not None:
        with pytest.raises(ShortOfCredits) as info:
            allot_lowest(ranges, quantities)
        assert (info.value.index, info.value.requested, info.value.available) == short
        return
    allotment = allot_lowest(ranges, quantities)
    assert list(allotment.taken) == expected


@given(holdings())
def test_rows_end_as_a_partition_of_the_units(case):
    ranges, quantities = case
    total = sum(r.quantity for r in ranges)
    while quantities and sum(quantities) > total:
        quantities = quantities[:-1]
    allotment = allot_lowest(ranges, quantities)
    units = sorted(u for r in allotment.ranges for u in range(r.first, r.last + 1))
    assert units == sorted(u for r in ranges for u in range(r.first, r.last + 1))
    for row, units_of_row in enumerate(allotment.ranges[:allotment.given]):
        assert units_of_row.first == ranges[row].first  # a row keeps its first unit
    for index, portions in enumerate(allotment.taken):
        assert sum(p.units.quantity for p in portions) == quantities[index]
        for portion in portions:
            assert allotment.owner[portion.row] == index and allotment.ranges[portion.row] == portion.units
    owned = {row for portions in allotment.taken for row in (p.row for p in portions)}
    assert {r for r, o in enumerate(allotment.owner) if o is not None} == owned
    for k, (source, creator) in enumerate(zip(allotment.split_from, allotment.created_by)):
        assert allotment.ranges[source].last + 1 == allotment.ranges[allotment.given + k].first
        assert allotment.owner[source] == creator


@given(holdings())
def test_take_lowest_each_is_take_lowest_repeated_on_what_is_left(holding):
    ranges, quantities = holding
    expected, left = [], list(ranges)
    for quantity in quantities:
        try:
            taken, left = take_lowest(left, quantity)
        except InsufficientCredits as exc:
            expected.append(("refused", exc.requested, exc.available))
        else:
            expected.append(taken)
    got = [("refused", r.requested, r.available) if isinstance(r, InsufficientCredits) else r
           for r in take_lowest_each(ranges, quantities)]
    assert got == expected


def test_take_lowest_each_goes_on_past_a_refused_quantity():
    got = take_lowest_each([SerialRange(11, 20), SerialRange(1, 5)], [3, 50, 4, 9])
    assert got[0] == [SerialRange(1, 3)]
    assert (got[1].requested, got[1].available) == (50, 12)
    assert got[2] == [SerialRange(4, 5), SerialRange(11, 12)]
    assert (got[3].requested, got[3].available) == (9, 8)
    with pytest.raises(ValueError):
        take_lowest_each([SerialRange(1, 10)], [2, 0])
