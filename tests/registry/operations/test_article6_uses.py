"""registry/operations/article6/uses.py against the stored data: requested uses stored at
designation, a class's uses following its letter (narrowed, withdrawn), the project's suspension
and the vintage's "No CA applied", each change in the ledger; retirements refused naming the
rule and section and changing nothing; tokenization refused while withdrawn; a designation that
would change a class's uses refused; first transfer at issuance keeps the uses (§I.7.1)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from eth_account import Account as EthAccount
from sqlmodel import Session, select

from registry.bridged import custody
from registry.bridged.bulk_tokenization import BulkTokenizationRefused, TokenizationOrder, request_tokenizations
from registry.db import transaction
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.article6.letters import AuthorizedUse, FirstTransfer
from registry.domain.classes import CAStatus, Purpose, purposes_in
from registry.domain.enums import AccountType
from registry.domain.lifecycle import RetirementDetails
from registry.domain.wallets import sign_wallet_link
from registry.errors import RuleViolation
from registry.operations.accounts import link_wallet, open_system_account
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import letters as letter_ops
from registry.operations.article6 import projects as project_ops
from registry.operations.ledger import verify_ledger
from registry.operations.retirements import retire
from registry.tables.article6 import A6Designation
from registry.tables.core import CreditClass, LedgerEntry, Serialization
from tests.support.a6_world import authorized, content, issue, make_world, snapshot

CORSIA = dict(corsia_operator="Icelandair", corsia_state="ISL", compliance_period_start=2024,
              compliance_period_end=2026)
DETAILS = {Purpose.corsia: CORSIA, Purpose.ndc: {"ndc_party": "CHE"}, Purpose.voluntary: {}}


@pytest.fixture
def world(engine):
    return make_world(engine)


def _class(engine, vintage=2023) -> CreditClass:
    with Session(engine) as s:
        return s.exec(select(CreditClass).join(Serialization, Serialization.id == CreditClass.serialization_id)
                      .where(Serialization.article6 == True, Serialization.vintage == vintage)).one()  # noqa: E712


def _uses(engine, vintage=2023) -> set[str]:
    return {p.name for p in purposes_in(_class(engine, vintage).authorized_uses)}


def _retire(world, purpose, quantity=1, vintage=2023):
    with transaction(world.engine) as s:
        serialization = s.exec(select(Serialization).where(Serialization.article6 == True,  # noqa: E712
                                                           Serialization.vintage == vintage)).one()
        return retire(s, account_id=world.account, serialization_id=serialization.id, quantity=quantity,
                      details=RetirementDetails(purpose=purpose, **DETAILS[purpose]))[0]


def _refused(world, purpose, rule, section, vintage=2023):
    before = snapshot(world.engine)
    with pytest.raises(RuleViolation) as info:
        _retire(world, purpose, vintage=vintage)
    assert (info.value.rule, info.value.field) == (rule, "purpose")
    assert f"seed 003 {section}" in info.value.detail
    assert snapshot(world.engine) == before


def _narrow(engine, letter_id, *uses, **changes):
    with transaction(engine) as s:
        letter_ops.reduce_letter_scope(s, letter_id, content=content(uses=frozenset(uses), **changes), note="notice",
                                       actor="admin")


def test_requested_uses_are_stored_and_bind_retirements(engine, world):
    authorized(world)
    issue(world, 100, uses=[AuthorizedUse.ndc])
    with Session(engine) as s:
        (designation,) = s.exec(select(A6Designation)).all()
    assert purposes_in(designation.requested_uses) == {Purpose.ndc}
    assert _uses(engine) == {"ndc"} and purposes_in(_class(engine).requested_uses) == {Purpose.ndc}
    _refused(world, Purpose.corsia, "retirement-use-authorized", "§I.5")
    assert _retire(world, Purpose.ndc).purpose == "ndc"


def test_a_narrowed_letter_shrinks_its_classes_uses_with_a_ledger_entry(engine, world):
    letter_id = authorized(world)
    issue(world, 100)
    _retire(world, Purpose.corsia)
    _narrow(engine, letter_id, AuthorizedUse.ndc)
    assert _uses(engine) == {"ndc"}
    _refused(world, Purpose.corsia, "use-removed-by-letter", "§I.10.2-3")
    _retire(world, Purpose.ndc)
    with Session(engine) as s:
        (entry,) = s.exec(select(LedgerEntry).where(LedgerEntry.kind == "article6.class_uses")).all()
        payload = json.loads(entry.payload)
        assert (payload["from"], payload["to"]) == (["corsia", "ndc"], ["ndc"])
        assert payload["withheld"] == {"corsia": "use-removed-by-letter (§I.10.2-3)"}
        assert verify_ledger(s).ok


def test_withdrawal_holds_compliance_uses_and_tokenization(engine, world):
    letter_id = authorized(world)
    issue(world, 100)
    wallet = EthAccount.create()
    now = int(datetime.now(timezone.utc).timestamp())
    address, signature = sign_wallet_link(wallet.key, world.account, now)
    with transaction(engine) as s:
        link_wallet(s, world.account, address, now, signature, now)
        custody_id = open_system_account(s, AccountType.bridge_custody, "custody").id
    with transaction(engine) as s:
        letter_ops.withdraw_letter(s, letter_id, note="withdrawn", actor="admin")
    assert _uses(engine) == set()
    _refused(world, Purpose.ndc, "letter-withdrawn-hold", "§I.10.3")
    _refused(world, Purpose.corsia, "letter-withdrawn-hold", "§I.10.3")
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        custody.request_tokenization(s, account_id=world.account, wallet=address, class_id=_class(engine).id,
                                     quantity=10, custody_account_id=custody_id)
    assert (info.value.rule, info.value.field) == ("letter-withdrawn-tokenization", "class")
    single = info.value.problem()
    # in bulk: the same refusal, named by the request's index, and nothing applied
    order = TokenizationOrder(world.account, address, _class(engine).id, 10, custody_id)
    with pytest.raises(BulkTokenizationRefused) as info, transaction(engine) as s:
        request_tokenizations(s, [order, order])
    assert [(i, e.problem()) for i, e in info.value.refusals] == [(0, single), (1, single)]
    assert snapshot(engine) == before


def test_suspension_holds_and_reinstatement_lifts(engine, world):
    authorized(world)
    issue(world, 100)
    _retire(world, Purpose.ndc)  # first transferred now: the CA confirmed below covers this tonne (§I.7.1)
    with transaction(engine) as s:
        project_ops.suspend_project(s, world.project, note="non-CA risk", actor="admin")
    assert _uses(engine) == set()
    _refused(world, Purpose.ndc, "project-suspended-hold", "§V.b")
    with transaction(engine) as s:
        adjustment_ops.confirm_ca_applied(s, world.project, 2023, Evidence(EvidenceKind.ca_applied, "BTR1 table 4",
                                                                         None, 1, date.today().year), actor="admin")
        # nothing to compensate and the CA confirmed: the suspension lifts by itself (§V.b)
        assert project_ops.project_article6(s, world.project).history[-1].transition == "reinstate"
    assert _uses(engine) == {"corsia", "ndc"}
    _retire(world, Purpose.corsia)


def test_no_ca_applied_holds_the_vintage_and_a_corrected_status_lifts_it(engine, world):
    authorized(world)
    issue(world, 100)
    issue(world, 100, vintage=2024)
    with transaction(engine) as s:
        adjustment_ops.record_no_ca(s, world.project, 2023, reason="BTR shows no CA", suspend=False, actor="admin")
    assert _uses(engine, 2023) == set() and _uses(engine, 2024) == {"corsia", "ndc"}  # the vintage only
    _refused(world, Purpose.corsia, "no-ca-applied-hold", "§V")
    _retire(world, Purpose.corsia, vintage=2024)
    with transaction(engine) as s:  # nothing of 2023 was first transferred, so no CA can be confirmed for
        # it: the determination is corrected on evidence instead (a recorded transition), which lifts the hold
        adjustment_ops.correct_ca_status(s, world.project, 2023, status=CAStatus.pending,
                                         evidence=Evidence(EvidenceKind.correction, "BTR2 table 4", None),
                                         reason="the BTR2 shows the CA will be applied", actor="admin")
    assert _uses(engine, 2023) == {"corsia", "ndc"}


def test_a_designation_that_would_change_a_class_s_uses_is_refused(engine, world):
    authorized(world)
    issue(world, 100)
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info:
        issue(world, 50, uses=[AuthorizedUse.ndc])
    assert (info.value.rule, info.value.field) == ("class-uses-uniform", "uses")
    assert snapshot(engine) == before
    issue(world, 50)  # no uses given: the class's own
    issue(world, 50, uses=[AuthorizedUse.ndc, AuthorizedUse.corsia])
    assert _uses(engine) == {"corsia", "ndc"}


def test_first_transfer_at_issuance_keeps_designated_uses(engine, world):
    letter_id = authorized(world, first_transfer=FirstTransfer.issuance)
    issue(world, 100)
    _narrow(engine, letter_id, AuthorizedUse.ndc, first_transfer=FirstTransfer.issuance)
    assert _uses(engine) == {"corsia", "ndc"}  # first transferred at issuance (§I.7.1)
    _retire(world, Purpose.corsia)
    with transaction(engine) as s:
        letter_ops.withdraw_letter(s, letter_id, note="withdrawn", actor="admin")
    assert _uses(engine) == {"corsia", "ndc"}
