"""Nobody can stop the bridge with what the chain accepts (issue 14): strings the registry
cannot store, dates that are no dates and events that cannot be applied are recorded, flagged
or quarantined, and the ordinary retirement that follows them is recorded with its serials.

Runs on SQLite and PostgreSQL (``engine``). Where the token contract now refuses an input
(over-long strings, impossible dates), the test hands the sync an event as a contract without
those checks would have emitted: the real event with its strings or data replaced."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine import sync
from bridge.engine.cycle import run_cycle
from bridge.engine.reconcile import reconcile
from bridge.operator import status
from bridge.settings import BridgeSettings
from bridge.tables import QuarantinedEvent, Redemption
from registry.db import transaction
from registry.domain.classes import Purpose
from registry.operations.retirements import retirement_blocks
from registry.tables.core import Retirement
from tests.support.appliers import refuse_retirements
from tests.support.world import make_world

SERIALIZATION = "ICR-ISL-354-78040-14-R-0-2023"


def _world(engine, w3, seed):
    world = make_world(engine, w3, seed=seed)
    world.tokenize(100)
    run_cycle(engine, world.chain, world.keys)
    return world


def _hostile(monkeypatch, **replace_args):
    """Make the sync see the first Retired event with these arguments replaced."""
    real = sync.decode_logs
    done = []

    def fetch(chain, logs):
        events = real(chain, logs)
        for name, entry in events:
            if name == "Retired" and not done:
                entry["args"] = {**entry["args"], **replace_args}
                done.append(entry)
        return events

    monkeypatch.setattr(sync, "decode_logs", fetch)
    return done


def _retirements(engine) -> list[tuple[int, str, list[str], list[str]]]:
    with Session(engine) as s:
        return [(r.quantity, r.retiree, [b.serial_block for b in retirement_blocks(s, r.id)],
                 json.loads(r.input_flags) if r.input_flags else [])
                for r in s.exec(select(Retirement).order_by(Retirement.id))]


def _settled(engine, world) -> None:
    """reconcile agrees (exit 0) and every page of GET /retirements answers 200."""
    report = reconcile(engine, world.chain)
    assert report.ok, report.problems
    with TestClient(create_app(engine)) as api:
        for offset in (0, 1):
            assert api.get("/retirements", params={"offset": offset, "limit": 1}).status_code == 200


def test_a_nul_byte_in_a_retiree_name_is_removed_flagged_and_the_next_retirement_recorded(engine, w3):
    world = _world(engine, w3, "nul")
    world.retire(world.holder, 5, name="Tro\x00ll")
    world.retire(world.holder, 7, name="Ordinary")
    report = sync.sync_once(engine, world.chain)
    assert report.applied == {"Retired": 2} and report.quarantined == []
    (first, second) = _retirements(engine)
    assert first[:3] == (5, "Troll", [f"{SERIALIZATION}-000001-000005"])
    assert any(flag.startswith("retiree: 1 character(s) that cannot be stored removed") for flag in first[3])
    assert second == (7, "Ordinary", [f"{SERIALIZATION}-000006-000012"], [])
    assert any("retiree" in flag for flag in report.flagged)
    assert status(engine, world.chain, BridgeSettings(confirmations=0, use_finalized_tag=False)).flagged_retirements == 1
    _settled(engine, world)


def test_an_over_long_retiree_name_is_truncated_with_its_keccak(engine, w3, monkeypatch):
    world = _world(engine, w3, "long")
    world.retire(world.holder, 5, name="placeholder")
    world.retire(world.holder, 7, name="Ordinary")
    _hostile(monkeypatch, retireeName="N" * 600)
    sync.sync_once(engine, world.chain)
    (first, second) = _retirements(engine)
    assert first[1] == "N" * 500
    assert any(flag.startswith("retiree: 600 characters truncated to 500 (received keccak 0x") for flag in first[3])
    assert second[:3] == (7, "Ordinary", [f"{SERIALIZATION}-000006-000012"])
    _settled(engine, world)


def test_a_consumption_date_past_year_9999_is_recorded_as_not_given(engine, w3, monkeypatch):
    world = _world(engine, w3, "dates")
    world.retire(world.holder, 5, name="Dated")
    world.retire(world.holder, 7, name="Ordinary")
    data = encode_retirement_data(RetirementData(Purpose.voluntary, consumption_start=2**63, consumption_end=2**63 + 1))
    _hostile(monkeypatch, data=data)
    sync.sync_once(engine, world.chain)
    with Session(engine) as s:
        dated = s.exec(select(Retirement).where(Retirement.retiree == "Dated")).one()
        assert dated.consumption_start is None and dated.consumption_end is None
        assert [f.split(":")[0] for f in json.loads(dated.input_flags)] == ["consumption_start", "consumption_end"]
    assert _retirements(engine)[1][:3] == (7, "Ordinary", [f"{SERIALIZATION}-000006-000012"])
    _settled(engine, world)


def test_a_nul_byte_in_an_account_reference_is_removed_and_flagged(engine, w3):
    world = _world(engine, w3, "reference")
    world.request_redemption(world.holder, 4, reference="12\x003")
    world.retire(world.holder, 7, name="Ordinary")
    report = sync.sync_once(engine, world.chain)
    assert report.applied == {"RedemptionRequested": 1, "Retired": 1}
    with Session(engine) as s:
        row = s.exec(select(Redemption)).one()
        assert row.account_reference == "123" and "account_reference" in json.loads(row.input_flags)[0]
    assert _retirements(engine)[0][:2] == (7, "Ordinary")


def test_an_event_that_cannot_be_applied_is_quarantined_and_reconcile_counts_its_tonnes(engine, w3, monkeypatch):
    world = _world(engine, w3, "quarantine")
    world.retire(world.holder, 5, name="Unapplicable")
    world.retire(world.holder, 7, name="Ordinary")
    refuse_retirements(monkeypatch, "Unapplicable", ValueError("a rule the retirement breaks"))
    report = sync.sync_once(engine, world.chain)
    assert report.applied == {"Retired": 1} and len(report.quarantined) == 1
    assert [r[:2] for r in _retirements(engine)] == [(7, "Ordinary")]
    checked = reconcile(engine, world.chain)
    assert checked.ok and checked.problems == []
    assert [(c.quarantined_burned, c.ok) for c in checked.conservation] == [(5, True)]
    assert len(checked.quarantined) == 1 and "a rule the retirement breaks" in checked.quarantined[0]
    assert status(engine, world.chain, BridgeSettings(confirmations=0, use_finalized_tag=False)).quarantined_events == 1
    monkeypatch.undo()
    with transaction(engine) as s:
        for row in s.exec(select(QuarantinedEvent)):
            row.retry_requested = True
            s.add(row)
    assert sync.sync_once(engine, world.chain).applied == {"Retired": 1}
    assert sorted(r[:2] for r in _retirements(engine)) == [(5, "Unapplicable"), (7, "Ordinary")]
    checked = reconcile(engine, world.chain)
    assert checked.ok and checked.quarantined == [] and checked.conservation[0].quarantined_burned == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_api_answers_what_the_database_holds(engine, w3):
    """SQLite stores text past a column's length: such a row (from before the bridge truncated)
    is answered, not refused by a response model's limits."""
    world = _world(engine, w3, "api")
    world.retire(world.holder, 5, name="Short")
    sync.sync_once(engine, world.chain)
    with transaction(engine) as s:
        row = s.exec(select(Retirement)).one()
        row.retiree = "R" * 600
        s.add(row)
    with TestClient(create_app(engine)) as api:
        page = api.get("/retirements")
        assert page.status_code == 200 and page.json()["items"][0]["retiree"] == "R" * 600


def test_poison_strings_through_the_engine_on_anvil(engine, anvil_w3):
    """The same on a real JSON-RPC node, through whole engine cycles: a NUL byte in a retiree name
    and in an account reference, then an ordinary retirement, recorded with its serials."""
    world = make_world(engine, anvil_w3, seed="anvil-poison")
    world.tokenize(100)
    run_cycle(engine, world.chain, world.keys)
    world.retire(world.holder, 5, name="Tro\x00ll")
    world.request_redemption(world.holder, 4, reference="12\x003")
    world.retire(world.holder, 7, name="Ordinary")
    report = run_cycle(engine, world.chain, world.keys)
    assert report.sync.quarantined == []
    retirements = _retirements(engine)
    assert [r[:2] for r in retirements] == [(5, "Troll"), (7, "Ordinary")]
    assert retirements[1][2] == [f"{SERIALIZATION}-000006-000012"]
    _settled(engine, world)
