"""Article 6.2 (seed 003, ICR Article 6.2 Procedures v2.0): pure rules and state machines.

Covers the Letter of Attestation and Authorization (the *letter*, §I.1-I.12) and its life,
a project's Article 6.2 status, designation at issuance (§4.1, §II.1), conversion of
standard ICCs (§I.12), the adjustment deposit (§II.3.b), corresponding-adjustment (CA)
status (§II.2, §IV), non-CA events and compensation (§V, §V.b) and the annual report (§III).

No I/O: callers pass plain values and store what comes back. Transition functions return a
new object with one more history entry; an illegal transition raises
:class:`IllegalTransition` naming it. Every refusal names a :class:`Rule` and its section.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any, Collection, Iterable, Mapping, Sequence

from registry.domain.additionality import Level
from registry.domain.classes import CAStatus, Purpose
from registry.domain.numbers import exact
from registry.domain.serials import SerialBlock

#: First vintage eligible for international transfer (§4.1).
FIRST_ELIGIBLE_VINTAGE = 2021
#: Day and month of the host country's annual CA reporting deadline to the UNFCCC (§II.3, §V).
CA_REPORTING_DAY = (4, 15)
#: Business days the proponent has to purchase and cancel replacements (§V.b step 4).
REPLACEMENT_BUSINESS_DAYS = 60

_ISO3 = re.compile(r"^[A-Z]{3}$")


# --------------------------------------------------------------------------------------------
# Rules, refusals, errors
# --------------------------------------------------------------------------------------------


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
R_HOST_FRAMEWORK = Rule("host-country-framework", "§4.1", "the host country has a national Article 6.2 framework")
R_NOT_2B = Rule("not-additionality-level-2b", "§4.1", "activities required by law or regulation (level 2b) are not eligible")
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
R_RETIREMENT_USE = Rule("retirement-use-authorized", "§I.5, §4.1", "Article 6.2 ICCs are retired only for authorized uses")


def _require(refusals: Sequence[Refusal], error: type[RulesFailed] = DesignationRefused) -> None:
    if refusals:
        raise error(refusals)


# --------------------------------------------------------------------------------------------
# Letter content (§I.1-I.11)
# --------------------------------------------------------------------------------------------


class MitigationType(str, Enum):
    """§I.4.1, mapped onto the serial's credit type letter."""

    reduction = "A"  # RAD: reduction / avoidance / destruction
    removal = "R"  # CDR
    hybrid = "H"


class AuthorizedUse(str, Enum):
    """§I.5. Each maps to one retirement :class:`Purpose` (see :data:`USE_PURPOSE`)."""

    ndc = "achievement of another party's NDC"
    international_mitigation = "international mitigation purposes"
    corsia = "CORSIA compliance"
    other = "other purposes authorized by the host country"


#: Inference: "other purposes" is how a host country authorizes voluntary claims that
#: require a CA (seed 003 §I preamble); the mapping is one to one so it can be reversed.
USE_PURPOSE: dict[AuthorizedUse, Purpose] = {
    AuthorizedUse.ndc: Purpose.ndc,
    AuthorizedUse.international_mitigation: Purpose.other_international,
    AuthorizedUse.corsia: Purpose.corsia,
    AuthorizedUse.other: Purpose.voluntary,
}


class FirstTransfer(str, Enum):
    """§I.7.1: the host country's definition of "first transfer" (decision 2/CMA.3 annex
    para 2(b): authorization, issuance, or use/cancellation)."""

    authorization = "authorization"
    issuance = "issuance"
    use = "use or cancellation"


class Publication(str, Enum):
    """§I.8: what ICR may publish."""

    document = "the authorization document"
    information = "the relevant information in the authorization"


@dataclass(frozen=True, order=True)
class VintageRange:
    """Inclusive range of vintage years."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"vintage range {self.first}-{self.last} ends before it starts")

    def __contains__(self, vintage: object) -> bool:
        return isinstance(vintage, int) and self.first <= vintage <= self.last


@dataclass(frozen=True, order=True)
class Period:
    """Inclusive date range (a crediting or monitoring period)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period {self.start}..{self.end} ends before it starts")

    def covers(self, other: "Period") -> bool:
        return self.start <= other.start and other.end <= self.end

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True)
class AuthorizingParty:
    """§I.1."""

    host_country: str  # ISO 3166-1 alpha-3
    authority: str
    representative_name: str
    representative_title: str
    focal_point: str
    contact: str


@dataclass(frozen=True)
class CooperativeApproach:
    """§I.2 (name and identifier only "if applicable" / "if assigned")."""

    participating_parties: tuple[str, ...]
    tracking_registry: str
    name: str | None = None
    identifier: str | None = None


@dataclass(frozen=True)
class AuthorizedActivity:
    """§I.3."""

    project_name: str
    project_number: int  # ICR project id
    proponent: str
    sector: str
    methodology: str
    location_country: str  # ISO 3166-1 alpha-3


@dataclass(frozen=True)
class AuthorizedOutcomes:
    """§I.4. ``quantity_cap`` None means the letter sets no quantity limit."""

    mitigation_type: MitigationType
    vintages: VintageRange
    crediting_period: Period
    quantity_cap: int | None = None
    metric: str = "tCO2-e"
    unit_type: str = "Article 6.2 ICCs"


@dataclass(frozen=True)
class Validity:
    """§I.9."""

    issued_on: date
    effective_from: date
    expires_on: date | None = None


@dataclass(frozen=True)
class LetterContent:
    """Everything a letter states (§I.1-I.11)."""

    authorizing_party: AuthorizingParty  # §I.1
    cooperative_approach: CooperativeApproach  # §I.2
    activity: AuthorizedActivity  # §I.3
    outcomes: AuthorizedOutcomes  # §I.4
    uses: frozenset[AuthorizedUse]  # §I.5
    validity: Validity  # §I.9
    change_terms: str  # §I.10: how amendment, scope reduction and withdrawal are notified
    first_transfer: FirstTransfer  # §I.7.1
    ca_timing: str  # §I.7.2
    accounting_method: str  # §I.7.3
    publication: Publication = Publication.document  # §I.8
    other_uses_description: str | None = None  # §I.5.4, required when ``other`` is authorized
    applies_ca: bool = True  # §I.6.1
    reports_adjustments: bool = True  # §I.6.2
    authority_legally_empowered: bool = True  # §I.11.1
    complies_with_national_framework: bool = True  # §I.11.2


