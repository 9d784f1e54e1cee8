"""Article 6.2 rules (seed 003): :class:`Rule` and :class:`Refusal`, the errors of the
Article 6.2 domain, the rule constants ``R_*`` and the :class:`HistoryEntry` every state
machine appends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Sequence


@dataclass(frozen=True)
class Rule:
    """A rule of seed 003: a stable id (for problem+json), its section and what it requires."""

    id: str
    section: str
    text: str


@dataclass(frozen=True)
class Refusal:
    """One failed rule, with what was found and, where it is about one, the field."""

    rule: Rule
    detail: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.rule.id} (seed 003 {self.rule.section}): {self.detail}"


class Article6Error(ValueError):
    """Base of this module's errors; ``rule`` and ``field`` map onto ``RuleViolation``."""

    def __init__(self, rule: Rule, detail: str, field: str | None = None):
        self.rule = rule
        self.detail = detail
        self.field = field
        super().__init__(f"{rule.id} (seed 003 {rule.section}): {detail}")


class IllegalTransition(Article6Error):
    """A state machine was asked for a transition its current state does not allow."""

    def __init__(self, machine: str, transition: str, current: Enum, section: str):
        self.machine = machine
        self.transition = transition
        self.current = current
        rule = Rule(f"{machine}-transition", section, f"legal transitions of the {machine}")
        super().__init__(rule, f"{machine}: transition {transition!r} is not allowed from {current.value!r}")


class RulesFailed(Article6Error):
    """One or more rules failed; ``refusals`` lists all of them, ``rule`` is the first."""

    def __init__(self, refusals: Sequence[Refusal]):
        if not refusals:
            raise ValueError("RulesFailed needs at least one refusal")
        self.refusals = tuple(refusals)
        first = self.refusals[0]
        detail = "; ".join(str(r) for r in self.refusals[1:])
        super().__init__(first.rule, first.detail + (f"; also {detail}" if detail else ""), first.field)


class LetterIncomplete(RulesFailed):
    """The letter lacks content required by §I.1-I.11 or is not confirmed authentic (§I.12)."""


class DesignationRefused(RulesFailed):
    """An issuance or holding cannot be designated as Article 6.2 ICCs (§4.1, §II.1)."""


# Letter content and review
R_LETTER_CONTENT = Rule("letter-content", "§I.1-I.11", "the letter shall at minimum include the content of §I.1-I.11")
R_LETTER_AUTHENTIC = Rule("letter-authentic", "§I.12, §II.1", "ICR confirms the authenticity and legitimacy of the letter")
R_LETTER_SAME_SUBJECT = Rule("letter-same-subject", "§I.10", "an amendment cannot change the host country or the project")
R_SCOPE_REDUCTION = Rule("scope-reduction", "§I.10.2", "a scope reduction narrows vintages, period, cap or uses")
# Designation (§4.1 and the letter's scope)
R_LETTER_PUBLISHED = Rule(
    "letter-approved-and-published", "§I.12, §II.1",
    "the letter is received, reviewed, approved and published on the registry")
R_LETTER_VALID = Rule("letter-valid-on-date", "§I.9", "the letter is effective and not expired on the date")
R_LETTER_PROJECT = Rule("letter-covers-project", "§I.3, §4.1", "the letter authorizes this project in this host country")
R_LETTER_SECTOR = Rule("letter-sector-matches-project", "§I.3.4, §4.1",
                       "the letter's sector is the project's sector (its ICR sector code leads the letter's text)")
R_LETTER_METHODOLOGY = Rule("letter-methodology-matches-project", "§I.3.4, §4.1",
                            "the letter's methodology or standard is the one the project applies")
R_HOST_FRAMEWORK = Rule("host-country-framework", "§4.1", "the host country has a national Article 6.2 framework")
R_NOT_2B = Rule("not-additionality-level-2b", "§4.1", "activities required by law or regulation (level 2b) are not eligible")
R_ADDITIONAL = Rule("additionality-level-2a-demonstrated", "§4.1, seed 002 §5.4.2",
                    "the project demonstrates statutory additionality (level 2a), still met after its ex-post reports")
