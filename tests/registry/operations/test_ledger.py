"""The ledger: hash chain plus balances derived by replaying its moves; tampering with either an
entry or a balance is caught, by the library and by ``icr-bridge ledger verify``."""

import json

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

from bridge.cli.main import app
from registry.db import transaction
from registry.domain.enums import AccountType, CancellationReason
from registry.domain.lifecycle import RetirementDetails
from registry.operations.accounts import create_organization, open_account, open_system_account
from registry.operations.cancellations import cancel
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import GENESIS_HASH, entry_digest, verify_ledger
from registry.operations.projects import register_project
from registry.operations.retirements import retire
from registry.operations.transfers import transfer
from registry.tables.core import LedgerEntry, SerialBlock
from tests.support.periods import verified


@pytest.fixture
def busy(engine):
    """A registry where credits were issued, transferred, retired and cancelled."""
    with transaction(engine) as s:
        org = create_organization(s, "Org")
        a = open_account(s, org.id, "a")
        b = open_account(s, org.id, "b")
        buffer = open_system_account(s, AccountType.buffer, "buffer")
        project = register_project(s, project_number=1, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=500, account_id=a.id)
        sid = issuance.serialization_id
        transfer(s, from_account_id=a.id, to_account_id=b.id, serialization_id=sid, quantity=100)
        transfer(s, from_account_id=a.id, to_account_id=buffer.id, serialization_id=sid, quantity=50)
        retire(s, account_id=b.id, serialization_id=sid, quantity=30, details=RetirementDetails())
        cancel(s, account_id=buffer.id, serialization_id=sid, quantity=20, reason=CancellationReason.buffer_use)
    return {"a": a.id, "b": b.id, "buffer": buffer.id, "serialization": sid}


def check(engine):
    with Session(engine) as s:
        return verify_ledger(s)


def test_a_clean_ledger_verifies(engine, busy):
    result = check(engine)
    assert result.ok and result.balances.moves == 5 and result.balances.serializations == 1


def test_a_tampered_entry_breaks_the_chain(engine, busy):
    with transaction(engine) as s:
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.kind == "retirement")).one()
        entry.payload = entry.payload.replace('"quantity":30', '"quantity":3')
        s.add(entry)
        seq = entry.seq
    result = check(engine)
    assert not result.ok and result.chain.problems == [f"entry {seq}: entry_hash does not match its content"]


def _rewrite_chain(session, mutate):
    """Rewrite every entry consistently (as an attacker with database access could): the hash
    chain verifies again, so only the balance replay can notice."""
    prev = GENESIS_HASH
    for entry in session.exec(select(LedgerEntry).order_by(LedgerEntry.seq)).all():
        payload = json.loads(entry.payload)
        mutate(entry.kind, payload)
        entry.payload = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        entry.prev_hash = prev
        entry.entry_hash = entry_digest(prev, entry.seq, entry.kind, entry.payload)
        prev = entry.entry_hash
        session.add(entry)


def test_a_rewritten_chain_that_hides_a_retirement_is_caught_by_the_balances(engine, busy):
    def hide_retirement(kind, payload):
        if kind == "retirement":
            payload["moves"] = []

    with transaction(engine) as s:
        _rewrite_chain(s, hide_retirement)
    result = check(engine)
    assert result.chain.ok and not result.balances.ok
    assert any("retired: ledger replay gives 0 t, serial blocks hold 30 t" in p for p in result.balances.problems)


@pytest.mark.parametrize("tamper, expected", [
    ("UPDATE serialblock SET account_id = {b} WHERE account_id = {a}", "ledger replay gives 350 t, serial blocks hold 0 t"),
    ("UPDATE serialblock SET unit_last = unit_last + 5, quantity = quantity + 5 WHERE account_id = {b}",
     "overlap"),
    ("DELETE FROM serialblock WHERE account_id = {buffer}", "ledger replay gives 30 t, serial blocks hold 0 t"),
    ("UPDATE serialblock SET status = 'active', account_id = {b}, retirement_id = NULL WHERE status = 'retired'",
     "retired: ledger replay gives 30 t, serial blocks hold 0 t"),
])
def test_a_tampered_balance_is_caught(engine, busy, tamper, expected):
    with engine.begin() as conn:
        conn.execute(text(tamper.format(**busy)))
    result = check(engine)
    assert result.chain.ok and not result.ok
    assert any(expected in p for p in result.balances.problems), result.balances.problems


