"""Differential tests of the sync's bulk appliers: the same chain events synced into two copies
of one registry, one through the bulk appliers (``BULK_APPLIERS``) and one event by event
(the appliers of ``APPLIERS`` only), leave the same registry: serial blocks row for row,
Retirement rows, ledger entries and hash chain, balances, webhook outbox rows, event rows,
quarantined events and reports (uuids and timestamps aside). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from bridge.chain.client import Chain
from bridge.chain.token import MalformedRetirementData, RetirementData, encode_retirement_data
from bridge.engine import sync
from bridge.engine.cycle import run_cycle
from bridge.tables import ChainEvent, MintLeaf, QuarantinedEvent
from bridge.webhooks.subscriptions import create_subscription
from bridge.webhooks.tables import WebhookDelivery, WebhookEvent
from registry.bridged import custody
from registry.db import make_engine, transaction
from registry.domain.classes import Purpose
from registry.operations import balances as balance_table
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.tables.core import (
    Account,
    CreditClass,
    LedgerEntry,
    Retirement,
    SerialBlock,
    Serialization,
    TokenizationRequest,
)
from tests.conftest import _admin_url
from tests.reliability.test_fuzz_parsers import _raw_retire
from tests.support.periods import verified
from tests.support.world import make_world


@contextmanager
def clone_of(engine):
    """A second engine on a copy of ``engine``'s database as it is now."""
    url = engine.url
    engine.dispose()
    if url.get_backend_name() == "sqlite":
        copy = url.database + ".copy"
        shutil.copyfile(url.database, copy)
        other = make_engine(f"sqlite:///{copy}")
        yield other
        other.dispose()
        return
    name = f"icr_clone_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_url(url.render_as_string(hide_password=False)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
    other = make_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield other
    finally:
        other.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def one_by_one(monkeypatch, per_transaction: int = 1):
    """Sync event by event: no bulk appliers and, by default, one event per transaction (so that,
    on PostgreSQL, no rolled-back group leaves gaps in the id sequences the other side has not).
    With several events per transaction, the tokenizations a group's leaves finish are
    announced at the end of the group, after its retirements, as the bulk side does."""
    monkeypatch.setattr(sync, "BULK_APPLIERS", {})
    monkeypatch.setattr(sync, "EVENTS_PER_TRANSACTION", per_transaction)


def state(engine) -> dict:
    """The registry as the differential tests compare it."""
    with Session(engine) as s:
        check = verify_ledger(s)
        assert check.ok, (check.chain.problems, check.balances.problems)
        blocks = sorted((b.id, b.serialization_id, b.unit_first, b.unit_last, b.quantity, b.status.value, b.account_id,
                         b.issuance_id, b.tokenization_id, b.mirrored, b.retirement_id, b.cancellation_id, b.hold_id)
                        for b in s.exec(select(SerialBlock)))
        retirements = [{k: v for k, v in r.model_dump().items() if k != "created_at"}
                       for r in s.exec(select(Retirement).order_by(Retirement.id))]
        ledger = [(e.seq, e.kind, e.payload, e.prev_hash, e.entry_hash)
                  for e in s.exec(select(LedgerEntry).order_by(LedgerEntry.seq))]
        balances = sorted(((str(k), v) for k, v in balance_table.stored(s).items() if v))
        webhooks = [(e.id, e.kind, e.organization_id, e.subject, _timeless(json.loads(e.data)))
                    for e in s.exec(select(WebhookEvent).order_by(WebhookEvent.id))]
        deliveries = [(d.id, d.event_id, d.subscription_id, d.status.value, d.attempts)
                      for d in s.exec(select(WebhookDelivery).order_by(WebhookDelivery.id))]
        events = sorted((e.tx_hash, e.log_index, e.block_number, e.event) for e in s.exec(select(ChainEvent)))
        quarantined = sorted((q.tx_hash, q.log_index, q.event, q.amount, q.error)
                             for q in s.exec(select(QuarantinedEvent)))
        leaves = sorted((lf.batch_id, lf.leaf_index, lf.minted, lf.mint_tx) for lf in s.exec(select(MintLeaf)))
    return {"blocks": blocks, "retirements": retirements, "ledger": ledger, "balances": balances,
            "webhooks": webhooks, "deliveries": deliveries, "events": events, "quarantined": quarantined,
            "leaves": leaves}


