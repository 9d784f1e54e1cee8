"""An Article 6.2 class on top of a bridge test world (see harness.make_world): a host country
with a framework, an approved letter of authorization, an Article 6.2 issuance, tokens minted,
retired on-chain for another party's NDC and for CORSIA, synced, and the CA confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlmodel import select

from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine.cycle import run_cycle
from registry.bridged import custody
from registry.db import transaction
from registry.domain.additionality import Level
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.article6.letters import (
    AuthorizedActivity,
    AuthorizedOutcomes,
    AuthorizedUse,
    AuthorizingParty,
    CooperativeApproach,
    FirstTransfer,
    LetterContent,
    MitigationType,
    Period,
    Validity,
    VintageRange,
)
from registry.domain.classes import Purpose
from registry.operations import additionality as adops
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import designation as designation_ops
from registry.operations.article6 import letters as letter_ops
from registry.operations.article6 import projects as project_ops
from registry.tables.core import CreditClass, Project

VINTAGE = 2024


@dataclass
class Article6Class:
    class_id: int
    token_id: int
    letter_number: int
    issued: int
    deposit: int
    tokenized: int
    retired_ndc: int
    retired_corsia: int


def letter_content(project_number: int) -> LetterContent:
    return LetterContent(
        authorizing_party=AuthorizingParty("ISL", "Ministry of Environment", "A. Jónsdóttir", "Director",
                                           "Environment Agency of Iceland", "Reykjavík, +354 000 0000"),
        cooperative_approach=CooperativeApproach(("ISL", "CHE"), "ICR registry", "ISL-CHE bilateral", "CA-1"),
        activity=AuthorizedActivity("P", project_number, "Proponent ehf.", "14 CCS", "M", "ISL"),
        outcomes=AuthorizedOutcomes(MitigationType.removal, VintageRange(2021, 2030),
                                    Period(date(2021, 1, 1), date(2030, 12, 31)), quantity_cap=10_000),
        uses=frozenset({AuthorizedUse.ndc, AuthorizedUse.corsia}),
        validity=Validity(date(2025, 6, 1), date(2025, 7, 1), date(2031, 12, 31)),
        change_terms="The authority notifies ICR in writing without delay.",
        first_transfer=FirstTransfer.use,
        ca_timing="in the year of first transfer",
        accounting_method="multi-year emissions trajectory",
    )


def add_article6_class(world, issued: int = 500, tokenized: int = 200, ndc: int = 30, corsia: int = 20,
                       confirm_ca: bool = True) -> Article6Class:
    engine = world.engine
    with transaction(engine) as s:
        project = s.exec(select(Project)).one()
        adops.register_additionality(s, project.id, adops.ClaimsIn(
            crediting_start=date(2021, 1, 1), crediting_end=date(2030, 12, 31), claims=[
                adops.ClaimIn(level=Level.L1, justification="Removes CO2 that would otherwise stay in the air.",
                              sources=[adops.SourceIn(reference="Project design document §3", authority="ICR")]),
                adops.ClaimIn(level=Level.L2A, justification="No law requires direct air capture.",
                              sources=[adops.SourceIn(reference="Act 70/2022", authority="Althingi")]),
            ]), actor="admin")
        project_ops.set_host_country(s, "ISL", article6_framework=True, reference="Act 70/2022", actor="admin")
        project_ops.configure_project(s, project.id, adjustment_percentage="5", risk_assessment="ICR risk assessment 1",
                                      methodology_approved=True, actor="admin")
        letter = letter_ops.submit_letter(s, project_id=project.id, content=letter_content(project.project_number),
                                          document="sha256:letter", actor="admin")
        letter_ops.start_letter_review(s, letter.id, actor="reviewer")
        letter_ops.approve_letter(s, letter.id, authenticity_confirmed=True,
                                  published_ref="https://registry.example/l/1", actor="reviewer")
        result = designation_ops.issue_article6(s, project_id=project.id, vintage=VINTAGE, quantity=issued,
                                                account_id=world.account_id, monitoring_start=date(VINTAGE, 1, 1),
                                                monitoring_end=date(VINTAGE, 12, 31), actor="admin",
                                                verification_reference=f"VR-{VINTAGE}", verification_body="VVB hf.",
                                                verified_on=date(VINTAGE + 1, 3, 1))
        credit_class = s.exec(select(CreditClass).where(CreditClass.token_id == result.token_id)).one()
        letter_number, project_id = letter.id, project.id
    with transaction(engine) as s:
        custody.request_tokenization(s, account_id=world.account_id, wallet=world.holder.address,
                                     class_id=credit_class.id, quantity=tokenized,
                                     custody_account_id=world.deployment.custody_account_id)
    run_cycle(engine, world.chain, world.keys)
    token_id = int(credit_class.token_id)
    for amount, details in (
        (ndc, RetirementData(purpose=Purpose.ndc, beneficiary_name="Swiss Confederation (NDC)", ndc_party="CHE")),
        (corsia, RetirementData(purpose=Purpose.corsia, beneficiary_name="Icelandic airline",
                                   corsia_operator="ICE", corsia_state="ISL", compliance_period_start=2024,
                                   compliance_period_end=2026)),
    ):
        fn = world.chain.token.functions.retire(token_id, amount, world.holder.address, "Holder", "", "Article 6.2 use",
                                                encode_retirement_data(details))
        world.chain.transact(world.holder, fn, "retire", gas=600_000)
    run_cycle(engine, world.chain, world.keys)
    if confirm_ca:
        with transaction(engine) as s:
            adjustment_ops.confirm_ca_applied(s, project_id, VINTAGE,
                                              Evidence(EvidenceKind.ca_applied, "BTR1 table 4", None,
                                                       ndc + corsia, datetime.now(timezone.utc).year),
                                              actor="admin")
    return Article6Class(credit_class.id, token_id, letter_number, issued, result.designation.deposit, tokenized,
                         ndc, corsia)
