"""ABI value codecs for Merkle leaves: normalise and encode values per Solidity type.

One value at a time and, for bulk tree building and loading, a whole column at a time.
"""

from __future__ import annotations

import re
import struct
from itertools import repeat
from operator import itemgetter
from typing import Any, Callable, Sequence

from eth_abi import grammar as _abi_grammar

from bridge.merkle.hashing import _hex

# Two jobs per Solidity type: normalise a value (JSON-ish inputs such as decimal strings,
# as accepted by the JS lib's abi encoder, to Python values) and, for static elementary
# types, encode it straight to a 32-byte word (much faster than eth_abi.encode in bulk).

_UINT_RE = re.compile(r"uint(\d*)")
_INT_RE = re.compile(r"int(\d*)")
_BYTESN_RE = re.compile(r"bytes(\d+)")
_HEX40_RE = re.compile(r"0[xX][0-9a-fA-F]{40}")
_DEC_RE = re.compile(r"-?[0-9]+")
_HEXNUM_RE = re.compile(r"(-?)0[xX]([0-9a-fA-F]+)")
_HEXBYTES_RE = re.compile(r"0[xX](?:[0-9a-fA-F]{2})*")


def _parse_int(v: Any) -> int:
    if type(v) is int:
        return v
    if isinstance(v, bool):
        raise ValueError("bool is not a valid integer value")
    if isinstance(v, int):
        return int(v)
    if isinstance(v, str):  # decimal or 0x-hex strings, as the JS encoder accepts
        if _DEC_RE.fullmatch(v):
            return int(v, 10)
        m = _HEXNUM_RE.fullmatch(v)
        if m:
            return int(m.group(1) + m.group(2), 16)
    raise ValueError(f"invalid integer value: {v!r}")


def _parse_hex_bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, str) and _HEXBYTES_RE.fullmatch(v):
        return bytes.fromhex(v[2:])
    raise ValueError(f"invalid bytes value: {v!r}")


def _norm_address(v: Any) -> str:
    if isinstance(v, str) and _HEX40_RE.fullmatch(v):
        return v
    if isinstance(v, (bytes, bytearray)) and len(v) == 20:
        return _hex(bytes(v))
    raise ValueError(f"invalid address: {v!r}")


def _norm_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if v in ("true", "false"):  # accepted by the JS encoder too
        return v == "true"
    raise ValueError(f"invalid bool: {v!r}")


def _int_bounds(typ: str) -> tuple[int, int]:
    m = _UINT_RE.fullmatch(typ) or _INT_RE.fullmatch(typ)
    bits = int(m.group(1) or 256)  # type: ignore[union-attr]
    if not (8 <= bits <= 256 and bits % 8 == 0):
        raise ValueError(f"invalid integer type: {typ}")
    if typ.startswith("u"):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _bytes_len(typ: str) -> int:
    n = int(_BYTESN_RE.fullmatch(typ).group(1))  # type: ignore[union-attr]
    if not 1 <= n <= 32:
        raise ValueError(f"invalid fixed bytes type: {typ}")
    return n


def _word_encoder(typ: str) -> Callable[[Any], bytes] | None:
    """32-byte encoder for a static elementary type, or None if not one."""
    if _UINT_RE.fullmatch(typ) or _INT_RE.fullmatch(typ):
        lo, hi = _int_bounds(typ)
        signed = lo < 0
        if typ in ("uint256", "uint"):

            def enc_u256(v: Any) -> bytes:
                if type(v) is not int:
                    v = _parse_int(v)
                return v.to_bytes(32, "big")  # OverflowError if out of range

            return enc_u256

        def enc_int(v: Any) -> bytes:
            if type(v) is not int:
                v = _parse_int(v)
            if not lo <= v <= hi:
                raise ValueError(f"{v} out of range for {typ}")
            return v.to_bytes(32, "big", signed=signed)

        return enc_int
    if typ == "address":
        pad = bytes(12)

        def enc_address(v: Any) -> bytes:
            return pad + bytes.fromhex(_norm_address(v)[2:])

        return enc_address
    if typ == "bool":
        one, zero = (1).to_bytes(32, "big"), bytes(32)
        return lambda v: one if _norm_bool(v) else zero
    if _BYTESN_RE.fullmatch(typ):
        n = _bytes_len(typ)

        def enc_fixed(v: Any) -> bytes:
            b = _parse_hex_bytes(v)
            if len(b) > n:
                raise ValueError(f"value too long for {typ}")
            return b.ljust(32, b"\0")

        return enc_fixed
    return None