def _timeless(data):
    """Webhook data without timestamps and without the uuid a retraction names its event by."""
    if isinstance(data, dict):
        return {k: ({**v, "id": "uuid"} if k == "retracts" and v else _timeless(v))
                for k, v in data.items() if k != "createdAt"}
    return [_timeless(v) for v in data] if isinstance(data, list) else data


def _report(report) -> tuple:
    return (report.applied, report.skipped_duplicates, report.flagged, report.quarantined, report.rolled_back)


def two_classes(engine, w3, seed: str):
    """A world with a second class (another vintage) and a webhook subscription, both classes
    tokenized in several requests (several custody blocks each) and minted."""
    world = make_world(engine, w3, seed=seed)
    with transaction(engine) as s:
        first = s.get(CreditClass, world.class_id)
        project_id = s.get(Serialization, first.serialization_id).project_id
        issuance = issue_ex_post(s, project_id=project_id, vintage=2024, **verified(s, project_id, 2024), quantity=500,
                                 account_id=world.account_id)
        second = s.exec(select(CreditClass).where(CreditClass.serialization_id == issuance.serialization_id)).one()
        organization_id = s.get(Account, world.account_id).organization_id
        create_subscription(s, organization_id, "https://market.example/hooks", ["retirement.recorded",
                                                                                 "retirement.retracted"])
    for class_id, quantity in ((world.class_id, 40), (world.class_id, 60), (second.id, 30), (second.id, 20)):
        with transaction(engine) as s:
            custody.request_tokenization(s, account_id=world.account_id, wallet=world.holder.address,
                                         class_id=class_id, quantity=quantity,
                                         custody_account_id=world.deployment.custody_account_id)
    run_cycle(engine, world.chain, world.keys)
    return world, int(second.token_id)


DETAILS = encode_retirement_data(RetirementData(purpose=Purpose.voluntary, beneficiary_name="Harbour Ferries ehf.",
                                                organization_id="42"))


def retire(world, token_id: int, amount: int, name: str, data: bytes = b"", beneficiary: str | None = None):
    fn = world.chain.token.functions.retire(token_id, amount, beneficiary or "0x" + "00" * 20, name, "", "bulk",
                                            data)
    return world.chain.transact(world.holder, fn, "retire", gas=400_000)


#: Data the contract accepts but the bridge reads as malformed in these tests (a contract and a
#: bridge that disagree on the encoding: the tokens are burned, the retirement is recorded and flagged).
ODD = encode_retirement_data(RetirementData(purpose=Purpose.voluntary, beneficiary_name="odd encoding"))


@pytest.fixture(autouse=True)
def odd_data_is_malformed(monkeypatch):
    from bridge.engine import appliers

    real = appliers.decode_retirement_data

    def decode(data: bytes):
        if data == ODD:
            raise MalformedRetirementData("not the encoding this bridge reads")
        return real(data)

    monkeypatch.setattr(appliers, "decode_retirement_data", decode)


def interleaved(world, second: int) -> None:
    """Retirements of both classes interleaved, several from one custody block, one spanning two
    blocks, one with data that does not decode, one with details, one for another wallet, one
    whose retiree name is not UTF-8."""
    a = world.token_id
    for token_id, amount, name, data in ((a, 3, "a1", DETAILS), (a, 2, "a2", b""), (second, 5, "b1", b""),
                                         (a, 36, "a3 spans two blocks", b""), (second, 1, "b2", ODD),
                                         (a, 4, "a4", b""), (second, 7, "b3", DETAILS)):
        retire(world, token_id, amount, name, data, beneficiary=world.others[0].address if name == "b3" else None)
    _raw_retire(world, a, 2, b"\xff\xfe not UTF-8", b"", b"", b"")


