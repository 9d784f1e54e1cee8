"""ICR serial numbers and serial blocks: parsing, formatting and pure range arithmetic.

ICR serializes credits per vintage, e.g. ``ICR-ISL-354-78040-14-R-0-2023``
(``PROGRAM-ISO3-DIAL-PROJECT-SECTOR-TYPE-FLAG-VINTAGE``). This registry serializes per tonne:
a serial block is a vintage serialization plus an inclusive unit range, written
``ICR-ISL-354-78040-14-R-0-2023-000001-001000``. The dial code can itself contain a hyphen
(``1-684``), so parsing anchors on both ends and gives the dial code whatever lies between.

Partial operations take units lowest serial first (:func:`take_lowest`), so anyone can
recompute which serials an operation used from the blocks it started with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

CREDIT_TYPES = {"R": "removal", "A": "avoidance/reduction", "H": "hybrid"}
UNIT_DIGITS = 6

_ISO3 = re.compile(r"^[A-Z]{3}$")
_DIAL = re.compile(r"^\d{1,4}(-\d{1,4})?$")
_DIGITS = re.compile(r"^\d+$")


class SerialFormatError(ValueError):
    """A serial number or serial block string is malformed; ``segment`` names the bad part."""

    def __init__(self, value: str, segment: str, reason: str):
        self.value = value
        self.segment = segment
        self.reason = reason
        super().__init__(f"invalid serial {value!r}: {segment}: {reason}")


@dataclass(frozen=True, order=True)
class VintageSerialization:
    """One vintage of one project, as ICR serializes it."""

    country: str
    dial_code: str
    project_number: int
    sector: int
    credit_type: str
    article6: bool
    vintage: int
    program: str = "ICR"

    def __str__(self) -> str:
        return (
            f"{self.program}-{self.country}-{self.dial_code}-{self.project_number}-{self.sector:02d}-"
            f"{self.credit_type}-{1 if self.article6 else 0}-{self.vintage}"
        )


@dataclass(frozen=True, order=True)
class SerialRange:
    """An inclusive range of unit numbers (one unit = one tonne)."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.first < 1:
            raise ValueError(f"serial range starts at {self.first}: unit numbers start at 1")
        if self.last < self.first:
            raise ValueError(f"serial range {self.first}-{self.last} ends before it starts")

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    def overlaps(self, other: "SerialRange") -> bool:
        return self.first <= other.last and other.first <= self.last

    def adjacent_to(self, other: "SerialRange") -> bool:
        return self.last + 1 == other.first or other.last + 1 == self.first


@dataclass(frozen=True, order=True)
class SerialBlock:
    """A vintage serialization plus an inclusive unit range."""

    serialization: VintageSerialization
    units: SerialRange

    @property
    def quantity(self) -> int:
        return self.units.quantity

    def __str__(self) -> str:
        return serial_block_text(str(self.serialization), self.units.first, self.units.last)


def serial_block_text(serialization: str, first: int, last: int) -> str:
    """The one text of a serial block: the serialization, then both unit numbers zero-padded to
    the same width, at least UNIT_DIGITS and wide enough for the last unit
    (``...-2023-000001-001000``, ``...-2023-0000005-1234567``). Every place that prints a block
    prints this."""
    width = max(UNIT_DIGITS, len(str(last)))
    return f"{serialization}-{first:0{width}d}-{last:0{width}d}"


