"""Article 6.2 through the storage layer, on SQLite and PostgreSQL: letters, project status,
designation at issuance with each refusal, conversion, adjustment deposit, CA status with
evidence and history, non-CA events, compensation in §V.b order, suspension, annual report,
and the bridge's CA push queue. Every refusal changes nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from eth_account import Account as EthAccount
from sqlmodel import Session, select

from registry.bridged import custody
from registry.db import transaction
from registry.domain.article6 import reports as a6_reports
from registry.domain.article6.adjustments import Evidence, EvidenceKind, NonCATrigger
from registry.domain.article6.designation import Insurance, LossPayee
from registry.domain.article6.letters import AuthorizedUse, LetterStatus, MitigationType, Period, Validity
from registry.domain.article6.projects import ProjectStatus
from registry.domain.classes import CAStatus, ClassKey, Purpose
from registry.domain.enums import AccountType, CancellationReason, CreditStatus
from registry.domain.lifecycle import RetirementDetails
from registry.domain.wallets import sign_wallet_link
from registry.errors import Conflict, NotFound, RuleViolation
from registry.operations import additionality as aops
from registry.operations import retirements as retirements_ops
from registry.operations.accounts import link_wallet, open_system_account
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import compensation as compensation_ops
from registry.operations.article6 import designation as designation_ops
from registry.operations.article6 import letters as letter_ops
from registry.operations.article6 import projects as project_ops
from registry.operations.article6 import reports as report_ops
from registry.operations.article6.adjustments import ZERO_HASH
from registry.operations.article6.designation import DesignationResult
from registry.operations.issuances import issue_ex_ante, issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.operations.retirements import retire
from registry.operations.transfers import transfer
from registry.tables.article6 import (
    A6CAHistory,
    A6CompensationStep,
    A6LetterHistory,
    A6NonCAEvent,
    A6Project,
    A6ProjectHistory,
)
from registry.tables.core import (
    Account,
    Cancellation,
    CreditClass,
    Issuance,
    LedgerEntry,
    Retirement,
    SerialBlock,
    Serialization,
)
from tests.support.a6_world import (
    AT,
    MP,
    ON,
    PROJECT,
    approve,
    authorized,
    claims,
    content,
    issue,
    make_world,
    snapshot,
    submit,
    widen,
)
from tests.support.periods import predicted, verified, verified_year


@pytest.fixture
def world(engine):
    return make_world(engine)


def blocks_of(engine, account_id):
    with Session(engine) as s:
        rows = s.exec(select(SerialBlock, Serialization.text).join(
            Serialization, Serialization.id == SerialBlock.serialization_id).where(
            SerialBlock.account_id == account_id).order_by(Serialization.text, SerialBlock.unit_first)).all()
        return [(text, b.unit_first, b.unit_last, b.status.value) for b, text in rows]


def adjustment_id(engine):
    with Session(engine) as s:
        return s.exec(select(Account.id).where(Account.type == AccountType.adjustment)).one()


def ledger_ok(engine):
    with Session(engine) as s:
        result = verify_ledger(s)
    assert result.ok, (result.chain.problems, result.balances.problems)


# --------------------------------------------------------------------------------------------
# Letters and project status
# --------------------------------------------------------------------------------------------


def test_letter_life_moves_project_status_with_history(engine, world):
    letter_id = submit(world)
    with Session(engine) as s:
        assert project_ops.project_article6(s, world.project).status is ProjectStatus.authorization_pending
        assert letter_ops.get_letter(s, letter_id).status is LetterStatus.received
    approve(world, letter_id)
    with Session(engine) as s:
        letter = letter_ops.get_letter(s, letter_id)
        project = project_ops.project_article6(s, world.project)
    assert letter.status is LetterStatus.approved and letter.published_ref.endswith(f"/{letter_id}")
    assert [h.transition for h in letter.history] == ["receive", "start_review", "approve_and_publish"]
    assert project.status is ProjectStatus.authorized
    assert [h.transition for h in project.history] == ["request_authorization", "authorize"]
    assert project.history[-1].evidence == f"letter {letter_id}"
    narrower = content(uses=frozenset({AuthorizedUse.ndc}), outcomes=replace(content().outcomes, quantity_cap=5000))
    with transaction(engine) as s:
        letter_ops.reduce_letter_scope(s, letter_id, content=narrower, note="host country notice", actor="admin")
    with transaction(engine) as s:
        letter_ops.withdraw_letter(s, letter_id, note="withdrawn by the host country", actor="admin")
    with Session(engine) as s:
        letter = letter_ops.get_letter(s, letter_id)
        history = s.exec(select(A6LetterHistory).where(A6LetterHistory.letter_id == letter_id)
                         .order_by(A6LetterHistory.id)).all()
        project = project_ops.project_article6(s, world.project)
    assert letter.status is LetterStatus.withdrawn and letter.content.uses == {AuthorizedUse.ndc}
    reduced = history[3]
    assert reduced.transition == "reduce_scope"
    assert set(json.loads(reduced.changes)) == {"content.outcomes.quantity_cap", "content.uses"}
    assert json.loads(reduced.previous_content)["outcomes"]["quantity_cap"] == 10_000
    assert project.status is ProjectStatus.standard and project.history[-1].transition == "revoke"
    ledger_ok(engine)


def test_rejected_letter_returns_project_to_standard(engine, world):
    letter_id = submit(world)
    with transaction(engine) as s:
        letter_ops.start_letter_review(s, letter_id, actor="reviewer")
        letter_ops.reject_letter(s, letter_id, reason="signature not authentic", actor="reviewer")
    with Session(engine) as s:
        assert letter_ops.get_letter(s, letter_id).status is LetterStatus.rejected
        assert project_ops.project_article6(s, world.project).status is ProjectStatus.standard


def test_amendment_keeps_authorization_and_records_changes(engine, world):
    letter_id = authorized(world)
    wider = content(outcomes=replace(content().outcomes, quantity_cap=20_000))
    with transaction(engine) as s:
        letter_ops.amend_letter(s, letter_id, content=wider, note="amended", actor="admin")
    with Session(engine) as s:
        letter = letter_ops.get_letter(s, letter_id)
        assert letter.status is LetterStatus.amended and letter.content.outcomes.quantity_cap == 20_000
        assert letter.history[-1].changes == ("content.outcomes.quantity_cap",)
        assert project_ops.project_article6(s, world.project).status is ProjectStatus.authorized


def test_letter_refusals_change_nothing(engine, world):
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        letter_ops.submit_letter(s, project_id=world.project, document="doc", actor="x",
                                 content=content(activity=replace(content().activity, project_number=1)))
    assert info.value.rule == "letter-covers-project"
    letter_id = submit(world, applies_ca=False)
    with transaction(engine) as s:
        letter_ops.start_letter_review(s, letter_id, actor="reviewer")
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        letter_ops.approve_letter(s, letter_id, authenticity_confirmed=True, published_ref="u", actor="reviewer")
    assert (info.value.rule, info.value.field) == ("letter-content", "applies_ca")
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        letter_ops.approve_letter(s, letter_id, authenticity_confirmed=False, published_ref="u", actor="reviewer")
    assert "letter-authentic" in info.value.detail
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        letter_ops.withdraw_letter(s, letter_id, note="n", actor="x")
    assert info.value.rule == "letter-transition"
    with pytest.raises(NotFound), transaction(engine) as s:
        letter_ops.start_letter_review(s, 999, actor="x")
    assert snapshot(engine) == before


def test_scope_reduction_that_widens_is_refused(engine, world):
    letter_id = authorized(world)
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        letter_ops.reduce_letter_scope(s, letter_id, content=content(**widen(quantity_cap=20_000)), note="n", actor="x")
    assert (info.value.rule, info.value.field) == ("scope-reduction", "outcomes.quantity_cap")
    assert snapshot(engine) == before


def test_configuration_refusals(engine, world):
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        project_ops.configure_project(s, world.project, adjustment_percentage="101", risk_assessment="RA",
                                      methodology_approved=True, actor="x")
    assert info.value.field == "adjustment_percentage"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        project_ops.configure_project(s, world.project, adjustment_percentage="5", risk_assessment=" ",
                                      methodology_approved=True, actor="x")
    assert info.value.rule == "risk-assessment"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        project_ops.set_host_country(s, "Iceland", article6_framework=True, reference="", actor="x")
    assert info.value.field == "country"


def test_a_zero_deposit_needs_insurance_and_non_permanence_risk_contributes(engine, world):
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        project_ops.configure_project(s, world.project, adjustment_percentage="0", risk_assessment="RA",
                                      methodology_approved=True, actor="x")
    assert (info.value.rule, info.value.field) == ("compensation-mechanism", "adjustment_percentage")
    assert "§II.3" in info.value.detail
    assert snapshot(engine) == before
    insured = Insurance("Nordic Re hf.", "policy NR-2026-17", True, LossPayee.icr)
    with transaction(engine) as s:  # the §II.3.a route: insurance instead of a deposit
        project_ops.configure_project(s, world.project, adjustment_percentage="0", risk_assessment="RA",
                                      methodology_approved=True, insurance=insured, non_permanence_risk=True,
                                      non_permanence_percentage="5", proponent_organization_id=world.org,
                                      actor="x")
    authorized(world)
    result = issue(world, 1000)
    assert (result.designation.deposit, result.designation.non_permanence) == (0, 50)
    assert result.non_permanence_blocks == ["ICR-ISL-354-78040-14-R-1-2023-000001-000050"]
    assert result.issued_blocks == ["ICR-ISL-354-78040-14-R-1-2023-000051-001000"]
    with Session(engine) as s:
        account = s.get(Account, s.get(Issuance, result.designation.non_permanence_issuance_id).account_id)
        assert (account.type, account.name) == (AccountType.buffer, compensation_ops.NON_PERMANENCE_ACCOUNT_NAME)
    with transaction(engine) as s:  # a row left at 0 % without insurance (stored before the rule)
        row = s.get(A6Project, world.project)
        row.insurer, row.insurance_policy = "", ""
        s.add(row)
    with pytest.raises(RuleViolation) as info:
        issue(world, 10)
    assert info.value.rule == "compensation-mechanism"
    ledger_ok(engine)


# --------------------------------------------------------------------------------------------
# Designation at issuance with the adjustment deposit
# --------------------------------------------------------------------------------------------


def test_designation_issues_article6_serials_and_deposits(engine, world):
    letter_id = authorized(world)
    result = issue(world, 1005)
    # 10 % of 1005 = 100.5, rounded up to 101: the lowest units to the adjustment account
    assert result.deposit_blocks == ["ICR-ISL-354-78040-14-R-1-2023-000001-000101"]
    assert result.issued_blocks == ["ICR-ISL-354-78040-14-R-1-2023-000102-001005"]
    assert result.token_id == str(ClassKey(PROJECT, 2023, True, letter_id).token_id)
    assert (result.designation.quantity, result.designation.deposit) == (1005, 101)
    assert blocks_of(engine, world.account) == [("ICR-ISL-354-78040-14-R-1-2023", 102, 1005, "active")]
    assert blocks_of(engine, adjustment_id(engine)) == [("ICR-ISL-354-78040-14-R-1-2023", 1, 101, "active")]
    with Session(engine) as s:
        credit_class = s.exec(select(CreditClass).where(CreditClass.token_id == result.token_id)).one()
        assert credit_class.letter_number == letter_id
        assert credit_class.authorized_uses == (1 << Purpose.ndc) | (1 << Purpose.corsia)
        assert credit_class.ca_status == CAStatus.pending
        assert adjustment_ops.ca_status(s, world.project, 2023).status is CAStatus.pending
        assert designation_ops.designated_so_far(s, letter_id) == 1005
    second = issue(world, 10)
    assert second.deposit_blocks == ["ICR-ISL-354-78040-14-R-1-2023-001006-001006"]
    assert blocks_of(engine, world.account) == [("ICR-ISL-354-78040-14-R-1-2023", 102, 1005, "active"),
                                                ("ICR-ISL-354-78040-14-R-1-2023", 1007, 1015, "active")]
    ledger_ok(engine)


def _suspend(world):
    with transaction(world.engine) as s:
        project_ops.suspend_project(s, world.project, note="non-CA", actor="admin")


def _ex_ante(world):
    with transaction(world.engine) as s:
        issue_ex_ante(s, project_id=world.project, vintage=2024, **predicted(s, world.project, 2024), quantity=10, account_id=world.account)


def _late_crediting_period(world):
    """The letter's crediting period starts in June 2023; the issuance is for January."""
    with transaction(world.engine) as s:
        letter_id = letter_ops.list_letters(s, project_id=world.project)[1][0].id
        letter_ops.amend_letter(s, letter_id, actor="admin", note="n", content=content(
            **widen(crediting_period=Period(date(2023, 6, 1), date(2030, 12, 31)))))