def letter_defects(content: LetterContent) -> tuple[Refusal, ...]:
    """What keeps ``content`` from being complete and compliant (§I.1-I.11); empty if none."""
    out: list[Refusal] = []

    def need(ok: bool, section: str, fld: str, detail: str) -> None:
        if not ok:
            out.append(Refusal(Rule(R_LETTER_CONTENT.id, section, R_LETTER_CONTENT.text), detail, fld))

    p, c, a, o, v = content.authorizing_party, content.cooperative_approach, content.activity, content.outcomes, content.validity
    need(bool(_ISO3.match(p.host_country)), "§I.1.1", "authorizing_party.host_country",
         f"{p.host_country!r} is not an ISO 3166-1 alpha-3 code")
    for name, section in (("authority", "§I.1.2"), ("representative_name", "§I.1.3"),
                          ("representative_title", "§I.1.3"), ("focal_point", "§I.1.4"), ("contact", "§I.1.5")):
        need(bool(getattr(p, name).strip()), section, f"authorizing_party.{name}", "missing")
    need(bool(c.participating_parties), "§I.2.3", "cooperative_approach.participating_parties", "missing")
    need(bool(c.tracking_registry.strip()), "§I.2.4", "cooperative_approach.tracking_registry", "missing")
    for name in ("project_name", "proponent", "sector", "methodology"):
        need(bool(getattr(a, name).strip()), "§I.3", f"activity.{name}", "missing")
    need(a.project_number > 0, "§I.3.2", "activity.project_number", "must be a positive ICR project number")
    need(a.location_country == p.host_country, "§I.3.5", "activity.location_country",
         f"activity is in {a.location_country}, the letter is from {p.host_country}")
    need(o.metric == "tCO2-e", "§I.4.2, §4.1", "outcomes.metric", f"{o.metric!r}: whole tonnes of CO2-e only")
    need(o.quantity_cap is None or o.quantity_cap > 0, "§I.4.6", "outcomes.quantity_cap", "must be positive when set")
    need(bool(content.uses), "§I.5", "uses", "at least one authorized use")
    need(AuthorizedUse.other not in content.uses or bool((content.other_uses_description or "").strip()),
         "§I.5.4", "other_uses_description", "describe the other purposes authorized")
    need(content.applies_ca, "§I.6.1", "applies_ca", "the host country must confirm it applies the CA")
    need(content.reports_adjustments, "§I.6.2", "reports_adjustments", "the host country must confirm it reports the CA")
    need(bool(content.ca_timing.strip()), "§I.7.2", "ca_timing", "missing")
    need(bool(content.accounting_method.strip()), "§I.7.3", "accounting_method", "missing")
    need(v.issued_on <= v.effective_from, "§I.9.2", "validity.effective_from", "effective before the letter was issued")
    need(v.expires_on is None or v.effective_from <= v.expires_on, "§I.9.3", "validity.expires_on",
         "expires before it takes effect")
    need(bool(content.change_terms.strip()), "§I.10", "change_terms", "missing")
    need(content.authority_legally_empowered, "§I.11.1", "authority_legally_empowered", "not confirmed")
    need(content.complies_with_national_framework, "§I.11.2", "complies_with_national_framework", "not confirmed")
    return tuple(out)


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ between two dataclass values."""
    if is_dataclass(old) and type(old) is type(new):
        changed: list[str] = []
        for f in fields(old):
            changed += _diff(getattr(old, f.name), getattr(new, f.name), f"{prefix}{f.name}.")
        return changed
    return [] if old == new else [prefix.rstrip(".")]


# --------------------------------------------------------------------------------------------
# Letter life cycle (§I.10, §I.12, §II.1)
# --------------------------------------------------------------------------------------------


class LetterStatus(str, Enum):
    received = "received"
    under_review = "under review"
    approved = "approved and published"
    rejected = "rejected"
    amended = "amended"
    scope_reduced = "scope reduced"
    withdrawn = "withdrawn"


#: Statuses in which the letter authorizes designation (approved, then possibly changed).
LETTER_IN_FORCE = frozenset({LetterStatus.approved, LetterStatus.amended, LetterStatus.scope_reduced})

_LETTER_TRANSITIONS: dict[str, tuple[frozenset[LetterStatus], LetterStatus]] = {
    "start_review": (frozenset({LetterStatus.received}), LetterStatus.under_review),
    "approve_and_publish": (frozenset({LetterStatus.under_review}), LetterStatus.approved),
    "reject": (frozenset({LetterStatus.under_review}), LetterStatus.rejected),
    "amend": (LETTER_IN_FORCE, LetterStatus.amended),
    "reduce_scope": (LETTER_IN_FORCE, LetterStatus.scope_reduced),
    "withdraw": (LETTER_IN_FORCE, LetterStatus.withdrawn),
}


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


@dataclass(frozen=True)
class Letter:
    """A host country letter and where it is in its life. ``number`` is the 32-bit letter
    number used in credit class ids (see :mod:`registry.domain.classes`)."""

    number: int
    content: LetterContent
    document: str  # reference to the uploaded document (e.g. its sha256)
    status: LetterStatus = LetterStatus.received
    published_ref: str | None = None  # where the registry publishes it (§I.8)
    history: tuple[HistoryEntry, ...] = ()

    @property
    def in_force(self) -> bool:
        return self.status in LETTER_IN_FORCE

    def valid_on(self, day: date) -> bool:
        """§I.9: effective and not expired on ``day`` (status not considered)."""
        v = self.content.validity
        return v.effective_from <= day and (v.expires_on is None or day <= v.expires_on)


def _letter_step(letter: Letter, transition: str, at: datetime, actor: str, note: str = "",
                 **changes: Any) -> Letter:
    allowed, target = _LETTER_TRANSITIONS[transition]
    if letter.status not in allowed:
        raise IllegalTransition("letter", transition, letter.status, "§I.10, §I.12")
    changed = tuple(_diff(letter.content, changes["content"], "content.")) if "content" in changes else ()
    entry = HistoryEntry(transition, letter.status.value, target.value, at, actor, note, changed)
    return replace(letter, status=target, history=letter.history + (entry,), **changes)


def receive_letter(number: int, content: LetterContent, document: str, at: datetime, actor: str) -> Letter:
    """Record a letter as received (§I.12). Content is checked at review, not here."""
    if not 0 < number < 1 << 32:
        raise ValueError(f"letter number {number} must fit 32 bits and be positive")
    entry = HistoryEntry("receive", None, LetterStatus.received.value, at, actor)
    return Letter(number=number, content=content, document=document, history=(entry,))


def start_review(letter: Letter, at: datetime, actor: str) -> Letter:
    """received -> under review (§I.12)."""
    return _letter_step(letter, "start_review", at, actor)


def approve_and_publish(letter: Letter, at: datetime, actor: str, *, authenticity_confirmed: bool,
                        published_ref: str) -> Letter:
    """under review -> approved and published (§I.12, §II.1): complete, authentic, published.

    Raises :class:`LetterIncomplete` listing every defect."""
    if letter.status is not LetterStatus.under_review:
        raise IllegalTransition("letter", "approve_and_publish", letter.status, "§I.12")
    defects = list(letter_defects(letter.content))
    if not authenticity_confirmed:
        defects.append(Refusal(R_LETTER_AUTHENTIC, "authenticity and legitimacy not confirmed", "authenticity_confirmed"))
    if not published_ref.strip():
        defects.append(Refusal(R_LETTER_PUBLISHED, "the letter must be made public on the registry", "published_ref"))
    _require(defects, LetterIncomplete)
    return _letter_step(letter, "approve_and_publish", at, actor, published_ref=published_ref)


def reject_letter(letter: Letter, at: datetime, actor: str, reason: str) -> Letter:
    """under review -> rejected (§I.12)."""
    return _letter_step(letter, "reject", at, actor, reason)


def _same_subject(old: LetterContent, new: LetterContent) -> list[Refusal]:
    out = []
    if new.authorizing_party.host_country != old.authorizing_party.host_country:
        out.append(Refusal(R_LETTER_SAME_SUBJECT, "the host country cannot change", "authorizing_party.host_country"))
    if new.activity.project_number != old.activity.project_number:
        out.append(Refusal(R_LETTER_SAME_SUBJECT, "the project cannot change", "activity.project_number"))
    return out


def amend_letter(letter: Letter, content: LetterContent, at: datetime, actor: str, note: str) -> Letter:
    """In force -> amended (§I.10.1): the amended content replaces the old once ICR accepts it."""
    if not letter.in_force:
        raise IllegalTransition("letter", "amend", letter.status, "§I.10")
    _require(_same_subject(letter.content, content) + list(letter_defects(content)), LetterIncomplete)
    return _letter_step(letter, "amend", at, actor, note, content=content)


def scope_reductions(old: LetterContent, new: LetterContent) -> list[Refusal]:
    """Why ``new`` is not a narrowing of ``old`` (§I.10.2); empty if it is one."""
    out = _same_subject(old, new)
    o, n = old.outcomes, new.outcomes
    if not (o.vintages.first <= n.vintages.first and n.vintages.last <= o.vintages.last):
        out.append(Refusal(R_SCOPE_REDUCTION, "authorized vintages widen", "outcomes.vintages"))
    if not o.crediting_period.covers(n.crediting_period):
        out.append(Refusal(R_SCOPE_REDUCTION, "the crediting period widens", "outcomes.crediting_period"))
    if n.quantity_cap is None and o.quantity_cap is not None or (
            n.quantity_cap is not None and o.quantity_cap is not None and n.quantity_cap > o.quantity_cap):
        out.append(Refusal(R_SCOPE_REDUCTION, "the quantity cap rises", "outcomes.quantity_cap"))
    if not new.uses <= old.uses:
        out.append(Refusal(R_SCOPE_REDUCTION, "authorized uses widen", "uses"))
    if n.mitigation_type != o.mitigation_type:
        out.append(Refusal(R_SCOPE_REDUCTION, "the mitigation type changes", "outcomes.mitigation_type"))
    return out


def reduce_letter_scope(letter: Letter, content: LetterContent, at: datetime, actor: str, note: str) -> Letter:
    """In force -> scope reduced (§I.10.2); ``content`` must narrow the scope, never widen it.

    Already designated ICCs are not undone here: that is a decision for the caller."""
    if not letter.in_force:
        raise IllegalTransition("letter", "reduce_scope", letter.status, "§I.10")
    _require(scope_reductions(letter.content, content) + list(letter_defects(content)), LetterIncomplete)
    return _letter_step(letter, "reduce_scope", at, actor, note, content=content)


def withdraw_letter(letter: Letter, at: datetime, actor: str, note: str) -> Letter:
    """In force -> withdrawn (§I.10.3); terminal."""
    return _letter_step(letter, "withdraw", at, actor, note)


def authorized_purposes(letter: Letter) -> frozenset[Purpose]:
    """Retirement purposes the letter authorizes (§I.5, via :data:`USE_PURPOSE`)."""
    return frozenset(USE_PURPOSE[u] for u in letter.content.uses)


def authorized_uses_mask(letter: Letter) -> int:
    """Bit ``1 << purpose`` per authorized purpose, as credit classes store it."""
    mask = 0
    for purpose in authorized_purposes(letter):
        mask |= 1 << purpose
    return mask


def check_retirement_purpose(letter: Letter, purpose: Purpose) -> Refusal | None:
    """A refusal if Article 6.2 ICCs under ``letter`` cannot be retired for ``purpose`` (§I.5)."""
    if purpose in authorized_purposes(letter):
        return None
    return Refusal(R_RETIREMENT_USE, f"the letter does not authorize {purpose.name}", "purpose")


# --------------------------------------------------------------------------------------------
# Project Article 6.2 status (§I.12, §V.b)
# --------------------------------------------------------------------------------------------


class ProjectStatus(str, Enum):
    standard = "standard"
    authorization_pending = "Article 6.2 authorization pending"
    authorized = "authorized"
    suspended = "suspended"


_PROJECT_TRANSITIONS: dict[str, tuple[frozenset[ProjectStatus], ProjectStatus]] = {
    "request_authorization": (frozenset({ProjectStatus.standard}), ProjectStatus.authorization_pending),
    "authorize": (frozenset({ProjectStatus.authorization_pending}), ProjectStatus.authorized),
    "decline_authorization": (frozenset({ProjectStatus.authorization_pending}), ProjectStatus.standard),
    "suspend": (frozenset({ProjectStatus.authorized}), ProjectStatus.suspended),
    "reinstate": (frozenset({ProjectStatus.suspended}), ProjectStatus.authorized),
    "revoke": (frozenset({ProjectStatus.authorized, ProjectStatus.suspended}), ProjectStatus.standard),
}


@dataclass(frozen=True)
class ProjectArticle6:
    """A project's Article 6.2 status and its history."""

    project_number: int
    status: ProjectStatus = ProjectStatus.standard
    history: tuple[HistoryEntry, ...] = ()


