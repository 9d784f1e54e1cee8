"""Bulk row writes give the ids and values that one statement per row gives (both databases)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bridge.tables import ChainEvent
from registry.bulk import insert_in_order, insert_rows, next_ids, update_from_values
from registry.db import transaction

TABLE = ChainEvent.__table__


def _row(i: int) -> dict:
    return {"chain_id": 1, "tx_hash": f"0x{i:064x}", "log_index": i, "block_number": i, "block_hash": "0x00",
            "event": "Retired", "applied_at": ChainEvent(chain_id=0, tx_hash="", log_index=0, block_number=0,
                                                       block_hash="", event="").applied_at}


def _one_by_one(session: Session, i: int) -> int:
    event = ChainEvent(**_row(i))
    session.add(event)
    session.flush()
    return event.id


def test_ids_in_order_are_those_one_insert_per_row_gives(engine):
    with transaction(engine) as s:
        first = [_one_by_one(s, i) for i in range(3)]
    # a rolled-back insert: PostgreSQL's sequence moves on, SQLite's highest id does not
    with pytest.raises(RuntimeError, match="rolled back"), transaction(engine) as s:
        _one_by_one(s, 99)
        raise RuntimeError("rolled back")
    with transaction(engine) as s:
        expected = next_ids(s, TABLE, 4)
    with transaction(engine) as s:  # the ids are taken: a fresh transaction sees where one by one is now
        one = _one_by_one(s, 3)
        ids = insert_in_order(s, TABLE, [_row(i) for i in range(4, 8)])
        after = _one_by_one(s, 8)
    assert first == sorted(first) and one > first[-1]
    assert ids == sorted(ids) and len(set(ids)) == 4 and ids[0] > one and after > ids[-1]
    assert engine.dialect.name != "sqlite" or (expected == [4, 5, 6, 7] and ids == [5, 6, 7, 8])
    with Session(engine) as s:
        stored = {e.id: e.log_index for e in s.exec(select(ChainEvent))}
    assert [stored[i] for i in ids] == [4, 5, 6, 7]


def test_rows_are_inserted_and_updated_each_with_its_own_values(engine, monkeypatch):
    from registry import bulk as bulk_rows

    monkeypatch.setattr(bulk_rows, "UPDATE_PAGE", 2)  # several pages
    with transaction(engine) as s:
        insert_rows(s, TABLE, [_row(i) for i in range(10)])
    with Session(engine) as s:
        ids = {e.log_index: e.id for e in s.exec(select(ChainEvent))}
    assert sorted(ids) == list(range(10))
    with transaction(engine) as s:
        update_from_values(s, TABLE, [{"id": ids[i], "block_number": 1000 + i} for i in (1, 4, 7)],
                           constants={"event": "LeafMinted"})
    with Session(engine) as s:
        rows = {e.log_index: (e.block_number, e.event) for e in s.exec(select(ChainEvent))}
    assert rows == {i: ((1000 + i, "LeafMinted") if i in (1, 4, 7) else (i, "Retired")) for i in range(10)}


def test_the_same_values_set_by_id_reach_the_rows_and_the_sessions_loaded_copies(engine, monkeypatch):
    from registry import bulk as bulk_rows

    monkeypatch.setattr(bulk_rows, "IN_CHUNK", 2)  # several statements on SQLite
    with transaction(engine) as s:
        insert_rows(s, TABLE, [_row(i) for i in range(8)])
    with Session(engine) as s:
        ids = {e.log_index: e.id for e in s.exec(select(ChainEvent))}
    with transaction(engine) as s:  # the session holds fewer rows than the ids: it looks at what it holds
        loaded = s.get(ChainEvent, ids[2])
        bulk_rows.update_ids(s, ChainEvent, [ids[i] for i in (2, 3, 5, 3)], {"event": "BatchRevoked", "block_hash": "0x01"})
        assert (loaded.event, loaded.block_hash) == ("BatchRevoked", "0x01")
        assert not s.dirty  # committed state, nothing left for a flush to write again
        bulk_rows.update_ids(s, ChainEvent, [], {"event": "never"})  # nothing to set: no statement
    with transaction(engine) as s:  # it holds every row: it looks each id up
        every = {e.log_index: e for e in s.exec(select(ChainEvent))}
        bulk_rows.update_ids(s, ChainEvent, [ids[6]], {"block_hash": "0x02"})
        assert every[6].block_hash == "0x02" and every[5].block_hash == "0x01" and not s.dirty
    with Session(engine) as s:
        rows = {e.log_index: (e.event, e.block_hash) for e in s.exec(select(ChainEvent))}
    assert rows == {i: (("BatchRevoked", "0x01") if i in (2, 3, 5) else ("Retired", "0x02" if i == 6 else "0x00"))
                    for i in range(8)}