def _expired(world):
    """The letter expired on 2026-06-30 (before today): it designates nothing any more."""
    with transaction(world.engine) as s:
        letter_id = letter_ops.list_letters(s, project_id=world.project)[1][0].id
        letter_ops.amend_letter(s, letter_id, actor="admin", note="n", content=content(
            validity=Validity(date(2025, 6, 1), date(2025, 7, 1), date(2026, 6, 30))))


def _no_framework(world):
    with transaction(world.engine) as s:
        project_ops.set_host_country(s, "ISL", article6_framework=False, reference="repealed", actor="admin")


def _unapproved_methodology(world):
    with transaction(world.engine) as s:
        project_ops.configure_project(s, world.project, adjustment_percentage="10", risk_assessment="RA",
                                      methodology_approved=False, actor="admin")


def _reduction_type(world):
    with transaction(world.engine) as s:
        letter_id = letter_ops.list_letters(s, project_id=world.project)[1][0].id
        letter_ops.amend_letter(s, letter_id, actor="admin", note="n",
                                content=content(**widen(mitigation_type=MitigationType.reduction)))


@pytest.mark.parametrize("prepare, kwargs, rule, field", [
    (None, {"vintage": 2020}, "vintage-from-2021", "issuance.vintage"),
    (None, {"vintage": 2031}, "vintage-authorized", "issuance.vintage"),
    (_late_crediting_period, {}, "crediting-period-authorized", "issuance.monitoring_period"),
    (None, {"quantity": 10_001}, "quantity-cap", "issuance.quantity"),
    (None, {"quantity": 0}, "whole-tonnes", "issuance.quantity"),
    (None, {"uses": {AuthorizedUse.international_mitigation}}, "uses-authorized", "uses"),
    (None, {"kind": "ex_ante"}, "ex-post-only", "issuance.ex_ante"),
    (_expired, {}, "letter-valid-on-date", "as_of"),
    (_suspend, {}, "project-not-suspended", "project.status"),
    (_no_framework, {}, "host-country-framework", "project.host_country_framework"),
    (_unapproved_methodology, {}, "approved-methodology", "project.methodology_approved"),
    (_reduction_type, {}, "mitigation-type-authorized", "issuance.credit_type"),
])
def test_designation_refusal_names_the_rule_and_changes_nothing(engine, world, prepare, kwargs, rule, field):
    authorized(world)
    if prepare:
        prepare(world)
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info:
        issue(world, **kwargs)
    assert (info.value.rule, info.value.field) == (rule, field)
    assert snapshot(engine) == before


