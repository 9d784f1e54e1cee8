"""A registry prepared for Article 6.2 tests: a proponent with an account, project 78040 (ISL,
removals), Iceland's Article 6.2 framework, a risk assessment (10 % deposit), additionality
claims, and helpers to take a letter through its life."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timezone

from sqlmodel import Session, select

from registry.db import transaction
from registry.operations import additionality as aops
from registry.operations.accounts import create_organization, open_account
from registry.operations.article6 import designation as designation_ops
from registry.operations.article6 import letters as letter_ops
from registry.operations.article6 import projects as project_ops
from registry.operations.article6.designation import DesignationResult
from registry.operations.projects import register_project
from registry.tables.core import LedgerEntry, SerialBlock
from tests.registry.domain.test_article6 import content
from tests.support.periods import verified

PROJECT = 78040
AT = datetime.now(timezone.utc).replace(microsecond=0)
ON = AT.date()
MP = (date(2023, 1, 1), date(2023, 12, 31))  # a monitoring period within the letter's crediting period


@dataclass
class World:
    engine: object
    org: int
    account: int
    buyer_org: int
    buyer_account: int
    project: int


def claims(level2: str = "2a") -> aops.ClaimsIn:
    src = {"reference": "Statistics Iceland 2025", "authority": "Hagstofa", "published_on": "2025-05-01"}
    return aops.ClaimsIn.model_validate({
        "crediting_start": "2021-01-01", "crediting_end": "2030-12-31",
        "claims": [
            {"level": "1", "justification": "baseline per methodology"},
            {"level": level2, "justification": "no law requires the activity", "sources": [src]},
            {"level": "3", "justification": "financing barrier", "sources": [src],
             "method": "barrier analysis"},
        ]})


def make_world(engine, *, pct: str = "10", level2: str = "2a", configure: bool = True) -> World:
    with transaction(engine) as s:
        org = create_organization(s, "Proponent ehf.")
        account = open_account(s, org.id, "main")
        buyer = create_organization(s, "Buyer AG")
        buyer_account = open_account(s, buyer.id, "buyer")
        project = register_project(s, project_number=PROJECT, name="Geothermal CO2 mineralization", country="ISL",
                                       dial_code="354", sector=14, credit_type="R", methodology="ICR-M-001")
        project_ops.set_host_country(s, "ISL", article6_framework=True, reference="Act 2024/12", actor="admin")
        if configure:
            project_ops.configure_project(s, project.id, adjustment_percentage=pct, risk_assessment="RA-2026-01",
                                          methodology_approved=True, proponent_organization_id=org.id, actor="admin")
        aops.register_additionality(s, project.id, claims(level2), actor="vvb")
    return World(engine, org.id, account.id, buyer.id, buyer_account.id, project.id)


def submit(world: World, **changes) -> int:
    with transaction(world.engine) as s:
        return letter_ops.submit_letter(s, project_id=world.project, content=content(**changes), document="sha256:abc",
                                        actor="proponent").id


def approve(world: World, letter_id: int) -> None:
    with transaction(world.engine) as s:
        letter_ops.start_letter_review(s, letter_id, actor="reviewer")
        letter_ops.approve_letter(s, letter_id, authenticity_confirmed=True,
                                  published_ref=f"https://icr/letters/{letter_id}", actor="reviewer")


def authorized(world: World, **changes) -> int:
    letter_id = submit(world, **changes)
    approve(world, letter_id)
    return letter_id


def issue(world: World, quantity: int = 1000, vintage: int = 2023, **kwargs) -> DesignationResult:
    """Designate at issuance, by default for the next free day of the vintage year, verified."""
    with transaction(world.engine) as s:
        args = dict(project_id=world.project, vintage=vintage, quantity=quantity, account_id=world.account,
                    actor="admin", **verified(s, world.project, vintage))
        args.update(kwargs)
        return designation_ops.issue_article6(s, **args)


def snapshot(engine) -> tuple:
    """Everything an operation could change: blocks, ledger length, Article 6.2 rows."""
    from registry.tables.article6 import A6CARecord, A6Designation, A6Letter, A6NonCAEvent, A6Project

    with Session(engine) as s:
        blocks = sorted((b.serialization_id, b.unit_first, b.unit_last, b.account_id, b.status.value)
                        for b in s.exec(select(SerialBlock)))
        entries = len(s.exec(select(LedgerEntry)).all())
        rows = tuple(sorted(str(r.model_dump(exclude={"updated_at"})) for model in
                            (A6Letter, A6Project, A6Designation, A6CARecord, A6NonCAEvent)
                            for r in s.exec(select(model))))
    return blocks, entries, rows


def widen(**outcomes) -> dict:
    return {"outcomes": replace(content().outcomes, **outcomes)}


__all__ = ["AT", "MP", "ON", "PROJECT", "World", "approve", "authorized", "claims", "content", "issue",
           "make_world", "snapshot", "submit", "widen"]
