"""Text from outside the registry (chain events anyone can emit) made storable, never refused.

The chain accepts strings of any length and content; the registry's columns have lengths, and
PostgreSQL text (and XML, which certificates and feeds are rendered into) cannot hold NUL or
most other C0 control characters. :func:`storable` removes what cannot be stored and
truncates what is too long, and says so: each change is a flag naming the field, what was
done and the keccak-256 of the value as received, so the original stays provable against the
chain's log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_utils import keccak

#: Characters neither PostgreSQL text nor XML 1.0 can hold: C0 controls other than tab, line
#: feed and carriage return, the non-characters U+FFFE and U+FFFF, and lone surrogates.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class StorableText:
    """A value as the registry stores it, with what was changed to make it storable."""

    text: str
    flags: tuple[str, ...] = ()


def original_keccak(value: str) -> str:
    """keccak-256 of ``value`` as UTF-8 (lone surrogates kept as they came), hex with 0x."""
    return "0x" + keccak(value.encode("utf-8", "surrogatepass")).hex()


def storable(field: str, value: str, limit: int) -> StorableText:
    """``value`` without unstorable characters and at most ``limit`` characters long."""
    text = UNSTORABLE.sub("", value)
    flags = []
    if text != value:
        flags.append(f"{field}: {len(value) - len(text)} character(s) that cannot be stored removed "
                     f"(received keccak {original_keccak(value)})")
    if len(text) > limit:
        flags.append(f"{field}: {len(text)} characters truncated to {limit} (received keccak {original_keccak(value)})")
        text = text[:limit]
    return StorableText(text, tuple(flags))
