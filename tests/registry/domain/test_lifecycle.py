"""The credit lifecycle: pure rules (registry.domain.lifecycle), then each operation on SQLite and
PostgreSQL with its refusals, which change nothing."""

from datetime import date

import pytest
from sqlmodel import Session, select

from registry.db import transaction
from registry.domain import lifecycle as lc
from registry.domain.article6.letters import Period
from registry.domain.blocks import Piece, plan_merges
from registry.domain.classes import Purpose
from registry.domain.enums import AccountType, CancellationReason, CreditStatus, IssuanceKind
from registry.domain.monitoring import Verification
from registry.domain.serials import SerialRange
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations import retirements, transfers
from registry.operations.accounts import create_organization, open_account, open_system_account
from registry.operations.cancellations import cancel
from registry.operations.conversions import convert_ex_ante
from registry.operations.holdings import balances
from registry.operations.issuances import issue_designated, issue_ex_ante, issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.tables.core import Cancellation, CreditClass, LedgerEntry, Retirement, SerialBlock
from tests.support.periods import predicted, verification_of, verified

H, C, B, A = AccountType.holding, AccountType.bridge_custody, AccountType.buffer, AccountType.adjustment
ACTIVE, INACTIVE = CreditStatus.active, CreditStatus.inactive
S23 = "ICR-ISL-354-78040-14-R-0-2023"

# --------------------------------------------------------------------------------------------
# Pure rules
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, rule",
    [
        (lambda: lc.check_issuance(IssuanceKind.ex_post, H, 0), "positive-whole-tonnes"),
        (lambda: lc.check_issuance(IssuanceKind.ex_post, C, 10), "ex-post-issuance-account"),
        (lambda: lc.check_issuance(IssuanceKind.ex_ante, B, 10), "ex-ante-issuance-account"),
        (lambda: lc.check_transfer(H, H, ACTIVE, 5, same_account=True), "transfer-to-another-account"),
        (lambda: lc.check_transfer(H, C, ACTIVE, 5, same_account=False), "custody-through-bridge-only"),
        (lambda: lc.check_transfer(C, H, ACTIVE, 5, same_account=False), "custody-through-bridge-only"),
        (lambda: lc.check_transfer(H, B, INACTIVE, 5, same_account=False), "ex-ante-stays-in-holding-accounts"),
        (lambda: lc.check_transfer(H, H, CreditStatus.retired, 5, same_account=False), "terminal-credits-do-not-move"),
        (lambda: lc.check_transfer(H, H, CreditStatus.cancelled, 5, same_account=False),
         "terminal-credits-do-not-move"),
        (lambda: lc.check_transfer(H, H, ACTIVE, 0, same_account=False), "positive-whole-tonnes"),
        (lambda: lc.check_tokenization(B, ACTIVE), "tokenize-from-holding-account"),
        (lambda: lc.check_transfer(H, H, CreditStatus.held, 5, same_account=False), "unit-held"),
        (lambda: lc.check_tokenization(H, CreditStatus.held), "unit-held"),
        (lambda: lc.check_retirement(H, CreditStatus.held, 1), "unit-held"),
        (lambda: lc.check_cancellation(CancellationReason.correction, H, CreditStatus.held, 1, False), "unit-held"),
        (lambda: lc.check_hold(H, ACTIVE, 0, "KYC", None), "positive-whole-tonnes"),
        (lambda: lc.check_hold(H, INACTIVE, 5, "KYC", None), "hold-active-units"),
        (lambda: lc.check_hold(H, CreditStatus.held, 5, "KYC", None), "hold-active-units"),
        (lambda: lc.check_hold(H, ACTIVE, 5, " ", None), "hold-reason"),
        (lambda: lc.check_hold(C, ACTIVE, 5, "KYC", False), "hold-not-on-chain"),
        (lambda: lc.check_tokenization(H, INACTIVE), "only-active-credits-to-custody"),
        (lambda: lc.check_retirement(B, ACTIVE, 1), "retire-from-holding-account"),
        (lambda: lc.check_retirement(C, ACTIVE, 1), "retire-from-holding-account"),
        (lambda: lc.check_retirement(H, INACTIVE, 1), "only-active-credits-retire"),
        (lambda: lc.check_retirement(H, ACTIVE, -3), "positive-whole-tonnes"),
        (lambda: lc.check_cancellation(CancellationReason.correction, C, ACTIVE, 1, False),
         "custody-through-bridge-only"),
        (lambda: lc.check_cancellation(CancellationReason.correction, H, CreditStatus.retired, 1, False),
         "terminal-credits-do-not-move"),
        (lambda: lc.check_cancellation(CancellationReason.buffer_use, H, ACTIVE, 1, False), "buffer-use-from-buffer"),
        (lambda: lc.check_cancellation(CancellationReason.buffer_use, H, INACTIVE, 1, False),
         "inactive-cancellation-reason"),
        (lambda: lc.check_cancellation(CancellationReason.ex_ante_shortfall, H, ACTIVE, 1, False),
         "shortfall-cancels-ex-ante"),
        (lambda: lc.check_cancellation(CancellationReason.non_ca_compensation, B, ACTIVE, 1, True),
         "non-ca-compensation-account"),
        (lambda: lc.check_cancellation(CancellationReason.non_ca_compensation, A, ACTIVE, 1, False),
         "non-ca-compensation-article6-only"),
        (lambda: lc.check_cancellation(CancellationReason.conversion_article6, A, ACTIVE, 1, False),
         "conversion-from-holding-account"),
        (lambda: lc.check_cancellation(CancellationReason.conversion_article6, H, ACTIVE, 1, True),
         "conversion-of-standard-only"),
    ],
)
def test_each_lifecycle_refusal_names_its_rule(call, rule):
    with pytest.raises(lc.LifecycleError) as info:
        call()
    assert info.value.rule == rule and info.value.field


