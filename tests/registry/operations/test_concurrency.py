"""Real concurrency on PostgreSQL: two connections operate on the same credits at the same time;
exactly one succeeds and the ledger still replays to the blocks.

Each race starts both transactions behind a barrier. One test also holds the first transaction
open to show the second one waits for it (the serialization lock) and then sees its result.
"""

import threading
import time
from datetime import date

import pytest
from sqlmodel import Session, select

from bridge.schema import create_schema
from registry.bridged import custody
from registry.db import make_engine, transaction
from registry.domain.enums import AccountType, CreditStatus
from registry.domain.lifecycle import RetirementDetails
from registry.errors import Conflict, RegistryError, RuleViolation
from registry.operations.accounts import create_organization, link_wallet, open_account, open_system_account
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.operations.retirements import retire
from registry.operations.transfers import transfer
from registry.tables.core import CreditClass, SerialBlock
from tests.support.periods import verified, verified_year

VERIFIED = {"verification_reference": "VR", "verification_body": "VVB", "verified_on": date(2024, 3, 1)}

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url):
    engine = make_engine(postgres_url)
    create_schema(engine)
    with transaction(engine) as s:
        org = create_organization(s, "Org")
        holder = open_account(s, org.id, "holder")
        other = open_account(s, org.id, "other")
        third = open_account(s, org.id, "third")
        custody_account = open_system_account(s, AccountType.bridge_custody, "custody")
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=100, account_id=holder.id)
    yield engine, dict(holder=holder.id, other=other.id, third=third.id, custody=custody_account.id,
                       project=project.id, serialization=issuance.serialization_id)
    engine.dispose()


def race(engine, *operations):
    """Run each operation in its own thread and transaction, all released at once; returns
    the result or exception of each."""
    barrier = threading.Barrier(len(operations))
    results: list = [None] * len(operations)

    def run(i, op):
        try:
            with transaction(engine) as s:
                barrier.wait(timeout=10)
                results[i] = op(s)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, op)) for i, op in enumerate(operations)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def assert_ledger_matches(engine):
    with Session(engine) as s:
        v = verify_ledger(s)
    assert v.ok, v.chain.problems + v.balances.problems


def total(engine, status, account_id=None):
    with Session(engine) as s:
        stmt = select(SerialBlock).where(SerialBlock.status == status)
        if account_id is not None:
            stmt = stmt.where(SerialBlock.account_id == account_id)
        return sum(b.quantity for b in s.exec(stmt))


def retire_all(w, quantity=100):
    return lambda s: retire(s, account_id=w["holder"], serialization_id=w["serialization"], quantity=quantity,
                            details=RetirementDetails(beneficiary_name="B"))


@pytest.mark.parametrize("round_", range(3))
def test_two_retirements_of_the_same_last_credits_one_succeeds(pg, round_):
    engine, w = pg
    results = race(engine, retire_all(w), retire_all(w))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], RuleViolation), results
    assert errors[0].rule == "sufficient-credits"
    assert total(engine, CreditStatus.retired) == 100 and total(engine, CreditStatus.active) == 0
    assert_ledger_matches(engine)


def test_the_second_retirement_waits_for_the_first_and_sees_its_result(pg):
    engine, w = pg
    first_done, release = threading.Event(), threading.Event()
    outcome = {}

    def first():
        with transaction(engine) as s:
            retire_all(w, 60)(s)
            first_done.set()
            release.wait(timeout=30)  # hold the locks, uncommitted

    def second():
        try:
            with transaction(engine) as s:
                retire_all(w, 60)(s)
            outcome["second"] = "retired"
        except RegistryError as exc:
            outcome["second"] = exc

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_done.wait(timeout=30)
    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(1.0)
    assert t2.is_alive() and "second" not in outcome  # blocked on the first transaction's lock
    release.set()
    t1.join(timeout=30)
    t2.join(timeout=30)
    assert isinstance(outcome["second"], RuleViolation) and "holds 40 active" in outcome["second"].detail
    assert total(engine, CreditStatus.retired) == 60 and total(engine, CreditStatus.active) == 40
    assert_ledger_matches(engine)


