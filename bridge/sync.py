"""The sync: reads the token contract's events in block order and applies each to the registry
exactly once.

Each event is applied in its own database transaction together with its :class:`ChainEvent`
row, which is unique on (chain id, transaction hash, log index); replaying a range applies
nothing twice. The cursor advances only after every event up to it was applied, and only to
blocks at least ``confirmations`` deep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry import custody
from registry.db import transaction
from registry.ledger import append_entry
from registry.models import CreditClass, CreditStatus, SerialBlock, TokenizationRequest, TokenizationStatus

from .chain import Chain
from .models import BatchStatus, ChainCursor, ChainEvent, Deployment, MintBatch, MintLeaf
from .retirement_data import MalformedRetirementData, decode_retirement_data

log = logging.getLogger("icr_bridge.sync")

SYNCED_EVENTS = ("LeafMinted", "Retired")
MAX_BLOCK_RANGE = 2_000


@dataclass
class SyncReport:
    from_block: int
    to_block: int
    applied: dict[str, int] = field(default_factory=dict)
    skipped_duplicates: int = 0
    flagged: list[str] = field(default_factory=list)

    @property
    def applied_total(self) -> int:
        return sum(self.applied.values())


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = value.hex() if hasattr(value, "hex") and not isinstance(value, str) else str(value)
    return text if text.startswith("0x") else "0x" + text


def _cursor(session: Session, deployment: Deployment) -> ChainCursor:
    cursor = session.exec(
        select(ChainCursor).where(ChainCursor.chain_id == deployment.chain_id, ChainCursor.address == deployment.address)
    ).first()
    if cursor is None:
        cursor = ChainCursor(chain_id=deployment.chain_id, address=deployment.address, last_block=deployment.deployed_block - 1)
        session.add(cursor)
        session.flush()
    return cursor


def fetch_events(chain: Chain, from_block: int, to_block: int) -> list[tuple[str, Any]]:
    """Decoded (event name, log) pairs of the synced events, in (block, log index) order."""
    token = chain.token
    events = {name: getattr(token.events, name)() for name in SYNCED_EVENTS}
    topics = {"0x" + bytes(chain.w3.keccak(text=_signature(e))).hex(): name for name, e in events.items()}
    logs = chain.w3.eth.get_logs(
        {"fromBlock": from_block, "toBlock": to_block, "address": chain.address, "topics": [list(topics)]}
    )
    decoded = []
    for raw in sorted(logs, key=lambda r: (r["blockNumber"], r["logIndex"])):
        name = topics[_hex(raw["topics"][0])]
        decoded.append((name, events[name].process_log(raw)))
    return decoded


def _signature(event) -> str:
    abi = event.abi
    return f"{abi['name']}({','.join(_abi_type(i) for i in abi['inputs'])})"


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def _origin(chain: Chain, entry: Any) -> custody.ChainOrigin:
    return custody.ChainOrigin(
        chain_id=chain.chain_id,
        tx_hash=_hex(entry["transactionHash"]),
        log_index=int(entry["logIndex"]),
        block_number=int(entry["blockNumber"]),
    )


def _record_event(session: Session, chain: Chain, name: str, entry: Any) -> bool:
    """Insert the ChainEvent row; False if this log was applied before."""
    origin = _origin(chain, entry)
    exists = session.exec(
        select(ChainEvent).where(
            ChainEvent.chain_id == origin.chain_id,
            ChainEvent.tx_hash == origin.tx_hash,
            ChainEvent.log_index == origin.log_index,
        )
    ).first()
    if exists is not None:
        return False
    session.add(
        ChainEvent(
            chain_id=origin.chain_id,
            tx_hash=origin.tx_hash,
            log_index=origin.log_index,
            block_number=origin.block_number,
            block_hash=_hex(entry["blockHash"]),
            event=name,
        )
    )
    session.flush()
    return True


def apply_leaf_minted(session: Session, chain: Chain, deployment: Deployment, entry: Any) -> None:
    args = entry["args"]
    leaf = session.exec(
        select(MintLeaf).where(MintLeaf.batch_id == args["batchId"], MintLeaf.leaf_index == args["leafIndex"])
    ).first()
    if leaf is None or (leaf.unit_first, leaf.unit_last) != (args["firstSerial"], args["lastSerial"]):
        raise RuntimeError(
            f"LeafMinted batch {args['batchId']} leaf {args['leafIndex']} does not match a persisted leaf"
        )
    leaf.minted = True
    leaf.mint_tx = _hex(entry["transactionHash"])
    session.add(leaf)
    credit_class = session.exec(select(CreditClass).where(CreditClass.token_id == leaf.token_id)).one()
    blocks = session.exec(
        select(SerialBlock).where(
            SerialBlock.serialization_id == credit_class.serialization_id,
            SerialBlock.account_id == deployment.custody_account_id,
            SerialBlock.tokenization_id == leaf.tokenization_id,
            SerialBlock.status == CreditStatus.active,
            SerialBlock.mirrored == False,  # noqa: E712
            SerialBlock.unit_first >= leaf.unit_first,
            SerialBlock.unit_last <= leaf.unit_last,
        )
    ).all()
    if sum(b.quantity for b in blocks) != leaf.amount:
        raise RuntimeError(f"custody does not hold the unminted units of leaf {leaf.serial_block}")
    for block in blocks:
        block.mirrored = True
        session.add(block)
    session.flush()
    remaining = session.exec(
        select(MintLeaf.id).where(MintLeaf.tokenization_id == leaf.tokenization_id, MintLeaf.minted == False)  # noqa: E712
    ).first()
    if remaining is None:
        request = session.get(TokenizationRequest, leaf.tokenization_id)
        request.status = TokenizationStatus.minted
        session.add(request)
    if session.exec(select(MintLeaf.id).where(MintLeaf.batch_id == leaf.batch_id, MintLeaf.minted == False)).first() is None:  # noqa: E712
        batch = session.get(MintBatch, leaf.batch_id)
        batch.status = BatchStatus.minted
        session.add(batch)
    append_entry(
        session,
        "leaf.minted",
        {"batch_id": leaf.batch_id, "leaf_index": leaf.leaf_index, "serial_block": leaf.serial_block,
         "recipient": leaf.recipient, "tx_hash": leaf.mint_tx},
    )


def apply_retired(session: Session, chain: Chain, deployment: Deployment, entry: Any, report: SyncReport) -> None:
    args = entry["args"]
    try:
        details = decode_retirement_data(bytes(args["data"]))
        purpose = details.purpose.name
    except MalformedRetirementData as exc:
        # The tokens are burned whatever the data says: record the retirement, flag the data.
        details = None
        purpose = "malformed"
        report.flagged.append(f"retirement {args['retirementId']} in {_hex(entry['transactionHash'])}: {exc}")
    custody.retire_from_custody(
        session,
        custody_account_id=deployment.custody_account_id,
        token_id=args["tokenId"],
        quantity=args["amount"],
        origin=_origin(chain, entry),
        purpose=purpose,
        beneficiary_name=(details.beneficiary_name if details and details.beneficiary_name else args["retireeName"]),
        beneficiary_address=details.beneficiary_address if details else "",
        retiree=args["retireeName"],
        comment=args["comment"],
        custom_uri=args["customUri"],
        holder_wallet=args["holder"],
        beneficiary_wallet=args["beneficiary"],
        onchain_retirement_id=args["retirementId"],
    )


def sync_once(engine: Engine, chain: Chain, confirmations: int = 0, max_range: int = MAX_BLOCK_RANGE) -> SyncReport:
    """Apply every synced event from the cursor up to the confirmed head."""
    with Session(engine) as session:
        deployment = session.exec(select(Deployment).where(Deployment.chain_id == chain.chain_id)).one()
    with transaction(engine) as session:
        start = _cursor(session, deployment).last_block + 1
    head = chain.w3.eth.block_number - confirmations
    report = SyncReport(from_block=start, to_block=start - 1)
    while start <= head:
        end = min(head, start + max_range - 1)
        for name, entry in fetch_events(chain, start, end):
            with transaction(engine) as session:
                if not _record_event(session, chain, name, entry):
                    report.skipped_duplicates += 1
                    continue
                if name == "LeafMinted":
                    apply_leaf_minted(session, chain, deployment, entry)
                elif name == "Retired":
                    apply_retired(session, chain, deployment, entry, report)
            report.applied[name] = report.applied.get(name, 0) + 1
        with transaction(engine) as session:
            cursor = _cursor(session, deployment)
            cursor.last_block = end
            cursor.last_block_hash = _hex(chain.w3.eth.get_block(end)["hash"])
            session.add(cursor)
        report.to_block = end
        start = end + 1
    log.info("sync pass", extra={"from_block": report.from_block, "to_block": report.to_block, "applied": report.applied})
    return report