@pytest.mark.parametrize(
    "call",
    [
        lambda: lc.check_issuance(IssuanceKind.ex_post, A, 1),
        lambda: lc.check_issuance(IssuanceKind.ex_ante, H, 1),
        lambda: lc.check_hold(H, ACTIVE, 1, "KYC", None),
        lambda: lc.check_hold(C, ACTIVE, 1, "KYC", True),
        lambda: lc.check_transfer(H, H, INACTIVE, 1, same_account=False),
        lambda: lc.check_transfer(H, B, ACTIVE, 1, same_account=False),
        lambda: lc.check_transfer(A, H, ACTIVE, 1, same_account=False),
        lambda: lc.check_cancellation(CancellationReason.non_ca_compensation, A, ACTIVE, 1, True),
        lambda: lc.check_cancellation(CancellationReason.non_ca_compensation, H, ACTIVE, 1, True),
        lambda: lc.check_cancellation(CancellationReason.correction, H, INACTIVE, 1, False),
        lambda: lc.check_cancellation(CancellationReason.buffer_use, B, ACTIVE, 1, False),
        lambda: lc.check_cancellation(CancellationReason.conversion_article6, H, ACTIVE, 1, False),
    ],
)
def test_allowed_operations_pass(call):
    call()


def test_ex_ante_conversion_plan_takes_lowest_and_handles_the_shortfall():
    inactive = [SerialRange(1, 40), SerialRange(61, 100)]
    partial = lc.plan_ex_ante_conversion(inactive, 50, final=False)
    assert partial.converted == (SerialRange(1, 40), SerialRange(61, 70)) and partial.shortfall == ()
    assert partial.left_inactive == (SerialRange(71, 100),)
    final = lc.plan_ex_ante_conversion(inactive, 50, final=True)
    assert final.shortfall == (SerialRange(71, 100),) and final.left_inactive == ()
    nothing = lc.plan_ex_ante_conversion(inactive, 0, final=True)
    assert nothing.converted == () and nothing.shortfall_quantity == 80
    for quantity, final_, rule in ((81, True, "verified-exceeds-ex-ante"), (0, False, "positive-whole-tonnes"),
                                   (-1, True, "positive-whole-tonnes")):
        with pytest.raises(lc.LifecycleError) as info:
            lc.plan_ex_ante_conversion(inactive, quantity, final_)
        assert info.value.rule == rule


ALL_USES = 0b1111
CORSIA = dict(purpose=Purpose.corsia, corsia_operator="Icelandair", corsia_state="ISL",
              compliance_period_start=2024, compliance_period_end=2026)


