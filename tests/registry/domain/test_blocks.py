"""Pure serial block arithmetic: merge planning and ledger replay (registry.domain.blocks)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.blocks import (
    Merge,
    OverlappingBlocks,
    Piece,
    ReplayError,
    UnitMap,
    merged,
    move_record,
    normalize,
    plan_merges,
)

S = "ICR-ISL-354-78040-14-R-0-2023"


def test_touching_blocks_with_identical_keys_merge_into_the_lowest():
    pieces = [Piece("c", 21, 30, "k"), Piece("a", 1, 10, "k"), Piece("b", 11, 20, "k")]
    assert plan_merges(pieces) == [Merge("a", ("b", "c"), 1, 30)]


def test_blocks_with_different_keys_or_a_gap_stay_apart():
    pieces = [Piece("a", 1, 10, "k"), Piece("b", 11, 20, "other"), Piece("c", 22, 30, "k"), Piece("d", 21, 21, "x")]
    assert plan_merges(pieces) == []


def test_runs_of_one_key_merge_around_blocks_of_another():
    pieces = [Piece(1, 1, 5, "k"), Piece(2, 6, 9, "k"), Piece(3, 10, 10, "j"), Piece(4, 11, 12, "k"),
              Piece(5, 13, 20, "k")]
    assert plan_merges(pieces) == [Merge(1, (2,), 1, 9), Merge(4, (5,), 11, 20)]


def test_overlapping_blocks_are_refused_whatever_their_keys():
    with pytest.raises(OverlappingBlocks):
        plan_merges([Piece("a", 1, 10, "k"), Piece("b", 10, 20, "j")])


@st.composite
def partitions(draw):
    """Disjoint blocks over 1..n with random keys and random gaps."""
    n = draw(st.integers(1, 60))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=12))) if n > 1 else []
    bounds = [0, *cuts, n]
    pieces = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        if draw(st.booleans()) or i == 0:
            pieces.append(Piece(i, a + 1, b, draw(st.sampled_from("xyz"))))
    return pieces


@given(partitions())
def test_merging_conserves_units_and_leaves_nothing_to_merge(pieces):
    out = merged(pieces)
    units = lambda ps: sorted((u, p.key) for p in ps for u in range(p.first, p.last + 1))  # noqa: E731
    assert units(out) == units(pieces)  # every unit keeps its key, none appears twice or vanishes
    assert plan_merges(out) == []
    for a, b in zip(out, out[1:]):
        assert not (a.last + 1 == b.first and a.key == b.key)


def test_unit_map_replays_issuance_and_moves():
    m = UnitMap()
    m.apply(move_record(S, 1, 100, None, (1, "active")))
    m.apply(move_record(S, 1, 30, (1, "active"), (2, "active")))
    m.apply(move_record(S, 31, 40, (1, "active"), (None, "retired")))
    assert m.ranges(S) == [(1, 30, (2, "active")), (31, 40, (None, "retired")), (41, 100, (1, "active"))]
    assert m.balances() == {(2, S, "active"): 30, (None, S, "retired"): 10, (1, S, "active"): 60}
    # moving back re-joins the ranges
    m.apply(move_record(S, 1, 30, (2, "active"), (1, "active")))
    assert m.ranges(S)[0] == (1, 30, (1, "active"))


@pytest.mark.parametrize(
    "move, message",
    [
        (move_record(S, 50, 150, None, (1, "active")), "issued again"),
        (move_record(S, 90, 110, (1, "active"), (2, "active")), "never issued"),
        (move_record(S, 10, 20, (2, "active"), (1, "active")), "held as (1, 'active')"),
        (move_record(S, 10, 5, (1, "active"), (2, "active")), "invalid unit range"),
    ],
)
def test_unit_map_refuses_moves_that_do_not_fit(move, message):
    m = UnitMap()
    m.apply(move_record(S, 1, 100, None, (1, "active")))
    with pytest.raises(ReplayError, match=message.replace("(", r"\(").replace(")", r"\)")):
        m.apply(move)


def test_unit_map_refuses_moves_of_units_already_moved_elsewhere():
    m = UnitMap()
    m.apply(move_record(S, 1, 100, None, (1, "active")))
    m.apply(move_record(S, 1, 10, (1, "active"), (None, "retired")))
    with pytest.raises(ReplayError):  # the same units retired twice
        m.apply(move_record(S, 1, 10, (1, "active"), (None, "retired")))


def test_normalize_joins_touching_ranges_in_one_place():
    assert normalize([(11, 20, (1, "active")), (1, 10, (1, "active")), (21, 25, (2, "active"))]) == [
        (1, 20, (1, "active")), (21, 25, (2, "active"))]
