"""Kill the engine at every step boundary, restart it, and get the same outcome as a run
without the crash (same serials in the same states, same balances, conservation holds)."""

import pytest

from bridge.chain.client import eth_tester_web3
from bridge.engine import faults
from bridge.engine.cycle import run_cycle
from bridge.schema import create_schema
from registry.db import make_engine
from tests.support.world import make_world


def _scenario(engine, crash: tuple[str, int] | None, phase: int):
    """Two engine cycles around user activity; the crash (if any) is armed in ``phase``."""
    world = make_world(engine, eth_tester_web3(), seed="crash")
    world.tokenize(250)
    world.tokenize(150)

    def cycle(current_phase):
        if crash is not None and current_phase == phase:
            with faults.crash_at(*crash):
                try:
                    run_cycle(engine, world.chain, world.keys)
                    return False
                except faults.SimulatedCrash:
                    pass
            run_cycle(engine, world.chain, world.keys)  # the restart
            return True
        run_cycle(engine, world.chain, world.keys)
        return False

    crashed = cycle(1)
    world.transfer(world.holder, world.others[0].address, 150)
    world.retire(world.others[0], 100, name="Beneficiary A")
    world.retire(world.holder, 20, name="Beneficiary B")
    world.tokenize(100)
    world.request_redemption(world.holder, 30)  # to the holder's own account: finalized
    world.request_redemption(world.others[0], 10, "999999")  # no such account: rejected
    crashed = cycle(2) or crashed
    crashed = cycle(3) or crashed  # applies the burn and the rejection
    run_cycle(engine, world.chain, world.keys)  # a quiet cycle changes nothing more
    return world.outcome(), crashed


def _engine(tmp_path, name):
    engine = make_engine(f"sqlite:///{tmp_path / name}.sqlite")
    create_schema(engine)
    return engine


def _points(tmp_path):
    with faults.record_points() as seen:
        baseline, _ = _scenario(_engine(tmp_path, "baseline"), None, 0)
    return baseline, seen


def test_baseline_outcome_is_consistent(tmp_path):
    baseline, seen = _points(tmp_path)
    assert all(ok for *_, ok in baseline["conservation"])
    assert [r[0] for r in baseline["retirements"]] == [20, 100]
    assert [r[1:4] for r in baseline["redemptions"]] == [("finalized", "finalize", 30), ("rejected", "reject", 10)]
    assert {"batch.commit_sent", "batch.mint_chunk_sent", "sync.applied.LeafMinted", "sync.applied.Retired",
            "sync.before_cursor", "engine.batch_built"} <= set(seen)


CRASH_POINTS = [
    ("engine.batch_built", 1, 1),
    ("batch.class_registered", 1, 1),
    ("batch.commit_sent", 1, 1),
    ("engine.batch_committed", 1, 1),
    ("batch.mint_chunk_sent", 1, 1),
    ("engine.before_sync", 1, 1),
    ("sync.applied.LeafMinted", 1, 1),
    ("sync.applied.LeafMinted", 2, 1),
    ("sync.committed.LeafMinted", 1, 1),
    ("sync.before_cursor", 1, 1),
    ("batch.commit_sent", 1, 2),
    ("batch.mint_chunk_sent", 1, 2),
    ("sync.applied.Retired", 1, 2),
    ("sync.applied.Retired", 2, 2),
    ("sync.committed.Retired", 1, 2),
    ("sync.before_cursor", 1, 2),
    ("sync.applied.RedemptionRequested", 1, 2),
    ("sync.committed.RedemptionRequested", 2, 2),
    ("engine.before_redemptions", 1, 2),
    ("redemptions.decided", 1, 2),
    ("redemptions.answered", 1, 2),
    ("redemptions.decided", 2, 2),
    ("sync.applied.RedemptionFinalized", 1, 3),
    ("sync.applied.RedemptionRejected", 1, 3),
    ("sync.before_cursor", 1, 3),
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    outcome, _ = _points(tmp_path_factory.mktemp("baseline"))
    return outcome


@pytest.mark.parametrize("point, occurrence, phase", CRASH_POINTS, ids=[f"{p}#{o}@cycle{ph}" for p, o, ph in CRASH_POINTS])
def test_crash_and_restart_gives_the_same_outcome(tmp_path, baseline, point, occurrence, phase):
    outcome, crashed = _scenario(_engine(tmp_path, "crashed"), (point, occurrence), phase)
    assert crashed, f"crash point {point} was never reached in cycle {phase}"
    assert outcome == baseline
