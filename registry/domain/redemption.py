"""Redemption of bridged tokens back to a registry account: the rules, without I/O.

A holder escrows tokens on-chain with ``requestRedemption(classId, amount, accountReference)``.
The registry answers: a valid destination gets the serials (lowest mirrored custody serials
of the class, the same selection as retirements) and the bridge burns the escrow; anything
else is rejected with a reason and the tokens go back to the holder. Nothing is burned
before the registry has decided that it has a place for the credits.

The account reference is the registry account number as the API shows it (``id``), in
decimal, optionally written ``ICR-ACCOUNT-<number>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry.domain.enums import AccountType

_REFERENCE = re.compile(r"^(?:ICR-ACCOUNT-)?([1-9][0-9]{0,17})$")

#: Account types that may receive redeemed credits. Custody would be a loop; buffer and
#: non-CA adjustment accounts are filled only by the registry's own rules.
REDEEMABLE_TO = frozenset({AccountType.holding})


class InvalidAccountReference(ValueError):
    """The reference names no registry account (the message is the rejection reason)."""


def parse_account_reference(reference: str) -> int:
    """The account number in a reference, or :class:`InvalidAccountReference` saying why not."""
    match = _REFERENCE.match(reference.strip()) if isinstance(reference, str) else None
    if match is None or reference != reference.strip():
        raise InvalidAccountReference(
            f"account reference {reference!r} is not a registry account number (digits, or ICR-ACCOUNT-<digits>)")
    return int(match.group(1))


@dataclass(frozen=True)
class Destination:
    """What the registry knows of the referenced account when it decides."""

    account_id: int
    exists: bool
    type: AccountType | None = None


def refusal(destination: Destination) -> str | None:
    """Why the registry cannot take redeemed credits into ``destination``, or None if it can."""
    if not destination.exists:
        return f"registry account {destination.account_id} does not exist"
    if destination.type not in REDEEMABLE_TO:
        return (f"registry account {destination.account_id} is a {destination.type.value} account; "
                "redeemed credits go to a holding account")
    return None
