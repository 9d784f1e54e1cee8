"""The append-only ledger: verification and its entries (public)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

from fastapi import APIRouter, Query

from registry.api.deps import SessionDep
from registry.api.pagination import Paged, PageDep
from registry.api.problems import PROBLEM_RESPONSES
from registry.api.schemas.registry import LedgerEntryPublic, LedgerStatus
from registry.operations.ledger import verify_ledger
from registry.tables.core import LedgerEntry

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)


@router.get("/ledger/verify")
def ledger_verify(session: SessionDep) -> LedgerStatus:
    """Recompute the hash chain of the append-only ledger and replay its moves against the
    serial blocks (balances per account, serialization and status); also check the maintained
    balance table that ``/balances`` reads against the blocks (``balance table: ...`` problems)."""
    v = verify_ledger(session)
    return LedgerStatus(entries=v.chain.entries, head=v.chain.head, ok=v.ok, problems=v.chain.problems,
                        balances_ok=v.balances.ok, moves_replayed=v.balances.moves,
                        balance_problems=v.balances.problems)


@router.get("/ledger/entries")
def list_ledger_entries(
    session: SessionDep, page: PageDep, kind: Optional[str] = None, after_seq: Annotated[int, Query(ge=0)] = 0
) -> Paged[LedgerEntryPublic]:
    """Ledger entries in sequence order (``after_seq`` resumes from a known entry)."""
    conditions = [LedgerEntry.seq > after_seq]
    if kind is not None:
        conditions.append(LedgerEntry.kind == kind)
    total, rows = page.rows(session, LedgerEntry, conditions, [LedgerEntry.seq])
    return page.answer(total, [
        LedgerEntryPublic(seq=e.seq, kind=e.kind, payload=json.loads(e.payload), prev_hash=e.prev_hash,
                          entry_hash=e.entry_hash, created_at=e.created_at) for e in rows])