def _parse_segments(value: str, segments: list[str]) -> VintageSerialization:
    """Parse PROGRAM-ISO3-DIAL...-PROJECT-SECTOR-TYPE-FLAG-VINTAGE from its segments."""
    if len(segments) < 8:
        raise SerialFormatError(value, "serialization", "expected at least 8 hyphen-separated segments")
    if any(s == "" for s in segments):
        raise SerialFormatError(value, "serialization", "empty segment")
    program, country = segments[0].upper(), segments[1]
    project, sector, credit_type, flag, vintage = segments[-5:]
    dial = "-".join(segments[2:-5])
    if program != "ICR":
        raise SerialFormatError(value, "program", f"{segments[0]!r} is not ICR")
    if not _ISO3.match(country):
        raise SerialFormatError(value, "host country", f"{country!r} is not an ISO 3166-1 alpha-3 code")
    if not _DIAL.match(dial):
        raise SerialFormatError(value, "dial code", f"{dial!r} is not a country calling code")
    if not _DIGITS.match(project):
        raise SerialFormatError(value, "project number", f"{project!r} is not a number")
    if not _DIGITS.match(sector):
        raise SerialFormatError(value, "sector", f"{sector!r} is not a number")
    if credit_type not in CREDIT_TYPES:
        raise SerialFormatError(value, "credit type", f"{credit_type!r} is not one of {sorted(CREDIT_TYPES)}")
    if flag not in ("0", "1"):
        raise SerialFormatError(value, "Article 6.2 flag", f"{flag!r} is not 0 or 1")
    if not (_DIGITS.match(vintage) and len(vintage) == 4):
        raise SerialFormatError(value, "vintage", f"{vintage!r} is not a four-digit year")
    return VintageSerialization(
        country=country,
        dial_code=dial,
        project_number=int(project),
        sector=int(sector),
        credit_type=credit_type,
        article6=flag == "1",
        vintage=int(vintage),
    )


def parse_serialization(value: str) -> VintageSerialization:
    """Parse a vintage serialization such as ``ICR-ISL-354-78040-14-R-0-2021``.

    ICR's live data has lower-case ``icr-`` prefixes; they are accepted and normalized.
    """
    return _parse_segments(value, value.strip().split("-"))


def parse_serial_block(value: str) -> SerialBlock:
    """Parse ``<serialization>-<first>-<last>`` into a :class:`SerialBlock`."""
    segments = value.strip().split("-")
    if len(segments) < 10:
        raise SerialFormatError(value, "serial block", "expected a serialization followed by first and last unit")
    first, last = segments[-2:]
    for name, unit in (("first unit", first), ("last unit", last)):
        if not _DIGITS.match(unit):
            raise SerialFormatError(value, name, f"{unit!r} is not a number")
    serialization = _parse_segments(value, segments[:-2])
    try:
        units = SerialRange(int(first), int(last))
    except ValueError as exc:
        raise SerialFormatError(value, "unit range", str(exc)) from exc
    return SerialBlock(serialization, units)


# --------------------------------------------------------------------------------------------
# Pure range arithmetic
# --------------------------------------------------------------------------------------------


class InsufficientCredits(ValueError):
    """Fewer units are available than an operation asks for."""

    def __init__(self, requested: int, available: int):
        self.requested = requested
        self.available = available
        super().__init__(f"requested {requested} ICCs but only {available} are available")


def take_lowest(ranges: Sequence[SerialRange], quantity: int) -> tuple[list[SerialRange], list[SerialRange]]:
    """Split ``ranges`` into (taken, left) where taken holds exactly ``quantity`` units,
    lowest serial first. Raises :class:`InsufficientCredits` if there are not enough."""
    if quantity < 1:
        raise ValueError(f"quantity must be a positive whole number of tonnes, got {quantity}")
    available = sum(r.quantity for r in ranges)
    if available < quantity:
        raise InsufficientCredits(quantity, available)
    taken: list[SerialRange] = []
    left: list[SerialRange] = []
    remaining = quantity
    for r in sorted(ranges):
        if remaining == 0:
            left.append(r)
        elif r.quantity <= remaining:
            taken.append(r)
            remaining -= r.quantity
        else:
            taken.append(SerialRange(r.first, r.first + remaining - 1))
            left.append(SerialRange(r.first + remaining, r.last))
            remaining = 0
    return taken, left


def merge_adjacent(ranges: Iterable[SerialRange]) -> list[SerialRange]:
    """Merge touching ranges; raises ValueError if any two overlap."""
    merged: list[SerialRange] = []
    for r in sorted(ranges):
        if merged and merged[-1].overlaps(r):
            raise ValueError(f"serial ranges {merged[-1]} and {r} overlap")
        if merged and merged[-1].last + 1 == r.first:
            merged[-1] = SerialRange(merged[-1].first, r.last)
        else:
            merged.append(r)
    return merged


def find_overlap(existing: Iterable[SerialRange], candidate: SerialRange) -> SerialRange | None:
    """The first existing range that overlaps ``candidate``, if any."""
    for r in existing:
        if r.overlaps(candidate):
            return r
    return None
