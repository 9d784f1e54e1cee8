"""Merkle-batched minting: pending tokenization requests -> persisted batch -> root on-chain ->
mints against multiproofs.

Every step is restartable. The batch (tree, leaves, proofs) is persisted before anything is
sent; committing looks at the chain first and only sends what is missing; minting skips
leaves the contract already marks as minted. Leaves are confirmed in the registry by the
sync, from ``LeafMinted`` events, never from a receipt alone.

One leaf must not block the others: a recipient whose code refuses ERC-1155 tokens (a
contract, or an EOA delegating its code under EIP-7702) reverts the whole ``mintLeaves``
chunk. For a chunk that reverts for a reason a leaf can cause (the receiver's revert, a wrong
selector, a failed transaction), the leaves that cannot be minted are found by halving it with
free ``eth_call`` simulations; each is flagged (``MintLeaf.mint_refused``, with the reason) and
left for ``claim`` by its holder, and the runs between them are minted (the chunk's own
reverted transaction is the only gas spent on the refusal). Before a chunk is split the minted bitmap is read again: leaves a
holder claimed meanwhile (a front-run, not a refusal) are dropped, never flagged. Flagged
leaves are not tried again until the operator clears the flag
(``icr-bridge batch retry-refused``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain import lookup, token
from bridge.chain.client import Chain, ChainRevert, Receipt, TransactionFailed
from bridge.chain.token import LEAF_ENCODING, MAX_CLASSES_PER_MINT, Leaf, commit_typed_data, mint_leaves_arguments
from bridge.deployments import deployment_on
from bridge.engine import faults
from bridge.engine.locks import claim
from bridge.merkle.tree import StandardMerkleTree
from bridge.tables import BatchStatus, Deployment, MintBatch, MintLeaf
from registry.bridged import custody
from registry.bulk import insert_rows, one_of, update_ids
from registry.db import transaction
from registry.domain.enums import CreditStatus, TokenizationStatus
from registry.domain.serials import serial_block_text
from registry.operations.classes import class_for_token
from registry.operations.ledger import append_entry
from registry.tables.core import (
    Account,
    CreditClass,
    Project,
    SerialBlock,
    Serialization,
    TokenizationRequest,
    utcnow,
)

log = logging.getLogger("icr_bridge.batcher")

#: Leaves per mint transaction. ~32k gas per contiguous leaf (toolchain notes) keeps a
#: 200-leaf chunk near 6.5M gas, well inside a 30M block.
DEFAULT_CHUNK = 200
GAS_PER_LEAF = 45_000
GAS_OVERHEAD = 120_000


class BatchRootMismatch(RuntimeError):
    """The chain holds a different root for this batch id than the registry persisted."""


def leaf_value(leaf: MintLeaf) -> list:
    """A stored leaf as the tree value the contract hashes."""
    return Leaf(leaf.batch_id, leaf.leaf_index, int(leaf.token_id), leaf.recipient, leaf.amount, leaf.unit_first,
                leaf.unit_last).value()


def build_batch(session: Session, deployment: Deployment) -> MintBatch | None:
    """Turn every pending tokenization request into leaves of one new batch (caller commits).

    Leaves are ordered by request and then by serial, so each request's leaves are contiguous
    in the tree and a mint transaction covering a range of leaves needs a short multiproof.
    Set-based: the requests and their custody blocks are read as plain rows (no ORM objects),
    the leaves written with one multi-row insert and the requests marked batched by id
    (:func:`registry.bulk.update_ids`; the cost per leaf is the tree's hashing and a row's insert).
    """
    requests = session.exec(
        select(TokenizationRequest.id, TokenizationRequest.class_id, TokenizationRequest.wallet,
               TokenizationRequest.quantity)
        .where(TokenizationRequest.status == TokenizationStatus.pending)
        .order_by(TokenizationRequest.id)
        .with_for_update(skip_locked=True)
    ).all()
    held = held_tokenizations(session, [r.id for r in requests])
    requests = [r for r in requests if r.id not in held]  # wait for the release (registry/operations/holds.py)
    if not requests:
        return None
    batch = MintBatch(chain_id=deployment.chain_id, root="", leaf_count=0, tree_dump="")
    session.add(batch)
    session.flush()
    leaves: list[dict] = []
    unminted: dict[int, list] = {}
    for row in custody.unminted_custody_rows(session, deployment.custody_account_id, [r.id for r in requests]):
        unminted.setdefault(row.tokenization_id, []).append(row)
    classes: dict[int, tuple[str, str]] = {}  # class id -> (token id, serialization text)
    for request in requests:
        if request.class_id not in classes:
            credit_class = session.get(CreditClass, request.class_id)
            classes[request.class_id] = (credit_class.token_id,
                                         session.get(Serialization, credit_class.serialization_id).text)
        token_id, serialization = classes[request.class_id]
        blocks = unminted.get(request.id, [])
        if sum(b.quantity for b in blocks) != request.quantity:
            raise RuntimeError(
                f"tokenization {request.id}: custody holds {sum(b.quantity for b in blocks)} unminted units, "
                f"request is for {request.quantity}"
            )
        for block in blocks:
            leaves.append({
                "batch_id": batch.id, "leaf_index": len(leaves), "token_id": token_id, "recipient": request.wallet,
                "amount": block.quantity, "unit_first": block.unit_first, "unit_last": block.unit_last,
                "serial_block": serial_block_text(serialization, block.unit_first, block.unit_last),
                "tokenization_id": request.id, "minted": False, "mint_tx": None, "mint_refused": None,
                "mint_refused_at": None,
            })
    tree = StandardMerkleTree.of([Leaf(batch.id, leaf["leaf_index"], int(leaf["token_id"]), leaf["recipient"],
                                       leaf["amount"], leaf["unit_first"], leaf["unit_last"]).value()
                                  for leaf in leaves], LEAF_ENCODING, sort_leaves=False)
    batch.root = tree.root
    batch.leaf_count = len(leaves)
    batch.tree_dump = json.dumps(tree.dump())
    session.add(batch)
    session.flush()
    if leaves:
        insert_rows(session, MintLeaf, leaves)
    request_ids = [r.id for r in requests]
    update_ids(session, TokenizationRequest, request_ids, {"status": TokenizationStatus.batched})
    append_entry(
        session,
        "batch.built",
        {
            "batch_id": batch.id,
            "chain_id": batch.chain_id,
            "root": batch.root,
            "leaf_count": batch.leaf_count,
            "tokenization_ids": request_ids,
        },
    )
    return batch


def held_tokenizations(session: Session, tokenization_ids: list[int]) -> set[int]:
    """The tokenizations among ``tokenization_ids`` with units under a hold: not batched until released."""
    found: set[int] = set()
    for condition in one_of(session, SerialBlock.tokenization_id, tokenization_ids):
        found.update(session.exec(select(SerialBlock.tokenization_id).where(
            condition, SerialBlock.status == CreditStatus.held).distinct()).all())
    return found


def load_tree(batch: MintBatch) -> StandardMerkleTree:
    return StandardMerkleTree.load(json.loads(batch.tree_dump))


def sign_commit(registry_signer: LocalAccount, chain: Chain, batch_id: int, root: str, leaf_count: int) -> bytes:
    message = encode_typed_data(full_message=commit_typed_data(chain.chain_id, chain.address, batch_id, root,
                                                                leaf_count))
    return bytes(registry_signer.sign_message(message).signature)


def ensure_classes_registered(engine: Engine, chain: Chain, registry_signer: LocalAccount, token_ids: set[str]) -> None:
    """Register each class on-chain (registry role) before its first mint, and its serialization
    in the deployment's ICR-compatible lookup (``getSerializationAddress``) when it has one."""
    for token_id in sorted(token_ids):
        with Session(engine) as session:
            credit_class = class_for_token(session, token_id)
            serialization = session.get(Serialization, credit_class.serialization_id)
            project = session.get(Project, serialization.project_id)
            deployment = deployment_on(session, chain.chain_id)
            lookup_address = deployment.lookup_address if deployment else None
        # One sender per registry-signer key at a time: workers would race for its nonce.
        with claim(engine, f"registry-signer:{chain.chain_id}", wait=True):
            if not token.credit_class(chain, token_id)["registered"]:
                info = token.class_info(
                    project_number=project.project_number, vintage=serialization.vintage,
                    article6=serialization.article6, letter_number=credit_class.letter_number,
                    host_country=project.country, authorized_uses=credit_class.authorized_uses,
                    ca_status=credit_class.ca_status,
                )
                fn = chain.token.functions.registerClass(int(token_id), info)
                chain.transact(registry_signer, fn, "registerClass")
                faults.point("batch.class_registered")
            if lookup_address and not lookup.serialization_registered(chain, lookup_address, serialization.text):
                lookup.register_serialization(chain, registry_signer, lookup_address, serialization.text, chain.address)
        with transaction(engine) as session:
            credit_class = class_for_token(session, token_id)
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
    onchain_root = "0x" + bytes(token.batch(chain, batch_id)["root"]).hex()
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
    return int.from_bytes(bytes(token.batch(chain, batch_id)["root"]), "big") != 0