def test_interleaved_retirements_bulk_and_one_by_one_leave_the_same_registry(engine, w3, monkeypatch):
    world, second = two_classes(engine, w3, "bulk-interleaved")
    interleaved(world, second)
    with clone_of(engine) as other:
        bulk = sync.sync_once(engine, world.chain)
        with monkeypatch.context() as m:
            one_by_one(m)
            single = sync.sync_once(other, world.chain)
        assert bulk.applied == {"Retired": 8} and not bulk.quarantined
        assert any("data:" in flag for flag in bulk.flagged) and any("not UTF-8" in f for f in bulk.flagged)
        assert _report(bulk) == _report(single)
        after = state(engine)
        assert after == state(other)
        assert len(after["retirements"]) == 8 and len(after["deliveries"]) == 8
        assert [w[1] for w in after["webhooks"]].count("retirement.recorded") == 8
        assert sum(1 for b in after["blocks"] if b[5] == "retired") >= 8  # splits: one row per retirement at least

        sync.rewind_cursor(engine, world.chain, world.deployment.deployed_block)  # replay: idempotent
        sync.rewind_cursor(other, world.chain, world.deployment.deployed_block)
        again = sync.sync_once(engine, world.chain)
        assert again.applied == {} and again.skipped_duplicates == 8 + 4
        assert state(engine) == after


def test_a_retirement_custody_does_not_cover_is_quarantined_alone(engine, w3, monkeypatch):
    """The bulk applier refuses the run; the group is applied one event per transaction and only
    the uncovered retirement is quarantined, with the one-by-one path's error."""
    world, second = two_classes(engine, w3, "bulk-short")
    with transaction(engine) as s:  # the second class's 20 t leaf: as if its mint were not synced
        for block in s.exec(select(SerialBlock).where(SerialBlock.account_id == world.deployment.custody_account_id,
                                                      SerialBlock.quantity == 20)):
            block.mirrored = False
            s.add(block)
    retire(world, world.token_id, 5, "a1")
    retire(world, second, 10, "b1")
    retire(world, second, 25, "b2 more than is mirrored")
    retire(world, second, 4, "b3")
    retire(world, world.token_id, 6, "a2")
    with clone_of(engine) as other:
        bulk = sync.sync_once(engine, world.chain)
        with monkeypatch.context() as m:
            one_by_one(m)
            single = sync.sync_once(other, world.chain)
        assert bulk.applied == {"Retired": 4} and len(bulk.quarantined) == 1
        assert "b2" not in bulk.quarantined[0] and "custody holds too few ICCs" in bulk.quarantined[0]
        assert _report(bulk) == _report(single)
        assert state(engine) == state(other)
        with Session(engine) as s:
            assert s.exec(select(QuarantinedEvent.amount)).all() == [25]


def test_a_reorg_after_a_bulk_run_undoes_it_as_it_undoes_one_by_one(engine, w3, monkeypatch):
    world, second = two_classes(engine, w3, "bulk-reorg")
    tester = w3.provider.ethereum_tester
    before = tester.take_snapshot()
    with clone_of(engine) as other:
        at_fork = state(engine)
        interleaved(world, second)
        assert sync.sync_once(engine, world.chain).applied == {"Retired": 8}
        with monkeypatch.context() as m:
            one_by_one(m)
            assert sync.sync_once(other, world.chain).applied == {"Retired": 8}
        depth = w3.eth.block_number
        tester.revert_to_snapshot(before)
        tester.mine_blocks(depth - w3.eth.block_number + 2)  # a longer branch without the retirements
        chain = Chain(w3, world.deployment.address)
        bulk = sync.sync_once(engine, chain)
        with monkeypatch.context() as m:
            one_by_one(m)
            single = sync.sync_once(other, chain)
        assert bulk.rolled_back == 8 and _report(bulk) == _report(single)
        after = state(engine)
        assert after == state(other)
        assert after["retirements"] == []
        kinds = [w[1] for w in after["webhooks"]]
        assert kinds.count("retirement.recorded") == kinds.count("retirement.retracted") == 8
        assert [b[2:8] for b in after["blocks"] if b[5] == "active"] != []
        assert after["balances"] == at_fork["balances"]


