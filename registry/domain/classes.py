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
