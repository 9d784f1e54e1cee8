"""Merkle proofs and multiproofs, as OpenZeppelin's ``MerkleProof.verify`` / ``multiProofVerify``."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

from bridge.merkle.hashing import HashLike, _hex, _pair, _to_bytes32

__all__ = ["MultiProof", "process_multi_proof", "process_proof", "verify_multi_proof", "verify_proof"]


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