@pytest.mark.parametrize(
    "details, uses, field, rule",
    [
        (lc.RetirementDetails(purpose=Purpose.corsia), 1, "purpose", "purpose-authorized-for-class"),
        (lc.RetirementDetails(**{**CORSIA, "corsia_operator": " "}), ALL_USES, "corsia_operator",
         "corsia-needs-operator"),
        (lc.RetirementDetails(**{**CORSIA, "corsia_state": "Iceland"}), ALL_USES, "corsia_state",
         "corsia-needs-state"),
        (lc.RetirementDetails(**{**CORSIA, "compliance_period_end": 2027}), ALL_USES, "compliance_period_start",
         "corsia-compliance-period"),
        (lc.RetirementDetails(corsia_operator="X"), ALL_USES, "purpose", "corsia-details-only-for-corsia"),
        (lc.RetirementDetails(purpose=Purpose.ndc), ALL_USES, "ndc_party", "ndc-needs-party"),
        (lc.RetirementDetails(ndc_party="CHE"), ALL_USES, "ndc_party", "ndc-party-only-for-ndc"),
        (lc.RetirementDetails(purpose=Purpose.other_international), ALL_USES, "purpose_detail",
         "other-purpose-described"),
        (lc.RetirementDetails(consumption_start=date(2024, 1, 1)), 1, "consumption_end",
         "consumption-period-complete"),
        (lc.RetirementDetails(consumption_start=date(2024, 2, 1), consumption_end=date(2024, 1, 1)), 1,
         "consumption_end", "consumption-period-ordered"),
    ],
)
def test_retirement_details_refusals(details, uses, field, rule):
    with pytest.raises(lc.LifecycleError) as info:
        lc.validate_retirement(details, authorized_uses=uses)
    assert (info.value.field, info.value.rule) == (field, rule)


def test_retirement_details_are_trimmed_and_default_to_the_organization():
    d = lc.validate_retirement(lc.RetirementDetails(**CORSIA, comment="  x "), authorized_uses=ALL_USES,
                               default_party="Org hf.")
    assert d.retiree == d.beneficiary_name == "Org hf." and d.comment == "x"
    ndc = lc.validate_retirement(lc.RetirementDetails(purpose=Purpose.ndc, ndc_party="CHE", beneficiary_name="B"),
                                 authorized_uses=ALL_USES)
    assert ndc.ndc_party == "CHE" and ndc.beneficiary_name == "B"


# --------------------------------------------------------------------------------------------
# Operations on the database
# --------------------------------------------------------------------------------------------


@pytest.fixture
def world(engine):
    """Two organizations (the first with two holding accounts), buffer and adjustment accounts,
    a project, and 1,000 active ICCs of 2023 in the first account."""
    with transaction(engine) as s:
        org = create_organization(s, "Nordic Removals hf.")
        main = open_account(s, org.id, "main")
        second = open_account(s, org.id, "second")
        other_org = create_organization(s, "Buyer AG")
        buyer = open_account(s, other_org.id, "buyer")
        buffer = open_system_account(s, AccountType.buffer, "buffer")
        adjustment = open_system_account(s, AccountType.adjustment, "non-CA adjustment")
        custody = open_system_account(s, AccountType.bridge_custody, "custody")
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=1000, account_id=main.id)
    return dict(org=org, main=main.id, second=second.id, buyer=buyer.id, buffer=buffer.id, adjustment=adjustment.id,
                custody=custody.id, project=project.id, serialization=issuance.serialization_id)


def snapshot(engine):
    with Session(engine) as s:
        blocks = sorted((b.serialization_id, b.unit_first, b.unit_last, b.account_id, b.status.value,
                         b.retirement_id, b.cancellation_id) for b in s.exec(select(SerialBlock)))
        entries = len(s.exec(select(LedgerEntry)).all())
    return blocks, entries


def blocks_of(engine, account_id=None, status=None):
    with Session(engine) as s:
        stmt = select(SerialBlock).order_by(SerialBlock.unit_first)
        if account_id is not None:
            stmt = stmt.where(SerialBlock.account_id == account_id)
        if status is not None:
            stmt = stmt.where(SerialBlock.status == status)
        return [(b.unit_first, b.unit_last) for b in s.exec(stmt)]


def assert_consistent(engine):
    """Ledger replay matches the blocks, and no two touching blocks could still merge."""
    with Session(engine) as s:
        v = verify_ledger(s)
        assert v.ok, v.chain.problems + v.balances.problems
        rows = s.exec(select(SerialBlock).where(SerialBlock.tokenization_id.is_(None))).all()
        by_serialization = {}
        for r in rows:
            key = (r.account_id, r.status, r.issuance_id, r.mirrored, r.retirement_id, r.cancellation_id)
            by_serialization.setdefault(r.serialization_id, []).append(Piece(r.id, r.unit_first, r.unit_last, key))
        for pieces in by_serialization.values():
            assert plan_merges(pieces) == []