def test_designation_needs_an_authorized_project(engine, world):
    with pytest.raises(RuleViolation) as info:
        issue(world)
    assert info.value.rule == "project-authorized" and "letter-approved-and-published" in info.value.detail
    submit(world)  # pending: still refused
    with pytest.raises(RuleViolation) as info:
        issue(world)
    assert info.value.rule == "project-authorized" and "authorization pending" in info.value.detail


def test_designation_refused_for_level_2b(engine):
    world = make_world(engine, level2="2b")
    authorized(world)
    with pytest.raises(RuleViolation) as info:
        issue(world)
    assert info.value.rule == "not-additionality-level-2b"


def test_designation_needs_a_risk_assessment(engine):
    world = make_world(engine, configure=False)
    with transaction(engine) as s:
        project_ops.set_host_country(s, "ISL", article6_framework=True, reference="Act", actor="admin")
    authorized(world)
    with pytest.raises(RuleViolation) as info:
        issue(world)
    # methodology not confirmed either: every failed rule is listed, the first named
    assert info.value.rule == "approved-methodology" and "risk-assessment" in info.value.detail


def test_cumulative_cap_counts_every_designation(engine, world):
    letter_id = authorized(world)
    issue(world, 6000)
    with pytest.raises(RuleViolation) as info:
        issue(world, 4001)
    assert info.value.rule == "quantity-cap" and "6000 t designated + 4001 t" in info.value.detail
    issue(world, 4000)
    with Session(engine) as s:
        assert designation_ops.designated_so_far(s, letter_id) == 10_000


def test_designation_refuses_a_non_holding_account(engine, world):
    authorized(world)
    with transaction(engine) as s:
        buffer = open_system_account(s, AccountType.buffer, "buffer")
    with pytest.raises(RuleViolation) as info:
        issue(world, account_id=buffer.id)
    assert info.value.field == "account_id"


# --------------------------------------------------------------------------------------------
# Conversion of standard ICCs
# --------------------------------------------------------------------------------------------


def _tokenize(world, quantity):
    wallet = EthAccount.create()
    now = int(datetime.now(timezone.utc).timestamp())
    address, signature = sign_wallet_link(wallet.key, world.account, now)
    with transaction(world.engine) as s:
        link_wallet(s, world.account, address, now, signature, now)
        bridge = open_system_account(s, AccountType.bridge_custody, "custody")
        serialization = s.exec(select(Serialization).where(Serialization.article6 == False)).one()  # noqa: E712
        credit_class = s.exec(select(CreditClass).where(CreditClass.serialization_id == serialization.id)).one()
        custody.request_tokenization(s, account_id=world.account, wallet=address, class_id=credit_class.id,
                                     quantity=quantity, custody_account_id=bridge.id)
    return bridge.id


def test_conversion_cancels_originals_and_issues_article6_serials(engine, world):
    with transaction(engine) as s:
        issue_ex_post(s, project_id=world.project, vintage=2023, **verified_year(2023), quantity=1000, account_id=world.account)
    custody_id = _tokenize(world, 100)  # units 1-100 are in bridge custody
    letter_id = authorized(world)
    with transaction(engine) as s:
        result = designation_ops.convert_to_article6(s, project_id=world.project, account_id=world.account,
                                                     vintage=2023, monitoring_start=MP[0], monitoring_end=MP[1],
                                                     quantity=600, actor="admin")
    assert result.cancelled_blocks == ["ICR-ISL-354-78040-14-R-0-2023-000101-000700"]
    assert result.deposit_blocks == ["ICR-ISL-354-78040-14-R-1-2023-000001-000060"]
    assert result.issued_blocks == ["ICR-ISL-354-78040-14-R-1-2023-000061-000600"]
    assert blocks_of(engine, world.account) == [("ICR-ISL-354-78040-14-R-0-2023", 701, 1000, "active"),
                                                ("ICR-ISL-354-78040-14-R-1-2023", 61, 600, "active")]
    assert blocks_of(engine, custody_id) == [("ICR-ISL-354-78040-14-R-0-2023", 1, 100, "active")]
    with Session(engine) as s:
        cancellation = s.exec(select(Cancellation)).one()
        assert (cancellation.reason, cancellation.quantity) == (CancellationReason.conversion_article6, 600)
        assert cancellation.reference == f"a6-designation:{result.designation.id}"
        assert designation_ops.designated_so_far(s, letter_id) == 600
        assert json.loads(result.designation.converted_from) == result.cancelled_blocks
    # the rest converts without a quantity; custody credits never do
    with transaction(engine) as s:
        rest = designation_ops.convert_to_article6(s, project_id=world.project, account_id=world.account, vintage=2023,
                                                   monitoring_start=MP[0], monitoring_end=MP[1], actor="admin")
    assert rest.designation.quantity == 300
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        designation_ops.convert_to_article6(s, project_id=world.project, account_id=world.account, vintage=2023,
                                            monitoring_start=MP[0], monitoring_end=MP[1], actor="admin")
    assert (info.value.rule, info.value.field) == ("not-in-bridge-custody", "location")
    assert snapshot(engine) == before
    ledger_ok(engine)


