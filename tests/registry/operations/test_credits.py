"""Registry operations on SQLite and PostgreSQL: each rule, each refusal, nothing half-applied."""

import time
from dataclasses import replace

import pytest
from eth_account import Account
from sqlmodel import Session, select

from registry.bridged import custody
from registry.db import transaction
from registry.domain import lifecycle as lc
from registry.domain.enums import AccountType, CreditStatus
from registry.domain.wallets import sign_wallet_link
from registry.errors import Conflict, RuleViolation
from registry.operations.accounts import create_organization, link_wallet, open_account, open_system_account
from registry.operations.holdings import balances
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_chain
from registry.operations.projects import register_project
from registry.operations.serial_blocks import locked_blocks
from registry.operations.transfers import transfer
from registry.tables.core import CreditClass, LedgerEntry, SerialBlock
from tests.support.periods import verified


@pytest.fixture
def setup(engine):
    """An organization with an account, a project and 1,000 issued ICCs of vintage 2023."""
    with transaction(engine) as s:
        org = create_organization(s, "Test Org")
        account = open_account(s, org.id, "main")
        project = register_project(
            s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14, credit_type="R",
            methodology="M",
        )
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=1000, account_id=account.id)
        custody = open_system_account(s, AccountType.bridge_custody, "custody")
        credit_class = s.exec(select(CreditClass).where(CreditClass.serialization_id == issuance.serialization_id)).one()
    return {"account": account, "project": project, "custody": custody, "class": credit_class, "org": org}


def _snapshot(engine):
    with Session(engine) as s:
        blocks = sorted((b.unit_first, b.unit_last, b.account_id, b.status.value) for b in s.exec(select(SerialBlock)))
        entries = len(s.exec(select(LedgerEntry)).all())
    return blocks, entries


def _link(engine, account_id):
    wallet = Account.create()
    now = int(time.time())
    address, signature = sign_wallet_link(wallet.key, account_id, now)
    with transaction(engine) as s:
        link_wallet(s, account_id, address, now, signature, now)
    return address


def test_issuance_continues_serials_and_refuses_overlap(engine, setup):
    with transaction(engine) as s:
        second = issue_ex_post(s, project_id=setup["project"].id, vintage=2023, **verified(s, setup["project"].id, 2023), quantity=10, account_id=setup["account"].id)
    assert (second.unit_first, second.unit_last) == (1001, 1010)
    before = _snapshot(engine)
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        issue_ex_post(s, project_id=setup["project"].id, vintage=2023, **verified(s, setup["project"].id, 2023), quantity=5, account_id=setup["account"].id, first_unit=1008
        )
    assert info.value.rule == "no-overlapping-serials"
    assert "1001-1010" in info.value.detail
    assert _snapshot(engine) == before


@pytest.mark.parametrize("quantity", [0, -1])
def test_issuance_refuses_non_positive_quantity(engine, setup, quantity):
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        issue_ex_post(s, project_id=setup["project"].id, vintage=2023, **verified(s, setup["project"].id, 2023), quantity=quantity, account_id=setup["account"].id)
    assert info.value.field == "quantity"


def test_project_registration_refuses_bad_country(engine):
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        register_project(
            s, project_number=1, name="x", country="Iceland", dial_code="354", sector=1, credit_type="R", methodology="m"
        )
    assert info.value.field == "host_country"


def test_wallet_link_requires_the_wallets_own_signature(engine, setup):
    account_id = setup["account"].id
    wallet, other = Account.create(), Account.create()
    now = int(time.time())
    _, signature = sign_wallet_link(other.key, account_id, now)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        link_wallet(s, account_id, wallet.address, now, signature, now)
    assert info.value.field == "signature"
    _, signature = sign_wallet_link(wallet.key, account_id, now - 3 * 24 * 3600)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        link_wallet(s, account_id, wallet.address, now - 3 * 24 * 3600, signature, now)
    assert info.value.field == "signed_at"
    # a signature for another account does not link to this one
    _, signature = sign_wallet_link(wallet.key, account_id + 100, now)
    with pytest.raises(RuleViolation), transaction(engine) as s:
        link_wallet(s, account_id, wallet.address, now, signature, now)


def test_tokenization_moves_lowest_serials_to_custody_in_one_transaction(engine, setup):
    wallet = _link(engine, setup["account"].id)
    with transaction(engine) as s:
        request, moved = custody.request_tokenization(
            s, account_id=setup["account"].id, wallet=wallet, class_id=setup["class"].id, quantity=400,
            custody_account_id=setup["custody"].id,
        )
    assert [m.serial_block for m in moved] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000400"]
    with Session(engine) as s:
        assert custody.custody_total(s, setup["custody"].id, setup["class"].id) == 400
        assert custody.custody_total(s, setup["custody"].id, setup["class"].id, mirrored=True) == 0
        holding = [b for b in balances(s) if b.account_id == setup["account"].id]
        assert [(b.status, b.quantity) for b in holding] == [("active", 600)]


