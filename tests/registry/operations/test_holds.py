"""Unit holds (registry/operations/holds.py) on SQLite and PostgreSQL: lowest serials first,
split at the hold's boundary, every use of held units refused naming the hold, released
explicitly, replayed by the ledger; each refusal changes nothing."""

import pytest
from sqlmodel import Session, select

from registry.bridged import custody
from registry.db import transaction
from registry.domain import lifecycle as lc
from registry.domain.enums import AccountType, CancellationReason, CreditStatus, HoldOrigin, TokenizationStatus
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations.accounts import create_organization, open_account, open_system_account
from registry.operations.cancellations import cancel
from registry.operations.holds import place_hold, release_hold
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.operations.retirements import retire
from registry.operations.transfers import transfer
from registry.tables.core import AccountBalance, CreditClass, LedgerEntry, SerialBlock, TokenizationRequest
from tests.registry.operations.test_credits import _link
from tests.support.periods import verified


@pytest.fixture
def world(engine):
    with transaction(engine) as s:
        org = create_organization(s, "Holder")
        account = open_account(s, org.id, "main")
        other = open_account(s, org.id, "other")
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, quantity=1000, account_id=account.id,
                                 **verified(s, project.id, 2023))
        custody_account = open_system_account(s, AccountType.bridge_custody, "custody")
        credit_class = s.exec(select(CreditClass).where(CreditClass.serialization_id == issuance.serialization_id)).one()
    return {"account": account.id, "other": other.id, "serialization": issuance.serialization_id,
            "custody": custody_account.id, "class": credit_class.id}


def _blocks(engine):
    with Session(engine) as s:
        return sorted((b.unit_first, b.unit_last, b.account_id, b.status.value, b.hold_id)
                      for b in s.exec(select(SerialBlock)))


def _snapshot(engine):
    with Session(engine) as s:
        return _blocks(engine), len(s.exec(select(LedgerEntry)).all())


def _hold(engine, world, quantity=300, **kwargs):
    with transaction(engine) as s:
        hold, moved = place_hold(s, account_id=kwargs.pop("account_id", world["account"]),
                                 serialization_id=world["serialization"], quantity=quantity,
                                 reason=kwargs.pop("reason", "KYC case 12"), actor="admin", **kwargs)
    return hold, moved


def test_hold_takes_lowest_units_splits_the_block_and_is_a_ledger_entry(engine, world):
    hold, moved = _hold(engine, world, 300, reference="KYC-12")
    assert [m.serial_block.rsplit("-", 2)[-2:] for m in moved] == [["000001", "000300"]]
    assert _blocks(engine) == [(1, 300, world["account"], "held", hold.id), (301, 1000, world["account"], "active", None)]
    with Session(engine) as s:
        entry = s.exec(select(LedgerEntry).order_by(LedgerEntry.seq.desc())).first()
        balances = {(b.status.value, b.quantity) for b in s.exec(select(AccountBalance))}
        assert entry.kind == "hold.placed" and '"reference":"KYC-12"' in entry.payload
        assert balances == {("held", 300), ("active", 700)}
        assert verify_ledger(s).ok


def test_a_second_hold_takes_the_next_lowest_active_units(engine, world):
    first, _ = _hold(engine, world, 100)
    second, _ = _hold(engine, world, 50, reason="non-CA event 3", origin=HoldOrigin.rule, rule="non-ca-event")
    assert _blocks(engine) == [(1, 100, world["account"], "held", first.id), (101, 150, world["account"], "held", second.id),
                               (151, 1000, world["account"], "active", None)]
    assert second.origin == "rule" and second.rule == "non-ca-event"


def test_operations_skip_held_units_and_refuse_naming_the_hold(engine, world):
    hold, _ = _hold(engine, world, 300)
    with transaction(engine) as s:  # the unheld units are used, lowest first
        transfer(s, from_account_id=world["account"], to_account_id=world["other"],
                 serialization_id=world["serialization"], quantity=100)
    assert (301, 400, world["other"], "active", None) in _blocks(engine)
    before = _snapshot(engine)
    refusals = {
        "transfer": lambda s: transfer(s, from_account_id=world["account"], to_account_id=world["other"],
                                       serialization_id=world["serialization"], quantity=601),
        "retirement": lambda s: retire(s, account_id=world["account"], serialization_id=world["serialization"],
                                       quantity=601, details=lc.RetirementDetails(beneficiary_name="B")),
        "cancellation": lambda s: cancel(s, account_id=world["account"], serialization_id=world["serialization"],
                                         quantity=601, reason=CancellationReason.correction),
    }
    for name, operation in refusals.items():
        with pytest.raises(RuleViolation) as info, transaction(engine) as s:
            operation(s)
        assert info.value.rule == "unit-held", name
        assert f"hold {hold.id} (300 t, operator: KYC case 12)" in info.value.detail, name
    assert _snapshot(engine) == before