def test_conversion_refusals(engine, world):
    with transaction(engine) as s:
        issue_ex_post(s, project_id=world.project, vintage=2019, **verified_year(2019), quantity=50, account_id=world.account)
        issue_ex_post(s, project_id=world.project, vintage=2023, **verified_year(2023), quantity=50, account_id=world.account)
    args = dict(project_id=world.project, account_id=world.account, monitoring_start=MP[0], monitoring_end=MP[1],
                actor="admin")
    y2019 = {**args, "monitoring_start": date(2019, 1, 1), "monitoring_end": date(2019, 12, 31)}
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        designation_ops.convert_to_article6(s, vintage=2023, **args)
    assert info.value.rule == "project-authorized"  # no letter yet
    authorized(world)
    buffer_id = adjustment_or_buffer(engine)
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        designation_ops.convert_to_article6(s, vintage=2019, **y2019)
    assert info.value.rule == "vintage-from-2021" and "vintage-authorized" in info.value.detail
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        designation_ops.convert_to_article6(s, vintage=2023, quantity=51, **args)
    assert info.value.rule == "sufficient-active-credits"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        designation_ops.convert_to_article6(s, vintage=2025, **{**args, "monitoring_start": date(2025, 1, 1),
                                                                "monitoring_end": date(2025, 12, 31)})
    assert info.value.rule == "conversion-of-issued-period"  # nothing was issued for 2025
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        designation_ops.convert_to_article6(s, vintage=2023, **{**args, "account_id": buffer_id})
    assert info.value.rule == "remaining-active-ex-post"
    assert snapshot(engine) == before


def adjustment_or_buffer(engine):
    with transaction(engine) as s:
        return open_system_account(s, AccountType.buffer, "buffer").id


# --------------------------------------------------------------------------------------------
# CA status, retired Article 6.2 ICCs and the bridge's push queue
# --------------------------------------------------------------------------------------------


def _retire(world, quantity, purpose=Purpose.ndc, when: datetime | None = None, **details):
    with transaction(world.engine) as s:
        serialization = s.exec(select(Serialization).where(Serialization.article6 == True)).first()  # noqa: E712
        extra = {"ndc_party": "CHE"} if purpose is Purpose.ndc else {}
        retirement, _ = retire(s, account_id=world.account, serialization_id=serialization.id, quantity=quantity,
                               details=RetirementDetails(purpose=purpose, **{**extra, **details}))
        if when is not None:
            retirement.created_at = when
            s.add(retirement)
        return retirement.id


def test_ca_status_with_evidence_history_and_retired_labels(engine, world):
    authorized(world)
    result = issue(world, 1000)
    _retire(world, 100)
    with Session(engine) as s:
        total, rows = report_ops.retired_article6(s)
    assert total == 1 and rows[0].ca_label == "Pending CA" and rows[0].vintage == 2023
    evidence = Evidence(EvidenceKind.ca_applied, "BTR1 table 4: ICR-78040 vintage 2023, letter 1", None, 100, AT.year)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        adjustment_ops.confirm_ca_applied(s, world.project, 2023, replace(evidence, kind=EvidenceKind.intention),
                                          actor="admin")
    assert (info.value.rule, info.value.field) == ("ca-evidence", "evidence.kind")
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        adjustment_ops.confirm_ca_applied(s, world.project, 2023, replace(evidence, reference=" "), actor="admin")
    assert info.value.field == "evidence.reference"
    with transaction(engine) as s:
        record = adjustment_ops.confirm_ca_applied(s, world.project, 2023, evidence, actor="admin")
    assert record.status is CAStatus.applied and record.label == "CA applied"
    assert [h.transition for h in record.history] == ["open", "confirm_applied"]
    # received today (server time): the caller gave no date
    assert record.evidence == (replace(evidence, received_on=ON),) and record.history[-1].evidence == evidence.reference
    with Session(engine) as s:
        assert report_ops.retired_article6(s)[1][0].ca_label == "CA applied"
        credit_class = s.exec(select(CreditClass).where(CreditClass.token_id == result.token_id)).one()
        assert credit_class.ca_status == CAStatus.applied
        assert adjustment_ops.ca_status_for_class(s, credit_class.id) is CAStatus.applied
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        adjustment_ops.record_no_ca(s, world.project, 2023, reason="n", actor="admin")
    assert info.value.rule == "CA status-transition"
    with pytest.raises(NotFound), transaction(engine) as s:
        adjustment_ops.confirm_ca_applied(s, world.project, 2030, evidence, actor="admin")


def test_bridge_sees_ca_changes_to_push(engine, world):
    authorized(world)
    result = issue(world, 100)
    with transaction(engine) as s:
        issue_ex_post(s, project_id=world.project, vintage=2023, **verified(s, world.project, 2023), quantity=5, account_id=world.account)
        standard_id = str(ClassKey(PROJECT, 2023).token_id)
        standard = s.exec(select(CreditClass).where(CreditClass.token_id == standard_id)).one()
        assert adjustment_ops.ca_status_for_class(s, standard.id) is CAStatus.not_applicable
        credit_class = s.exec(select(CreditClass).where(CreditClass.token_id == result.token_id)).one()
        assert adjustment_ops.ca_status_for_class(s, credit_class.id) is CAStatus.pending
        assert adjustment_ops.pending_ca_pushes(s) == []  # not registered on-chain: registration carries the status
        credit_class.registered_on_chain = True
        s.add(credit_class)
    with Session(engine) as s:
        (push,) = adjustment_ops.pending_ca_pushes(s)
    assert (push.token_id, push.status, push.evidence_hash) == (result.token_id, CAStatus.pending, ZERO_HASH)
    _retire(world, 5)  # first transferred at use (the letter's §I.7.1 definition): a CA covers used tonnes
    evidence = Evidence(EvidenceKind.ca_applied, "BTR1 annex", None, 5, AT.year)
    with transaction(engine) as s:
        adjustment_ops.confirm_ca_applied(s, world.project, 2023, evidence, actor="admin")
    with Session(engine) as s:
        (push,) = adjustment_ops.pending_ca_pushes(s)
    assert push.status is CAStatus.applied and len(push.history_ids) == 2
    assert push.evidence_hash == adjustment_ops.evidence_hash("BTR1 annex") != ZERO_HASH
    with transaction(engine) as s:
        assert adjustment_ops.mark_ca_pushed(s, push.history_ids, tx_hash="0x" + "ab" * 32) == 2
        assert adjustment_ops.mark_ca_pushed(s, push.history_ids, tx_hash="0x" + "cd" * 32) == 0
    with Session(engine) as s:
        assert adjustment_ops.pending_ca_pushes(s) == []
        rows = s.exec(select(A6CAHistory).order_by(A6CAHistory.id)).all()
        assert [r.onchain_tx for r in rows] == ["0x" + "ab" * 32] * 2