def batch_revoked(chain: Chain, batch_id: int) -> bool:
    """Whether the admin voided the batch on-chain (``revokeBatch``): its unminted leaves can
    never be minted."""
    return bool(token.batch(chain, batch_id)["revoked"])


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


@dataclass(frozen=True)
class RefusedLeaf:
    """A leaf the contract would not mint in a chunk (flagged, left for ``claim``)."""

    batch_id: int
    leaf_index: int
    recipient: str
    amount: int
    reason: str

    def line(self) -> str:
        return (f"batch {self.batch_id} leaf {self.leaf_index} ({self.amount} t to {self.recipient}): "
                f"{self.reason}; left for claim")


@dataclass
class MintReport:
    batch_id: int
    transactions: list[Receipt]
    leaves_sent: int  # in mined mint transactions
    leaves_already_minted: int  # before this call, or claimed by their holders while it ran
    refused: list[RefusedLeaf] = field(default_factory=list)


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


#: ICCToken's own errors that concern the whole batch or the bridge (or a bug in the proofs),
#: never one leaf's recipient: a chunk reverting with one of these is not split.
BATCH_ERRORS = frozenset({
    "EnforcedPause", "BatchNotCommitted", "BatchIsRevoked", "EmptyBatch", "MalformedLeaves", "LeafOutOfRange",
    "InvalidMerkleProof", "MalformedMultiproof", "ClassNotRegistered", "LeafClassIndexOutOfRange",
    "LeafAmountMismatch", "LeafRecipientZero", "AccessControlUnauthorizedAccount",
})