def _project_step(project: ProjectArticle6, transition: str, at: datetime, actor: str, note: str = "",
                  evidence: str | None = None) -> ProjectArticle6:
    allowed, target = _PROJECT_TRANSITIONS[transition]
    if project.status not in allowed:
        raise IllegalTransition("project Article 6.2 status", transition, project.status, "§I.12, §V.b")
    entry = HistoryEntry(transition, project.status.value, target.value, at, actor, note, evidence=evidence)
    return replace(project, status=target, history=project.history + (entry,))


def request_authorization(project: ProjectArticle6, at: datetime, actor: str, note: str = "") -> ProjectArticle6:
    """standard -> Article 6.2 authorization pending, when a letter is received (§I.12)."""
    return _project_step(project, "request_authorization", at, actor, note)


def authorize_project(project: ProjectArticle6, letter: Letter, at: datetime, actor: str) -> ProjectArticle6:
    """pending -> authorized, once a letter for this project is approved and published (§I.12)."""
    if project.status is not ProjectStatus.authorization_pending:
        raise IllegalTransition("project Article 6.2 status", "authorize", project.status, "§I.12")
    refusals = []
    if not letter.in_force:
        refusals.append(Refusal(R_LETTER_PUBLISHED, f"letter {letter.number} is {letter.status.value}", "letter"))
    if letter.content.activity.project_number != project.project_number:
        refusals.append(Refusal(R_LETTER_PROJECT, f"letter {letter.number} is for project "
                                f"{letter.content.activity.project_number}", "letter"))
    _require(refusals)
    return _project_step(project, "authorize", at, actor, evidence=f"letter {letter.number}")


