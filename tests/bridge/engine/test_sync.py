"""The sync's grouping of events into transactions: groups give the same ledger as one event
per transaction, and a log another worker recorded first is skipped without losing the rest."""

import pytest
from sqlmodel import Session, select

from bridge.engine import sync
from bridge.engine.cycle import run_cycle
from bridge.tables import MintBatch
from registry.db import transaction
from registry.tables.core import TokenizationRequest
from tests.support.appliers import refuse_retirements
from tests.support.world import make_world


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


def test_a_replay_decodes_only_the_logs_it_has_not_recorded(sqlite_engine, w3, monkeypatch):
    """A rewound cursor re-fetches every log; the recorded ones are counted as skipped before
    decoding, and only the new one is decoded and applied."""
    world = make_world(sqlite_engine, w3, seed="replay-decode")
    _activity(world, sqlite_engine)
    sync.sync_once(sqlite_engine, world.chain)
    world.retire(world.holder, 2, name="D")
    before = world.outcome()
    sync.rewind_cursor(sqlite_engine, world.chain, world.deployment.deployed_block)
    decoded = []
    real = sync.decode_logs

    def decode(chain, logs):
        decoded.extend(logs)
        return real(chain, logs)

    monkeypatch.setattr(sync, "decode_logs", decode)
    report = sync.sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 1} and report.skipped_duplicates == 4 + 3
    (new,) = decoded
    ((name, entry),) = real(world.chain, [new])
    assert (name, entry["args"]["amount"], entry["args"]["retireeName"]) == ("Retired", 2, "D")
    assert [r[:2] for r in world.outcome()["retirements"] if r not in before["retirements"]] == [(2, "D")]
    decoded.clear()
    again = sync.sync_once(sqlite_engine, world.chain)  # nothing new: nothing decoded
    assert again.applied == {} and decoded == []


def test_an_event_that_cannot_be_applied_is_quarantined_and_the_rest_applied(sqlite_engine, w3, monkeypatch):
    """Only a log another worker recorded counts as a duplicate: an event that breaks a
    constraint (or any rule) while applied is quarantined with its raw log and the error, the
    events after it are applied and the cursor moves; retried after a fix, it is applied from
    its stored log, so no tonne is skipped."""
    from sqlalchemy.exc import IntegrityError

    from bridge.tables import ChainCursor, QuarantinedEvent

    world = make_world(sqlite_engine, w3, seed="constraint")
    world.tokenize(40)
    run_cycle(sqlite_engine, world.chain, world.keys)
    world.retire(world.holder, 5, name="A")
    world.retire(world.holder, 3, name="B")
    refuse_retirements(monkeypatch, "A", IntegrityError("INSERT ...", {}, Exception("a constraint the retirement broke")))
    report = sync.sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 1} and len(report.quarantined) == 1
    assert "a constraint the retirement broke" in report.quarantined[0]
    assert [r[:2] for r in world.outcome()["retirements"]] == [(3, "B")]
    with Session(sqlite_engine) as s:
        held = s.exec(select(QuarantinedEvent)).one()
        assert (held.event, held.amount, held.retry_requested) == ("Retired", 5, False)
        assert s.exec(select(ChainCursor)).one().last_block == world.chain.w3.eth.block_number
    assert sync.sync_once(sqlite_engine, world.chain).applied == {}  # held until an operator retries it
    monkeypatch.undo()  # fixed
    with transaction(sqlite_engine) as s:
        s.get(QuarantinedEvent, held.id).retry_requested = True
    report = sync.sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 1} and report.quarantined == []
    assert sorted(r[:2] for r in world.outcome()["retirements"]) == [(3, "B"), (5, "A")]
    with Session(sqlite_engine) as s:
        assert s.exec(select(QuarantinedEvent)).all() == []
