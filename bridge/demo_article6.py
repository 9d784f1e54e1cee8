"""The demo's Article 6.2 part, so its explorer shows a CA state and the annual-report chart:
Iceland's Article 6.2 framework, the project's additionality claims and adjustment deposit, a
letter of authorization received, reviewed and published, Article 6.2 ICCs of vintage 2024
issued into the holding account (the deposit goes to the non-CA adjustment account), a CORSIA
retirement from the registry, and the host country's corresponding adjustment confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session

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
from registry.domain.classes import CAStatus, Purpose
from registry.domain.lifecycle import RetirementDetails
from registry.operations import additionality as adops
from registry.operations.article6 import adjustments, designation, letters, projects
from registry.operations.retirements import retire
from registry.tables.article6 import A6Letter
from registry.tables.core import Project

VINTAGE = 2024
ISSUED = 200
RETIRED_CORSIA = 25


@dataclass
class Article6Demo:
    token_id: str
    letter_id: int
    issued: int
    deposit: int
    retired_corsia: int
    ca_status: str


def letter_for(project: Project, quantity_cap: int = 5_000) -> LetterContent:
    """A letter of authorization (§I.1-I.11) for ``project``: Iceland authorizes removals of
    vintages 2021-2030 up to ``quantity_cap`` for another party's NDC and for CORSIA."""
    return LetterContent(
        authorizing_party=AuthorizingParty("ISL", "Ministry of the Environment, Energy and Climate", "Demo Official",
                                           "Director General", "Environment Agency of Iceland",
                                           "Reykjavík, +354 000 0000"),
        cooperative_approach=CooperativeApproach(("ISL", "CHE"), "International Carbon Registry",
                                                 "Iceland-Switzerland bilateral (demo)", "DEMO-CA-1"),
        activity=AuthorizedActivity(project.name, project.project_number, "Nordic Removals hf.",
                                    f"{project.sector} carbon capture and storage", project.methodology,
                                    project.country),
        outcomes=AuthorizedOutcomes(MitigationType.removal, VintageRange(2021, 2030),
                                    Period(date(2021, 1, 1), date(2030, 12, 31)), quantity_cap=quantity_cap),
        uses=frozenset({AuthorizedUse.ndc, AuthorizedUse.corsia}),
        validity=Validity(date(2025, 6, 1), date(2025, 7, 1), date(2031, 12, 31)),
        change_terms="The authority notifies ICR in writing without delay.",
        first_transfer=FirstTransfer.use,
        ca_timing="in the year of first transfer",
        accounting_method="multi-year emissions trajectory",
    )


def authorize_article6(session: Session, project: Project, *, quantity_cap: int, published_ref: str, actor: str,
                       reviewer: str) -> A6Letter:
    """Make ``project`` eligible for Article 6.2 issuance (never commits): its additionality
    claims (levels 1 and 2a), the host country's framework, the adjustment deposit (5 %) and an
    approved methodology, and :func:`letter_for` received, reviewed and published."""
    adops.register_additionality(session, project.id, adops.ClaimsIn(
        crediting_start=date(2021, 1, 1), crediting_end=date(2030, 12, 31), claims=[
            adops.ClaimIn(level=Level.L1, justification="Removes CO2 that would otherwise stay in the air.",
                          sources=[adops.SourceIn(reference="Project design document §3", authority="ICR")]),
            adops.ClaimIn(level=Level.L2A, justification="No law requires direct air capture and storage.",
                          sources=[adops.SourceIn(reference="Act 70/2022", authority="Althingi")]),
        ]), actor=actor)
    projects.set_host_country(session, project.country, article6_framework=True, reference="Act 70/2022", actor=actor)
    projects.configure_project(session, project.id, adjustment_percentage="5",
                               risk_assessment="ICR risk assessment", methodology_approved=True, actor=actor)
    letter = letters.submit_letter(session, project_id=project.id, content=letter_for(project, quantity_cap),
                                   document="sha256:letter", actor=actor)
    letters.start_letter_review(session, letter.id, actor=reviewer)
    letters.approve_letter(session, letter.id, authenticity_confirmed=True, published_ref=published_ref,
                           actor=reviewer)
    return letter


def add_article6_demo(engine: Engine, project_id: int, account_id: int) -> Article6Demo:
    """Everything above in one registry transaction (the demo's registry is its own)."""
    with transaction(engine) as session:
        letter = authorize_article6(session, session.get(Project, project_id), quantity_cap=5_000,
                                    published_ref="https://registry.example/letters/demo", actor="demo",
                                    reviewer="demo reviewer")
        issued = designation.issue_article6(session, project_id=project_id, vintage=VINTAGE, quantity=ISSUED,
                                            account_id=account_id, monitoring_start=date(VINTAGE, 1, 1),
                                            monitoring_end=date(VINTAGE, 12, 31),
                                            verification_reference=f"Demo verification report {VINTAGE}",
                                            verification_body="Demo Verification Body",
                                            verified_on=date(VINTAGE + 1, 3, 1), actor="demo")
        used = retire(session, account_id=account_id, serialization_id=issued.designation.serialization_id,
               quantity=RETIRED_CORSIA, details=RetirementDetails(
                   purpose=Purpose.corsia, beneficiary_name="Icelandic airline (CORSIA)", corsia_operator="ICE",
                   corsia_state="ISL", compliance_period_start=2024, compliance_period_end=2026))
        # first transfer is use (the letter's §I.7.1 term): the CA covers the tonnes retired, in that year
        record = adjustments.confirm_ca_applied(
            session, project_id, VINTAGE, Evidence(EvidenceKind.ca_applied, "Iceland BTR1, table 4 (demo)", None,
                                                   RETIRED_CORSIA, used[0].created_at.year), actor="demo")
        return Article6Demo(token_id=str(issued.token_id), letter_id=letter.id, issued=ISSUED,
                            deposit=issued.designation.deposit, retired_corsia=RETIRED_CORSIA,
                            ca_status=CAStatus(record.status).name)