@pytest.mark.parametrize("per_transaction", [2, 3])
def test_runs_cut_by_the_group_size_give_the_same_registry(engine, w3, monkeypatch, per_transaction):
    world, second = two_classes(engine, w3, f"bulk-groups-{per_transaction}")
    interleaved(world, second)
    with clone_of(engine) as other:
        with monkeypatch.context() as m:
            m.setattr(sync, "EVENTS_PER_TRANSACTION", per_transaction)
            bulk = sync.sync_once(engine, world.chain)
        with monkeypatch.context() as m:
            one_by_one(m)
            single = sync.sync_once(other, world.chain)
        assert _report(bulk) == _report(single)
        assert state(engine) == state(other)


def test_leaves_minted_in_several_transactions_bulk_and_one_by_one_leave_the_same_registry(engine, w3, monkeypatch):
    """Twelve tokenizations of two classes minted as leaves of one batch in four mint
    transactions, and retirements right after: one group of LeafMinted then Retired runs."""
    from bridge.engine import cycle

    world, second = two_classes(engine, w3, "bulk-leaves")
    for i in range(12):
        with transaction(engine) as s:
            custody.request_tokenization(s, account_id=world.account_id, wallet=world.holder.address,
                                         class_id=world.class_id if i % 3 else _class_of(s, second),
                                         quantity=3 + i, custody_account_id=world.deployment.custody_account_id)
    with monkeypatch.context() as m:  # committed and minted on-chain, not synced yet
        m.setattr(cycle, "sync_once", lambda *a, **k: sync.SyncReport(from_block=0, to_block=-1))
        run_cycle(engine, world.chain, world.keys, mint_chunk=3)
    retire(world, second, 4, "after the mint")
    retire(world, world.token_id, 5, "after the mint too")
    with clone_of(engine) as other:
        bulk = sync.sync_once(engine, world.chain)
        with monkeypatch.context() as m:
            one_by_one(m, per_transaction=sync.EVENTS_PER_TRANSACTION)
            single = sync.sync_once(other, world.chain)
        assert bulk.applied == {"LeafMinted": 12, "Retired": 2}
        assert _report(bulk) == _report(single)
        after = state(engine)
        assert after == state(other)
        assert all(minted for _, _, minted, _ in after["leaves"]) and len({tx for *_, tx in after["leaves"]}) >= 5
        assert [w[1] for w in after["webhooks"]].count("tokenization.minted") == 4 + 12
        with Session(engine) as s:
            assert {r.status.value for r in s.exec(select(TokenizationRequest))} == {"minted"}


def _class_of(session, token_id: int) -> int:
    return session.exec(select(CreditClass.id).where(CreditClass.token_id == str(token_id))).one()


def test_a_leaf_whose_custody_units_are_gone_is_quarantined_alone(engine, w3, monkeypatch):
    from bridge.engine import cycle

    world, second = two_classes(engine, w3, "bulk-leaf-short")
    requests = []
    for quantity in (5, 6, 7, 8):
        with transaction(engine) as s:
            request, _ = custody.request_tokenization(s, account_id=world.account_id, wallet=world.holder.address,
                                                      class_id=world.class_id, quantity=quantity,
                                                      custody_account_id=world.deployment.custody_account_id)
            requests.append(request.id)
    with monkeypatch.context() as m:
        m.setattr(cycle, "sync_once", lambda *a, **k: sync.SyncReport(from_block=0, to_block=-1))
        run_cycle(engine, world.chain, world.keys)
    with transaction(engine) as s:  # the third leaf's units: as if already mirrored by another path
        for block in s.exec(select(SerialBlock).where(SerialBlock.tokenization_id == requests[2])):
            block.mirrored = True
            s.add(block)
    with clone_of(engine) as other:
        bulk = sync.sync_once(engine, world.chain)
        with monkeypatch.context() as m:
            one_by_one(m)
            single = sync.sync_once(other, world.chain)
        assert bulk.applied == {"LeafMinted": 3} and len(bulk.quarantined) == 1
        assert "custody does not hold the unminted units" in bulk.quarantined[0]
        assert _report(bulk) == _report(single)
        assert state(engine) == state(other)
