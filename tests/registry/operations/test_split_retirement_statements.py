"""The split retirement's round trips: the ledger's advisory lock is taken once per transaction
(again after a savepoint that took it rolled back), the balance moves reuse the serialization id
its lock read (not after that read was rolled back), and the result is the same ledger and
balances (verified) on SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

from sqlalchemy import event
from sqlmodel import Session, select

from registry.db import transaction
from registry.domain import lifecycle as lc
from registry.domain.classes import Purpose
from registry.domain.enums import CreditStatus
from registry.operations import balances as balance_table
from registry.operations.accounts import create_organization, open_account
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import lock_ledger, verify_ledger
from registry.operations.projects import register_project
from registry.operations.retirements import retire, retirement_blocks
from registry.operations.serial_blocks import lock_serialization, locked_blocks, take_lowest_blocks
from registry.operations.transfers import transfer
from registry.tables.core import SerialBlock


@contextmanager
def statements(engine):
    sent: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", before)


def world(engine) -> tuple[int, int, int]:
    with transaction(engine) as s:
        org = create_organization(s, "Split Removals hf.")
        account = open_account(s, org.id, "Holding")
        other = open_account(s, org.id, "Other holding")
        project = register_project(s, project_number=78040, name="Split project", country="ISL", dial_code="354",
                                   sector=14, credit_type="R", methodology="ICR-DAC-CCS v1.0")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, quantity=1_000, account_id=account.id,
                                 monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 12, 31),
                                 verification_reference="Verification 2023", verification_body="VVB",
                                 verified_on=date(2024, 3, 1))
    with transaction(engine) as s:  # three blocks in the account: 1-100, (101-200 elsewhere), 201-1000
        transfer(s, from_account_id=account.id, to_account_id=other.id, serialization_id=issuance.serialization_id,
                 quantity=100)
        transfer(s, from_account_id=other.id, to_account_id=account.id, serialization_id=issuance.serialization_id,
                 quantity=100)
    return account.id, other.id, issuance.serialization_id


def test_a_split_retirement_locks_the_ledger_once_and_reads_no_serialization_by_text(engine):
    account_id, _other, serialization_id = world(engine)
    details = lc.RetirementDetails(purpose=Purpose.voluntary, beneficiary_name="Beneficiary")
    with statements(engine) as sent:
        with transaction(engine) as s:
            _retirement, moved = retire(s, account_id=account_id, serialization_id=serialization_id, quantity=7,
                                        details=details)
    assert [m.quantity for m in moved] == [7]
    locks = [q for q in sent if "pg_advisory_xact_lock" in q]
    assert len(locks) == (1 if engine.dialect.name == "postgresql" else 0)
    assert not [q for q in sent if q.startswith("SELECT serialization.text")]
    # The serialization is read once (its lock); the split block is updated once (its split and
    # its retirement together); the blocks read are the ones lowest-first selection locks.
    assert len([q for q in sent if q.startswith("SELECT serialization.")]) == 1
    assert len([q for q in sent if q.startswith("UPDATE serialblock")]) == 1
    assert len([q for q in sent if q.startswith("SELECT serialblock.")]) == 1
    with Session(engine) as s:
        check = verify_ledger(s)
    assert check.ok, check.chain.problems + check.balances.problems


def test_retired_blocks_that_touch_are_merged_under_their_retirement(engine):
    account_id, _other, serialization_id = world(engine)
    with transaction(engine) as s:  # two touching blocks of one issuance in the account: 1-50, 51-1000
        blocks = locked_blocks(s, account_id=account_id, serialization_id=serialization_id,
                               status=CreditStatus.active)
        take_lowest_blocks(s, blocks, 50)
    with Session(engine) as s:
        held = [(b.unit_first, b.unit_last) for b in s.exec(
            select(SerialBlock).where(SerialBlock.account_id == account_id).order_by(SerialBlock.unit_first))]
    assert held == [(1, 50), (51, 1000)]
    details = lc.RetirementDetails(purpose=Purpose.voluntary, beneficiary_name="Beneficiary")
    with transaction(engine) as s:
        retirement, moved = retire(s, account_id=account_id, serialization_id=serialization_id, quantity=70,
                                   details=details)
    assert [(m.unit_first, m.unit_last) for m in moved] == [(1, 50), (51, 70)]  # as taken
    with Session(engine) as s:
        assert [(m.unit_first, m.unit_last) for m in retirement_blocks(s, retirement.id)] == [(1, 70)]
        check = verify_ledger(s)
    assert check.ok, check.chain.problems + check.balances.problems


def test_the_ledger_lock_is_taken_again_after_the_savepoint_that_took_it_rolled_back(engine):
    with Session(engine) as s:
        with statements(engine) as sent:
            s.connection()
            savepoint = s.begin_nested()
            lock_ledger(s)
            savepoint.rollback()
            lock_ledger(s)  # the savepoint's lock went with it
            lock_ledger(s)  # held now by the transaction
        s.rollback()
    locks = [q for q in sent if "pg_advisory_xact_lock" in q]
    assert len(locks) == (2 if engine.dialect.name == "postgresql" else 0)


def test_a_serialization_id_read_in_a_rolled_back_savepoint_is_not_reused(engine):
    _account, _other, serialization_id = world(engine)
    with Session(engine) as s:
        s.connection()
        savepoint = s.begin_nested()
        serialization = lock_serialization(s, serialization_id)
        text = serialization.text
        assert balance_table._known_ids(s, {text}) == {text: serialization_id}
        savepoint.rollback()
        assert balance_table._known_ids(s, {text}) == {}
        lock_serialization(s, serialization_id)
        assert balance_table._known_ids(s, {text}) == {text: serialization_id}
        s.commit()
        assert balance_table._known_ids(s, {text}) == {}  # a new transaction vouches for nothing yet