def decline_authorization(project: ProjectArticle6, at: datetime, actor: str, note: str) -> ProjectArticle6:
    """pending -> standard, when the letter is rejected."""
    return _project_step(project, "decline_authorization", at, actor, note)


def suspend_project(project: ProjectArticle6, at: datetime, actor: str, note: str) -> ProjectArticle6:
    """authorized -> suspended after a non-CA event (§V.b, last paragraph)."""
    return _project_step(project, "suspend", at, actor, note)


def reinstate_project(project: ProjectArticle6, at: datetime, actor: str, *, ca_applied_confirmed: bool,
                      outstanding_compensation: int, evidence: str) -> ProjectArticle6:
    """suspended -> authorized, only once a CA is confirmed applied and every previous non-CA
    event is fully rectified (``outstanding_compensation`` == 0 tonnes) (§V.b)."""
    if project.status is not ProjectStatus.suspended:
        raise IllegalTransition("project Article 6.2 status", "reinstate", project.status, "§V.b")
    refusals = []
    if not ca_applied_confirmed:
        refusals.append(Refusal(R_REINSTATE, "no CA confirmed applied by the host country", "ca_applied_confirmed"))
    if outstanding_compensation:
        refusals.append(Refusal(R_REINSTATE, f"{outstanding_compensation} t of non-CA compensation outstanding",
                                "outstanding_compensation"))
    _require(refusals)
    return _project_step(project, "reinstate", at, actor, evidence=evidence)


def revoke_authorization(project: ProjectArticle6, at: datetime, actor: str, note: str) -> ProjectArticle6:
    """authorized or suspended -> standard, when the letter is withdrawn (§I.10.3)."""
    return _project_step(project, "revoke", at, actor, note)


# --------------------------------------------------------------------------------------------
# Designation (§4.1, §II.1)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectFacts:
    """What §4.1 asks about the project. ``methodology_approved``: an ICR approved
    methodology, or criteria approved by the host country and accepted by ICR."""

    project_number: int
    host_country: str
    status: ProjectStatus
    host_country_framework: bool
    methodology_approved: bool
    additionality_levels: frozenset[Level]
    ex_ante_issued_in_crediting_period: bool = False


@dataclass(frozen=True)
class IssuanceFacts:
    """The credits to designate: one vintage, a monitoring period, a credit type."""

    vintage: int
    quantity: int
    monitoring_period: Period
    credit_type: str  # "R", "A" or "H" as in the serial
    ex_ante: bool = False


def _project_refusals(letter: Letter | None, project: ProjectFacts, on: date) -> list[Refusal]:
    out: list[Refusal] = []
    if project.status is ProjectStatus.suspended:
        out.append(Refusal(R_NOT_SUSPENDED, f"project {project.project_number} is suspended", "project.status"))
    elif project.status is not ProjectStatus.authorized:
        out.append(Refusal(R_PROJECT_AUTHORIZED, f"project status is {project.status.value!r}", "project.status"))
    if letter is None:
        out.append(Refusal(R_LETTER_PUBLISHED, "no letter", "letter"))
    else:
        if not letter.in_force:
            out.append(Refusal(R_LETTER_PUBLISHED, f"letter {letter.number} is {letter.status.value}", "letter"))
        if not letter.valid_on(on):
            v = letter.content.validity
            out.append(Refusal(R_LETTER_VALID, f"{on} is outside {v.effective_from}..{v.expires_on or 'open'}", "on"))
        act = letter.content.activity
        if act.project_number != project.project_number or act.location_country != project.host_country:
            out.append(Refusal(R_LETTER_PROJECT, f"letter covers project {act.project_number} in "
                               f"{act.location_country}, not {project.project_number} in {project.host_country}",
                               "letter"))
    if not project.host_country_framework:
        out.append(Refusal(R_HOST_FRAMEWORK, f"{project.host_country} has no Article 6.2 framework",
                           "project.host_country_framework"))
    if Level.L2B in project.additionality_levels:
        out.append(Refusal(R_NOT_2B, "the project claims additionality level 2b", "project.additionality_levels"))
    if project.ex_ante_issued_in_crediting_period:
        out.append(Refusal(R_EX_POST_ONLY, "the project issued ex-ante ICCs in its crediting period",
                           "project.ex_ante_issued_in_crediting_period"))
    if not project.methodology_approved:
        out.append(Refusal(R_METHODOLOGY, "methodology not approved", "project.methodology_approved"))
    return out