@pytest.mark.parametrize("operation", ["transfer", "cancellation"])
def test_held_status_itself_is_refused(engine, world, operation):
    _hold(engine, world, 10)
    before = _snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        if operation == "transfer":
            transfer(s, from_account_id=world["account"], to_account_id=world["other"],
                     serialization_id=world["serialization"], quantity=5, status=CreditStatus.held)
        else:
            cancel(s, account_id=world["account"], serialization_id=world["serialization"], quantity=5,
                   reason=CancellationReason.correction, status=CreditStatus.held)
    assert info.value.rule == "unit-held"
    assert _snapshot(engine) == before


def test_tokenization_of_held_units_is_refused_naming_the_hold(engine, world):
    wallet = _link(engine, world["account"])
    hold, _ = _hold(engine, world, 900)
    before = _snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        custody.request_tokenization(s, account_id=world["account"], wallet=wallet, class_id=world["class"],
                                     quantity=101, custody_account_id=world["custody"])
    assert info.value.rule == "unit-held" and f"hold {hold.id}" in info.value.detail
    assert _snapshot(engine) == before


def test_release_makes_the_units_active_again_and_merges_them(engine, world):
    hold, _ = _hold(engine, world, 300)
    with transaction(engine) as s:
        released, moved = release_hold(s, hold.id, note="KYC cleared", actor="admin")
    assert released.status == "released" and released.release_note == "KYC cleared"
    assert [m.quantity for m in moved] == [300]
    assert _blocks(engine) == [(1, 1000, world["account"], "active", None)]
    with Session(engine) as s:
        assert verify_ledger(s).ok
    before = _snapshot(engine)
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        release_hold(s, hold.id, note="again", actor="admin")
    assert info.value.rule == "hold-released"
    with pytest.raises(NotFound), transaction(engine) as s:
        release_hold(s, 999, note="none", actor="admin")
    assert _snapshot(engine) == before


@pytest.mark.parametrize("quantity, reason, rule", [
    (0, "KYC", "positive-whole-tonnes"),
    (5, "  ", "hold-reason"),
    (1001, "KYC", "sufficient-active-credits"),
])
def test_hold_refusals_change_nothing(engine, world, quantity, reason, rule):
    before = _snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        place_hold(s, account_id=world["account"], serialization_id=world["serialization"], quantity=quantity,
                   reason=reason, actor="admin")
    assert info.value.rule == rule
    assert _snapshot(engine) == before


def test_a_rule_hold_names_its_rule(engine, world):
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        place_hold(s, account_id=world["account"], serialization_id=world["serialization"], quantity=5,
                   reason="non-CA", origin=HoldOrigin.rule, actor="rule")
    assert (info.value.rule, info.value.field) == ("hold-reason", "rule")


def test_custody_hold_needs_a_pending_tokenization_and_keeps_it_out_of_batches(engine, world):
    wallet = _link(engine, world["account"])
    with transaction(engine) as s:
        request, _ = custody.request_tokenization(s, account_id=world["account"], wallet=wallet, class_id=world["class"],
                                                  quantity=400, custody_account_id=world["custody"])
    before = _snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        place_hold(s, account_id=world["custody"], serialization_id=world["serialization"], quantity=5,
                   reason="KYC", actor="admin")
    assert (info.value.rule, info.value.field) == ("hold-not-on-chain", "tokenization_id")
    assert _snapshot(engine) == before
    hold, moved = _hold(engine, world, 100, account_id=world["custody"], tokenization_id=request.id)
    assert [m.quantity for m in moved] == [100]
    assert (1, 100, world["custody"], "held", hold.id) in _blocks(engine)
    with transaction(engine) as s:  # once batched (or minted), tokens may be on-chain: no hold
        row = s.get(TokenizationRequest, request.id)
        row.status = TokenizationStatus.batched
        s.add(row)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        place_hold(s, account_id=world["custody"], serialization_id=world["serialization"], quantity=5,
                   reason="KYC", tokenization_id=request.id, actor="admin")
    assert info.value.rule == "hold-not-on-chain"