def test_units_swapped_between_accounts_with_equal_balances_are_caught(engine, busy):
    with transaction(engine) as s:
        (b_block,) = s.exec(select(SerialBlock).where(SerialBlock.account_id == busy["b"])).all()
        (a_block,) = s.exec(select(SerialBlock).where(SerialBlock.account_id == busy["a"])).all()
        assert (b_block.unit_first, b_block.unit_last, a_block.unit_first, a_block.unit_last) == (31, 100, 151, 500)
        # b gets 151-220 instead of 31-100; a gets 31-100 and 221-500: every balance stays the same
        a_block.unit_first, a_block.quantity = 221, 280
        b_block.unit_first, b_block.unit_last = 151, 220
        s.add(a_block)
        s.add(b_block)
        s.flush()
        s.add(SerialBlock(serialization_id=a_block.serialization_id, unit_first=31, unit_last=100, quantity=70,
                          status=a_block.status, account_id=busy["a"], issuance_id=a_block.issuance_id))
    result = check(engine)
    assert not result.balances.ok
    assert result.balances.problems == [
        "ICR-ISL-354-1-14-R-0-2023: serial blocks do not place units as the ledger recorded"]


def test_ledger_verify_command_reports_tampering(engine, busy):
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["ledger", "verify", "--db", url])
    assert ok.exit_code == 0, ok.output
    assert "balances match the serial blocks" in ok.output
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM serialblock WHERE account_id = {busy['buffer']}"))
    broken = runner.invoke(app, ["ledger", "verify", "--db", url])
    assert broken.exit_code == 1
    assert "BALANCES DIFFER" in broken.output


def test_ledger_rebuild_balances_command_repairs_the_table_from_the_blocks(engine, busy):
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    clean = runner.invoke(app, ["ledger", "rebuild-balances", "--db", url])
    assert clean.exit_code == 0 and "0 row(s) differed" in clean.output, clean.output
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE accountbalance SET quantity = quantity + 7 WHERE account_id = {busy['a']}"))
        conn.execute(text(f"DELETE FROM accountbalance WHERE account_id = {busy['buffer']}"))
    assert "balance table" in " ".join(check(engine).balances.problems)
    repaired = runner.invoke(app, ["ledger", "rebuild-balances", "--db", url])
    assert repaired.exit_code == 0 and "2 row(s) differed" in repaired.output, repaired.output
    assert check(engine).ok
    verified = runner.invoke(app, ["ledger", "verify", "--db", url])
    assert verified.exit_code == 0, verified.output


def _entries_moving_back_and_forth(session, busy):
    """Entries as an operation batch writes them: two without moves, then units 151-160 of the
    vintage moved from account a to b and back (the blocks stay where they are)."""
    from registry.domain.blocks import move_record
    from registry.tables.core import Serialization

    text = session.get(Serialization, busy["serialization"]).text
    there = move_record(text, 151, 160, (busy["a"], "active"), (busy["b"], "active"))
    back = move_record(text, 151, 160, (busy["b"], "active"), (busy["a"], "active"))
    return [("note.one", {"n": 1}), ("note.two", {"n": 2, "text": "é"}),
            ("transfer", {"moves": [there]}), ("transfer", {"moves": [back]})]


def test_appending_in_bulk_writes_the_chain_one_by_one_appends_write(engine, busy):
    from registry.operations.ledger import append_entries, append_entry

    with Session(engine) as s:
        one_by_one = [append_entry(s, kind, payload).entry_hash for kind, payload in _entries_moving_back_and_forth(s, busy)]
        s.rollback()
    with transaction(engine) as s:
        seqs = append_entries(s, _entries_moving_back_and_forth(s, busy))
    with Session(engine) as s:
        bulk = [s.get(LedgerEntry, seq).entry_hash for seq in seqs]
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    assert bulk == one_by_one
    assert check(engine).ok


def test_a_bulk_append_whose_moves_take_more_than_an_account_holds_changes_nothing(engine, busy):
    from sqlalchemy.exc import IntegrityError

    from registry.domain.blocks import move_record
    from registry.operations.balances import BalanceTableError
    from registry.operations.ledger import append_entries
    from registry.tables.core import Serialization

    with Session(engine) as s:
        before = s.exec(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc())).first()
    with pytest.raises((BalanceTableError, IntegrityError)):  # the table's check refuses a negative balance
        with transaction(engine) as s:
            text = s.get(Serialization, busy["serialization"]).text
            too_much = move_record(text, 1, 1000, (busy["b"], "active"), (busy["a"], "active"))
            append_entries(s, [("note", {}), ("transfer", {"moves": [too_much]})])
    with Session(engine) as s:
        assert s.exec(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc())).first() == before
    assert check(engine).ok