def test_two_issuances_of_overlapping_ranges_one_succeeds(pg):
    engine, w = pg

    def issue(first_unit, day):  # each racer its own monitoring period: the serials are what collide
        period = {"monitoring_start": date(2023, 6, day), "monitoring_end": date(2023, 6, day)}
        return lambda s: issue_ex_post(s, project_id=w["project"], vintage=2023, **{**VERIFIED, **period},
                                       quantity=50, account_id=w["holder"], first_unit=first_unit)

    results = race(engine, issue(101, 1), issue(120, 2))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], Conflict) and errors[0].rule == "no-overlapping-serials"
    assert total(engine, CreditStatus.active) == 150
    # and two issuances that continue the serials both succeed, one after the other
    results = race(engine, issue(None, 3), issue(None, 4))
    assert not any(isinstance(r, Exception) for r in results), results
    a, b = sorted(results, key=lambda r: r.unit_first)
    assert a.unit_last + 1 == b.unit_first and a.quantity == b.quantity == 50
    assert_ledger_matches(engine)


def test_a_transfer_and_a_retirement_of_the_same_credits_one_succeeds(pg):
    engine, w = pg
    move = lambda s: transfer(s, from_account_id=w["holder"], to_account_id=w["other"],  # noqa: E731
                              serialization_id=w["serialization"], quantity=80)
    results = race(engine, move, retire_all(w, 80))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], RuleViolation), results
    assert total(engine, CreditStatus.active, w["holder"]) == 20
    assert_ledger_matches(engine)


def test_a_tokenization_and_a_retirement_of_the_same_credits_one_succeeds(pg):
    engine, w = pg
    from eth_account import Account

    from registry.domain.wallets import sign_wallet_link

    wallet = Account.create()
    now = int(time.time())
    address, signature = sign_wallet_link(wallet.key, w["holder"], now)
    with transaction(engine) as s:
        link_wallet(s, w["holder"], address, now, signature, now)
        class_id = s.exec(select(CreditClass.id)).one()
    tokenize = lambda s: custody.request_tokenization(  # noqa: E731
        s, account_id=w["holder"], wallet=address, class_id=class_id, quantity=100, custody_account_id=w["custody"])
    results = race(engine, tokenize, retire_all(w))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], RuleViolation), results
    assert total(engine, CreditStatus.active, w["custody"]) + total(engine, CreditStatus.retired) == 100
    assert_ledger_matches(engine)


def test_operations_on_different_credits_both_succeed(pg):
    """Unrelated operations do not fail each other: the ledger's appends are serialized."""
    engine, w = pg

    def issue(vintage):
        return lambda s: issue_ex_post(s, project_id=w["project"], vintage=vintage, **verified_year(vintage),
                                       quantity=10, account_id=w["third"])

    results = race(engine, issue(2024), issue(2025), retire_all(w, 10))
    assert not any(isinstance(r, Exception) for r in results), results
    assert_ledger_matches(engine)


def test_transactions_touching_two_vintages_in_opposite_order_do_not_deadlock(pg):
    """Every credit operation takes the ledger lock before its serialization lock, so two
    transactions that each touch both vintages, in opposite orders, run one after the other."""
    engine, w = pg
    with transaction(engine) as s:
        other = issue_ex_post(s, project_id=w["project"], vintage=2024, **verified(s, w["project"], 2024), quantity=100, account_id=w["holder"])
    vintages = [w["serialization"], other.serialization_id]

    def both(order):
        def run(s):
            for sid in order:
                transfer(s, from_account_id=w["holder"], to_account_id=w["other"], serialization_id=sid,
                         quantity=10)
                time.sleep(0.2)  # widen the window in which the other transaction takes its first lock
        return run

    for _ in range(3):
        results = race(engine, both(vintages), both(vintages[::-1]))
        assert not any(isinstance(r, Exception) for r in results), results
    assert total(engine, CreditStatus.active, w["other"]) == 120
    assert_ledger_matches(engine)