# --------------------------------------------------------------------------------------------
# Non-CA events, suspension and compensation
# --------------------------------------------------------------------------------------------


def test_non_ca_event_by_date_rule(engine, world, monkeypatch):
    authorized(world)
    issue(world, 1000)
    _retire(world, 100, when=datetime(2024, 5, 2, tzinfo=timezone.utc))
    _retire(world, 50, when=datetime(2025, 2, 1, tzinfo=timezone.utc))
    # first transfer at use: 2024 -> reporting deadline 2025-04-15 -> evidence until 2026-04-15
    with transaction(engine) as s:
        assert adjustment_ops.detect_non_ca_events(s, at=datetime(2026, 4, 15, tzinfo=timezone.utc), actor="cron") == []
    with transaction(engine) as s:
        events = adjustment_ops.detect_non_ca_events(s, at=datetime(2026, 4, 16, tzinfo=timezone.utc), actor="cron")
    # 2024 by the date rule; ICR's determination then covers the vintage's later use too
    assert [(e.first_transfer_year, e.quantity, e.trigger) for e in events] == [
        (2024, 100, NonCATrigger.date_rule), (2025, 50, NonCATrigger.decision)]
    with Session(engine) as s:
        record = adjustment_ops.ca_status(s, world.project, 2023)
        project = project_ops.project_article6(s, world.project)
    assert record.status is CAStatus.not_applied and "date rule" in record.history[-1].note
    assert project.status is ProjectStatus.suspended
    with transaction(engine) as s:  # idempotent
        assert adjustment_ops.detect_non_ca_events(s, at=datetime(2026, 5, 1, tzinfo=timezone.utc), actor="cron") == []
    with pytest.raises(RuleViolation) as info:  # the vintage's compliance uses are on hold (§V)
        _retire(world, 20)
    assert info.value.rule == "no-ca-applied-hold" and "§V" in info.value.detail
    # A use the registry no longer allows still happens when the chain accepted it before the
    # hold was pushed (stored, flagged): the registry's check stands aside here to make one.
    monkeypatch.setattr(retirements_ops.uses_ops, "require_use", lambda *args: None)
    with transaction(engine) as s:
        held = s.exec(select(CreditClass).where(CreditClass.letter_number > 0)).one()
        assert held.authorized_uses == 0  # NDC and CORSIA on hold, no voluntary use requested
        held.authorized_uses = held.requested_uses
        s.add(held)
    _retire(world, 20, when=datetime(2025, 3, 1, tzinfo=timezone.utc))
    with transaction(engine) as s:  # more use of the vintage: the event of that year grows
        (grown,) = adjustment_ops.detect_non_ca_events(s, at=datetime(2026, 6, 1, tzinfo=timezone.utc), actor="cron")
    assert (grown.first_transfer_year, grown.quantity) == (2025, 70)
    with pytest.raises(RuleViolation) as info:
        issue(world, 10)
    assert info.value.rule == "project-not-suspended"
    ledger_ok(engine)


def test_ca_labels_follow_quantities_and_a_wrong_applied_is_corrected_on_evidence(engine, world):
    authorized(world)
    issue(world, 1000)
    _retire(world, 800)
    btr = Evidence(EvidenceKind.ca_applied, "BTR1 table 4 row 9", None, 100, AT.year)
    with transaction(engine) as s:
        record = adjustment_ops.confirm_ca_applied(s, world.project, 2023, btr, actor="admin")
        assert record.status is CAStatus.pending  # 100 t of 800 t: not "CA applied" for the vintage
        assert adjustment_ops.ca_labels(s, world.project, 2023) == ((AT.year, "CA applied", 100),
                                                                    (AT.year, "Pending CA", 700))
        (retired,) = report_ops.retired_article6(s)[1]
        assert (retired.ca_applied, retired.ca_label) == (100, "Pending CA")  # of 800 t: 100 covered
        (isl,) = report_ops.annual_report_for(s, AT.year).countries
        assert (isl.ca_applied, isl.ca_pending) == (100, 700)
        record = adjustment_ops.confirm_ca_applied(s, world.project, 2023, replace(btr, quantity=700), actor="admin")
    assert record.status is CAStatus.applied
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        adjustment_ops.correct_ca_status(s, world.project, 2023, status=CAStatus.pending, evidence=None,
                                         reason="wrong project", actor="admin")
    assert (info.value.rule, info.value.field) == ("ca-correction-evidence", "evidence")
    assert "§II.2, §IV" in info.value.detail
    assert snapshot(engine) == before
    erratum = Evidence(EvidenceKind.correction, "BTR1 erratum: row 9 is project 78041", None)
    with transaction(engine) as s:
        record = adjustment_ops.correct_ca_status(s, world.project, 2023, status=CAStatus.pending, evidence=erratum,
                                                  reason="the report names another project", actor="admin")
        assert adjustment_ops.ca_labels(s, world.project, 2023) == ((AT.year, "Pending CA", 800),)
        (history,) = s.exec(select(A6CAHistory).where(A6CAHistory.transition == "correct_to_pending")).all()
        assert (history.from_status, history.to_status, history.evidence) == (
            int(CAStatus.applied), int(CAStatus.pending), erratum.reference)
        assert s.exec(select(CreditClass).where(CreditClass.letter_number > 0)).one().ca_status == CAStatus.pending
    assert [h.transition for h in record.history] == ["open", "confirm_applied_in_part", "confirm_applied",
                                                      "correct_to_pending"]
    ledger_ok(engine)


def test_credible_evidence_before_the_cutoff_prevents_the_event(engine, world):
    authorized(world)
    issue(world, 1000)
    _retire(world, 100, when=datetime(2024, 5, 2, tzinfo=timezone.utc))
    with transaction(engine) as s:
        adjustment_ops.add_ca_evidence(s, world.project, 2023, Evidence(EvidenceKind.intention, "ministry letter", None),
                                       actor="admin", at=datetime(2026, 4, 1, tzinfo=timezone.utc))
        assert adjustment_ops.detect_non_ca_events(s, at=datetime(2026, 6, 1, tzinfo=timezone.utc), actor="cron") == []
        assert adjustment_ops.ca_status(s, world.project, 2023).status is CAStatus.pending


