"""Credit classes: the token id a (project, vintage, Article 6.2 designation, letter) maps to.

Mirrors ``ICCToken.classIdOf``: letter number in bits 0..31, designation in bits 32..39,
vintage in bits 40..55, project number in bits 56..119. Bit 255 marks retirement
certificates, so a class id never has it set.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable

CERTIFICATE_FLAG = 1 << 255


class Purpose(IntEnum):
    """Retirement purposes; bit ``1 << purpose`` in a class's authorized uses allows it."""

    voluntary = 0
    corsia = 1
    ndc = 2
    other_international = 3


class CAStatus(IntEnum):
    not_applicable = 0
    pending = 1
    applied = 2
    not_applied = 3


STANDARD_AUTHORIZED_USES = 1 << Purpose.voluntary


def uses_mask(purposes: Iterable[Purpose]) -> int:
    """Bit ``1 << purpose`` per purpose: a class's uses as the registry and the contract store them."""
    mask = 0
    for purpose in purposes:
        mask |= 1 << purpose
    return mask


def purposes_in(mask: int) -> frozenset[Purpose]:
    """The purposes whose bit is set in a uses mask."""
    return frozenset(p for p in Purpose if mask >> p & 1)


@dataclass(frozen=True)
class ClassKey:
    project_number: int
    vintage: int
    article6: bool = False
    letter_number: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.project_number < 1 << 64:
            raise ValueError(f"project number {self.project_number} does not fit 64 bits")
        if not 0 <= self.vintage < 1 << 16:
            raise ValueError(f"vintage {self.vintage} does not fit 16 bits")
        if not 0 <= self.letter_number < 1 << 32:
            raise ValueError(f"letter number {self.letter_number} does not fit 32 bits")
        if self.letter_number and not self.article6:
            raise ValueError("a standard class has no letter of authorization")

    @property
    def token_id(self) -> int:
        return (
            (self.project_number << 56)
            | (self.vintage << 40)
            | ((1 if self.article6 else 0) << 32)
            | self.letter_number
        )


def decode_token_id(token_id: int) -> ClassKey:
    if token_id & CERTIFICATE_FLAG:
        raise ValueError(f"token id {token_id} is a retirement certificate, not a credit class")
    return ClassKey(
        project_number=token_id >> 56,
        vintage=(token_id >> 40) & 0xFFFF,
        article6=bool((token_id >> 32) & 0xFF),
        letter_number=token_id & 0xFFFFFFFF,
    )


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_token_id(value: str | int) -> int:
    """A token id as given by a client: an integer, decimal digits, ``0x``-hex, or the 64 lowercase
    hex digits without prefix that ERC-1155 clients substitute for ``{id}`` in ``uri(id)`` (a
    64-character string is always read as hex). ValueError when it is none of these or does not
    fit uint256."""
    if isinstance(value, bool):
        raise ValueError("a token id is a number, not a boolean")
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        prefixed = text[:2] in ("0x", "0X")
        digits = text[2:] if prefixed else text
        if not digits or not set(digits) <= _HEX_DIGITS:
            raise ValueError(f"{value!r} is not a token id (decimal, 0x-hex or 64 hex digits)")
        if prefixed or len(text) == 64:
            number = int(digits, 16)
        elif digits.isdigit():
            number = int(digits)
        else:
            raise ValueError(f"{value!r} is not a token id: hex needs the 0x prefix or all 64 digits")
    if not 0 <= number < 1 << 256:
        raise ValueError(f"token id {value!r} does not fit uint256")
    return number


def token_id_hex(token_id: int | str) -> str:
    """The 64-hex-digit lowercase form of a token id (what ERC-1155 clients put in ``uri(id)``)."""
    return f"{int(token_id):064x}"