def _issuance_refusals(letter: Letter | None, issuance: IssuanceFacts,
                       uses: Collection[AuthorizedUse] | None) -> list[Refusal]:
    out: list[Refusal] = []
    if issuance.ex_ante:
        out.append(Refusal(R_EX_POST_ONLY, "ex-ante ICCs cannot be designated", "issuance.ex_ante"))
    if not isinstance(issuance.quantity, int) or isinstance(issuance.quantity, bool) or issuance.quantity < 1:
        out.append(Refusal(R_WHOLE_TONNES, f"{issuance.quantity!r} is not a positive whole number of tonnes",
                           "issuance.quantity"))
    if issuance.vintage < FIRST_ELIGIBLE_VINTAGE:
        out.append(Refusal(R_VINTAGE_2021, f"vintage {issuance.vintage} is before {FIRST_ELIGIBLE_VINTAGE}",
                           "issuance.vintage"))
    if letter is None:
        return out
    o = letter.content.outcomes
    if issuance.vintage not in o.vintages:
        out.append(Refusal(R_VINTAGE_AUTHORIZED, f"vintage {issuance.vintage} is outside "
                           f"{o.vintages.first}-{o.vintages.last}", "issuance.vintage"))
    if not o.crediting_period.covers(issuance.monitoring_period):
        mp, cp = issuance.monitoring_period, o.crediting_period
        out.append(Refusal(R_CREDITING_PERIOD, f"{mp.start}..{mp.end} is not within {cp.start}..{cp.end}",
                           "issuance.monitoring_period"))
    if issuance.credit_type != o.mitigation_type.value:
        out.append(Refusal(R_MITIGATION_TYPE, f"credit type {issuance.credit_type!r} is not the letter's "
                           f"{o.mitigation_type.name}", "issuance.credit_type"))
    if uses is not None:
        extra = set(uses) - letter.content.uses
        if not uses or extra:
            names = sorted(u.name for u in extra) or ["(none requested)"]
            out.append(Refusal(R_USES, f"not authorized: {', '.join(names)}", "uses"))
    return out


def _cap_refusal(letter: Letter | None, quantity: int, designated_so_far: int) -> Refusal | None:
    cap = None if letter is None else letter.content.outcomes.quantity_cap
    if cap is not None and designated_so_far + quantity > cap:
        return Refusal(R_QUANTITY_CAP, f"{designated_so_far} t designated + {quantity} t exceeds the cap of {cap} t",
                       "issuance.quantity")
    return None


def check_designation(letter: Letter | None, project: ProjectFacts, issuance: IssuanceFacts, *,
                      designated_so_far: int, on: date,
                      uses: Collection[AuthorizedUse] | None = None) -> tuple[Refusal, ...]:
    """Every reason ``issuance`` cannot be designated as Article 6.2 ICCs under ``letter``
    on ``on`` (§4.1, §I.4-I.5, §I.9, §I.12, §II.1, §V.b); empty when it can.

    ``designated_so_far``: tonnes already designated under this letter (cumulative cap).
    ``uses``: uses asked for; None means all that the letter authorizes.
    """
    out = _project_refusals(letter, project, on) + _issuance_refusals(letter, issuance, uses)
    if isinstance(issuance.quantity, int):
        cap = _cap_refusal(letter, issuance.quantity, designated_so_far)
        if cap:
            out.append(cap)
    return tuple(out)


def require_designation(letter: Letter | None, project: ProjectFacts, issuance: IssuanceFacts, *,
                        designated_so_far: int, on: date,
                        uses: Collection[AuthorizedUse] | None = None) -> None:
    """:func:`check_designation`, raising :class:`DesignationRefused` with all refusals."""
    _require(check_designation(letter, project, issuance, designated_so_far=designated_so_far, on=on, uses=uses))


def remaining_cap(letter: Letter, designated_so_far: int) -> int | None:
    """Tonnes still designatable under the letter's cap; None when it has no cap (§I.4.6)."""
    cap = letter.content.outcomes.quantity_cap
    return None if cap is None else max(0, cap - designated_so_far)


# --------------------------------------------------------------------------------------------
# Conversion of standard ICCs (§I.12)
# --------------------------------------------------------------------------------------------


class Location(str, Enum):
    """Where a serial block sits (mirrors the registry's account types and terminal states)."""

    holding = "holding account"
    bridge_custody = "bridge custody"
    buffer = "buffer"
    non_ca_adjustment = "non-CA adjustment account"
    retired = "retired"
    cancelled = "cancelled"


@dataclass(frozen=True)
class Holding:
    """A serial block of the project and what conversion needs to know about it."""

    block: SerialBlock
    location: Location
    active: bool  # ex-post (active); False for ex-ante (inactive) credits
    monitoring_period: Period


@dataclass(frozen=True)
class ConversionItem:
    """Convert the first ``quantity`` units of ``block`` (lowest serial first): cancel them
    (reason: conversion to Article 6.2) and issue as many new Article 6.2 serials."""

    block: SerialBlock
    quantity: int


@dataclass(frozen=True)
class ConversionPlan:
    convert: tuple[ConversionItem, ...]
    excluded: tuple[tuple[SerialBlock, tuple[Refusal, ...]], ...]

    @property
    def total(self) -> int:
        return sum(i.quantity for i in self.convert)


