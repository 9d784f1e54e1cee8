"""keccak256 and the commutative pair hash of OpenZeppelin's Merkle trees (``bytes`` / ``0x`` hex).

The C keccak of safe-pysha3 when installed (driven through C-level ``map()`` in bulk), else eth_hash.
"""

from __future__ import annotations

from operator import methodcaller
from typing import Iterable, Union

try:  # safe-pysha3: C keccak, driven through C-level map() below
    from sha3 import keccak_256 as _Keccak

    _digest = methodcaller("digest")

    def keccak(data: bytes) -> bytes:
        """keccak256 of ``data``."""
        return _Keccak(data).digest()

    def _hash_many(items: Iterable[bytes]) -> list[bytes]:
        return list(map(_digest, map(_Keccak, items)))

    def _double_hash_many(items: Iterable[bytes]) -> list[bytes]:
        return list(map(_digest, map(_Keccak, map(_digest, map(_Keccak, items)))))

    KECCAK_BACKEND = "sha3"
except ImportError:  # pragma: no cover - exercised only without safe-pysha3
    from eth_hash.auto import keccak as _eth_keccak

    def keccak(data: bytes) -> bytes:
        """keccak256 of ``data``."""
        return _eth_keccak(data)

    def _hash_many(items: Iterable[bytes]) -> list[bytes]:
        return list(map(_eth_keccak, items))

    def _double_hash_many(items: Iterable[bytes]) -> list[bytes]:
        return list(map(_eth_keccak, map(_eth_keccak, items)))

    KECCAK_BACKEND = "eth_hash"

__all__ = ["KECCAK_BACKEND", "hash_pair", "keccak"]

HashLike = Union[bytes, str]


def _to_bytes32(h: HashLike) -> bytes:
    if isinstance(h, (bytes, bytearray)):
        b = bytes(h)
    elif isinstance(h, str):
        s = h[2:] if h[:2] in ("0x", "0X") else h
        try:
            b = bytes.fromhex(s)
        except ValueError:
            raise ValueError(f"not a hex string: {h!r}") from None
    else:
        raise ValueError(f"expected bytes or hex string, got {type(h).__name__}")
    if len(b) != 32:
        raise ValueError(f"Merkle nodes must be 32 bytes, got {len(b)}")
    return b


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a < b else b + a)


def hash_pair(a: HashLike, b: HashLike) -> str:
    """Commutative node hash (OZ ``Hashes.commutativeKeccak256``)."""
    return _hex(_pair(_to_bytes32(a), _to_bytes32(b)))
