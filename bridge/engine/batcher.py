"""Merkle-batched minting: pending tokenization requests -> persisted batch -> root on-chain ->
mints against multiproofs.

Every step is restartable. The batch (tree, leaves, proofs) is persisted before anything is
sent; committing looks at the chain first and only sends what is missing; minting skips
leaves the contract already marks as minted. Leaves are confirmed in the registry by the
sync, from ``LeafMinted`` events, never from a receipt alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_canonical_address
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain.client import Chain, Receipt
from bridge.engine import faults
from bridge.engine.locks import claim
from bridge.merkle.proofs import MultiProof
from bridge.merkle.tree import StandardMerkleTree
from bridge.tables import BatchStatus, Deployment, MintBatch, MintLeaf
from registry.db import transaction
from registry.domain.enums import CreditStatus, TokenizationStatus
from registry.operations.ledger import append_entry
from registry.tables.core import Account, CreditClass, Project, SerialBlock, Serialization, TokenizationRequest

log = logging.getLogger("icr_bridge.batcher")

#: (batchId, leafIndex, classId, recipient, amount, firstSerial, lastSerial), as ICCToken.Leaf.
LEAF_ENCODING = ["uint256", "uint256", "uint256", "address", "uint256", "uint256", "uint256"]

#: Bytes per leaf in ``ICCToken.mintLeaves``' packed encoding (its PACKED_LEAF_BYTES).
PACKED_LEAF_BYTES = 37
#: A packed leaf names its class by a one-byte index into the call's class list.
MAX_CLASSES_PER_MINT = 256
_UINT64_LIMIT = 1 << 64


class UnpackableLeaf(ValueError):
    """Leaves that ``mintLeaves``' packed encoding cannot carry (the claim path can)."""


@dataclass(frozen=True)
class PackedLeaves:
    """``(firstLeafIndex, classIds, leaves)`` of ``ICCToken.mintLeaves``."""

    first_leaf_index: int
    class_ids: list[int]
    leaves: bytes


def pack_leaves(values: Sequence[Sequence]) -> PackedLeaves:
    """Pack leaf values (LEAF_ENCODING order) of one batch with consecutive leaf indices, lowest
    first, as a multiproof of a contiguous range lists them, for ``mintLeaves``.

    Each leaf packs to PACKED_LEAF_BYTES big-endian bytes: recipient (20) | index of its class in
    ``classIds`` (1) | amount (8) | first serial (8). The contract rebuilds the batch id, the leaf
    index (``firstLeafIndex`` + position) and the last serial (first + amount - 1), so the hash is
    the tree's own leaf hash, from about a sixth of the calldata of seven ABI words."""
    if not values:
        raise UnpackableLeaf("no leaves to pack")
    batch_ids = {v[0] for v in values}
    if len(batch_ids) > 1:
        raise UnpackableLeaf(f"leaves of several batches in one mint: {sorted(batch_ids)}")
    first_index = values[0][1]
    class_ids: list[int] = []
    class_index: dict[int, int] = {}
    packed = bytearray()
    for position, (_batch_id, leaf_index, class_id, recipient, amount, first, last) in enumerate(values):
        if leaf_index != first_index + position:
            raise UnpackableLeaf(f"leaf {leaf_index} at position {position}: a mint takes consecutive leaves "
                                 f"from leaf {first_index}")
        for field, value in (("amount", amount), ("firstSerial", first)):
            if not 0 <= value < _UINT64_LIMIT:
                raise UnpackableLeaf(f"leaf {leaf_index}: {field} {value} does not fit in 64 bits")
        if amount < 1 or last != first + amount - 1:
            raise UnpackableLeaf(f"leaf {leaf_index}: amount {amount} is not the size of serials {first}-{last}")
        index = class_index.get(class_id)
        if index is None:
            if len(class_ids) == MAX_CLASSES_PER_MINT:
                raise UnpackableLeaf(f"more than {MAX_CLASSES_PER_MINT} classes in one mint")
            index = class_index[class_id] = len(class_ids)
            class_ids.append(class_id)
        packed += to_canonical_address(recipient)
        packed += bytes((index,))
        packed += amount.to_bytes(8, "big") + first.to_bytes(8, "big")
    return PackedLeaves(first_index, class_ids, bytes(packed))


