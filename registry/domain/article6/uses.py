"""The uses an Article 6.2 credit class carries now (§I.5, §I.7.1, §I.10, §V): derived from
the uses requested at its designations, its letter's current scope and status, the project's
status and the vintage's CA status; and the one refusal naming why a purpose is not among them.

A class (project, vintage, letter) is what a token id and a registry serialization stand for,
and its units are fungible on-chain, so a class carries one set of uses:

- **requested**: the intersection of the uses its designations asked for (a designation for
  NDC only is never retired for CORSIA). A designation into an existing class must leave the
  class's current uses as they are (:func:`designation_keeps_uses`), so holders never lose a
  use because someone designated more units.
- **narrowed** (§I.10.2, an amendment too): uses the letter no longer authorizes are removed.
- **withdrawn** (§I.10.3): the compliance uses (:data:`COMPLIANCE_PURPOSES`) are on hold.
- **first transfer** (§I.7.1): a change of the letter does not reach units already first
  transferred. Under the letter's definition "authorization" or "issuance" every unit of a
  class was first transferred when it was designated, so the class keeps its requested uses
  through a narrowing or a withdrawal (the host country still owes the CA for them); under
  "use or cancellation" only retired or cancelled units were first transferred and those are
  terminal, so every unit still held follows the letter's current scope. Inference: the
  Article 6.2 guidance's principle that a change of authorization does not apply to mitigation
  outcomes already first transferred; seed 003 does not say what a change does to issued ICCs.
- **project suspended** (§V.b) and **vintage marked "No CA applied"** (§V, §II.2): the
  compliance uses are on hold whatever the first transfer, since using them would be the
  double claim compensation is for. Reinstatement and a confirmed CA lift the hold.

The voluntary purpose (the letter's "other purposes") is not a compliance use: it stays while
the class carries it.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.domain.article6.letters import FirstTransfer, LetterStatus
from registry.domain.article6.rules import R_RETIREMENT_USE, Refusal, Rule
from registry.domain.classes import CAStatus, Purpose

#: Purposes a hold stops: the uses that claim a transfer the host country adjusts for.
COMPLIANCE_PURPOSES = frozenset({Purpose.corsia, Purpose.ndc, Purpose.other_international})

R_USE_REMOVED = Rule("use-removed-by-letter", "§I.10.2-3",
                     "a use the host country's letter no longer authorizes is not available to ICCs not yet "
                     "first transferred")
R_WITHDRAWN_HOLD = Rule("letter-withdrawn-hold", "§I.10.3, §I.7.1",
                        "compliance uses of ICCs not yet first transferred are on hold once the letter is withdrawn")
R_SUSPENDED_HOLD = Rule("project-suspended-hold", "§V.b",
                        "compliance uses of a suspended project's Article 6.2 ICCs are on hold until reinstatement")
R_NO_CA_HOLD = Rule("no-ca-applied-hold", "§V, §II.2",
                    "compliance uses of a vintage marked No CA applied are on hold")
R_TOKENIZE_WITHDRAWN = Rule("letter-withdrawn-tokenization", "§I.10.3",
                            "Article 6.2 ICCs under a withdrawn letter are not tokenized")
R_CLASS_USES_UNIFORM = Rule("class-uses-uniform", "§I.5, §II.1 (bridge)",
                            "the ICCs of one credit class carry one set of uses: a designation into a class "
                            "keeps the uses its ICCs carry")


@dataclass(frozen=True)
class ClassUseFacts:
    """What a class's current uses depend on."""

    requested: frozenset[Purpose]  # intersection of the uses its designations requested
    letter_uses: frozenset[Purpose]  # the letter's current scope (§I.5)
    letter_status: LetterStatus
    first_transfer: FirstTransfer  # the letter's definition (§I.7.1)
    project_suspended: bool = False
    ca_status: CAStatus = CAStatus.pending

    @property
    def first_transferred(self) -> bool:
        """Every unit still held was first transferred when designated (§I.7.1)."""
        return self.first_transfer is not FirstTransfer.use


def class_uses(facts: ClassUseFacts) -> frozenset[Purpose]:
    """The purposes the class's ICCs may be retired for now."""
    return frozenset(p for p in Purpose if use_refusal(facts, p) is None)


def use_refusal(facts: ClassUseFacts, purpose: Purpose) -> Refusal | None:
    """Why the class's ICCs cannot be retired for ``purpose`` now, naming the rule; None if
    they can. Checked in this order: requested at designation (§I.5), still in the letter's
    scope (§I.10.2-3), letter not withdrawn, vintage not marked No CA applied, project not
    suspended (the holds stop compliance purposes only)."""
    name = purpose.name
    if purpose not in facts.requested:
        return Refusal(R_RETIREMENT_USE, f"the designation of these ICCs did not request {name} "
                       f"(requested: {', '.join(sorted(p.name for p in facts.requested)) or 'none'})", "purpose")
    if not facts.first_transferred and purpose not in facts.letter_uses:
        return Refusal(R_USE_REMOVED, f"the letter ({facts.letter_status.value}) no longer authorizes {name}", "purpose")
    if purpose not in COMPLIANCE_PURPOSES:
        return None
    if facts.letter_status is LetterStatus.withdrawn and not facts.first_transferred:
        return Refusal(R_WITHDRAWN_HOLD, f"the letter is withdrawn: {name} is on hold", "purpose")
    if facts.ca_status is CAStatus.not_applied:
        return Refusal(R_NO_CA_HOLD, f"the vintage is marked No CA applied: {name} is on hold", "purpose")
    if facts.project_suspended:
        return Refusal(R_SUSPENDED_HOLD, f"the project is suspended: {name} is on hold", "purpose")
    return None


def designation_keeps_uses(facts: ClassUseFacts, requested: frozenset[Purpose]) -> Refusal | None:
    """A refusal if designating more ICCs into the class with ``requested`` uses would change
    what the class's ICCs may be used for now (they are fungible): the class's requested uses
    become the intersection, so ``requested`` must cover the uses the class carries."""
    current = class_uses(facts)
    after = class_uses(ClassUseFacts(facts.requested & requested, facts.letter_uses, facts.letter_status,
                                     facts.first_transfer, facts.project_suspended, facts.ca_status))
    if after == current:
        return None
    lost = sorted(p.name for p in current - after)
    return Refusal(R_CLASS_USES_UNIFORM, f"the class's ICCs carry {', '.join(sorted(p.name for p in current))}; "
                   f"this designation would remove {', '.join(lost)}", "uses")


def tokenization_refusal(letter_status: LetterStatus) -> Refusal | None:
    """Article 6.2 ICCs are not tokenized while their letter is withdrawn (§I.10.3)."""
    if letter_status is LetterStatus.withdrawn:
        return Refusal(R_TOKENIZE_WITHDRAWN, "the class's letter is withdrawn", "class")
    return None
