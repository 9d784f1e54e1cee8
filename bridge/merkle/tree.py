"""Off-chain Merkle tree, byte-compatible with OpenZeppelin's StandardMerkleTree.

Matches npm ``@openzeppelin/merkle-tree`` 1.0.x (tree layout, proofs, multiproofs,
``standard-v1`` dump format) and Solidity ``MerkleProof.verify`` /
``MerkleProof.multiProofVerify`` (commutative keccak256 pair hashing).

Layout: ``tree`` holds ``2n - 1`` nodes in heap order, ``tree[0]`` is the root and the
leaves occupy the tail in reverse order (leaf ``i`` is ``tree[-1 - i]``). A leaf is
``keccak256(keccak256(abi.encode(value)))``; an internal node is
``keccak256(min(a, b) ++ max(a, b))``.

Hashes are kept as ``bytes`` internally and exposed as lowercase ``0x`` hex strings.
"""

from __future__ import annotations

import gc
import re
import struct
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

import eth_abi
from eth_abi import grammar as _abi_grammar

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

__all__ = [
    "KECCAK_BACKEND",
    "MultiProof",
    "StandardMerkleTree",
    "hash_pair",
    "keccak",
    "process_multi_proof",
    "process_proof",
    "standard_leaf_hash",
    "verify_multi_proof",
    "verify_proof",
]

FORMAT = "standard-v1"

HashLike = Union[bytes, str]


# --------------------------------------------------------------------------- hex / hashing


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


# --------------------------------------------------------------------------- value codecs
#
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
_SUPPORTED_BASES = {"uint", "int", "address", "bool", "bytes", "string"}


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