def plan_conversion(letter: Letter, project: ProjectFacts, holdings: Iterable[Holding], *,
                    designated_so_far: int, on: date) -> ConversionPlan:
    """Which standard ICCs may be converted to Article 6.2 ICCs (§I.12): remaining active
    ex-post credits in a holding account, not in bridge custody, within the letter's scope.

    Blocks are taken in serial order and the letter's cap is filled lowest serial first, so a
    block may convert in part. Project-level refusals (letter, status, §4.1) raise
    :class:`DesignationRefused`: then nothing is convertible.
    """
    _require(_project_refusals(letter, project, on))
    convert: list[ConversionItem] = []
    excluded: list[tuple[SerialBlock, tuple[Refusal, ...]]] = []
    room = remaining_cap(letter, designated_so_far)
    for h in sorted(holdings, key=lambda h: h.block):
        refusals: list[Refusal] = []
        if h.block.serialization.project_number != project.project_number:
            refusals.append(Refusal(R_LETTER_PROJECT, f"block is of project {h.block.serialization.project_number}",
                                    "block"))
        if h.block.serialization.article6:
            refusals.append(Refusal(R_ALREADY_ARTICLE6, "already designated", "block"))
        if h.location is Location.bridge_custody:
            refusals.append(Refusal(R_NOT_IN_CUSTODY, "tokens exist for these credits", "location"))
        elif h.location is not Location.holding:
            refusals.append(Refusal(R_CONVERTIBLE_HOLDING, f"credits are {h.location.value}", "location"))
        issuance = IssuanceFacts(vintage=h.block.serialization.vintage, quantity=h.block.quantity,
                                 monitoring_period=h.monitoring_period, credit_type=h.block.serialization.credit_type,
                                 ex_ante=not h.active)
        refusals += _issuance_refusals(letter, issuance, None)
        if not refusals and room == 0:
            refusals.append(Refusal(R_QUANTITY_CAP, "the letter's cap is reached", "block"))
        if refusals:
            excluded.append((h.block, tuple(refusals)))
            continue
        quantity = h.block.quantity if room is None else min(room, h.block.quantity)
        convert.append(ConversionItem(h.block, quantity))
        if room is not None:
            room -= quantity
    return ConversionPlan(tuple(convert), tuple(excluded))


# --------------------------------------------------------------------------------------------
# Adjustment deposit (§II.3.b)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepositSplit:
    issued: int
    deposit: int  # to the non-CA adjustment account
    to_proponent: int


