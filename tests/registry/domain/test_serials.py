import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.serials import (
    InsufficientCredits,
    SerialFormatError,
    SerialRange,
    find_overlap,
    merge_adjacent,
    parse_serial_block,
    parse_serialization,
    take_lowest,
)


def test_parses_icr_vintage_serialization():
    s = parse_serialization("ICR-ISL-354-78040-14-R-0-2021")
    assert (s.country, s.dial_code, s.project_number, s.sector, s.credit_type, s.article6, s.vintage) == (
        "ISL", "354", 78040, 14, "R", False, 2021,
    )
    assert str(s) == "ICR-ISL-354-78040-14-R-0-2021"


@pytest.mark.parametrize("dial", ["1-684", "1-787", "1-8"])
def test_dial_code_with_hyphen_is_parsed_from_both_ends(dial):
    block = parse_serial_block(f"ICR-ASM-{dial}-120-03-A-1-2024-000010-000019")
    assert block.serialization.dial_code == dial
    assert block.serialization.country == "ASM"
    assert block.serialization.project_number == 120
    assert block.serialization.article6 is True
    assert (block.units.first, block.units.last, block.quantity) == (10, 19, 10)
    assert str(block) == f"ICR-ASM-{dial}-120-03-A-1-2024-000010-000019"


def test_serial_block_round_trip():
    text = "ICR-ISL-354-78040-14-R-0-2023-000001-001000"
    assert str(parse_serial_block(text)) == text
    assert parse_serial_block(text).quantity == 1000


def test_lower_case_prefix_is_accepted_and_normalized():
    assert str(parse_serialization("icr-ISL-354-78040-14-R-0-2021")) == "ICR-ISL-354-78040-14-R-0-2021"


@pytest.mark.parametrize(
    "value, segment",
    [
        ("ICR-ISL-354--14-R-0-2021", "serialization"),  # an empty segment, as seen live
        ("VCS-ISL-354-78040-14-R-0-2021", "program"),
        ("ICR-IS-354-78040-14-R-0-2021", "host country"),
        ("ICR-ISL-35x-78040-14-R-0-2021", "dial code"),
        ("ICR-ISL-354-7804a-14-R-0-2021", "project number"),
        ("ICR-ISL-354-78040-14-X-0-2021", "credit type"),
        ("ICR-ISL-354-78040-14-R-2-2021", "Article 6.2 flag"),
        ("ICR-ISL-354-78040-14-R-0-21", "vintage"),
        ("ICR-ISL-354-78040", "serialization"),
    ],
)
def test_malformed_serialization_names_the_segment(value, segment):
    with pytest.raises(SerialFormatError) as info:
        parse_serialization(value)
    assert info.value.segment == segment


@pytest.mark.parametrize(
    "value, segment",
    [
        ("ICR-ISL-354-78040-14-R-0-2023-000001", "serial block"),
        ("ICR-ISL-354-78040-14-R-0-2023-00000a-000010", "first unit"),
        ("ICR-ISL-354-78040-14-R-0-2023-000010-000001", "unit range"),
        ("ICR-ISL-354-78040-14-R-0-2023-000000-000001", "unit range"),
    ],
)
def test_malformed_serial_block_names_the_segment(value, segment):
    with pytest.raises(SerialFormatError) as info:
        parse_serial_block(value)
    assert info.value.segment == segment


def test_take_lowest_splits_the_block_it_stops_in():
    taken, left = take_lowest([SerialRange(501, 1000), SerialRange(1, 400)], 450)
    assert taken == [SerialRange(1, 400), SerialRange(501, 550)]
    assert left == [SerialRange(551, 1000)]


def test_take_lowest_refuses_more_than_available():
    with pytest.raises(InsufficientCredits) as info:
        take_lowest([SerialRange(1, 10)], 11)
    assert (info.value.requested, info.value.available) == (11, 10)


@pytest.mark.parametrize("quantity", [0, -5])
def test_take_lowest_refuses_non_positive_quantities(quantity):
    with pytest.raises(ValueError):
        take_lowest([SerialRange(1, 10)], quantity)


def test_merge_adjacent_joins_touching_ranges_and_refuses_overlap():
    assert merge_adjacent([SerialRange(11, 20), SerialRange(1, 10), SerialRange(30, 40)]) == [
        SerialRange(1, 20),
        SerialRange(30, 40),
    ]
    with pytest.raises(ValueError, match="overlap"):
        merge_adjacent([SerialRange(1, 10), SerialRange(10, 20)])


def test_find_overlap_checks_ranges_not_strings():
    assert find_overlap([SerialRange(1, 1000)], SerialRange(1000, 1100)) == SerialRange(1, 1000)
    assert find_overlap([SerialRange(1, 1000)], SerialRange(1001, 1100)) is None


ranges = st.lists(st.tuples(st.integers(1, 10_000), st.integers(1, 500)), min_size=1, max_size=20)


@given(ranges, st.data())
def test_take_lowest_conserves_tonnes_and_takes_the_lowest(spec, data):
    blocks, cursor = [], 1
    for gap, size in spec:  # disjoint ranges with random gaps
        first = cursor + gap
        blocks.append(SerialRange(first, first + size - 1))
        cursor = first + size
    total = sum(b.quantity for b in blocks)
    quantity = data.draw(st.integers(1, total))
    taken, left = take_lowest(list(reversed(blocks)), quantity)
    assert sum(r.quantity for r in taken) == quantity
    assert sum(r.quantity for r in taken) + sum(r.quantity for r in left) == total
    if left:
        assert max(r.last for r in taken) < min(r.first for r in left)
    units = sorted(u for r in taken + left for u in (r.first, r.last))
    assert merge_adjacent(taken + left)  # no overlap created
    assert units[0] == blocks[0].first and units[-1] == blocks[-1].last