def transfer(engine, w, quantity, src="main", dst="buyer", status=ACTIVE):
    with transaction(engine) as s:
        return transfers.transfer(s, from_account_id=w[src], to_account_id=w[dst], serialization_id=w["serialization"],
                                  quantity=quantity, status=status)


def test_an_organization_holds_several_accounts(engine, world):
    with Session(engine) as s:
        accounts = [b for b in balances(s) if b.account_id in (world["main"], world["second"])]
    assert [(b.account_name, b.quantity) for b in accounts] == [("main", 1000)]
    transfer(engine, world, 10, dst="second")
    assert blocks_of(engine, world["second"]) == [(1, 10)]


def test_transfer_takes_lowest_serials_and_merges_back(engine, world):
    _, moved = transfer(engine, world, 100)
    assert [m.serial_block for m in moved] == [f"{S23}-000001-000100"]
    transfer(engine, world, 50)
    assert blocks_of(engine, world["buyer"]) == [(1, 150)]  # adjacent identical blocks merged
    assert blocks_of(engine, world["main"]) == [(151, 1000)]
    transfer(engine, world, 150, src="buyer", dst="main")
    assert blocks_of(engine, world["main"]) == [(1, 1000)]  # and back into one block
    assert_consistent(engine)


def test_transfer_refusals_change_nothing(engine, world):
    before = snapshot(engine)
    cases = [
        (dict(quantity=1001), "sufficient-credits"),
        (dict(quantity=5, dst="main"), "transfer-to-another-account"),
        (dict(quantity=5, dst="custody"), "custody-through-bridge-only"),
        (dict(quantity=5, status=INACTIVE), "sufficient-credits"),
        (dict(quantity=5, status=CreditStatus.retired), "terminal-credits-do-not-move"),
        (dict(quantity=0), "positive-whole-tonnes"),
    ]
    for kwargs, rule in cases:
        with pytest.raises(RuleViolation) as info:
            transfer(engine, world, **kwargs)
        assert info.value.rule == rule, kwargs
    with pytest.raises(NotFound) as info:
        with transaction(engine) as s:
            transfers.transfer(s, from_account_id=world["main"], to_account_id=999, serialization_id=world["serialization"],
                               quantity=1)
    assert info.value.field == "to_account_id"
    assert snapshot(engine) == before


def test_retirement_from_a_holding_account_records_purpose_and_serials(engine, world):
    details = lc.RetirementDetails(beneficiary_name="Reykjavik Ferries", beneficiary_address="Harbour 1",
                                   comment="2024 crossings", consumption_start=date(2024, 1, 1),
                                   consumption_end=date(2024, 12, 31), jurisdiction="ISL")
    with transaction(engine) as s:
        retirement, moved = retirements.retire(s, account_id=world["main"], serialization_id=world["serialization"],
                                               quantity=30, details=details)
    assert [m.serial_block for m in moved] == [f"{S23}-000001-000030"]
    with Session(engine) as s:
        r = s.get(Retirement, retirement.id)
        assert (r.purpose, r.retiree, r.beneficiary_name, r.jurisdiction) == (
            "voluntary", "Nordic Removals hf.", "Reykjavik Ferries", "ISL")
        assert r.consumption_end == date(2024, 12, 31) and r.chain_id is None
    assert blocks_of(engine, status=CreditStatus.retired) == [(1, 30)]
    assert_consistent(engine)


def test_retirement_refusals_change_nothing(engine, world):
    transfer(engine, world, 10, dst="buffer")
    before = snapshot(engine)

    def retire(account="main", quantity=10, **details):
        with transaction(engine) as s:
            retirements.retire(s, account_id=world[account], serialization_id=world["serialization"], quantity=quantity,
                               details=lc.RetirementDetails(**details))

    for kwargs, rule in [
        (dict(account="buffer"), "retire-from-holding-account"),
        (dict(account="custody"), "retire-from-holding-account"),
        (dict(quantity=991), "sufficient-credits"),
        (dict(quantity=0), "positive-whole-tonnes"),
        (dict(purpose=Purpose.corsia, **{k: v for k, v in CORSIA.items() if k != "purpose"}),
         "purpose-authorized-for-class"),  # a standard class is authorized for voluntary use only
        (dict(ndc_party="CHE"), "ndc-party-only-for-ndc"),
    ]:
        with pytest.raises(RuleViolation) as info:
            retire(**kwargs)
        assert info.value.rule == rule, kwargs
    assert snapshot(engine) == before