def test_tokenization_refusals_change_nothing(engine, setup):
    wallet = _link(engine, setup["account"].id)
    before = _snapshot(engine)
    args = dict(account_id=setup["account"].id, class_id=setup["class"].id, custody_account_id=setup["custody"].id)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        custody.request_tokenization(s, wallet=wallet, quantity=1001, **args)
    assert info.value.rule == "sufficient-active-credits"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        custody.request_tokenization(s, wallet=Account.create().address, quantity=10, **args)
    assert info.value.rule == "wallet-must-be-linked"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        custody.request_tokenization(s, **{**args, "custody_account_id": setup["account"].id}, wallet=wallet, quantity=10)
    assert info.value.field == "custody_account_id"
    assert _snapshot(engine) == before


def test_bridged_retirement_uses_lowest_mirrored_custody_serials_once(engine, setup):
    wallet = _link(engine, setup["account"].id)
    with transaction(engine) as s:
        custody.request_tokenization(
            s, account_id=setup["account"].id, wallet=wallet, class_id=setup["class"].id, quantity=400,
            custody_account_id=setup["custody"].id,
        )
        for block in s.exec(select(SerialBlock).where(SerialBlock.account_id == setup["custody"].id)):
            block.mirrored = True  # as the sync does when the leaf is minted
            s.add(block)
    origin = custody.ChainOrigin(chain_id=1, tx_hash="0x" + "ab" * 32, log_index=3, block_number=10)
    onchain = custody.OnchainRetirement(token_id=int(setup["class"].token_id), quantity=100, origin=origin,
                                        details=lc.RetirementDetails(beneficiary_name="B"))
    kwargs = dict(custody_account_id=setup["custody"].id, retirement=onchain)
    with transaction(engine) as s:
        retirement, moved, created = custody.retire_from_custody(s, **kwargs)
    assert created and [m.serial_block for m in moved] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000100"]
    with transaction(engine) as s:
        again, moved_again, created_again = custody.retire_from_custody(s, **kwargs)
    assert not created_again and again.id == retirement.id and moved_again == moved
    with Session(engine) as s:
        assert custody.custody_total(s, setup["custody"].id, setup["class"].id) == 300
    before = _snapshot(engine)
    too_many = {**kwargs, "retirement": replace(onchain, quantity=301, origin=custody.ChainOrigin(1, "0x" + "cd" * 32, 0, 11))}
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        custody.retire_from_custody(s, **too_many)
    assert info.value.rule == "custody-covers-supply"
    assert _snapshot(engine) == before


def test_ledger_verification_catches_a_tampered_entry(engine, setup):
    with Session(engine) as s:
        check = verify_chain(s)
        assert check.ok and check.entries >= 5
    with transaction(engine) as s:
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.kind == "issuance.ex_post")).one()
        assert '"quantity":1000' in entry.payload
        entry.payload = entry.payload.replace('"quantity":1000', '"quantity":9000')
        s.add(entry)
        seq = entry.seq
    with Session(engine) as s:
        check = verify_chain(s)
    assert not check.ok
    assert check.problems == [f"entry {seq}: entry_hash does not match its content"]


def _split_holding(engine, account_id, size):
    """Cut the account's one block of units 1-1000 into blocks of ``size`` units (same owner and
    state, so balances do not change; the registry itself would keep them merged)."""
    with transaction(engine) as s:
        (block,) = s.exec(select(SerialBlock).where(SerialBlock.account_id == account_id)).all()
        template = block.model_dump(exclude={"id", "unit_first", "unit_last", "quantity"})
        block.unit_last, block.quantity = size, size
        s.add(block)
        s.flush()
        for first in range(size + 1, 1001, size):
            s.add(SerialBlock(**template, unit_first=first, unit_last=first + size - 1, quantity=size))


@pytest.mark.parametrize("covering, rows", [
    (1, 1), (4, 1), (5, 2), (128, 32), (129, 33), (640, 160), (641, 161), (1000, 250), (5000, 250), (None, 250),
])
def test_locked_blocks_covering_reads_only_the_lowest_blocks_needed(engine, setup, covering, rows):
    _split_holding(engine, setup["account"].id, 4)
    with transaction(engine) as s:
        got = locked_blocks(s, account_id=setup["account"].id, serialization_id=setup["class"].serialization_id,
                            status=CreditStatus.active, covering=covering)
        assert [b.unit_first for b in got] == list(range(1, 4 * rows, 4))


def test_transfer_from_a_holding_of_many_blocks_takes_the_lowest_serials(engine, setup):
    _split_holding(engine, setup["account"].id, 4)
    with transaction(engine) as s:
        other = open_account(s, setup["org"].id, "other")
        _, moved = transfer(s, from_account_id=setup["account"].id, to_account_id=other.id,
                            serialization_id=setup["class"].serialization_id, quantity=643)
    assert (moved[0].unit_first, moved[-1].unit_last, sum(m.quantity for m in moved)) == (1, 643, 643)
    with Session(engine) as s:
        left = s.exec(select(SerialBlock).where(SerialBlock.account_id == setup["account"].id)
                      .order_by(SerialBlock.unit_first)).all()
    assert (left[0].unit_first, left[0].unit_last, sum(b.quantity for b in left)) == (644, 644, 357)