_CHUNK = 1 << 16  # leaves per bulk-encoding chunk (bounds temporary memory)
_ZEROS22 = "0" * 22
_U256_MAX = (1 << 256) - 1
_first = itemgetter(0)


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Transpose equal-length rows into column lists (faster than zip(*rows))."""
    return [list(map(itemgetter(j), rows)) for j in range(len(rows[0]))]


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic GC: bulk building allocates millions of acyclic objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


# --------------------------------------------------------------------------- proofs


def process_proof(leaf: HashLike, proof: Sequence[HashLike]) -> str:
    """Root implied by ``leaf`` and ``proof`` (OZ ``MerkleProof.processProof``)."""
    h = _to_bytes32(leaf)
    for p in proof:
        h = _pair(h, _to_bytes32(p))
    return _hex(h)


def verify_proof(root: HashLike, leaf: HashLike, proof: Sequence[HashLike]) -> bool:
    """OZ ``MerkleProof.verify``."""
    return process_proof(leaf, proof) == _hex(_to_bytes32(root))


def process_multi_proof(
    leaves: Sequence[HashLike], proof: Sequence[HashLike], proof_flags: Sequence[bool]
) -> str:
    """OZ ``MerkleProof.processMultiProof``; raises ValueError on a malformed multiproof.

    Like Solidity, an empty ``leaves`` with no flags returns ``proof[0]``; use
    :func:`verify_multi_proof` (which rejects that case) for verification.
    """
    lv = [_to_bytes32(x) for x in leaves]
    pv = [_to_bytes32(x) for x in proof]
    if len(lv) + len(pv) != len(proof_flags) + 1:
        raise ValueError("invalid multiproof: leaves + proof != flags + 1")
    if not proof_flags:
        return _hex(lv[0] if lv else pv[0])
    queue = deque(lv)
    pi = 0
    h = b""
    for flag in proof_flags:
        if not queue:
            raise ValueError("invalid multiproof: queue exhausted")
        a = queue.popleft()
        if flag:
            if not queue:
                raise ValueError("invalid multiproof: queue exhausted")
            b = queue.popleft()
        else:
            if pi >= len(pv):
                raise ValueError("invalid multiproof: proof exhausted")
            b = pv[pi]
            pi += 1
        h = _pair(a, b)
        queue.append(h)
    if pi != len(pv) or len(queue) != 1:
        raise ValueError("invalid multiproof: unconsumed items")
    return _hex(h)


def verify_multi_proof(
    root: HashLike,
    leaves: Sequence[HashLike],
    proof: Sequence[HashLike],
    proof_flags: Sequence[bool],
) -> bool:
    """OZ ``MerkleProof.multiProofVerify``, but False for an empty leaf set or bad shape."""
    if not leaves:
        return False
    try:
        return process_multi_proof(leaves, proof, proof_flags) == _hex(_to_bytes32(root))
    except ValueError:
        return False


@dataclass(frozen=True)
class MultiProof:
    """Multiproof; ``leaves`` are values in the order ``multiProofVerify`` expects."""

    leaves: list[Any]
    proof: list[str]
    proof_flags: list[bool]


# --------------------------------------------------------------------------- tree


def _nodes_from_hex(nodes: list[Any]) -> list[bytes]:
    buf = _hex_items(nodes, 64)  # 33 bytes per node: 0x00 + 32
    if buf is not None:
        return [buf[i + 1 : i + 33] for i in range(0, len(buf), 33)]
    return [_to_bytes32(h) for h in nodes]


def _build_tree(leaf_hashes: list[bytes]) -> list[bytes]:
    """Same layout as the JS ``makeMerkleTree``: 2n-1 nodes, leaves reversed at the tail."""
    n = len(leaf_hashes)
    if n == 0:
        raise ValueError("Expected non-zero number of leaves")
    size = 2 * n - 1
    tree: list[bytes] = [b""] * (n - 1)
    tree.extend(reversed(leaf_hashes))
    # Internal nodes are 0..n-2. Nodes [a, b) have children [2a+1, 2b+1), so each heap
    # level (deepest first) is computed from one contiguous slice.
    end = n - 1
    while end > 0:
        start = (1 << ((end).bit_length() - 1)) - 1  # first index of the deepest level < end
        kids = tree[2 * start + 1 : 2 * end + 1]
        left, right = kids[0::2], kids[1::2]
        tree[start:end] = _hash_many(
            [x + y if x < y else y + x for x, y in zip(left, right)]
        )
        end = start
    assert len(tree) == size
    return tree


class StandardMerkleTree:
    """OpenZeppelin ``StandardMerkleTree`` (``standard-v1``)."""

    def __init__(
        self,
        tree: list[bytes],
        values: list[Any],
        tree_indices: list[int],
        leaf_encoding: Sequence[str],
        *,
        _value_at: Sequence[int] | None = None,
    ) -> None:
        """Low level (nodes as bytes, already validated); use :meth:`of` or :meth:`load`."""
        self._tree = tree
        self._values = values
        self._tree_indices = tree_indices
        self._codec = _Codec(leaf_encoding)
        self.leaf_encoding: list[str] = list(self._codec.types)
        self._lookup: dict[bytes, int] | None = None
        self._value_at_cache = _value_at  # leaf position p (tree index 2n-2-p) -> value index

    # ---- construction

    @classmethod
    def of(
        cls, values: Sequence[Any], leaf_encoding: Sequence[str], sort_leaves: bool = True
    ) -> "StandardMerkleTree":
        """Build a tree. ``sort_leaves`` as the JS lib's ``sortLeaves`` (default True)."""
        codec = _Codec(leaf_encoding)
        values = list(values)
        if not values:
            raise ValueError("Expected non-zero number of leaves")
        n = len(values)
        last = 2 * n - 2
        with _no_gc():
            hashes = codec.leaf_hashes(values)
            if sort_leaves:
                order = sorted(range(n), key=hashes.__getitem__)  # stable, like V8's sort
                leaves = [hashes[i] for i in order]
                tree_indices = [0] * n
                for p, vi in enumerate(order):
                    tree_indices[vi] = last - p
            else:
                order = range(n)
                leaves = hashes
                tree_indices = list(range(last, n - 2, -1))
            tree = _build_tree(leaves)
        return cls(tree, values, tree_indices, codec.types, _value_at=order)

    @classmethod
    def load(cls, data: dict[str, Any]) -> "StandardMerkleTree":
        """Load a ``standard-v1`` dump (from :meth:`dump` or the JS lib) and validate it.

        Values are normalised (ints for integer types, bytes for bytes types). Stricter
        than JS: each leaf node must carry exactly one value.
        """
        fmt = data.get("format") if isinstance(data, dict) else None
        if fmt != FORMAT:
            raise ValueError(f"Unknown format {fmt!r}")
        if data.get("leafEncoding") is None:
            raise ValueError("Expected leaf encoding")
        codec = _Codec(data["leafEncoding"])
        with _no_gc():
            try:
                tree = _nodes_from_hex(data["tree"])
                entries = data["values"]
                values = codec.normalize_many([e["value"] for e in entries])
                tree_indices = [e["treeIndex"] for e in entries]
            except (KeyError, TypeError) as e:
                raise ValueError(f"malformed dump: {e!r}") from None
            n = len(values)
            if n == 0 or len(tree) != 2 * n - 1:
                raise ValueError("tree size does not match number of values")
            if set(map(type, tree_indices)) != {int} or sorted(tree_indices) != list(
                range(n - 1, 2 * n - 1)
            ):
                raise ValueError("treeIndex values must be a permutation of the leaf indices")
            hashes = codec.leaf_hashes(values)
            if any(tree[t] != h for t, h in zip(tree_indices, hashes)):
                raise ValueError("Merkle tree does not contain the expected value")
            if _build_tree(tree[n - 1 :][::-1]) != tree:
                raise ValueError("Merkle tree is invalid")
        return cls(tree, values, tree_indices, codec.types)

    def dump(self) -> dict[str, Any]:
        """``standard-v1`` dict; ints become decimal strings, bytes 0x-hex (JSON-safe)."""
        values = self._values
        with _no_gc():
            if self._codec.words is not None and self._codec._uniform(values):
                rows: list[Any] = list(map(list, zip(*map(_json_column, _columns(values)))))
            else:
                rows = list(map(_jsonable, values))
            out_values = [{"value": v, "treeIndex": t} for v, t in zip(rows, self._tree_indices)]
            nodes = list(map("0x".__add__, map(bytes.hex, self._tree)))
        return {
            "format": FORMAT,
            "leafEncoding": list(self.leaf_encoding),
            "tree": nodes,
            "values": out_values,
        }

    # ---- accessors

    @property
    def root(self) -> str:
        """Merkle root, 0x-hex."""
        return _hex(self._tree[0])

    @property
    def tree(self) -> list[str]:
        """All nodes in JS layout, 0x-hex."""
        return [_hex(h) for h in self._tree]

    def __len__(self) -> int:
        return len(self._values)

    def at(self, index: int) -> Any:
        """Value at ``index`` (input order)."""
        return self._values[index]

    @property
    def values(self) -> list[Any]:
        """Values in input order."""
        return list(self._values)

    def tree_index(self, index: int) -> int:
        """Tree (node array) index of the value at ``index``."""
        return self._tree_indices[self._value_index(index)]

    def leaf_hash(self, value: Sequence[Any]) -> str:
        """Standard leaf hash of ``value`` under this tree's encoding."""
        return _hex(self._leaf_hash_bytes(value))

    # ---- proofs

    def get_proof(self, index_or_value: int | Sequence[Any]) -> list[str]:
        """Proof for a value index or a value, for ``MerkleProof.verify``."""
        ti = self._tree_indices[self._value_index(index_or_value)]
        tree = self._tree
        proof = []
        while ti > 0:
            proof.append(_hex(tree[ti + 1 if ti & 1 else ti - 1]))
            ti = (ti - 1) >> 1
        return proof

    def get_multi_proof(self, indices: Sequence[int | Sequence[Any]]) -> MultiProof:
        """Multiproof for value indices (or values), for ``MerkleProof.multiProofVerify``."""
        if len(indices) == 0:
            raise ValueError("empty multiproof: OZ multiProofVerify accepts it when root == proof[0]")
        tis = sorted((self._tree_indices[self._value_index(i)] for i in indices), reverse=True)
        if any(a == b for a, b in zip(tis, tis[1:])):
            raise ValueError("Cannot prove duplicated index")
        tree = self._tree
        stack = deque(tis)
        proof: list[str] = []
        flags: list[bool] = []
        while stack and stack[0] > 0:
            j = stack.popleft()
            s = j + 1 if j & 1 else j - 1
            if stack and stack[0] == s:
                flags.append(True)
                stack.popleft()
            else:
                flags.append(False)
                proof.append(_hex(tree[s]))
            stack.append((j - 1) >> 1)
        last = 2 * len(self._values) - 2
        value_at = self._value_at()
        leaves = [self._values[value_at[last - t]] for t in tis]
        return MultiProof(leaves=leaves, proof=proof, proof_flags=flags)

    def verify(self, index_or_value: int | Sequence[Any], proof: Sequence[HashLike]) -> bool:
        """Check ``proof`` for a value index or value against this root."""
        if isinstance(index_or_value, int) and not isinstance(index_or_value, bool):
            leaf = self._tree[self._tree_indices[self._value_index(index_or_value)]]
        else:
            leaf = self._leaf_hash_bytes(index_or_value)
        return verify_proof(self._tree[0], leaf, proof)

    def verify_multi_proof(self, multiproof: MultiProof) -> bool:
        """Check a multiproof (its ``leaves`` are values) against this root."""
        leaves = [self._leaf_hash_bytes(v) for v in multiproof.leaves]
        return verify_multi_proof(self._tree[0], leaves, multiproof.proof, multiproof.proof_flags)

    # ---- internals

    def _leaf_hash_bytes(self, value: Sequence[Any]) -> bytes:
        return keccak(keccak(self._codec.encode(value)))

    def _value_at(self) -> Sequence[int]:
        if self._value_at_cache is None:  # tree indices descend with leaf position
            ti = self._tree_indices
            self._value_at_cache = sorted(range(len(ti)), key=ti.__getitem__, reverse=True)
        return self._value_at_cache

    def _value_index(self, index_or_value: int | Sequence[Any]) -> int:
        if isinstance(index_or_value, int) and not isinstance(index_or_value, bool):
            if not 0 <= index_or_value < len(self._values):
                raise IndexError("Index out of bounds")
            return index_or_value
        if self._lookup is None:  # lazily: hash -> last value index (as the JS lib)
            tree = self._tree
            self._lookup = {tree[t]: vi for vi, t in enumerate(self._tree_indices)}
        vi = self._lookup.get(self._leaf_hash_bytes(index_or_value))
        if vi is None:
            raise ValueError("Leaf is not in tree")
        return vi
