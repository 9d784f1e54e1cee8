"""The Letter of Attestation and Authorization (LoA, seed 003 §I): what it states
(§I.1-I.11) and whether that is complete, its life cycle (received, under review, approved
and published, rejected, amended, scope reduced, withdrawn: §I.10, §I.12, §II.1) and the
retirement purposes it authorizes (§I.5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date, datetime
from enum import Enum
from typing import Any

from registry.domain.article6.rules import (
    R_LETTER_AUTHENTIC,
    R_LETTER_CONTENT,
    R_LETTER_PUBLISHED,
    R_LETTER_SAME_SUBJECT,
    R_SCOPE_REDUCTION,
    HistoryEntry,
    IllegalTransition,
    LetterIncomplete,
    Refusal,
    Rule,
    _require,
)
from registry.domain.classes import Purpose, uses_mask

_ISO3 = re.compile(r"^[A-Z]{3}$")


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
    return uses_mask(authorized_purposes(letter))
