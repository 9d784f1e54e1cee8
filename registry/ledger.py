"""The append-only, hash-chained registry ledger.

Each entry commits to the previous entry's hash: ``entry_hash = sha256(prev_hash | seq | kind |
canonical JSON payload)``. Appending happens inside the caller's transaction, so an operation
and its ledger entry land together or not at all; two concurrent appends collide on ``seq``
and one of them rolls back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from .models import LedgerEntry

GENESIS_HASH = "0" * 64


def canonical_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def entry_digest(prev_hash: str, seq: int, kind: str, payload_json: str) -> str:
    material = f"{prev_hash}|{seq}|{kind}|{payload_json}".encode()
    return hashlib.sha256(material).hexdigest()


def append_entry(session: Session, kind: str, payload: dict[str, Any]) -> LedgerEntry:
    last = session.exec(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)).first()
    seq = 1 if last is None else last.seq + 1
    prev_hash = GENESIS_HASH if last is None else last.entry_hash
    payload_json = canonical_json(payload)
    entry = LedgerEntry(
        seq=seq,
        kind=kind,
        payload=payload_json,
        prev_hash=prev_hash,
        entry_hash=entry_digest(prev_hash, seq, kind, payload_json),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass
class LedgerCheck:
    entries: int
    head: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session) -> LedgerCheck:
    """Recompute every hash; report the first sequence gaps, broken links and bad digests."""
    problems: list[str] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in session.exec(select(LedgerEntry).order_by(LedgerEntry.seq)):
        count += 1
        if entry.seq != expected_seq:
            problems.append(f"entry {entry.seq}: expected sequence number {expected_seq}")
        if entry.prev_hash != prev_hash:
            problems.append(f"entry {entry.seq}: prev_hash does not match entry {entry.seq - 1}")
        if entry_digest(entry.prev_hash, entry.seq, entry.kind, entry.payload) != entry.entry_hash:
            problems.append(f"entry {entry.seq}: entry_hash does not match its content")
        prev_hash = entry.entry_hash
        expected_seq = entry.seq + 1
    return LedgerCheck(entries=count, head=prev_hash, problems=problems)