R_EX_POST_ONLY = Rule("ex-post-only", "§4.1", "eligible projects shall not issue ex-ante ICCs during the crediting period")
R_METHODOLOGY = Rule(
    "approved-methodology", "§4.1",
    "an ICR approved methodology, or criteria approved by the host country and accepted by ICR")
R_VINTAGE_2021 = Rule("vintage-from-2021", "§4.1", "only vintages from 2021 onward are eligible")
R_VINTAGE_AUTHORIZED = Rule("vintage-authorized", "§I.4.4, §4.1", "the vintage is within the letter's authorized vintages")
R_CREDITING_PERIOD = Rule(
    "crediting-period-authorized", "§I.4.5, §II.1",
    "the monitoring period lies within the letter's authorized crediting period")
R_MITIGATION_TYPE = Rule("mitigation-type-authorized", "§I.4.1, §4.1", "the credit type is the letter's mitigation type")
R_WHOLE_TONNES = Rule("whole-tonnes", "§4.1", "Article 6.2 ICCs exist in whole tonnes of CO2-e only")
R_QUANTITY_CAP = Rule("quantity-cap", "§I.4.6, §4.1", "cumulative designated quantity stays within the letter's cap")
R_USES = Rule("uses-authorized", "§I.5, §4.1", "requested uses are among the letter's authorized uses")
R_PROJECT_AUTHORIZED = Rule("project-authorized", "§I.12", "the project's Article 6.2 status is authorized")
R_NOT_SUSPENDED = Rule("project-not-suspended", "§V.b", "Article 6.2 issuance of a project exposed to a non-CA event is suspended")
# Conversion (§I.12) — custody is this bridge's rule: tokens exist for those credits.
R_NOT_IN_CUSTODY = Rule("not-in-bridge-custody", "§I.12 (bridge)", "credits in bridge custody cannot be converted")
R_CONVERTIBLE_HOLDING = Rule(
    "remaining-active-ex-post", "§I.12, §4.1",
    "only remaining active ex-post ICCs in a holding account can be converted")
R_ALREADY_ARTICLE6 = Rule("already-article6", "§I.12", "the ICCs are already Article 6.2 ICCs")
# Project status and CA
R_REINSTATE = Rule(
    "rectified-before-reinstatement", "§V.b",
    "suspension lasts until a CA is confirmed applied and previous non-CA events are fully rectified")
R_CA_EVIDENCE = Rule("ca-evidence", "§IV", "a CA is confirmed on evidence from the host country's reports")
R_CA_QUANTITY = Rule("ca-quantity", "§IV, §I.7.1",
                     "a CA confirmation states the tonnes and the year of first transfer it covers")
R_CA_CORRECTION = Rule("ca-correction-evidence", "§II.2, §IV",
                       "a CA status recorded in error is corrected only on evidence, with the reason")
# Compensation mechanism (§II.3)
R_COMPENSATION_MECHANISM = Rule(
    "compensation-mechanism", "§II.3",
    "an Article 6.2 project has a compensation mechanism: an adjustment deposit (§II.3.b) or an insurance or "
    "guarantee (§II.3.a)")
R_INSURANCE = Rule(
    "insurance-eligible", "§II.3.a",
    "a legally binding insurance or guarantee of an investment-grade third party, naming the policy and its loss payee")
R_NON_PERMANENCE = Rule(
    "non-permanence-contribution", "§II.3.b",
    "projects with non-permanence risk contribute to the Article 6.2 non-permanence risk adjustment account")
R_RETIREMENT_USE = Rule("retirement-use-authorized", "§I.5, §4.1", "Article 6.2 ICCs are retired only for authorized uses")


def _require(refusals: Sequence[Refusal], error: type[RulesFailed] = DesignationRefused) -> None:
    if refusals:
        raise error(refusals)


@dataclass(frozen=True)
class HistoryEntry:
    """One transition: what happened, from which state to which, when, by whom and why."""

    transition: str
    from_status: str | None
    to_status: str
    at: datetime
    actor: str
    note: str = ""
    changes: tuple[str, ...] = ()
    evidence: str | None = None
