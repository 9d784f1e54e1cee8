"""Standard Merkle leaves: the codec of a leaf encoding and ``keccak256(keccak256(abi.encode(value)))``."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import eth_abi
from eth_abi import grammar as _abi_grammar

from bridge.merkle.abi_values import _column_encoder, _column_normalizer, _columns, _normalize, _word_encoder
from bridge.merkle.hashing import _double_hash_many, _hex, keccak

__all__ = ["standard_leaf_hash"]

_SUPPORTED_BASES = {"uint", "int", "address", "bool", "bytes", "string"}
_CHUNK = 1 << 16  # leaves per bulk-encoding chunk (bounds temporary memory)


def _check_supported(t: Any) -> None:
    if isinstance(t, _abi_grammar.TupleType):
        for c in t.components:
            _check_supported(c)
    elif t.base not in _SUPPORTED_BASES:
        raise ValueError(f"unsupported type {t.to_type_str()}")


class _Codec:
    """Encoder for one leaf encoding (list of Solidity types)."""

    def __init__(self, leaf_encoding: Sequence[str]) -> None:
        if isinstance(leaf_encoding, str) or not leaf_encoding:
            raise ValueError("leaf_encoding must be a non-empty list of Solidity types")
        self.types = [str(t) for t in leaf_encoding]  # kept verbatim for dump()
        try:
            self.parsed = [_abi_grammar.parse(_abi_grammar.normalize(t)) for t in self.types]
            for p in self.parsed:
                p.validate()
                _check_supported(p)
        except Exception as e:  # eth_abi ParseError / ABITypeError
            raise ValueError(f"invalid leaf encoding {self.types}: {e}") from None
        self._abi_types = [p.to_type_str() for p in self.parsed]  # "uint" -> "uint256"
        words = [_word_encoder(t) for t in self._abi_types]
        # all static elementary types -> hand-packed 32-byte words, else eth_abi.encode
        self.words: list[Callable[[Any], bytes]] | None = None
        self.columns: list[Callable[[list[Any]], list[bytes]]] | None = None
        if all(w is not None for w in words):
            self.words = words  # type: ignore[assignment]
            self.columns = [_column_encoder(t, w) for t, w in zip(self._abi_types, self.words)]
        self._col_norms = [_column_normalizer(p) for p in self.parsed]

    def _check(self, value: Any) -> None:
        if not isinstance(value, (list, tuple)) or len(value) != len(self.types):
            raise ValueError(f"leaf must be a sequence of {len(self.types)} values: {value!r}")

    def _uniform(self, values: Sequence[Any]) -> bool:
        """True if every value is a plain list/tuple of the right length."""
        return set(map(type, values)) <= {list, tuple} and set(map(len, values)) == {len(self.types)}

    def encode(self, value: Any) -> bytes:
        """abi.encode(value) for this encoding."""
        self._check(value)
        try:
            if self.words is not None:
                return b"".join([w(x) for w, x in zip(self.words, value)])
            norm = [_normalize(t, x, abi=True) for t, x in zip(self.parsed, value)]
            return eth_abi.encode(self._abi_types, norm)
        except (OverflowError, TypeError) as e:
            raise ValueError(f"cannot encode {value!r} as {self.types}: {e}") from None

    def encode_many(self, values: Sequence[Any]) -> list[bytes]:
        """abi.encode for many values; column-wise for static encodings."""
        if self.columns is not None and values and self._uniform(values):
            try:
                words = [enc(col) for enc, col in zip(self.columns, _columns(values))]
                return list(map(b"".join, zip(*words)))
            except (OverflowError, TypeError, ValueError):
                pass  # re-run row by row for a precise error
        return list(map(self.encode, values))

    def leaf_hashes(self, values: Sequence[Any]) -> list[bytes]:
        """Standard leaf hashes (bytes) of ``values``, in order."""
        out: list[bytes] = []
        for i in range(0, len(values), _CHUNK):
            out += _double_hash_many(self.encode_many(values[i : i + _CHUNK]))
        return out

    def normalize(self, value: Any) -> tuple:
        """Canonical Python form of one value (ints, bytes, bools, str addresses)."""
        self._check(value)
        return tuple(_normalize(t, x) for t, x in zip(self.parsed, value))

    def normalize_many(self, values: Sequence[Any]) -> list[tuple]:
        """:meth:`normalize` for many values, column-wise when possible."""
        if values and self._uniform(values):
            cols = [norm(col) for norm, col in zip(self._col_norms, _columns(values))]
            return list(zip(*cols))
        return list(map(self.normalize, values))


def _jsonable(v: Any) -> Any:
    """Python value -> JSON value the JS lib's encoder accepts (ints as decimal strings)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, (bytes, bytearray)):
        return _hex(bytes(v))
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _json_column(col: Sequence[Any]) -> Sequence[Any]:
    types = set(map(type, col))
    if types == {int}:
        return list(map(str, col))
    if types <= {str, bool}:
        return col
    return list(map(_jsonable, col))


def standard_leaf_hash(leaf_encoding: Sequence[str], value: Sequence[Any]) -> str:
    """``keccak256(keccak256(abi.encode(value)))`` as 0x-hex."""
    return _hex(keccak(keccak(_Codec(leaf_encoding).encode(value))))
