"""The uses of Article 6.2 credit classes, kept in the registry (:mod:`registry.domain.article6.uses`
says how they are derived): ``CreditClass.requested_uses`` (what its designations asked for) and
``CreditClass.authorized_uses`` (what its ICCs may be retired for now, which the bridge pushes
on-chain with ``setClassUses``).

:func:`refresh_class_uses` runs in the transaction of every change the uses depend on (a
letter's transition, a project's status, a CA status, a designation) and records each change
of a class's uses in the ledger. :func:`require_use` is the registry's retirement check.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from registry.domain.article6 import uses as a6_uses
from registry.domain.article6.letters import Letter, authorized_purposes
from registry.domain.article6.projects import ProjectStatus
from registry.domain.article6.rules import Refusal
from registry.domain.article6.uses import ClassUseFacts
from registry.domain.classes import CAStatus, Purpose, purposes_in, uses_mask
from registry.operations.article6.common import _now, _refuse
from registry.operations.ledger import append_entry
from registry.tables.article6 import A6Letter, A6Project, content_from_json
from registry.tables.core import CreditClass, Serialization


def _letter(row: A6Letter) -> Letter:
    return Letter(number=row.id, content=content_from_json(row.content), document=row.document, status=row.status)


def use_facts(session: Session, credit_class: CreditClass, *, requested: int | None = None) -> ClassUseFacts | None:
    """What the class's uses depend on; None for a standard class (its uses never change).
    ``requested`` replaces the class's requested uses (to ask what a designation would do)."""
    if not credit_class.letter_number:
        return None
    letter_row = session.get(A6Letter, credit_class.letter_number)
    serialization = session.get(Serialization, credit_class.serialization_id)
    a6row = session.exec(select(A6Project).where(A6Project.project_id == serialization.project_id)).first()
    letter = _letter(letter_row)
    return ClassUseFacts(
        requested=purposes_in(credit_class.requested_uses if requested is None else requested),
        letter_uses=authorized_purposes(letter), letter_status=letter.status,
        first_transfer=letter.content.first_transfer,
        project_suspended=a6row is not None and a6row.status is ProjectStatus.suspended,
        ca_status=CAStatus(credit_class.ca_status))


def refresh_class_uses(session: Session, *, project_id: int | None = None, letter_number: int | None = None,
                       class_ids: list[int] | None = None, actor: str, at: datetime | None = None,
                       reason: str = "") -> list[CreditClass]:
    """Recompute the uses of the Article 6.2 classes of a project, a letter or the given ids;
    each class whose uses changed is stored with a ledger entry (``article6.class_uses``).
    Returns the classes that changed."""
    at = _now(at)
    stmt = select(CreditClass).join(Serialization, Serialization.id == CreditClass.serialization_id).where(
        Serialization.article6 == True)  # noqa: E712
    if project_id is not None:
        stmt = stmt.where(Serialization.project_id == project_id)
    if letter_number is not None:
        stmt = stmt.where(CreditClass.letter_number == letter_number)
    if class_ids is not None:
        stmt = stmt.where(CreditClass.id.in_(class_ids))
    changed = []
    for credit_class in session.exec(stmt.order_by(CreditClass.id)).all():
        facts = use_facts(session, credit_class)
        if facts is None:
            continue
        mask = uses_mask(a6_uses.class_uses(facts))
        if mask == credit_class.authorized_uses:
            continue
        previous = credit_class.authorized_uses
        credit_class.authorized_uses = mask
        session.add(credit_class)
        session.flush()
        changed.append(credit_class)
        held = {p.name: f"{r.rule.id} ({r.rule.section})" for p, r in _withheld(facts)}
        append_entry(session, "article6.class_uses", {
            "token_id": credit_class.token_id, "from": sorted(p.name for p in purposes_in(previous)),
            "to": sorted(p.name for p in purposes_in(mask)),
            "requested": sorted(p.name for p in facts.requested), "withheld": held, "reason": reason,
            "at": at.isoformat(), "actor": actor})
    return changed


def _withheld(facts: ClassUseFacts) -> list[tuple[Purpose, Refusal]]:
    return [(p, r) for p in sorted(facts.requested) if (r := a6_uses.use_refusal(facts, p)) is not None]


def withheld_uses(session: Session, credit_class: CreditClass) -> list[tuple[Purpose, Refusal]]:
    """The uses requested at designation that the class's ICCs cannot be retired for now, each
    with the refusal naming why (the letter narrowed or withdrawn, a hold); empty for standard
    classes."""
    facts = use_facts(session, credit_class)
    return [] if facts is None else _withheld(facts)


def use_refusal(session: Session, credit_class: CreditClass, purpose: Purpose) -> Refusal | None:
    """Why ICCs of the class cannot be retired for ``purpose`` now (None if they can, and for
    standard classes, whose uses the retirement rules check)."""
    facts = use_facts(session, credit_class)
    return None if facts is None else a6_uses.use_refusal(facts, purpose)


def require_use(session: Session, credit_class: CreditClass, purpose: Purpose) -> None:
    """Refuse (422 naming the rule and its section) a retirement the class's uses do not allow."""
    refusal = use_refusal(session, credit_class, purpose)
    if refusal is not None:
        _refuse([refusal])


def require_tokenizable(session: Session, credit_class: CreditClass) -> None:
    """Refuse tokenizing ICCs of an Article 6.2 class whose letter is withdrawn (§I.10.3)."""
    facts = use_facts(session, credit_class)
    if facts is not None:
        refusal = a6_uses.tokenization_refusal(facts.letter_status)
        if refusal is not None:
            _refuse([refusal])