def test_non_ca_by_decision_suspends_until_rectified(engine, world):
    authorized(world)
    issue(world, 1000)  # deposit 100 of vintage 2023
    _retire(world, 100)
    with transaction(engine) as s:
        events = adjustment_ops.record_no_ca(s, world.project, 2023, reason="BTR shows no CA", actor="admin")
    assert [(e.quantity, e.trigger) for e in events] == [(100, NonCATrigger.decision)]
    with Session(engine) as s:
        assert project_ops.project_article6(s, world.project).status is ProjectStatus.suspended
        assert compensation_ops.outstanding_compensation(s, world.project) == 100
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        project_ops.reinstate_project(s, world.project, evidence="x", actor="admin")
    assert info.value.rule == "rectified-before-reinstatement"
    assert "no CA confirmed" in info.value.detail and "100 t of non-CA compensation" in info.value.detail
    # the deposit of 2023 is itself subject to the double claim: the proponent deposits instead
    with transaction(engine) as s:
        steps = compensation_ops.compensate_non_ca_event(s, events[0].id, notified_on=date(2026, 11, 2), actor="admin",
                                                         replacement_purchase=100, replacement_evidence="")
    assert [(st.kind, st.quantity, st.status.value) for st in steps] == [("purchase_replacements", 100, "due")]
    assert steps[0].due_by == date(2027, 1, 25)  # 60 business days after 2 November 2026
    with transaction(engine) as s:
        compensation_ops.complete_replacement(s, steps[0].id, evidence="Registry X cancellation 77", actor="admin")
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        compensation_ops.complete_replacement(s, steps[0].id, evidence="again", actor="admin")
    assert info.value.rule == "replacement-due"
    with Session(engine) as s:
        assert compensation_ops.outstanding_compensation(s, world.project) == 0
        assert s.get(A6NonCAEvent, events[0].id).status.value == "compensated"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        project_ops.reinstate_project(s, world.project, evidence="x", actor="admin")
    assert info.value.rule == "rectified-before-reinstatement" and "no CA confirmed" in info.value.detail
    evidence = Evidence(EvidenceKind.ca_applied, "BTR2: CA applied for 2023", None, 100, AT.year)
    with transaction(engine) as s:  # the last condition of §V.b holds: the suspension lifts
        adjustment_ops.confirm_ca_applied(s, world.project, 2023, evidence, actor="admin")
    with Session(engine) as s:
        project = project_ops.project_article6(s, world.project)
        history = s.exec(select(A6ProjectHistory).where(A6ProjectHistory.project_id == world.project)).all()
    assert project.status is ProjectStatus.authorized
    assert [h.transition for h in history] == ["request_authorization", "authorize", "suspend", "reinstate"]
    issue(world, 10)
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        compensation_ops.compensate_non_ca_event(s, events[0].id, notified_on=date(2026, 11, 2), actor="admin")
    assert info.value.rule == "event-compensated"


def test_compensation_follows_the_order_of_section_v_b(engine, world):
    authorized(world, **widen(quantity_cap=None))
    issue(world, 1000)  # 2023: deposit 100, proponent 900
    issue(world, 500, vintage=2024)  # 2024: deposit 50 (own excess), proponent 450
    # another project with deposits in the adjustment account
    with transaction(engine) as s:
        other = register_project(s, project_number=90001, name="Other", country="ISL", dial_code="354",
                                     sector=14, credit_type="R", methodology="ICR-M-001")
        project_ops.configure_project(s, other.id, adjustment_percentage="20", risk_assessment="RA-2", actor="admin",
                                      methodology_approved=True)
        aops.register_additionality(s, other.id, claims(), actor="vvb")
        letter = letter_ops.submit_letter(s, project_id=other.id, document="d", actor="p", content=content(
            activity=replace(content().activity, project_number=90001)))
        letter_ops.start_letter_review(s, letter.id, actor="r")
        letter_ops.approve_letter(s, letter.id, authenticity_confirmed=True, published_ref="u", actor="r")
        designation_ops.issue_article6(s, project_id=other.id, vintage=2023, quantity=100,
                                       account_id=world.buyer_account, **verified_year(2023),
                                       actor="admin")  # deposit 20
    _retire(world, 400)
    with transaction(engine) as s:
        (event,) = adjustment_ops.record_no_ca(s, world.project, 2023, reason="no CA", actor="admin", suspend=False)
    with transaction(engine) as s:
        steps = compensation_ops.compensate_non_ca_event(s, event.id, notified_on=date(2026, 11, 2), actor="admin",
                                                         proponent_account_id=world.account, proponent_deposit=30,
                                                         replacement_purchase=100, replacement_evidence="Registry X #9")
    # 400 t: 50 own 2024 excess, 20 of project 90001, 30 deposited, 100 replaced, then the
    # proponent's 2024 holdings (450 - 30 deposited = 420 -> 200 needed)
    assert [(st.seq, st.kind, st.quantity, st.status.value) for st in steps] == [
        (1, "cancel_own_excess", 50, "done"), (2, "cancel_other_excess", 20, "done"),
        (3, "proponent_deposit", 30, "done"), (4, "purchase_replacements", 100, "done"),
        (5, "cancel_subsequent_holdings", 200, "done")]
    assert steps[0].evidence == "ICR-ISL-354-78040-14-R-1-2024-000001-000050"
    assert steps[1].evidence == "ICR-ISL-354-90001-14-R-1-2023-000001-000020"
    assert steps[2].evidence == "ICR-ISL-354-78040-14-R-1-2024-000051-000080"
    assert steps[4].evidence == "ICR-ISL-354-78040-14-R-1-2024-000081-000280"
    with Session(engine) as s:
        cancelled = s.exec(select(Cancellation).where(
            Cancellation.reason == CancellationReason.non_ca_compensation).order_by(Cancellation.id)).all()
        assert [(c.quantity, c.reference) for c in cancelled] == [
            (50, f"a6-compensation:{steps[0].id}"), (20, f"a6-compensation:{steps[1].id}"),
            (30, f"a6-compensation:{steps[2].id}"), (200, f"a6-compensation:{steps[4].id}")]
        assert compensation_ops.outstanding_compensation(s, world.project) == 0
    # the 2023 deposit (subject to the double claim) stayed where it was
    adjustment = blocks_of(engine, adjustment_id(engine))
    assert ("ICR-ISL-354-78040-14-R-1-2023", 1, 100, "active") in adjustment
    ledger_ok(engine)