def _leaf_can_cause(exc: Exception) -> bool:
    """Whether a chunk's revert may come from one of its leaves (a recipient's receiver hook),
    so that splitting the chunk can isolate it; ``LeafAlreadyMinted`` is a claim racing the mint."""
    if isinstance(exc, ChainRevert):
        return exc.error not in BATCH_ERRORS
    return isinstance(exc, TransactionFailed)


def _refusal_reason(exc: Exception, recipient: str) -> str:
    if isinstance(exc, ChainRevert):
        if exc.error == "ERC1155InvalidReceiver":
            return f"recipient {recipient} does not accept ERC-1155 tokens (ERC1155InvalidReceiver)"
        detail = f"{exc.error}{exc.args_}" if exc.args_ else exc.error
        return f"the mint to {recipient} reverts: {detail}"[:300]
    return f"the mint to {recipient} fails: {exc}"[:300]


def mint_batch(engine: Engine, chain: Chain, batch_id: int, relayer: LocalAccount, chunk: int = DEFAULT_CHUNK, progress=None) -> MintReport:
    """Mint every leaf of a committed batch not yet minted on-chain, a contiguous run per tx.

    Leaves flagged ``mint_refused`` are skipped. A run that reverts because of a leaf is split
    (see the module docstring) and the leaves that cannot be minted are flagged."""
    with Session(engine) as session:
        batch = session.get(MintBatch, batch_id)
        if batch is None:
            raise LookupError(f"batch {batch_id} does not exist")
        if batch.status is BatchStatus.built:
            raise RuntimeError(f"batch {batch_id} is not committed on-chain yet")
        tree = load_tree(batch)
        pending = session.exec(
            select(MintLeaf.leaf_index).where(
                MintLeaf.batch_id == batch_id, MintLeaf.minted == False,  # noqa: E712
                MintLeaf.mint_refused == None,  # noqa: E711 - SQL expression
            )
        ).all()
    on_chain = minted_on_chain(chain, batch_id, pending)
    to_send = [i for i in pending if i not in on_chain]
    report = MintReport(batch_id, [], 0, len(pending) - len(to_send))
    chunk = chunk_size_for(chain, chunk)

    def call(run: list[int]):
        return chain.token.functions.mintLeaves(batch_id, *mint_leaves_arguments(tree.get_multi_proof(run)))

    def gas_for(run: list[int]) -> int:
        return GAS_OVERHEAD + GAS_PER_LEAF * len(run)

    def action(run: list[int]) -> str:
        return f"mint batch {batch_id} leaves {run[0]}-{run[-1]}"

    def locate(run: list[int]) -> dict[int, Exception]:
        """The leaves of ``run`` that cannot be minted, by halving it with free simulations."""
        try:
            chain.call(call(run), action(run), sender=relayer.address, gas=gas_for(run))
            return {}
        except (ChainRevert, TransactionFailed) as exc:
            if not _leaf_can_cause(exc):
                raise
            if len(run) == 1:
                # Claimed just now: the send below fails, and the bitmap read then drops it.
                return {} if getattr(exc, "error", None) == "LeafAlreadyMinted" else {run[0]: exc}
            middle = len(run) // 2
            return {**locate(run[:middle]), **locate(run[middle:])}

    def mint_run(run: list[int], simulate_first: bool) -> None:
        try:
            if simulate_first:  # free: a run that would revert costs no gas
                chain.call(call(run), action(run), sender=relayer.address, gas=gas_for(run))
            report.transactions.append(chain.transact(relayer, call(run), action(run), gas=gas_for(run)))
        except (ChainRevert, TransactionFailed) as exc:
            if not _leaf_can_cause(exc):
                raise
            claimed = minted_on_chain(chain, batch_id, run)
            if claimed:  # a holder claimed leaves of this run meanwhile: not a refusal
                log.info("leaves claimed while minting", extra={"batch_id": batch_id, "leaves": sorted(claimed)})
                report.leaves_already_minted += len(claimed)
                for piece in contiguous_chunks([i for i in run if i not in claimed], len(run)):
                    mint_run(piece, simulate_first=True)
                return
            log.warning("mint chunk reverted: splitting it", extra={"batch_id": batch_id, "first": run[0],
                                                                     "last": run[-1], "error": str(exc)})
            refused = locate(run)
            if not refused:
                raise  # no leaf to blame (the chain changed since): the step fails, the next cycle retries
            for index, cause in sorted(refused.items()):
                report.refused.append(_flag_refused(engine, batch_id, index, cause))
            for piece in contiguous_chunks([i for i in run if i not in refused], len(run)):
                mint_run(piece, simulate_first=True)
            return
        report.leaves_sent += len(run)
        faults.point("batch.mint_chunk_sent")
        if progress is not None:
            progress(len(run))

    for run in contiguous_chunks(to_send, chunk):
        mint_run(run, simulate_first=False)
    return report


