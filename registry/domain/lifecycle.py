"""The life of an ICC in the registry: pure rules, no I/O.

States (:class:`registry.tables.core.CreditStatus`) and what moves them::

    ex-ante issuance ──► inactive ──verification (conversion)──► active ◄── ex-post issuance
                           │  │                                   │ │ │
                           │  └─ final verification shortfall ─┐  │ │ └─ tokenization ─► active in bridge custody
                           │     or correction ─► cancelled ◄──┼──┘ │                     (leaves only by an on-chain
                           └ transfer (holding ⇄ holding)      │    └─ retirement ─► retired     retirement)
                                                               └ cancellation (reason)

- ``retired`` and ``cancelled`` are terminal: nothing moves such units again.
- ``held``: active ICCs under a unit hold (an operator's, e.g. a KYC case, or a rule's, e.g.
  a non-CA event). They stay in their account and nothing transfers, retires, tokenizes or
  cancels them (rule ``unit-held``) until the hold is released, when they are active again.
  Only active units are held; in bridge custody only units whose tokenization is still
  pending (not yet in a batch, so no token exists for them).
- Only active (ex-post) ICCs are tokenized into bridge custody or retired; inactive (ex-ante)
  ICCs stay in holding accounts and may be transferred between them (forward sales).
- Bridge custody is entered only by tokenization and left only by a retirement synced from
  the chain, never by a transfer or an off-chain cancellation, while tokens exist.
- Retirement (a claim) happens from a holding account; cancellations (program reasons) from
  the account the reason is about: buffer use from the buffer, non-CA compensation from the
  non-CA adjustment account or a holding account (Article 6.2 ICCs only), conversion to
  Article 6.2 from a holding account (standard ICCs only), correction from any account.
- Ex-ante conversion: a verification converts ``verified`` units of one ex-ante issuance,
  lowest serial first across whoever holds them, from inactive to active; the serials keep
  their identity. A verification above the outstanding ex-ante units is refused (issue the
  excess as ex-post credits). A *final* verification closes the issuance: the units it did
  not cover (the shortfall) are cancelled with reason ``ex_ante_shortfall``, lowest serial
  first selection meaning the holders of the highest serials bear it. A non-final
  verification leaves them inactive for later monitoring periods.

Every refusal is a :class:`LifecycleError` naming the field and a stable rule id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Optional, Sequence

from registry.domain.classes import Purpose
from registry.domain.enums import AccountType, CancellationReason, CreditStatus, IssuanceKind
from registry.domain.serials import InsufficientCredits, SerialRange, take_lowest

TERMINAL = frozenset({CreditStatus.retired, CreditStatus.cancelled})

#: CORSIA compliance periods (pilot phase, first phase, second phase).
CORSIA_COMPLIANCE_PERIODS: tuple[tuple[int, int], ...] = (
    (2021, 2023),
    (2024, 2026),
    (2027, 2029),
    (2030, 2032),
    (2033, 2035),
)

_ISO3 = re.compile(r"^[A-Z]{3}$")


class LifecycleError(ValueError):
    """An operation the credit lifecycle does not allow; ``field`` and ``rule`` name why."""

    def __init__(self, detail: str, *, field: str, rule: str, section: str | None = None):
        if section:
            detail = f"{detail} ({rule}, {section})"
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.rule = rule
        self.section = section


# --------------------------------------------------------------------------------------------
# Issuance, transfer, tokenization, retirement, cancellation
# --------------------------------------------------------------------------------------------

#: Accounts each issuance kind may be issued into.
ISSUANCE_ACCOUNTS = {
    IssuanceKind.ex_post: frozenset({AccountType.holding, AccountType.buffer, AccountType.adjustment}),
    IssuanceKind.ex_ante: frozenset({AccountType.holding}),
}


def issued_status(kind: IssuanceKind) -> CreditStatus:
    return CreditStatus.active if kind is IssuanceKind.ex_post else CreditStatus.inactive


def check_issuance(kind: IssuanceKind, account_type: AccountType, quantity: int) -> None:
    if quantity < 1:
        raise LifecycleError("quantity must be a positive whole number of tonnes", field="quantity",
                             rule="positive-whole-tonnes")
    if account_type not in ISSUANCE_ACCOUNTS[kind]:
        allowed = ", ".join(sorted(t.value for t in ISSUANCE_ACCOUNTS[kind]))
        raise LifecycleError(f"{kind.value} ICCs are issued into {allowed} accounts, not {account_type.value}",
                             field="account_id", rule=f"{kind.value.replace('_', '-')}-issuance-account")


def _check_quantity(quantity: int) -> None:
    if quantity < 1:
        raise LifecycleError("quantity must be a positive whole number of tonnes", field="quantity",
                             rule="positive-whole-tonnes")


def _check_not_terminal(status: CreditStatus) -> None:
    if status in TERMINAL:
        raise LifecycleError(f"{status.value} ICCs are terminal and cannot be used again", field="status",
                             rule="terminal-credits-do-not-move")


def _check_not_custody(account_type: AccountType, field: str) -> None:
    if account_type is AccountType.bridge_custody:
        raise LifecycleError("credits enter bridge custody only by tokenization and leave it only by an "
                             "on-chain retirement", field=field, rule="custody-through-bridge-only")


def _check_not_held(status: CreditStatus) -> None:
    if status is CreditStatus.held:
        raise LifecycleError("held ICCs are not transferred, retired, tokenized or cancelled until their hold is "
                             "released", field="status", rule="unit-held")


def check_hold(account_type: AccountType, status: CreditStatus, quantity: int, reason: str,
               pending_tokenization: bool | None) -> None:
    """A unit hold: active units, with a reason; in bridge custody only the units of a
    tokenization still pending (``pending_tokenization``; None outside custody): once in a
    batch their tokens may exist on-chain, where the registry cannot stop them."""
    _check_quantity(quantity)
    if status is not CreditStatus.active:
        raise LifecycleError(f"only active ICCs are held, not {status.value} ones", field="status",
                             rule="hold-active-units")
    if not reason.strip():
        raise LifecycleError("a hold states its reason", field="reason", rule="hold-reason")
    if account_type is AccountType.bridge_custody and not pending_tokenization:
        raise LifecycleError("custody units are held only while their tokenization is pending: once batched or "
                             "minted their tokens may be on-chain, where a registry hold cannot stop them",
                             field="tokenization_id", rule="hold-not-on-chain")


def check_transfer(source: AccountType, destination: AccountType, status: CreditStatus, quantity: int,
                   same_account: bool) -> None:
    _check_quantity(quantity)
    _check_not_terminal(status)
    _check_not_held(status)
    if same_account:
        raise LifecycleError("a transfer goes to another account", field="to_account_id",
                             rule="transfer-to-another-account")
    _check_not_custody(source, "from_account_id")
    _check_not_custody(destination, "to_account_id")
    if status is CreditStatus.inactive and not (source is destination is AccountType.holding):
        raise LifecycleError("ex-ante (inactive) ICCs move only between holding accounts", field="to_account_id",
                             rule="ex-ante-stays-in-holding-accounts")


def check_tokenization(source: AccountType, status: CreditStatus) -> None:
    _check_not_held(status)
    if source is not AccountType.holding:
        raise LifecycleError("only credits in a holding account can be tokenized", field="account_id",
                             rule="tokenize-from-holding-account")
    if status is not CreditStatus.active:
        raise LifecycleError("only active ex-post ICCs can be moved to bridge custody", field="status",
                             rule="only-active-credits-to-custody")


def check_retirement(source: AccountType, status: CreditStatus, quantity: int) -> None:
    _check_quantity(quantity)
    _check_not_held(status)
    if source is not AccountType.holding:
        raise LifecycleError(f"ICCs are retired from a holding account, not a {source.value} account "
                             "(credits in bridge custody are retired on-chain)", field="account_id",
                             rule="retire-from-holding-account")
    if status is not CreditStatus.active:
        raise LifecycleError("only active ex-post ICCs can be retired", field="status",
                             rule="only-active-credits-retire")


def check_cancellation(reason: CancellationReason, source: AccountType, status: CreditStatus, quantity: int,
                       article6: bool) -> None:
    _check_quantity(quantity)
    _check_not_terminal(status)
    _check_not_held(status)
    _check_not_custody(source, "account_id")
    if status is CreditStatus.inactive and reason not in (CancellationReason.correction,
                                                          CancellationReason.ex_ante_shortfall):
        raise LifecycleError(f"ex-ante (inactive) ICCs are cancelled only for correction or shortfall, not "
                             f"{reason.value}", field="reason", rule="inactive-cancellation-reason")
    if reason is CancellationReason.ex_ante_shortfall and status is not CreditStatus.inactive:
        raise LifecycleError("an ex-ante shortfall cancels inactive ICCs only", field="reason",
                             rule="shortfall-cancels-ex-ante")
    if reason is CancellationReason.buffer_use and source is not AccountType.buffer:
        raise LifecycleError("buffer use cancels ICCs held in the buffer account", field="account_id",
                             rule="buffer-use-from-buffer")
    if reason is CancellationReason.non_ca_compensation:
        if source not in (AccountType.adjustment, AccountType.holding):
            raise LifecycleError("non-CA compensation cancels ICCs from the non-CA adjustment account or a "
                                 "holding account", field="account_id", rule="non-ca-compensation-account")
        if not article6:
            raise LifecycleError("non-CA compensation cancels Article 6.2 ICCs only", field="serialization",
                                 rule="non-ca-compensation-article6-only")
    if reason is CancellationReason.conversion_article6:
        if source is not AccountType.holding:
            raise LifecycleError("conversion to Article 6.2 cancels standard ICCs from a holding account",
                                 field="account_id", rule="conversion-from-holding-account")
        if article6:
            raise LifecycleError("these ICCs are already Article 6.2 ICCs", field="serialization",
                                 rule="conversion-of-standard-only")


# --------------------------------------------------------------------------------------------
# Ex-ante conversion
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionPlan:
    """Which inactive units a verification converts, cancels (shortfall) and leaves inactive."""

    converted: tuple[SerialRange, ...]
    shortfall: tuple[SerialRange, ...]
    left_inactive: tuple[SerialRange, ...]

    @property
    def converted_quantity(self) -> int:
        return sum(r.quantity for r in self.converted)

    @property
    def shortfall_quantity(self) -> int:
        return sum(r.quantity for r in self.shortfall)


def plan_ex_ante_conversion(inactive: Sequence[SerialRange], verified: int, final: bool) -> ConversionPlan:
    """Convert ``verified`` of the ``inactive`` ex-ante units, lowest serial first.

    A final verification cancels what it does not convert; a non-final one leaves it inactive.
    ``verified`` may be 0 only for a final verification (nothing was verified: all of the
    remaining ex-ante units are a shortfall)."""
    outstanding = sum(r.quantity for r in inactive)
    if verified < 0 or (verified == 0 and not final):
        raise LifecycleError("the verified quantity must be a positive whole number of tonnes (0 only for a "
                             "final verification)", field="verified_quantity", rule="positive-whole-tonnes")
    if verified > outstanding:
        raise LifecycleError(f"verified {verified} t exceeds the {outstanding} ex-ante ICCs still inactive: convert "
                             "at most those and issue the excess as ex-post ICCs", field="verified_quantity",
                             rule="verified-exceeds-ex-ante")
    if verified == 0:
        taken, left = [], sorted(inactive)
    else:
        try:
            taken, left = take_lowest(inactive, verified)
        except InsufficientCredits as exc:  # pragma: no cover - checked above
            raise LifecycleError(str(exc), field="verified_quantity", rule="verified-exceeds-ex-ante") from exc
    if final:
        return ConversionPlan(tuple(taken), tuple(left), ())
    return ConversionPlan(tuple(taken), (), tuple(left))


# --------------------------------------------------------------------------------------------
# Retirement records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetirementDetails:
    """What a retirement claims and for whom (registry certificate content).

    - ``voluntary``: a voluntary claim.
    - ``corsia``: CORSIA compliance of an aeroplane operator: ``corsia_operator``,
      ``corsia_state`` (ISO 3166-1 alpha-3 state the operator is attributed to) and the
      compliance period (``compliance_period_start``-``compliance_period_end``, one of
      :data:`CORSIA_COMPLIANCE_PERIODS`) are required.
    - ``ndc``: achievement of another party's NDC: ``ndc_party`` (alpha-3) is required.
    - ``other_international``: other international mitigation purposes: ``purpose_detail``
      says which.
    The consumption period (the emissions the claim is against) is optional but ordered.
    """

    purpose: Purpose = Purpose.voluntary
    beneficiary_name: str = ""
    beneficiary_address: str = ""
    retiree: str = ""
    comment: str = ""
    purpose_detail: Optional[str] = None
    corsia_operator: Optional[str] = None
    corsia_state: Optional[str] = None
    compliance_period_start: Optional[int] = None
    compliance_period_end: Optional[int] = None
    ndc_party: Optional[str] = None
    consumption_start: Optional[date] = None
    consumption_end: Optional[date] = None
    jurisdiction: Optional[str] = None


def _blank(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip()
    return value or None


def validate_retirement(details: RetirementDetails, *, authorized_uses: int, default_party: str = "") -> RetirementDetails:
    """The details, trimmed and checked against the purpose rules and the class's authorized
    uses (bit ``1 << purpose``). ``default_party`` (the retiring organization's name) fills an
    empty retiree and beneficiary name."""
    d = replace(
        details,
        beneficiary_name=details.beneficiary_name.strip() or default_party,
        beneficiary_address=details.beneficiary_address.strip(),
        retiree=details.retiree.strip() or default_party,
        comment=details.comment.strip(),
        purpose_detail=_blank(details.purpose_detail),
        corsia_operator=_blank(details.corsia_operator),
        corsia_state=_blank(details.corsia_state),
        ndc_party=_blank(details.ndc_party),
        jurisdiction=_blank(details.jurisdiction),
    )
    purpose = Purpose(d.purpose)
    if not authorized_uses >> purpose & 1:
        allowed = [p.name for p in Purpose if authorized_uses >> p & 1]
        raise LifecycleError(f"these ICCs are not authorized for {purpose.name} retirement (authorized: "
                             f"{', '.join(allowed) or 'none'})", field="purpose", rule="purpose-authorized-for-class")
    corsia_fields = (d.corsia_operator, d.corsia_state, d.compliance_period_start, d.compliance_period_end)
    if purpose is Purpose.corsia:
        if not d.corsia_operator:
            raise LifecycleError("a CORSIA retirement names the aeroplane operator", field="corsia_operator",
                                 rule="corsia-needs-operator")
        if not d.corsia_state or not _ISO3.match(d.corsia_state):
            raise LifecycleError("a CORSIA retirement names the operator's state as an ISO 3166-1 alpha-3 code",
                                 field="corsia_state", rule="corsia-needs-state")
        period = (d.compliance_period_start, d.compliance_period_end)
        if period not in CORSIA_COMPLIANCE_PERIODS:
            known = ", ".join(f"{a}-{b}" for a, b in CORSIA_COMPLIANCE_PERIODS)
            raise LifecycleError(f"compliance period {period[0]}-{period[1]} is not a CORSIA compliance period "
                                 f"({known})", field="compliance_period_start", rule="corsia-compliance-period")
    elif any(v is not None for v in corsia_fields):
        raise LifecycleError("aeroplane operator, state and compliance period belong to CORSIA retirements only",
                             field="purpose", rule="corsia-details-only-for-corsia")
    if purpose is Purpose.ndc:
        if not d.ndc_party or not _ISO3.match(d.ndc_party):
            raise LifecycleError("a retirement toward another party's NDC names that party (ISO 3166-1 alpha-3)",
                                 field="ndc_party", rule="ndc-needs-party")
    elif d.ndc_party is not None:
        raise LifecycleError("ndc_party belongs to NDC retirements only", field="ndc_party",
                             rule="ndc-party-only-for-ndc")
    if purpose is Purpose.other_international and not d.purpose_detail:
        raise LifecycleError("a retirement for other international mitigation purposes says which purpose",
                             field="purpose_detail", rule="other-purpose-described")
    if (d.consumption_start is None) != (d.consumption_end is None):
        raise LifecycleError("a consumption period has both a start and an end", field="consumption_end",
                             rule="consumption-period-complete")
    if d.consumption_start is not None and d.consumption_end < d.consumption_start:
        raise LifecycleError("the consumption period ends before it starts", field="consumption_end",
                             rule="consumption-period-ordered")
    return d
