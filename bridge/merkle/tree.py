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
from collections import deque
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from bridge.merkle.abi_values import _columns, _hex_items
from bridge.merkle.hashing import HashLike, _hash_many, _hex, _to_bytes32, keccak
from bridge.merkle.leaves import _Codec, _json_column, _jsonable
from bridge.merkle.proofs import MultiProof, verify_multi_proof, verify_proof

__all__ = ["StandardMerkleTree"]

FORMAT = "standard-v1"


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