def _flag_refused(engine: Engine, batch_id: int, leaf_index: int, exc: Exception) -> RefusedLeaf:
    """Record that a leaf cannot be minted by ``mintLeaves`` (its holder can still ``claim`` it)."""
    with transaction(engine) as session:
        leaf = session.exec(
            select(MintLeaf).where(MintLeaf.batch_id == batch_id, MintLeaf.leaf_index == leaf_index)
        ).one()
        reason = _refusal_reason(exc, leaf.recipient)
        leaf.mint_refused = reason
        leaf.mint_refused_at = utcnow()
        session.add(leaf)
        append_entry(session, "batch.leaf_mint_refused", {
            "batch_id": batch_id, "leaf_index": leaf_index, "recipient": leaf.recipient, "amount": leaf.amount,
            "serial_block": leaf.serial_block, "reason": reason,
        })
        refused = RefusedLeaf(batch_id, leaf_index, leaf.recipient, leaf.amount, reason)
    log.warning("leaf mint refused: flagged, left for claim", extra={
        "batch_id": batch_id, "leaf_index": leaf_index, "recipient": refused.recipient, "reason": reason})
    return refused


def retry_refused(engine: Engine, chain_id: int | None = None, batch_id: int | None = None) -> list[tuple[int, int]]:
    """Clear the refusal flag of unminted leaves (of one batch, or of every batch on ``chain_id``,
    or everywhere) so the next cycle tries to mint them again; returns (batch id, leaf index) of each."""
    with transaction(engine) as session:
        stmt = (select(MintLeaf).join(MintBatch, MintBatch.id == MintLeaf.batch_id)
                .where(MintLeaf.minted == False, MintLeaf.mint_refused != None))  # noqa: E711, E712 - SQL
        if chain_id is not None:
            stmt = stmt.where(MintBatch.chain_id == chain_id)
        if batch_id is not None:
            stmt = stmt.where(MintLeaf.batch_id == batch_id)
        leaves = session.exec(stmt.order_by(MintLeaf.batch_id, MintLeaf.leaf_index)).all()
        for leaf in leaves:
            leaf.mint_refused = None
            leaf.mint_refused_at = None
            session.add(leaf)
        cleared = [(leaf.batch_id, leaf.leaf_index) for leaf in leaves]
        if cleared:
            append_entry(session, "batch.leaf_mint_retry", {"chain_id": chain_id, "leaves": cleared})
    return cleared


def custody_account_of(session: Session, deployment: Deployment) -> Account:
    return session.get(Account, deployment.custody_account_id)