def test_retired_and_cancelled_credits_are_terminal(engine, world):
    with transaction(engine) as s:
        retirements.retire(s, account_id=world["main"], serialization_id=world["serialization"], quantity=1000,
                           details=lc.RetirementDetails())
    before = snapshot(engine)
    for call in (
        lambda s: transfers.transfer(s, from_account_id=world["main"], to_account_id=world["buyer"],
                                     serialization_id=world["serialization"], quantity=1),
        lambda s: retirements.retire(s, account_id=world["main"], serialization_id=world["serialization"], quantity=1,
                                     details=lc.RetirementDetails()),
        lambda s: cancel(s, account_id=world["main"], serialization_id=world["serialization"], quantity=1,
                         reason=CancellationReason.correction),
    ):
        with pytest.raises(RuleViolation) as info, transaction(engine) as s:
            call(s)
        assert info.value.rule == "sufficient-credits"
    assert snapshot(engine) == before


def test_cancellation_records_its_reason(engine, world):
    transfer(engine, world, 100, dst="buffer")
    with transaction(engine) as s:
        record, moved = cancel(s, account_id=world["buffer"], serialization_id=world["serialization"], quantity=40,
                               reason=CancellationReason.buffer_use, note="reversal 2025-03",
                               reference="NP-7")
    assert [m.serial_block for m in moved] == [f"{S23}-000001-000040"]
    with Session(engine) as s:
        c = s.get(Cancellation, record.id)
        assert (c.reason, c.note, c.reference, c.account_id, c.quantity) == (
            CancellationReason.buffer_use, "reversal 2025-03", "NP-7", world["buffer"], 40)
    with transaction(engine) as s:
        cancel(s, account_id=world["main"], serialization_id=world["serialization"], quantity=5,
               reason=CancellationReason.conversion_article6, reference="LoA 1")
        cancel(s, account_id=world["main"], serialization_id=world["serialization"], quantity=5,
               reason=CancellationReason.correction)
    assert blocks_of(engine, status=CreditStatus.cancelled) == [(1, 40), (101, 105), (106, 110)]
    assert_consistent(engine)


def test_cancellation_refusals_change_nothing(engine, world):
    before = snapshot(engine)
    for reason, account, rule in [
        (CancellationReason.buffer_use, "main", "buffer-use-from-buffer"),
        (CancellationReason.non_ca_compensation, "main", "non-ca-compensation-article6-only"),
        (CancellationReason.conversion_article6, "buffer", "conversion-from-holding-account"),
        (CancellationReason.ex_ante_shortfall, "main", "shortfall-cancels-ex-ante"),
        (CancellationReason.correction, "custody", "custody-through-bridge-only"),
        (CancellationReason.correction, "buyer", "sufficient-credits"),
    ]:
        with pytest.raises(RuleViolation) as info, transaction(engine) as s:
            cancel(s, account_id=world[account], serialization_id=world["serialization"], quantity=1,
                   reason=reason)
        assert info.value.rule == rule, reason
    assert snapshot(engine) == before


def test_non_ca_compensation_cancels_article6_credits_in_the_adjustment_account(engine, world):
    with transaction(engine) as s:
        issuance = issue_designated(s, project_id=world["project"], vintage=2023, quantity=50,
                                    account_id=world["adjustment"], period=Period(date(2023, 1, 1), date(2023, 1, 31)),
                                    verification=Verification("VR-1", "VVB", date(2024, 3, 1)))
    with transaction(engine) as s:
        record, moved = cancel(s, account_id=world["adjustment"], serialization_id=issuance.serialization_id,
                               quantity=20, reason=CancellationReason.non_ca_compensation, reference="non-CA 1")
    assert [m.serial_block for m in moved] == ["ICR-ISL-354-78040-14-R-1-2023-000001-000020"]
    assert_consistent(engine)


