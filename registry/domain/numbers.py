"""Exact numbers for registry rules: percentages and shares are compared as rationals, never floats."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

Number = Decimal | int | str | float | Fraction


def exact(value: Number) -> Fraction:
    """An exact rational from a number; floats go through their shortest repr (0.1 -> 1/10).

    Raises ``ValueError`` naming the value when it is not a number (a bool is not one).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a bool, not a number")
    if isinstance(value, float):
        value = repr(value)
    try:
        return Fraction(Decimal(value)) if isinstance(value, (str, Decimal)) else Fraction(value)
    except (ArithmeticError, ValueError, TypeError):
        raise ValueError(f"{value!r} is not a number") from None
