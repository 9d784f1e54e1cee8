"""The maintained balance table (registry/operations/balances.py): every kind of credit change keeps it equal
to the sums over the serial blocks, in the change's own transaction; zero balances have no row;
``GET /balances`` and ``ledger verify`` read it; migration 0007 backfills it; concurrent
operations on PostgreSQL neither deadlock nor lose an update."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest
from alembic import command
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bridge.chain.client import Chain
from bridge.engine.cycle import run_cycle
from bridge.schema import alembic_config, create_schema
from bridge.tables import Redemption, RedemptionStatus
from registry.bridged import custody, redemption
from registry.db import make_engine, transaction
from registry.domain.enums import AccountType, CancellationReason, CreditStatus
from registry.domain.lifecycle import RetirementDetails
from registry.operations import balances as bt
from registry.operations import retirements as retirements_ops
from registry.operations.accounts import create_organization, open_account, open_system_account
from registry.operations.cancellations import cancel
from registry.operations.conversions import convert_ex_ante
from registry.operations.holdings import balance_count, balances
from registry.operations.issuances import issue_ex_ante, issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.operations.transfers import transfer
from registry.tables.core import AccountBalance, CreditClass, Retirement, SerialBlock, WalletLink
from tests.support.periods import predicted, verification_of, verified
from tests.support.world import make_world

ORIGIN = custody.ChainOrigin(chain_id=31337, tx_hash="0x" + "ab" * 32, log_index=0, block_number=10)


def table_matches_blocks(engine) -> dict:
    """Assert the table equals the blocks' sums (and the ledger replays to them); return the
    balances ``GET /balances`` would list, keyed (account, status)."""
    with Session(engine) as s:
        assert bt.table_problems(s) == []
        v = verify_ledger(s)
        assert v.ok, v.chain.problems + v.balances.problems
        listed = balances(s)
        assert {(b.account_id, b.serialization, b.status): b.quantity for b in listed} == bt.aggregated(s)
        assert balance_count(s) == len(listed)
    assert all(b.quantity > 0 for b in listed)
    out: dict = defaultdict(int)
    for b in listed:
        out[(b.account_id, b.status)] += b.quantity
    return dict(out)


@pytest.fixture
def registry(engine):
    with transaction(engine) as s:
        org = create_organization(s, "Org")
        ids = {
            "a": open_account(s, org.id, "a").id,
            "b": open_account(s, org.id, "b").id,
            "buffer": open_system_account(s, AccountType.buffer, "buffer").id,
            "custody": open_system_account(s, AccountType.bridge_custody, "custody").id,
        }
        ids["project"] = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354",
                                          sector=14, credit_type="R", methodology="M").id
    return ids


def test_every_registry_operation_keeps_the_table_equal_to_the_blocks(engine, registry):
    w = registry
    a, b, buffer = w["a"], w["b"], w["buffer"]
    with transaction(engine) as s:
        post = issue_ex_post(s, project_id=w["project"], vintage=2023, **verified(s, w["project"], 2023), quantity=1000, account_id=a)
        ante = issue_ex_ante(s, project_id=w["project"], vintage=2024, **predicted(s, w["project"], 2024), quantity=300, account_id=a)
    sid, ante_sid = post.serialization_id, ante.serialization_id
    assert table_matches_blocks(engine) == {(a, "active"): 1000, (a, "inactive"): 300}

    steps = [
        ("transfer", lambda s: transfer(s, from_account_id=a, to_account_id=b, serialization_id=sid, quantity=200),
         {(a, "active"): 800, (b, "active"): 200}),
        ("transfer of ex-ante", lambda s: transfer(s, from_account_id=a, to_account_id=b,
                                                   serialization_id=ante_sid, quantity=100,
                                                   status=CreditStatus.inactive),
         {(a, "inactive"): 200, (b, "inactive"): 100}),
        ("transfer to the buffer", lambda s: transfer(s, from_account_id=b, to_account_id=buffer,
                                                      serialization_id=sid, quantity=50),
         {(b, "active"): 150, (buffer, "active"): 50}),
        ("retirement", lambda s: retirements_ops.retire(s, account_id=b, serialization_id=sid, quantity=30,
                                                        details=RetirementDetails(beneficiary_name="B")),
         {(b, "active"): 120, (None, "retired"): 30}),
        ("cancellation", lambda s: cancel(s, account_id=buffer, serialization_id=sid, quantity=50,
                                          reason=CancellationReason.buffer_use),
         {(buffer, "active"): None, (None, "cancelled"): 50}),
        ("ex-ante conversion", lambda s: convert_ex_ante(s, issuance_id=ante.id, **verification_of(s, ante.id), verified_quantity=150,
                                                            final=False, verification_reference="V1"),
         # lowest serials first across holders: a holds units 101-300 after the transfer of 1-100 to b
         {(b, "inactive"): None, (b, "active"): 220, (a, "inactive"): 150, (a, "active"): 850}),
        ("final conversion cancelling the shortfall", lambda s: convert_ex_ante(s, issuance_id=ante.id, **verification_of(s, ante.id), verified_quantity=100, final=True, verification_reference="V2"),
         {(a, "inactive"): None, (a, "active"): 950, (None, "cancelled"): 100}),
        ("cancellation of everything b holds of one vintage", lambda s: cancel(
            s, account_id=b, serialization_id=ante_sid, quantity=100, reason=CancellationReason.correction),
         {(b, "active"): 120, (None, "cancelled"): 200}),
    ]
    expected = {(a, "active"): 1000, (a, "inactive"): 300}
    for name, call, change in steps:
        with transaction(engine) as s:
            call(s)
        for key, value in change.items():
            if value is None:
                expected.pop(key)
            else:
                expected[key] = value
        assert table_matches_blocks(engine) == expected, name


def test_custody_bridged_retirement_redemption_and_their_undo_keep_the_table(engine, registry):
    """What the sync applies and, after a reorganization, undoes: tokenization into custody,
    a retirement of mirrored custody serials and its revert, a redemption into an account and
    its revert."""
    w = registry
    a, custody_id = w["a"], w["custody"]
    with transaction(engine) as s:
        post = issue_ex_post(s, project_id=w["project"], vintage=2023, **verified(s, w["project"], 2023), quantity=500, account_id=a)
        credit_class = s.exec(select(CreditClass).where(CreditClass.serialization_id == post.serialization_id)).one()
        wallet = "0x" + "12" * 20
        s.add(WalletLink(account_id=a, address=wallet, signature="0x", signed_at=0))
    token_id = int(credit_class.token_id)
    with transaction(engine) as s:
        custody.request_tokenization(s, account_id=a, wallet=wallet, class_id=credit_class.id, quantity=300,
                                     custody_account_id=custody_id)
    assert table_matches_blocks(engine) == {(a, "active"): 200, (custody_id, "active"): 300}
    with transaction(engine) as s:  # what the sync does when the leaves are minted: no balance changes
        s.exec(update(SerialBlock).where(SerialBlock.account_id == custody_id).values(mirrored=True))
    with transaction(engine) as s:
        custody.retire_from_custody(s, custody_account_id=custody_id, retirement=custody.OnchainRetirement(
            token_id=token_id, quantity=40, origin=ORIGIN, details=RetirementDetails(beneficiary_name="B")))
    assert table_matches_blocks(engine) == {(a, "active"): 200, (custody_id, "active"): 260, (None, "retired"): 40}
    with transaction(engine) as s:
        custody.revert_bridged_retirement(s, ORIGIN, "chain reorganization")
    assert table_matches_blocks(engine) == {(a, "active"): 200, (custody_id, "active"): 300}
    with transaction(engine) as s:
        ranges, _ = redemption.redeem_from_custody(s, custody_account_id=custody_id, token_id=token_id, account_id=a,
                                                   quantity=120, origin=ORIGIN, redemption_id=1)
    assert table_matches_blocks(engine) == {(a, "active"): 320, (custody_id, "active"): 180}
    with transaction(engine) as s:
        redemption.revert_redemption(s, custody_account_id=custody_id, token_id=token_id, account_id=a, ranges=ranges,
                                     redemption_id=1, reason="chain reorganization")
    assert table_matches_blocks(engine) == {(a, "active"): 200, (custody_id, "active"): 300}


def test_a_balance_that_reaches_zero_has_no_row_and_is_not_listed(engine, registry):
    w = registry
    with transaction(engine) as s:
        post = issue_ex_post(s, project_id=w["project"], vintage=2023, **verified(s, w["project"], 2023), quantity=100, account_id=w["a"])
        transfer(s, from_account_id=w["a"], to_account_id=w["b"], serialization_id=post.serialization_id,
                 quantity=100)
    with Session(engine) as s:
        rows = s.exec(select(AccountBalance.account_id, AccountBalance.quantity)).all()
        assert [(b.account_id, b.quantity) for b in balances(s)] == [(w["b"], 100)]
    assert rows == [(w["b"], 100)]


def test_balances_are_paged_in_the_database_in_the_same_order(engine, registry):
    w = registry
    with transaction(engine) as s:
        for vintage in (2021, 2022, 2023):
            post = issue_ex_post(s, project_id=w["project"], vintage=vintage, **verified(s, w["project"], vintage), quantity=100, account_id=w["a"])
            transfer(s, from_account_id=w["a"], to_account_id=w["b"], serialization_id=post.serialization_id,
                     quantity=10)
            retirements_ops.retire(s, account_id=w["a"], serialization_id=post.serialization_id, quantity=5,
                                   details=RetirementDetails())
    with Session(engine) as s:
        everything = balances(s)
        assert len(everything) == balance_count(s) == 9
        pages = [balances(s, offset=o, limit=4) for o in (0, 4, 8)]
        assert [r for page in pages for r in page] == everything
        assert balances(s, account_ids=[w["b"]]) == [r for r in everything if r.account_id == w["b"]]
        assert balance_count(s, account_ids=[w["b"]]) == 3
        terminal = [r for r in everything if r.account_id is None]
        assert {(r.account_name, r.account_type) for r in terminal} == {("(retired)", "terminal")}


def test_ledger_verify_names_a_table_that_differs_from_the_blocks(engine, registry):
    w = registry
    with transaction(engine) as s:
        issue_ex_post(s, project_id=w["project"], vintage=2023, **verified(s, w["project"], 2023), quantity=100, account_id=w["a"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE accountbalance SET quantity = 90"))
    with Session(engine) as s:
        v = verify_ledger(s)
    assert not v.ok and v.balances.problems == [
        f"balance table: account {w['a']}, ICR-ISL-354-78040-14-R-0-2023, active: the table holds 90 t, "
        "serial blocks hold 100 t"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM accountbalance"))
    with Session(engine) as s:
        assert bt.table_problems(s) == [
            f"balance table: account {w['a']}, ICR-ISL-354-78040-14-R-0-2023, active: the table holds no row, "
            "serial blocks hold 100 t"]
    with engine.begin() as conn:
        bt.rebuild(conn)
    table_matches_blocks(engine)


def test_an_operation_the_table_cannot_follow_changes_nothing(engine, registry):
    """Taking tonnes from a place the table holds too few of fails the whole transaction
    (a missing row by name, a short one by the quantity >= 0 constraint)."""
    w = registry
    with transaction(engine) as s:
        post = issue_ex_post(s, project_id=w["project"], vintage=2023, **verified(s, w["project"], 2023), quantity=100, account_id=w["a"])
    retire = lambda s: retirements_ops.retire(s, account_id=w["a"], serialization_id=post.serialization_id,  # noqa: E731
                                              quantity=60, details=RetirementDetails())
    with engine.begin() as conn:
        conn.execute(text("UPDATE accountbalance SET quantity = 50"))
    with pytest.raises(IntegrityError):
        with transaction(engine) as s:
            retire(s)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM accountbalance"))
    with pytest.raises(bt.BalanceTableError, match="has no active balance"):
        with transaction(engine) as s:
            retire(s)
    with Session(engine) as s:
        assert s.exec(select(Retirement)).all() == []
        assert [(b.status, b.quantity) for b in s.exec(select(SerialBlock))] == [(CreditStatus.active, 100)]


def test_migration_0007_backfills_an_existing_registry(engine, registry):
    """A registry with history from before the table: downgrade to 0006 (drops the table), then
    upgrade to the heads again: the backfill recreates exactly the maintained rows."""
    w = registry
    with transaction(engine) as s:
        post = issue_ex_post(s, project_id=w["project"], vintage=2023, **verified(s, w["project"], 2023), quantity=1000, account_id=w["a"])
        ante = issue_ex_ante(s, project_id=w["project"], vintage=2024, **predicted(s, w["project"], 2024), quantity=300, account_id=w["b"])
        transfer(s, from_account_id=w["a"], to_account_id=w["buffer"], serialization_id=post.serialization_id,
                 quantity=100)
        retirements_ops.retire(s, account_id=w["a"], serialization_id=post.serialization_id, quantity=70,
                               details=RetirementDetails())
        convert_ex_ante(s, issuance_id=ante.id, **verification_of(s, ante.id), verified_quantity=200, final=True, verification_reference="V")
    maintained = table_matches_blocks(engine)
    with Session(engine) as s:
        rows_before = sorted(s.exec(select(AccountBalance.account_id, AccountBalance.serialization_id,
                                           AccountBalance.status, AccountBalance.quantity)).all(), key=str)
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    with engine.connect() as conn:
        assert "accountbalance" not in engine.dialect.get_table_names(conn)
    create_schema(engine)
    with Session(engine) as s:
        rows_after = sorted(s.exec(select(AccountBalance.account_id, AccountBalance.serialization_id,
                                          AccountBalance.status, AccountBalance.quantity)).all(), key=str)
    assert rows_after == rows_before and len(rows_after) == 5
    assert table_matches_blocks(engine) == maintained == {
        (w["a"], "active"): 830, (w["buffer"], "active"): 100, (None, "retired"): 70, (w["b"], "active"): 200,
        (None, "cancelled"): 100}
    # and the backfilled table is maintained from there on
    with transaction(engine) as s:
        transfer(s, from_account_id=w["b"], to_account_id=w["a"], serialization_id=ante.serialization_id,
                 quantity=200)
    assert table_matches_blocks(engine)[(w["a"], "active")] == 1030


def test_sync_mint_retirement_redemption_and_their_reorg_undo_keep_the_table(sqlite_engine, w3):
    """Through the engine on eth-tester: a mint, an on-chain retirement and a redemption synced
    into the registry, then a reorganization back to before the mint rolls all of them back,
    and the next cycles apply them again as the new branch has them (the mint only)."""
    world = make_world(sqlite_engine, w3, seed="balances")
    engine, custody_id, a = sqlite_engine, world.deployment.custody_account_id, world.account_id
    world.tokenize(300)
    tester = w3.provider.ethereum_tester
    before_mint = tester.take_snapshot()
    assert table_matches_blocks(engine) == {(a, "active"): 700, (custody_id, "active"): 300}
    run_cycle(engine, world.chain, world.keys)  # commit + mint; LeafMinted marks custody mirrored
    assert table_matches_blocks(engine) == {(a, "active"): 700, (custody_id, "active"): 300}
    world.retire(world.holder, 50)
    redemption_id = world.request_redemption(world.holder, 30)
    for _ in range(3):
        run_cycle(engine, world.chain, world.keys)
    with Session(engine) as s:
        row = s.exec(select(Redemption).where(Redemption.redemption_id == redemption_id)).one()
    assert row.status is RedemptionStatus.finalized
    assert table_matches_blocks(engine) == {(a, "active"): 730, (custody_id, "active"): 220, (None, "retired"): 50}

    depth = w3.eth.block_number
    tester.revert_to_snapshot(before_mint)
    tester.mine_blocks(depth - w3.eth.block_number + 2)  # a longer branch without the mint and what followed
    chain = Chain(w3, world.deployment.address)
    report = run_cycle(engine, chain, world.keys)  # rolls back, then commits and mints again
    assert report.rolled_back, report
    assert table_matches_blocks(engine) == {(a, "active"): 700, (custody_id, "active"): 300}
    run_cycle(engine, chain, world.keys)
    assert table_matches_blocks(engine) == {(a, "active"): 700, (custody_id, "active"): 300}


# --------------------------------------------------------------------------------------------
# PostgreSQL: concurrent operations on different and on the same credits
# --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_operations_neither_deadlock_nor_lose_an_update(postgres_url):
    """Four writers change balances of two vintages (each transaction touches both, two of them in
    the opposite order), all landing on the same holder's rows, while a reader lists balances:
    no deadlock, no lost update, and every listing is a committed state (tonnes per vintage
    conserved)."""
    engine = make_engine(postgres_url)
    create_schema(engine)
    with transaction(engine) as s:
        org = create_organization(s, "Org")
        holder, other, third = (open_account(s, org.id, n).id for n in ("holder", "other", "third"))
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354",
                                   sector=14, credit_type="R", methodology="M")
        sids = [issue_ex_post(s, project_id=project.id, vintage=v, **verified(s, project.id, v), quantity=500, account_id=holder).serialization_id
                for v in (2023, 2024)]
    rounds = 8

    def transfers(to, order):
        for _ in range(rounds):
            with transaction(engine) as s:
                for sid in order:
                    transfer(s, from_account_id=holder, to_account_id=to, serialization_id=sid, quantity=3)
                    time.sleep(0.01)

    def retirements(order):
        for _ in range(rounds):
            with transaction(engine) as s:
                for sid in order:
                    retirements_ops.retire(s, account_id=holder, serialization_id=sid, quantity=2, details=RetirementDetails())

    def issuances():
        for _ in range(rounds):
            with transaction(engine) as s:
                for sid, vintage in zip(sids, (2023, 2024)):
                    issue_ex_post(s, project_id=project.id, vintage=vintage, **verified(s, project.id, vintage), quantity=1, account_id=holder)

    stop = threading.Event()
    snapshots: list[dict] = []

    def reader():
        while not stop.is_set():
            # one snapshot for both statements, so the listing can be compared with the issuances
            with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
                    Session(bind=conn) as s:
                per_vintage: dict = defaultdict(int)
                for b in balances(s):
                    per_vintage[b.serialization] += b.quantity
                issued = dict(s.exec(text("SELECT s.text, SUM(i.quantity) FROM issuance i JOIN serialization s "
                                          "ON s.id = i.serialization_id GROUP BY s.text")).all())
            snapshots.append((dict(per_vintage), {k: int(v) for k, v in issued.items()}))

    errors: list = []

    def guarded(fn, *args):
        def run():
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
        return run

    writers = [threading.Thread(target=guarded(transfers, other, sids)),
               threading.Thread(target=guarded(transfers, third, sids[::-1])),
               threading.Thread(target=guarded(retirements, sids[::-1])),
               threading.Thread(target=guarded(issuances))]
    watcher = threading.Thread(target=guarded(reader))
    watcher.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    watcher.join(timeout=30)
    assert not errors, errors
    assert not any(t.is_alive() for t in writers)
    assert len(snapshots) > 1 and all(listed == issued for listed, issued in snapshots)
    assert table_matches_blocks(engine) == {
        (holder, "active"): 2 * (500 + rounds - rounds * (3 + 3 + 2)), (other, "active"): 2 * 3 * rounds,
        (third, "active"): 2 * 3 * rounds, (None, "retired"): 2 * 2 * rounds}
    engine.dispose()