def _exact(value: Decimal | int | str | float | Fraction, name: str) -> Fraction:
    try:
        return exact(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def adjustment_deposit(issued: int, percentage: Decimal | int | str | float) -> DepositSplit:
    """Split an issuance of Article 6.2 ICCs between the non-CA adjustment account and the
    proponent (§II.3.b: a percentage of issued Article 6.2 ICCs, set per project by ICR's risk
    assessment).

    Rounding: whole tonnes, rounded **up** per issuance (exact rational arithmetic, no
    floats), so the deposit is never below ``issued * percentage / 100``; over many issuances
    the account holds less than one tonne per issuance in excess.
    """
    if not isinstance(issued, int) or isinstance(issued, bool) or issued < 0:
        raise ValueError(f"issued: {issued!r} is not a whole number of tonnes")
    pct = _exact(percentage, "percentage")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentage: {percentage} is not between 0 and 100")
    exact = issued * pct / 100
    deposit = -(-exact.numerator // exact.denominator)  # ceiling
    return DepositSplit(issued, deposit, issued - deposit)


# --------------------------------------------------------------------------------------------
# Corresponding adjustments (§II.2, §IV)
# --------------------------------------------------------------------------------------------

#: Registry labels of §II.2.
CA_STATUS_LABELS = {CAStatus.pending: "Pending CA", CAStatus.applied: "CA applied", CAStatus.not_applied: "No CA applied"}


class EvidenceKind(str, Enum):
    """What a piece of CA evidence shows (§IV: BTRs and annual information, §V)."""

    ca_applied = "CA applied"  # host country report shows the CA
    intention = "credible evidence of the intention to apply the CA"
    no_ca = "CA not applied"


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    reference: str  # e.g. "BTR1 table 4, project ICR-78040, letter 7"
    received_on: date


_CA_TRANSITIONS: dict[str, tuple[frozenset[CAStatus], CAStatus]] = {
    "confirm_applied": (frozenset({CAStatus.pending, CAStatus.not_applied}), CAStatus.applied),
    "record_not_applied": (frozenset({CAStatus.pending}), CAStatus.not_applied),
}


@dataclass(frozen=True)
class CARecord:
    """CA status of one project and vintage (§IV) with its evidence and history."""

    project_number: int
    vintage: int
    status: CAStatus = CAStatus.pending
    evidence: tuple[Evidence, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @property
    def label(self) -> str:
        return CA_STATUS_LABELS[self.status]


def open_ca_record(project_number: int, vintage: int, at: datetime, actor: str) -> CARecord:
    """A pending CA record, opened when the first Article 6.2 ICC of the vintage is retired."""
    return CARecord(project_number, vintage,
                    history=(HistoryEntry("open", None, CAStatus.pending.name, at, actor),))


def add_ca_evidence(record: CARecord, evidence: Evidence, at: datetime, actor: str) -> CARecord:
    """Attach evidence without changing the status (e.g. evidence of intention, §V)."""
    entry = HistoryEntry("add_evidence", record.status.name, record.status.name, at, actor,
                         evidence.kind.value, evidence=evidence.reference)
    return replace(record, evidence=record.evidence + (evidence,), history=record.history + (entry,))


def _ca_step(record: CARecord, transition: str, at: datetime, actor: str, note: str,
             evidence: Evidence | None) -> CARecord:
    allowed, target = _CA_TRANSITIONS[transition]
    if record.status not in allowed:
        raise IllegalTransition("CA status", transition, record.status, "§II.2, §IV")
    entry = HistoryEntry(transition, record.status.name, target.name, at, actor, note,
                         evidence=evidence.reference if evidence else None)
    return replace(record, status=target, history=record.history + (entry,),
                   evidence=record.evidence + ((evidence,) if evidence else ()))


def confirm_ca_applied(record: CARecord, evidence: Evidence, at: datetime, actor: str) -> CARecord:
    """pending or no CA -> CA applied, on evidence showing the CA (§IV)."""
    if evidence.kind is not EvidenceKind.ca_applied:
        raise Article6Error(R_CA_EVIDENCE, f"{evidence.kind.value!r} does not show the CA applied", "evidence.kind")
    return _ca_step(record, "confirm_applied", at, actor, "", evidence)


def record_no_ca(record: CARecord, at: datetime, actor: str, reason: str,
                 evidence: Evidence | None = None) -> CARecord:
    """pending -> No CA applied, by ICR's determination (§II.2, §IV); a non-CA event by decision."""
    return _ca_step(record, "record_not_applied", at, actor, reason, evidence)


# --------------------------------------------------------------------------------------------
# Non-CA events (§V) and compensation (§V.b)
# --------------------------------------------------------------------------------------------


def first_transfer_year(definition: FirstTransfer, *, authorized_on: date, issued_on: date,
                        used_on: date | None) -> int | None:
    """Year of first transfer under the letter's §I.7.1 definition; None if the credits are
    not yet used and the host country counts first transfer at use."""
    if definition is FirstTransfer.authorization:
        return authorized_on.year
    if definition is FirstTransfer.issuance:
        return issued_on.year
    return None if used_on is None else used_on.year


def ca_reporting_deadline(first_transfer_year: int) -> date:
    """The host country's deadline for reporting the CA for a first-transfer year: 15 April of
    the following year (seed 003 says "15 April annually"; which year is inferred from decision
    2/CMA.3 annex, annual information due by 15 April of the year after)."""
    return date(first_transfer_year + 1, *CA_REPORTING_DAY)


def non_ca_cutoff(first_transfer_year: int) -> date:
    """Last day on which credible evidence still counts: twelve months after the reporting
    deadline, i.e. 15 April two years after the first-transfer year (§II.3, §V). A non-CA
    event by the date rule exists from the next day on."""
    deadline = ca_reporting_deadline(first_transfer_year)
    return deadline.replace(year=deadline.year + 1)


class NonCATrigger(str, Enum):
    date_rule = "no credible evidence within 12 months after the reporting deadline"
    decision = "ICR determined that no CA was applied"


@dataclass(frozen=True)
class Exposure:
    """Article 6.2 ICCs of one project and vintage first transferred in one year."""

    first_transfer_year: int
    quantity: int


@dataclass(frozen=True)
class NonCAEvent:
    """Identity for idempotent storage: (project_number, vintage, first_transfer_year)."""

    project_number: int
    vintage: int
    first_transfer_year: int
    quantity: int
    trigger: NonCATrigger
    detected_on: date


def detect_non_ca_events(record: CARecord, exposures: Iterable[Exposure], on: date) -> tuple[NonCAEvent, ...]:
    """Non-CA events of ``record`` as of ``on`` (§V).

    CA applied: none. No CA applied: every exposure, by decision. Pending: each exposure whose
    :func:`non_ca_cutoff` is before ``on`` and for which no evidence of the CA or of the
    intention to apply it was received on or before the cutoff."""
    if record.status is CAStatus.applied:
        return ()
    events = []
    for e in exposures:
        if e.quantity <= 0:
            continue
        if record.status is CAStatus.not_applied:
            trigger = NonCATrigger.decision
        else:
            cutoff = non_ca_cutoff(e.first_transfer_year)
            credible = any(ev.kind in (EvidenceKind.ca_applied, EvidenceKind.intention) and ev.received_on <= cutoff
                           for ev in record.evidence)
            if on <= cutoff or credible:
                continue
            trigger = NonCATrigger.date_rule
        events.append(NonCAEvent(record.project_number, record.vintage, e.first_transfer_year, e.quantity,
                                 trigger, on))
    return tuple(events)


def add_business_days(start: date, days: int, holidays: Collection[date] = ()) -> date:
    """``start`` plus ``days`` business days (Monday to Friday, less ``holidays``)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            days -= 1
    return current


class CompensationKind(str, Enum):
    """The steps of §V.b, in order."""

    cancel_own_excess = "1: cancel the project's excess in the non-CA adjustment account"
    cancel_other_excess = "2: cancel other projects' excess in the non-CA adjustment account"
    proponent_deposit = "3: proponent deposits Article 6.2 ICCs, cancelled by ICR"
    purchase_replacements = "4: proponent purchases and cancels replacement Article 6 credits"
    cancel_subsequent_holdings = "5: cancel subsequently issued Article 6.2 ICCs the proponent holds"
    deduct_future_issuances = "5: deduct from subsequent Article 6.2 issuances of the project"


@dataclass(frozen=True)
class CompensationSources:
    """What each step of §V.b can draw on, in tonnes. ``other_projects_excess`` maps project
    number to its excess not subject to a double claim; it is drawn in ascending project
    number so the plan is reproducible."""

    own_excess: int = 0
    other_projects_excess: Mapping[int, int] = field(default_factory=dict)
    proponent_deposit: int = 0
    replacement_purchase: int = 0
    proponent_holdings: int = 0
    additional_double_claim: bool = False  # bars step 5


@dataclass(frozen=True)
class CompensationStep:
    kind: CompensationKind
    quantity: int
    from_project: int | None = None
    due_by: date | None = None


@dataclass(frozen=True)
class CompensationPlan:
    """Steps in §V.b order. ``unresolved`` is what no step covers (only when step 5 is barred
    by an additional double claim); steps plus ``unresolved`` always equal the shortfall."""

    shortfall: int
    steps: tuple[CompensationStep, ...]
    unresolved: int

    @property
    def covered(self) -> int:
        return sum(s.quantity for s in self.steps)


def plan_compensation(shortfall: int, sources: CompensationSources, *, notified_on: date,
                      holidays: Collection[date] = ()) -> CompensationPlan:
    """Plan compensation of ``shortfall`` double-claimed tonnes in the order of §V.b: the
    project's excess in the non-CA account, other projects' excess there, a proponent deposit,
    replacement purchases (due within 60 business days of ``notified_on``), then cancellation
    from subsequent Article 6.2 holdings and deductions from future issuances of the project."""
    numbers = {"shortfall": shortfall, "own_excess": sources.own_excess,
               "proponent_deposit": sources.proponent_deposit,
               "replacement_purchase": sources.replacement_purchase,
               "proponent_holdings": sources.proponent_holdings}
    numbers.update({f"other_projects_excess[{p}]": q for p, q in sources.other_projects_excess.items()})
    for name, value in numbers.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}: {value!r} is not a whole number of tonnes")
    steps: list[CompensationStep] = []
    left = shortfall

    def take(kind: CompensationKind, available: int, **extra: Any) -> None:
        nonlocal left
        quantity = min(left, available)
        if quantity:
            steps.append(CompensationStep(kind, quantity, **extra))
            left -= quantity

    take(CompensationKind.cancel_own_excess, sources.own_excess)
    for project in sorted(sources.other_projects_excess):
        take(CompensationKind.cancel_other_excess, sources.other_projects_excess[project], from_project=project)
    take(CompensationKind.proponent_deposit, sources.proponent_deposit)
    take(CompensationKind.purchase_replacements, sources.replacement_purchase,
         due_by=add_business_days(notified_on, REPLACEMENT_BUSINESS_DAYS, holidays))
    if not sources.additional_double_claim:
        take(CompensationKind.cancel_subsequent_holdings, sources.proponent_holdings)
        take(CompensationKind.deduct_future_issuances, left)
    return CompensationPlan(shortfall, tuple(steps), left)


# --------------------------------------------------------------------------------------------
# Annual report (§III)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedRecord:
    """Article 6.2 ICCs issued or designated (incl. by conversion) in ``year``."""

    host_country: str
    year: int
    quantity: int


@dataclass(frozen=True)
class RetiredRecord:
    """A retirement of Article 6.2 ICCs, with the CA status of its project and vintage."""

    host_country: str
    year: int
    quantity: int
    purpose: Purpose
    ca_status: CAStatus
    corsia_compliance_period: str | None = None  # e.g. "2024-2026"; required for CORSIA


@dataclass(frozen=True)
class CancelledRecord:
    """A cancellation of Article 6.2 ICCs; only ``double_claim`` ones are reported (§III.1.4)."""

    host_country: str
    year: int
    quantity: int
    double_claim: bool


@dataclass(frozen=True)
class AuthorizedRecord:
    """A letter's maximum authorized quantity (None: no cap) counted in ``year``."""

    host_country: str
    year: int
    max_quantity: int | None


def authorized_record(letter: Letter) -> AuthorizedRecord:
    """The §III.3 record of a letter, counted in the year it was issued (§I.9.1)."""
    c = letter.content
    return AuthorizedRecord(c.authorizing_party.host_country, c.validity.issued_on.year, c.outcomes.quantity_cap)


@dataclass(frozen=True)
class CountryYear:
    """One host country's line of the report (§III.1, §III.3, §III.4)."""

    host_country: str
    issued: int = 0
    retired_corsia: int = 0
    retired_ndc: int = 0
    retired_voluntary: int = 0
    retired_other_international: int = 0
    cancelled_double_claim: int = 0
    max_authorized: int = 0  # sum of the caps of capped letters
    uncapped_letters: int = 0  # letters without a cap (unbounded maximum)
    ca_pending: int = 0
    ca_applied: int = 0
    ca_not_applied: int = 0


@dataclass(frozen=True)
class AnnualReport:
    year: int
    due_by: date  # six months after the end of the year (§III)
    countries: tuple[CountryYear, ...]
    corsia_by_period: tuple[tuple[str, str, int], ...]  # (host country, compliance period, t) §III.2


_PURPOSE_COLUMN = {Purpose.corsia: "retired_corsia", Purpose.ndc: "retired_ndc",
                   Purpose.voluntary: "retired_voluntary", Purpose.other_international: "retired_other_international"}
_CA_COLUMN = {CAStatus.pending: "ca_pending", CAStatus.applied: "ca_applied", CAStatus.not_applied: "ca_not_applied"}


def annual_report_due(year: int) -> date:
    """Publication deadline: within six months after the end of ``year`` (§III)."""
    return date(year + 1, 6, 30)


def annual_report(year: int, issued: Iterable[IssuedRecord], retired: Iterable[RetiredRecord],
                  cancelled: Iterable[CancelledRecord], authorized: Iterable[AuthorizedRecord]) -> AnnualReport:
    """Aggregate plain records into the §III report for ``year`` (records of other years are
    ignored), by host country. Retirements for other international mitigation purposes are
    reported in a column of their own, beside the four of §III.1."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    corsia: dict[tuple[str, str], int] = defaultdict(int)
    for i in issued:
        if i.year == year:
            rows[i.host_country]["issued"] += i.quantity
    for r in retired:
        if r.year != year:
            continue
        if r.ca_status not in _CA_COLUMN:
            raise ValueError(f"ca_status: retired Article 6.2 ICCs have a CA status, not {r.ca_status.name}")
        row = rows[r.host_country]
        row[_PURPOSE_COLUMN[r.purpose]] += r.quantity
        row[_CA_COLUMN[r.ca_status]] += r.quantity
        if r.purpose is Purpose.corsia:
            if not r.corsia_compliance_period:
                raise ValueError("corsia_compliance_period: required for a CORSIA retirement (§III.2)")
            corsia[(r.host_country, r.corsia_compliance_period)] += r.quantity
    for c in cancelled:
        if c.year == year and c.double_claim:
            rows[c.host_country]["cancelled_double_claim"] += c.quantity
    for a in authorized:
        if a.year != year:
            continue
        if a.max_quantity is None:
            rows[a.host_country]["uncapped_letters"] += 1
        else:
            rows[a.host_country]["max_authorized"] += a.max_quantity
    countries = tuple(CountryYear(country, **dict(rows[country])) for country in sorted(rows))
    return AnnualReport(year, annual_report_due(year), countries,
                        tuple((h, p, q) for (h, p), q in sorted(corsia.items())))


def report_to_dict(report: AnnualReport) -> dict[str, Any]:
    return {
        "year": report.year,
        "due_by": report.due_by.isoformat(),
        "countries": [{f.name: getattr(c, f.name) for f in fields(c)} for c in report.countries],
        "corsia_by_compliance_period": [
            {"host_country": h, "compliance_period": p, "quantity": q} for h, p, q in report.corsia_by_period],
    }


def report_to_json(report: AnnualReport) -> str:
    """Deterministic JSON of the report (sorted keys)."""
    return json.dumps(report_to_dict(report), sort_keys=True, indent=2)


CSV_COLUMNS = ("year", "host_country", "metric", "compliance_period", "quantity")


def report_to_csv(report: AnnualReport) -> str:
    """The report as one long-format CSV: one row per host country and metric, then one per
    host country and CORSIA compliance period (metric ``retired_corsia_period``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in report.countries:
        for f in fields(c):
            if f.name != "host_country":
                writer.writerow((report.year, c.host_country, f.name, "", getattr(c, f.name)))
    for h, p, q in report.corsia_by_period:
        writer.writerow((report.year, h, "retired_corsia_period", p, q))
    return out.getvalue()