def test_compensation_deducts_from_future_issuances(engine, world):
    authorized(world)
    issue(world, 100, vintage=2023)  # deposit 10 of 2023 (subject to the double claim)
    _retire(world, 80)
    with transaction(engine) as s:
        (event,) = adjustment_ops.record_no_ca(s, world.project, 2023, reason="no CA", actor="admin", suspend=False)
        steps = compensation_ops.compensate_non_ca_event(s, event.id, notified_on=date(2026, 11, 2), actor="admin")
    # the proponent's 10 remaining 2023 ICCs are subject to the double claim too: all 80 deferred
    assert [(st.kind, st.quantity, st.status.value) for st in steps] == [("deduct_future_issuances", 80, "outstanding")]
    first = issue(world, 50, vintage=2024)  # deposit 5, 45 to the proponent: all deducted
    assert (first.designation.deducted, first.deducted_blocks) == (45, ["ICR-ISL-354-78040-14-R-1-2024-000006-000050"])
    second = issue(world, 100, vintage=2024)  # deposit 10, then the remaining 35 deducted
    assert second.designation.deducted == 35
    assert second.deducted_blocks == ["ICR-ISL-354-78040-14-R-1-2024-000061-000095"]
    with Session(engine) as s:
        step = s.get(A6CompensationStep, steps[0].id)
        assert (step.completed, step.status.value) == (80, "done")
        assert compensation_ops.outstanding_compensation(s, world.project) == 0
    third = issue(world, 10, vintage=2024)
    assert third.designation.deducted == 0
    ledger_ok(engine)


def test_a_lapsed_replacement_purchase_moves_to_step_5_and_the_suspension_lifts(engine, world):
    authorized(world)
    issue(world, 100, vintage=2023)  # deposit 10 of 2023 (subject to the double claim)
    _retire(world, 80)
    with transaction(engine) as s:
        (event,) = adjustment_ops.record_no_ca(s, world.project, 2023, reason="no CA", actor="admin")
        (step,) = compensation_ops.compensate_non_ca_event(s, event.id, notified_on=date(2026, 11, 2), actor="admin",
                                                           replacement_purchase=80)
    assert (step.kind, step.status.value, step.due_by) == ("purchase_replacements", "due", date(2027, 1, 25))
    with transaction(engine) as s:  # on the last business day it is still due
        assert compensation_ops.lapse_replacements(s, on=date(2027, 1, 25), actor="cron") == []
        assert compensation_ops.outstanding_compensation(s, world.project) == 80
    with transaction(engine) as s:
        new = compensation_ops.lapse_replacements(s, on=date(2027, 1, 26), actor="cron")
        assert compensation_ops.lapse_replacements(s, on=date(2027, 2, 26), actor="cron") == []  # idempotent
    # the proponent's 2023 ICCs are subject to the double claim: everything goes to future issuances
    assert [(st.kind, st.quantity, st.status.value, st.seq) for st in new] == [
        ("deduct_future_issuances", 80, "outstanding", 2)]
    with Session(engine) as s:
        assert s.get(A6CompensationStep, step.id).status.value == "lapsed"
        assert compensation_ops.outstanding_compensation(s, world.project) == 0  # planned: rectified
        assert project_ops.project_article6(s, world.project).status is ProjectStatus.suspended  # no CA confirmed
    with pytest.raises(Conflict) as info, transaction(engine) as s:
        compensation_ops.complete_replacement(s, step.id, evidence="too late", actor="admin")
    assert info.value.rule == "replacement-due"
    btr = Evidence(EvidenceKind.ca_applied, "BTR2: CA applied", None, 80, AT.year)
    with transaction(engine) as s:  # the last condition of §V.b: the suspension lifts by itself
        adjustment_ops.confirm_ca_applied(s, world.project, 2023, btr, actor="admin")
    with Session(engine) as s:
        project = project_ops.project_article6(s, world.project)
    assert project.status is ProjectStatus.authorized and project.history[-1].transition == "reinstate"
    assert issue(world, 100, vintage=2024).designation.deducted == 80  # step 5 takes the next issuance
    ledger_ok(engine)


def test_compensation_with_additional_double_claim_leaves_the_rest_unresolved(engine, world):
    authorized(world)
    issue(world, 100)
    _retire(world, 50)
    with transaction(engine) as s:
        (event,) = adjustment_ops.record_no_ca(s, world.project, 2023, reason="no CA", actor="admin", suspend=False)
        steps = compensation_ops.compensate_non_ca_event(s, event.id, notified_on=date(2026, 11, 2), actor="admin",
                                                         additional_double_claim=True)
        assert steps == []
        assert compensation_ops.outstanding_compensation(s, world.project) == 50
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        compensation_ops.compensate_non_ca_event(s, event.id, notified_on=date(2026, 11, 2), actor="admin",
                                                 proponent_deposit=10)
    assert info.value.rule == "proponent-deposit-account"
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        compensation_ops.compensate_non_ca_event(s, event.id, notified_on=date(2026, 11, 2), actor="admin",
                                                 proponent_account_id=world.account, proponent_deposit=10)
    assert info.value.rule == "sufficient-active-credits"  # its 2023 ICCs are subject to the double claim
    assert snapshot(engine) == before


# --------------------------------------------------------------------------------------------
# Annual report (§III) from stored data
# --------------------------------------------------------------------------------------------


def test_annual_report_from_stored_data(engine, world):
    authorized(world, uses=frozenset({AuthorizedUse.ndc, AuthorizedUse.corsia, AuthorizedUse.other}),
               other_uses_description="voluntary claims with a CA")
    issue(world, 1000, monitoring_start=date(2023, 1, 1), monitoring_end=date(2023, 6, 30))
    with transaction(engine) as s:
        h2 = {**verified_year(2023), "monitoring_start": date(2023, 7, 1)}
        issue_ex_post(s, project_id=world.project, vintage=2023, **h2, quantity=200, account_id=world.account)
        designation_ops.convert_to_article6(s, project_id=world.project, account_id=world.account, vintage=2023,
                                            monitoring_start=h2["monitoring_start"], monitoring_end=MP[1], quantity=200,
                                            actor="admin")
    _retire(world, 100, Purpose.ndc)
    _retire(world, 70, Purpose.corsia, corsia_operator="Icelandair", corsia_state="ISL", compliance_period_start=2024,
            compliance_period_end=2026)
    _retire(world, 30, Purpose.voluntary)
    _retire(world, 5, Purpose.ndc, when=datetime(2024, 6, 1, tzinfo=timezone.utc))  # another year
    year = AT.year
    with Session(engine) as s:
        report = report_ops.annual_report_for(s, year)
    (isl,) = report.countries
    assert (isl.host_country, isl.issued) == ("ISL", 1200)
    assert (isl.retired_ndc, isl.retired_corsia, isl.retired_voluntary) == (100, 70, 30)
    assert (isl.ca_pending, isl.ca_applied, isl.ca_not_applied) == (200, 0, 0)
    assert (isl.max_authorized, isl.uncapped_letters) == (10_000, 0)  # a year of the letter's vintages (2020-2030)
    assert report.corsia_by_period == (("ISL", "2024-2026", 70),)
    with Session(engine) as s:
        earlier = report_ops.annual_report_for(s, 2025)
    assert earlier.countries[0].max_authorized == 10_000 and earlier.countries[0].issued == 0
    data = json.loads(a6_reports.report_to_json(report))
    assert data["year"] == year and data["countries"][0]["retired_ndc"] == 100
    rows = list(csv.DictReader(io.StringIO(a6_reports.report_to_csv(report))))
    assert {"year": str(year), "host_country": "ISL", "metric": "retired_corsia_period",
            "compliance_period": "2024-2026", "quantity": "70"} in rows


