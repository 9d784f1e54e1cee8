"""The sync's grouping of events into transactions: groups give the same ledger as one event
per transaction, and a log another worker recorded first is skipped without losing the rest."""

import pytest
from sqlmodel import Session, select

from bridge.engine import sync
from bridge.engine.cycle import run_cycle
from bridge.tables import MintBatch
from registry.tables.core import TokenizationRequest

from .harness import make_world


def _activity(world, engine):
    for quantity in (40, 30, 20, 10):
        world.tokenize(quantity)
    run_cycle(engine, world.chain, world.keys)  # one batch of four leaves, minted in one tx
    world.transfer(world.holder, world.others[0].address, 50)
    world.retire(world.holder, 5, name="A")
    world.retire(world.others[0], 7, name="B")
    world.retire(world.others[0], 3, name="C")


@pytest.mark.parametrize("per_transaction", [1, 2, 200])
def test_any_group_size_gives_the_same_outcome(sqlite_engine, w3, monkeypatch, per_transaction):
    monkeypatch.setattr(sync, "EVENTS_PER_TRANSACTION", per_transaction)
    world = make_world(sqlite_engine, w3, seed="groups")
    _activity(world, sqlite_engine)
    report = sync.sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 3}
    outcome = world.outcome()
    assert [(quantity, name) for quantity, name, _ in outcome["retirements"]] == [(3, "C"), (5, "A"), (7, "B")]
    assert all(minted for *_, minted in outcome["leaves"]) and len(outcome["leaves"]) == 4
    with Session(sqlite_engine) as s:
        assert {r.status.value for r in s.exec(select(TokenizationRequest))} == {"minted"}
        assert [b.status.value for b in s.exec(select(MintBatch))] == ["minted"]
    assert outcome["conservation"] == [(85, 0, 85, True)]


def test_a_log_recorded_by_another_worker_meanwhile_is_skipped_and_the_rest_applied(sqlite_engine, w3, monkeypatch):
    """The group's first look misses rows another worker inserted since (simulated by hiding
    every recorded row from it): the group's commit fails on the unique key, and the events
    are applied again one per transaction, each already-recorded one skipped."""
    world = make_world(sqlite_engine, w3, seed="raced")
    _activity(world, sqlite_engine)
    sync.sync_once(sqlite_engine, world.chain)
    world.retire(world.holder, 2, name="D")  # one new event after the raced ones
    before = world.outcome()
    sync.rewind_cursor(sqlite_engine, world.chain, world.deployment.deployed_block)
    monkeypatch.setattr(sync, "_recorded_origins", lambda session, chain, entries: set())
    report = sync.sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 1} and report.skipped_duplicates == 4 + 3
    after = world.outcome()
    assert len(after["retirements"]) == 4 and set(before["retirements"]) < set(after["retirements"])
    assert [r for r in after["retirements"] if r not in before["retirements"]][0][:2] == (2, "D")
    assert after["conservation"] == [(83, 0, 83, True)]


def test_a_constraint_an_event_breaks_stops_the_sync_instead_of_being_skipped(sqlite_engine, w3, monkeypatch):
    """Only a log another worker recorded counts as a duplicate: any other integrity error
    while applying an event stops the pass (and moves no cursor), so no tonne is skipped."""
    from sqlalchemy.exc import IntegrityError

    world = make_world(sqlite_engine, w3, seed="constraint")
    world.tokenize(40)
    run_cycle(sqlite_engine, world.chain, world.keys)
    world.retire(world.holder, 5, name="A")

    def broken(session, chain, deployment, entry, report):
        raise IntegrityError("INSERT ...", {}, Exception("a constraint the retirement broke"))

    monkeypatch.setitem(sync.APPLIERS, "Retired", broken)
    with pytest.raises(IntegrityError):
        sync.sync_once(sqlite_engine, world.chain)
    monkeypatch.undo()
    report = sync.sync_once(sqlite_engine, world.chain)  # fixed: the event is applied, not lost
    assert report.applied == {"Retired": 1}
    assert [r[:2] for r in world.outcome()["retirements"]] == [(5, "A")]