def test_ex_ante_issuance_is_inactive_and_cannot_be_used(engine, world):
    with transaction(engine) as s:
        issuance = issue_ex_ante(s, project_id=world["project"], vintage=2023, **predicted(s, world["project"], 2023), quantity=200,
                                 account_id=world["second"])
    assert (issuance.unit_first, issuance.unit_last, issuance.kind) == (1001, 1200, IssuanceKind.ex_ante)
    assert blocks_of(engine, world["second"], INACTIVE) == [(1001, 1200)]
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        retirements.retire(s, account_id=world["second"], serialization_id=world["serialization"], quantity=1,
                           details=lc.RetirementDetails())
    assert info.value.rule == "sufficient-credits"  # nothing active there
    with pytest.raises(RuleViolation) as info:
        transfer(engine, world, 10, src="second", dst="buffer", status=INACTIVE)
    assert info.value.rule == "ex-ante-stays-in-holding-accounts"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        issue_ex_ante(s, project_id=world["project"], vintage=2023, **predicted(s, world["project"], 2023), quantity=5, account_id=world["buffer"])
    assert info.value.rule == "ex-ante-issuance-account"
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        issue_ex_post(s, project_id=world["project"], vintage=2023, **verified(s, world["project"], 2023), quantity=5, account_id=world["main"],
                      first_unit=1198)
    assert info.value.rule == "no-overlapping-serials"
    assert snapshot(engine) == before
    transfer(engine, world, 50, src="second", dst="buyer", status=INACTIVE)  # forward sale
    assert blocks_of(engine, world["buyer"], INACTIVE) == [(1001, 1050)]


def test_ex_ante_conversion_activates_lowest_serials_across_holders_then_closes(engine, world):
    with transaction(engine) as s:
        issuance = issue_ex_ante(s, project_id=world["project"], vintage=2023, **predicted(s, world["project"], 2023), quantity=200,
                                 account_id=world["second"])
    transfer(engine, world, 50, src="second", dst="buyer", status=INACTIVE)  # buyer holds 1001-1050
    with transaction(engine) as s:
        result = convert_ex_ante(s, issuance_id=issuance.id, **verification_of(s, issuance.id), verified_quantity=80, final=False,
                                 verification_reference="VR-2023-1")
    assert [m.serial_block for m in result.converted] == [f"{S23}-001001-001050", f"{S23}-001051-001080"]
    assert blocks_of(engine, world["buyer"], ACTIVE) == [(1001, 1050)]
    assert blocks_of(engine, world["second"], ACTIVE) == [(1051, 1080)]
    assert blocks_of(engine, world["second"], INACTIVE) == [(1081, 1200)]
    with transaction(engine) as s:  # converted credits are ordinary active credits now
        retirements.retire(s, account_id=world["buyer"], serialization_id=world["serialization"], quantity=10,
                           details=lc.RetirementDetails())
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        convert_ex_ante(s, issuance_id=issuance.id, **verification_of(s, issuance.id), verified_quantity=121, final=True,
                        verification_reference="VR-2023-2")
    assert info.value.rule == "verified-exceeds-ex-ante"
    with transaction(engine) as s:  # final verification: 100 of the remaining 120 verified
        result = convert_ex_ante(s, issuance_id=issuance.id, **verification_of(s, issuance.id), verified_quantity=100, final=True,
                                 verification_reference="VR-2023-2")
    assert result.conversion.shortfall_cancelled == 20
    assert blocks_of(engine, world["second"], ACTIVE) == [(1051, 1180)]  # merged with the first conversion
    assert blocks_of(engine, status=INACTIVE) == []
    ((record, moved),) = result.cancellations
    assert record.reason is CancellationReason.ex_ante_shortfall and record.account_id == world["second"]
    assert [m.serial_block for m in moved] == [f"{S23}-001181-001200"]
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        convert_ex_ante(s, issuance_id=issuance.id, **verification_of(s, issuance.id), verified_quantity=1, final=True,
                        verification_reference="VR-3")
    assert info.value.rule == "ex-ante-issuance-closed"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        convert_ex_ante(s, issuance_id=1, **verification_of(s, 1), verified_quantity=1, final=False, verification_reference="VR")
    assert info.value.rule == "conversion-of-ex-ante-only"
    assert_consistent(engine)


def test_tokenization_requires_a_holding_account(engine, world):
    transfer(engine, world, 10, dst="buffer")
    with Session(engine) as s:
        credit_class = s.exec(select(CreditClass)).first()
    from registry.bridged import custody

    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        custody.request_tokenization(s, account_id=world["buffer"], wallet="0x" + "11" * 20, class_id=credit_class.id,
                                     quantity=1, custody_account_id=world["custody"])
    assert info.value.rule == "tokenize-from-holding-account"