def pack_proof_flags(flags: Sequence[bool]) -> list[int]:
    """``mintLeaves``' ``proofFlagWords``: multiproof flag ``i`` is bit ``i % 256`` of word ``i // 256``."""
    words = [0] * ((len(flags) + 255) // 256)
    for i, flag in enumerate(flags):
        if flag:
            words[i >> 8] |= 1 << (i & 0xFF)
    return words


def mint_leaves_arguments(multi: MultiProof) -> tuple[int, list[int], bytes, list[bytes], list[int]]:
    """``ICCToken.mintLeaves``' arguments after the batch id for a multiproof of consecutive
    leaves: (firstLeafIndex, classIds, packed leaves, proof, packed proof flags)."""
    packed = pack_leaves(multi.leaves)
    proof = [bytes.fromhex(p[2:]) for p in multi.proof]
    return packed.first_leaf_index, packed.class_ids, packed.leaves, proof, pack_proof_flags(multi.proof_flags)


#: Leaves per mint transaction. ~32k gas per contiguous leaf (toolchain notes) keeps a
#: 200-leaf chunk near 6.5M gas, well inside a 30M block.
DEFAULT_CHUNK = 200
GAS_PER_LEAF = 45_000
GAS_OVERHEAD = 120_000


class BatchRootMismatch(RuntimeError):
    """The chain holds a different root for this batch id than the registry persisted."""


def leaf_value(leaf: MintLeaf) -> list:
    return [leaf.batch_id, leaf.leaf_index, int(leaf.token_id), leaf.recipient, leaf.amount, leaf.unit_first, leaf.unit_last]


def build_batch(session: Session, deployment: Deployment) -> MintBatch | None:
    """Turn every pending tokenization request into leaves of one new batch (caller commits).

    Leaves are ordered by request and then by serial, so each request's leaves are contiguous
    in the tree and a mint transaction covering a range of leaves needs a short multiproof.
    """
    requests = session.exec(
        select(TokenizationRequest)
        .where(TokenizationRequest.status == TokenizationStatus.pending)
        .order_by(TokenizationRequest.id)
        .with_for_update(skip_locked=True)
    ).all()
    if not requests:
        return None
    batch = MintBatch(chain_id=deployment.chain_id, root="", leaf_count=0, tree_dump="")
    session.add(batch)
    session.flush()
    leaves: list[MintLeaf] = []
    unminted = _unminted_custody_blocks(session, deployment, [r.id for r in requests])
    for request in requests:
        credit_class = session.get(CreditClass, request.class_id)
        serialization = session.get(Serialization, credit_class.serialization_id)
        blocks = unminted.get(request.id, [])
        if sum(b.quantity for b in blocks) != request.quantity:
            raise RuntimeError(
                f"tokenization {request.id}: custody holds {sum(b.quantity for b in blocks)} unminted units, "
                f"request is for {request.quantity}"
            )
        for block in blocks:
            leaves.append(
                MintLeaf(
                    batch_id=batch.id,
                    leaf_index=len(leaves),
                    token_id=credit_class.token_id,
                    recipient=request.wallet,
                    amount=block.quantity,
                    unit_first=block.unit_first,
                    unit_last=block.unit_last,
                    serial_block=f"{serialization.text}-{block.unit_first:06d}-{block.unit_last:06d}",
                    tokenization_id=request.id,
                )
            )
        request.status = TokenizationStatus.batched
        session.add(request)
    tree = StandardMerkleTree.of([leaf_value(leaf) for leaf in leaves], LEAF_ENCODING, sort_leaves=False)
    batch.root = tree.root
    batch.leaf_count = len(leaves)
    batch.tree_dump = json.dumps(tree.dump())
    session.add(batch)
    session.add_all(leaves)
    session.flush()
    append_entry(
        session,
        "batch.built",
        {
            "batch_id": batch.id,
            "chain_id": batch.chain_id,
            "root": batch.root,
            "leaf_count": batch.leaf_count,
            "tokenization_ids": [r.id for r in requests],
        },
    )
    return batch


def _unminted_custody_blocks(session: Session, deployment: Deployment,
                             tokenization_ids: list[int]) -> dict[int, list[SerialBlock]]:
    """The unminted custody blocks of each tokenization, lowest first: one query per 500
    requests rather than one per request."""
    found: dict[int, list[SerialBlock]] = {}
    for start in range(0, len(tokenization_ids), 500):
        rows = session.exec(
            select(SerialBlock)
            .where(
                SerialBlock.tokenization_id.in_(tokenization_ids[start:start + 500]),
                SerialBlock.account_id == deployment.custody_account_id,
                SerialBlock.status == CreditStatus.active,
                SerialBlock.mirrored == False,  # noqa: E712 - SQL expression
            )
            .order_by(SerialBlock.tokenization_id, SerialBlock.unit_first)
        ).all()
        for row in rows:
            found.setdefault(row.tokenization_id, []).append(row)
    return found


def load_tree(batch: MintBatch) -> StandardMerkleTree:
    return StandardMerkleTree.load(json.loads(batch.tree_dump))


def commit_typed_data(chain: Chain, batch_id: int, root: str, leaf_count: int) -> dict:
    """EIP-712 ``CommitBatch`` message, domain bound to the chain id and the token contract."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "CommitBatch": [
                {"name": "batchId", "type": "uint256"},
                {"name": "root", "type": "bytes32"},
                {"name": "leafCount", "type": "uint256"},
            ],
        },
        "primaryType": "CommitBatch",
        "domain": {
            "name": "ICR Bridge ICC",
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": chain.address,
        },
        "message": {"batchId": batch_id, "root": bytes.fromhex(root.removeprefix("0x")), "leafCount": leaf_count},
    }


def sign_commit(registry_signer: LocalAccount, chain: Chain, batch_id: int, root: str, leaf_count: int) -> bytes:
    message = encode_typed_data(full_message=commit_typed_data(chain, batch_id, root, leaf_count))
    return bytes(registry_signer.sign_message(message).signature)


def ensure_classes_registered(engine: Engine, chain: Chain, registry_signer: LocalAccount, token_ids: set[str]) -> None:
    """Register each class on-chain (registry role) before its first mint."""
    for token_id in sorted(token_ids):
        with Session(engine) as session:
            credit_class = session.exec(select(CreditClass).where(CreditClass.token_id == token_id)).one()
            serialization = session.get(Serialization, credit_class.serialization_id)
            project = session.get(Project, serialization.project_id)
        # One sender per registry-signer key at a time: workers would race for its nonce.
        with claim(engine, f"registry-signer:{chain.chain_id}", wait=True):
            onchain = chain.call(chain.token.functions.creditClass(int(token_id)), "creditClass")
            if not onchain[-1]:
                info = (
                    project.project_number,
                    serialization.vintage,
                    serialization.article6,
                    credit_class.letter_number,
                    project.country.encode(),
                    credit_class.authorized_uses,
                    credit_class.ca_status,
                    False,
                )
                fn = chain.token.functions.registerClass(int(token_id), info)
                chain.transact(registry_signer, fn, "registerClass")
                faults.point("batch.class_registered")
        with transaction(engine) as session:
            credit_class = session.exec(select(CreditClass).where(CreditClass.token_id == token_id)).one()
            if not credit_class.registered_on_chain:
                credit_class.registered_on_chain = True
                session.add(credit_class)


def commit_batch(
    engine: Engine, chain: Chain, batch_id: int, registry_signer: LocalAccount, relayer: LocalAccount
) -> str | None:
    """Put a built batch's root on-chain: signed by the registry signer, sent by the relayer.

    Looks at the chain first, so a crash after sending and before recording is harmless.
    Returns the commit transaction hash (None if the root was already on-chain)."""
    with Session(engine) as session:
        batch = session.get(MintBatch, batch_id)
        if batch is None:
            raise LookupError(f"batch {batch_id} does not exist")
        if batch.status is not BatchStatus.built:
            return batch.commit_tx
        leaves = session.exec(select(MintLeaf.token_id).where(MintLeaf.batch_id == batch_id)).all()
        root, leaf_count = batch.root, batch.leaf_count
    ensure_classes_registered(engine, chain, registry_signer, set(leaves))
    onchain_root = "0x" + bytes(chain.call(chain.token.functions.batch(batch_id), "batch")[0]).hex()
    tx_hash = None
    if int(onchain_root, 16) == 0:
        signature = sign_commit(registry_signer, chain, batch_id, root, leaf_count)
        fn = chain.token.functions.commitBatchWithSignature(batch_id, bytes.fromhex(root[2:]), leaf_count, signature)
        tx_hash = chain.transact(relayer, fn, f"commit batch {batch_id}").tx_hash
        faults.point("batch.commit_sent")
    elif onchain_root != root:
        raise BatchRootMismatch(f"batch {batch_id}: chain holds root {onchain_root}, registry built {root}")
    with transaction(engine) as session:
        batch = session.get(MintBatch, batch_id)
        batch.status = BatchStatus.committed
        batch.commit_tx = tx_hash
        session.add(batch)
        append_entry(session, "batch.committed", {"batch_id": batch_id, "root": root, "tx_hash": tx_hash})
    log.info("batch committed", extra={"batch_id": batch_id, "root": root, "tx": tx_hash})
    return tx_hash


def root_on_chain(chain: Chain, batch_id: int) -> bool:
    return int.from_bytes(bytes(chain.call(chain.token.functions.batch(batch_id), "batch")[0]), "big") != 0


def batch_revoked(chain: Chain, batch_id: int) -> bool:
    """Whether the admin voided the batch on-chain (``revokeBatch``): its unminted leaves can
    never be minted."""
    return bool(chain.call(chain.token.functions.batch(batch_id), "batch")[3])


def mark_uncommitted(engine: Engine, batch_id: int) -> None:
    """Record that a batch's root is no longer on-chain (its block was reorganized away)."""
    with transaction(engine) as session:
        batch = session.get(MintBatch, batch_id)
        batch.status = BatchStatus.built
        batch.commit_tx = None
        session.add(batch)
        append_entry(session, "batch.uncommitted", {"batch_id": batch_id, "reason": "chain reorganization"})


def contiguous_chunks(indices: list[int], chunk: int) -> list[list[int]]:
    """Split sorted leaf indices into runs of consecutive indices of at most ``chunk`` each."""
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and runs[-1][-1] + 1 == index and len(runs[-1]) < chunk:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def chunk_size_for(chain: Chain, requested: int = DEFAULT_CHUNK) -> int:
    gas_limit = chain.w3.eth.get_block("latest")["gasLimit"]
    fits = max(1, int((gas_limit * 0.8 - GAS_OVERHEAD) // GAS_PER_LEAF))
    # At most MAX_CLASSES_PER_MINT leaves, so a chunk never names more classes than a mint can.
    return max(1, min(requested, fits, MAX_CLASSES_PER_MINT))


@dataclass
class MintReport:
    batch_id: int
    transactions: list[Receipt]
    leaves_sent: int
    leaves_already_minted: int


#: Bitmap words read per ``mintedLeafWords`` call (256 leaves each).
BITMAP_WORDS_PER_CALL = 256


def minted_on_chain(chain: Chain, batch_id: int, leaf_indices: list[int]) -> set[int]:
    """Those of ``leaf_indices`` whose bit is set in the batch's on-chain minted bitmap.

    Reads the bitmap a range of 256-leaf words per call (one call per 65,536 leaves) instead
    of one ``isLeafMinted`` call per leaf: a leaf minted but not yet synced is never sent again."""
    if not leaf_indices:
        return set()
    first_word, last_word = min(leaf_indices) >> 8, max(leaf_indices) >> 8
    words: list[int] = []
    for start in range(first_word, last_word + 1, BITMAP_WORDS_PER_CALL):
        count = min(BITMAP_WORDS_PER_CALL, last_word + 1 - start)
        words.extend(chain.call(chain.token.functions.mintedLeafWords(batch_id, start, count), "mintedLeafWords"))
    return {i for i in leaf_indices if (words[(i >> 8) - first_word] >> (i & 0xFF)) & 1}


def mint_batch(engine: Engine, chain: Chain, batch_id: int, relayer: LocalAccount, chunk: int = DEFAULT_CHUNK, progress=None) -> MintReport:
    """Mint every leaf of a committed batch not yet minted on-chain, a contiguous run per tx."""
    with Session(engine) as session:
        batch = session.get(MintBatch, batch_id)
        if batch is None:
            raise LookupError(f"batch {batch_id} does not exist")
        if batch.status is BatchStatus.built:
            raise RuntimeError(f"batch {batch_id} is not committed on-chain yet")
        tree = load_tree(batch)
        pending = session.exec(
            select(MintLeaf.leaf_index).where(MintLeaf.batch_id == batch_id, MintLeaf.minted == False)  # noqa: E712
        ).all()
    token = chain.token
    on_chain = minted_on_chain(chain, batch_id, pending)
    to_send = [i for i in pending if i not in on_chain]
    receipts = []
    chunk = chunk_size_for(chain, chunk)
    for run in contiguous_chunks(to_send, chunk):
        fn = token.functions.mintLeaves(batch_id, *mint_leaves_arguments(tree.get_multi_proof(run)))
        gas = GAS_OVERHEAD + GAS_PER_LEAF * len(run)
        receipts.append(chain.transact(relayer, fn, f"mint batch {batch_id} leaves {run[0]}-{run[-1]}", gas=gas))
        faults.point("batch.mint_chunk_sent")
        if progress is not None:
            progress(len(run))
    return MintReport(batch_id, receipts, len(to_send), len(pending) - len(to_send))


def custody_account_of(session: Session, deployment: Deployment) -> Account:
    return session.get(Account, deployment.custody_account_id)