def _normalize(t: Any, v: Any, abi: bool = False) -> Any:
    """Normalise ``v`` for the parsed ABI type ``t`` (eth_abi grammar node).

    ``abi=True`` gives addresses as 20 bytes for eth_abi, which rejects mixed-case
    addresses with a bad checksum (the JS encoder accepts them).
    """
    if t.arrlist:
        if not isinstance(v, (list, tuple)):
            raise ValueError(f"expected array for {t.to_type_str()}, got {v!r}")
        dim = t.arrlist[-1]
        if dim and len(v) != dim[0]:
            raise ValueError(f"expected {dim[0]} items for {t.to_type_str()}")
        return [_normalize(t.item_type, x, abi) for x in v]
    if isinstance(t, _abi_grammar.TupleType):
        if not isinstance(v, (list, tuple)) or len(v) != len(t.components):
            raise ValueError(f"expected {len(t.components)}-tuple, got {v!r}")
        return tuple(_normalize(c, x, abi) for c, x in zip(t.components, v))
    typ = t.to_type_str()
    base = t.base
    if base in ("uint", "int"):
        x = _parse_int(v)
        lo, hi = _int_bounds(typ)
        if not lo <= x <= hi:
            raise ValueError(f"{x} out of range for {typ}")
        return x
    if base == "address":
        a = _norm_address(v)
        return bytes.fromhex(a[2:]) if abi else a
    if base == "bool":
        return _norm_bool(v)
    if base == "bytes":
        b = _parse_hex_bytes(v)
        if t.sub is not None:
            if len(b) > t.sub:
                raise ValueError(f"value too long for {typ}")
            b = b.ljust(t.sub, b"\0")
        return b
    if base == "string":
        if not isinstance(v, str):
            raise ValueError(f"expected str for string, got {v!r}")
        return v
    raise ValueError(f"unsupported ABI type: {typ}")


_ZEROS22 = "0" * 22
_U256_MAX = (1 << 256) - 1
_first = itemgetter(0)


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Transpose equal-length rows into column lists (faster than zip(*rows))."""
    return [list(map(itemgetter(j), rows)) for j in range(len(rows[0]))]


def _hex_items(col: list[Any], digits: int, pad: str = "") -> bytes | None:
    """Decode a column of ``"0x" + digits hex`` strings in one go, else None.

    Item i becomes ``pad`` zeros + ``00`` + its hex digits, i.e. ``len(pad) // 2 + 1 +
    digits // 2`` bytes of the result.
    """
    n = len(col)
    if not n or set(map(type, col)) != {str} or set(map(len, col)) != {digits + 2}:
        return None
    s = pad + pad.join(col)
    k, stride = len(pad), len(pad) + digits + 2
    if not (
        s.isascii()
        and set(s[k::stride]) == {"0"}
        and set(s[k + 1 :: stride]) <= {"x", "X"}
        and s.count("x") + s.count("X") == n  # no x/X outside the prefixes
    ):
        return None
    try:
        buf = bytes.fromhex(s.replace("x", "0").replace("X", "0"))
    except ValueError:
        return None
    # fromhex skips whitespace, which the length check catches
    return buf if len(buf) * 2 == n * stride else None


def _column_encoder(typ: str, word: Callable[[Any], bytes]) -> Callable[[list[Any]], list[bytes]]:
    """Encode a whole column; C-level fast paths for int and hex-address columns."""
    if _UINT_RE.fullmatch(typ) or _INT_RE.fullmatch(typ):
        lo, hi = _int_bounds(typ)

        def enc_ints(col: list[Any]) -> list[bytes]:
            if set(map(type, col)) == {int}:  # no bools, no numeric strings
                if hi == _U256_MAX:  # to_bytes itself rejects out-of-range values
                    try:
                        return list(map(int.to_bytes, col, repeat(32), repeat("big")))
                    except OverflowError:
                        pass
                elif lo <= min(col) and max(col) <= hi:
                    if lo == 0:
                        return list(map(int.to_bytes, col, repeat(32), repeat("big")))
                    return [x.to_bytes(32, "big", signed=True) for x in col]
            return list(map(word, col))

        return enc_ints
    if typ == "address":

        def enc_addresses(col: list[Any]) -> list[bytes]:
            buf = _hex_items(col, 40, _ZEROS22)  # 22 zeros + "0x" + 40 hex = one word
            if buf is not None:
                return list(map(_first, struct.iter_unpack("32s", buf)))
            return list(map(word, col))

        return enc_addresses
    return lambda col: list(map(word, col))


def _column_normalizer(t: Any) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """Normalise a whole column (load path); fast path for decimal-string ints."""
    typ = t.to_type_str()
    if isinstance(t, _abi_grammar.BasicType) and not t.arrlist and t.base in ("uint", "int"):
        lo, hi = _int_bounds(typ)

        def norm_ints(col: Sequence[Any]) -> Sequence[Any]:
            types = set(map(type, col))
            out: Sequence[Any] | None = None
            if types == {int}:
                out = col
            elif types == {str}:
                s = "".join(col)
                if s.isascii() and s.isdigit() and all(col):
                    out = list(map(int, col))
            if out is not None and lo <= min(out) and max(out) <= hi:
                return out
            return [_normalize(t, x) for x in col]

        return norm_ints
    if isinstance(t, _abi_grammar.BasicType) and not t.arrlist and t.base == "address":
        return lambda col: col if _hex_items(col, 40) is not None else [_normalize(t, x) for x in col]
    return lambda col: [_normalize(t, x) for x in col]