def test_annual_report_editions_are_frozen_and_corrected_never_changed(engine, world):
    letter_id = authorized(world)
    issue(world, 1000)
    with transaction(engine) as s:  # transfers of Article 6.2 ICCs are reported
        serialization = s.exec(select(Serialization).where(Serialization.article6 == True)).one()  # noqa: E712
        transfer(s, from_account_id=world.account, to_account_id=world.buyer_account,
                 serialization_id=serialization.id, quantity=70)
    year, due = AT.year, date(AT.year + 1, 6, 30)
    with transaction(engine) as s:
        assert report_ops.publish_annual_reports(s, today=due, actor="cron") == []  # not due on the last day
        (first,) = report_ops.publish_annual_reports(s, today=due + timedelta(days=1), actor="cron")
        assert report_ops.publish_annual_reports(s, today=due + timedelta(days=2), actor="cron") == []
    assert (first.year, first.edition, first.kind, first.supersedes) == (year, 1, "original", None)
    frozen = json.loads(first.content)
    (isl,) = frozen["countries"]
    assert (isl["issued"], isl["transferred"], isl["max_authorized"]) == (1000, 70, 10_000)
    assert first.sha256 == hashlib.sha256(first.content.encode()).hexdigest()
    with transaction(engine) as s:  # a later withdrawal changes the figures of that year: a correction
        letter_ops.withdraw_letter(s, letter_id, note="host country withdrew", actor="admin")
    with transaction(engine) as s:
        (second,) = report_ops.publish_annual_reports(s, today=due + timedelta(days=30), actor="cron")
    assert (second.edition, second.kind, second.supersedes) == (2, "correction", first.id)
    assert json.loads(second.content)["countries"][0]["max_authorized"] == 0
    with Session(engine) as s:
        (original, correction) = report_ops.editions(s, year)
        assert (original.content, original.sha256) == (first.content, first.sha256)  # never changed
        assert correction.sha256 != original.sha256
        kinds = [e.kind for e in s.exec(select(LedgerEntry).order_by(LedgerEntry.seq)).all()]
    assert kinds.count("article6.annual_report.published") == 2
    ledger_ok(engine)


def test_retirement_is_limited_to_the_letters_uses(engine, world):
    authorized(world)
    issue(world, 10)
    with pytest.raises(RuleViolation) as info:
        _retire(world, 1, Purpose.voluntary)
    assert info.value.rule == "retirement-use-authorized"
    with Session(engine) as s:
        assert s.exec(select(Retirement)).all() == []
        assert {b.status for b in s.exec(select(SerialBlock))} == {CreditStatus.active}


def test_one_letter_per_article6_vintage(engine, world):
    first = authorized(world)
    issue(world, 10)
    with transaction(engine) as s:
        letter_ops.withdraw_letter(s, first, note="replaced", actor="admin")
    authorized(world)
    with pytest.raises(Conflict) as info:
        issue(world, 10)
    assert info.value.rule == "one-letter-per-article6-vintage"
    issue(world, 10, vintage=2024)  # another vintage takes the new letter



# --------------------------------------------------------------------------------------------
# Real concurrency on PostgreSQL
# --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_designations_never_exceed_the_cap(postgres_url):
    from bridge.schema import create_schema
    from registry.db import make_engine
    from tests.registry.operations.test_concurrency import race

    engine = make_engine(postgres_url)
    create_schema(engine)
    try:
        world = make_world(engine)
        letter_id = authorized(world)
        args = dict(project_id=world.project, vintage=2023, quantity=6000, account_id=world.account,
                    **verified_year(2023), actor="admin")
        results = race(engine, lambda s: designation_ops.issue_article6(s, **args),
                       lambda s: designation_ops.issue_article6(s, **args))
        done = [r for r in results if isinstance(r, DesignationResult)]
        refused = [r for r in results if isinstance(r, RuleViolation)]
        assert len(done) == 1 and len(refused) == 1, results
        assert refused[0].rule == "quantity-cap"
        with Session(engine) as s:
            assert designation_ops.designated_so_far(s, letter_id) == 6000
        _retire(world, 100)
        with transaction(engine) as s:
            (event,) = adjustment_ops.record_no_ca(s, world.project, 2023, reason="no CA", actor="admin", suspend=False)
        compensate = dict(notified_on=date(2026, 11, 2), actor="admin", replacement_purchase=100,
                          replacement_evidence="Registry X")
        results = race(engine, lambda s: compensation_ops.compensate_non_ca_event(s, event.id, **compensate),
                       lambda s: compensation_ops.compensate_non_ca_event(s, event.id, **compensate))
        assert sorted(type(r).__name__ for r in results) == ["Conflict", "list"], results
        with Session(engine) as s:
            assert len(s.exec(select(A6CompensationStep)).all()) == 1
        ledger_ok(engine)
    finally:
        engine.dispose()


def test_a_conversion_over_the_letters_cap_is_refused_under_the_cap_rule(engine, world):
    """The credits are there, the letter's room is not: the refusal names the cap (§I.4.6), not
    a shortage of credits."""
    with transaction(engine) as s:
        issue_ex_post(s, project_id=world.project, vintage=2023, **verified_year(2023), quantity=800, account_id=world.account)
    authorized(world, **widen(quantity_cap=500))
    before = snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        designation_ops.convert_to_article6(s, project_id=world.project, account_id=world.account, vintage=2023,
                                            monitoring_start=MP[0], monitoring_end=MP[1], quantity=600, actor="admin")
    assert (info.value.rule, info.value.field) == ("quantity-cap", "quantity")
    assert "leaves room for 500 t, not 600" in info.value.detail
    assert snapshot(engine) == before
