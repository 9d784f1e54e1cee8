"""registry/domain/article6/uses.py: a class's current uses and the refusal naming why a purpose
is not among them, as a rule table (one row per refusal), the §I.7.1 first-transfer policy, the
uniform-uses rule for designations into an existing class, and tokenization while withdrawn."""

from __future__ import annotations

from dataclasses import replace

import pytest

from registry.domain.article6.letters import FirstTransfer, LetterStatus
from registry.domain.article6.uses import (
    COMPLIANCE_PURPOSES,
    ClassUseFacts,
    class_uses,
    designation_keeps_uses,
    tokenization_refusal,
    use_refusal,
)
from registry.domain.classes import CAStatus, Purpose, purposes_in, uses_mask

V, C, N, O = Purpose.voluntary, Purpose.corsia, Purpose.ndc, Purpose.other_international
ALL = frozenset(Purpose)


def facts(**changes) -> ClassUseFacts:
    base = ClassUseFacts(requested=frozenset({C, N}), letter_uses=frozenset({C, N}),
                         letter_status=LetterStatus.approved, first_transfer=FirstTransfer.use)
    return replace(base, **changes)


def test_an_untouched_class_carries_what_was_requested():
    assert class_uses(facts()) == {C, N}
    assert class_uses(facts(requested=ALL, letter_uses=ALL)) == ALL


# (facts, purpose, rule id, section): each refusal and the order they are checked in
REFUSALS = [
    (facts(requested=frozenset({N})), C, "retirement-use-authorized", "§I.5, §4.1"),  # NDC-only designation
    (facts(requested=frozenset({N}), letter_status=LetterStatus.withdrawn), C, "retirement-use-authorized",
     "§I.5, §4.1"),  # never requested comes first
    (facts(letter_uses=frozenset({N}), letter_status=LetterStatus.scope_reduced), C, "use-removed-by-letter",
     "§I.10.2-3"),
    (facts(letter_uses=frozenset({N}), letter_status=LetterStatus.amended), C, "use-removed-by-letter", "§I.10.2-3"),
    (facts(letter_status=LetterStatus.withdrawn), N, "letter-withdrawn-hold", "§I.10.3, §I.7.1"),
    (facts(ca_status=CAStatus.not_applied), C, "no-ca-applied-hold", "§V, §II.2"),
    (facts(ca_status=CAStatus.not_applied, project_suspended=True), N, "no-ca-applied-hold", "§V, §II.2"),
    (facts(project_suspended=True), N, "project-suspended-hold", "§V.b"),
    (facts(project_suspended=True, first_transfer=FirstTransfer.issuance), C, "project-suspended-hold", "§V.b"),
    (facts(ca_status=CAStatus.not_applied, first_transfer=FirstTransfer.authorization), N, "no-ca-applied-hold",
     "§V, §II.2"),
]


@pytest.mark.parametrize("f, purpose, rule, section", REFUSALS)
def test_each_refusal_names_its_rule_and_section(f, purpose, rule, section):
    refusal = use_refusal(f, purpose)
    assert (refusal.rule.id, refusal.rule.section, refusal.field) == (rule, section, "purpose")
    assert purpose.name in refusal.detail
    assert purpose not in class_uses(f)


def test_holds_stop_compliance_uses_only_and_lift_with_their_cause():
    assert COMPLIANCE_PURPOSES == {C, N, O}
    every = facts(requested=ALL, letter_uses=ALL)
    for held in (replace(every, letter_status=LetterStatus.withdrawn), replace(every, project_suspended=True),
                 replace(every, ca_status=CAStatus.not_applied)):
        assert class_uses(held) == {V}  # voluntary claims are not a compliance use
    assert class_uses(replace(every, ca_status=CAStatus.applied)) == ALL  # a confirmed CA lifts the hold
    assert class_uses(replace(every, project_suspended=False)) == ALL  # reinstated


@pytest.mark.parametrize("definition", [FirstTransfer.authorization, FirstTransfer.issuance])
def test_first_transferred_icc_keep_their_uses_through_narrowing_and_withdrawal(definition):
    """§I.7.1: designated ICCs were first transferred at authorization or issuance: a change of
    the letter does not reach them (the host country still owes their CA)."""
    narrowed = facts(first_transfer=definition, letter_uses=frozenset({N}), letter_status=LetterStatus.scope_reduced)
    assert class_uses(narrowed) == {C, N}
    assert class_uses(replace(narrowed, letter_status=LetterStatus.withdrawn)) == {C, N}
    # first transfer at use: only used ICCs were transferred; the rest follow the letter
    assert class_uses(replace(narrowed, first_transfer=FirstTransfer.use)) == {N}


def test_an_amendment_widening_the_letter_does_not_widen_a_class_beyond_its_request():
    assert class_uses(facts(requested=frozenset({N}), letter_uses=ALL, letter_status=LetterStatus.amended)) == {N}


def test_a_designation_into_a_class_must_keep_its_uses():
    assert designation_keeps_uses(facts(), frozenset({C, N})) is None
    assert designation_keeps_uses(facts(), ALL) is None  # asks for more: the class keeps what it has
    refusal = designation_keeps_uses(facts(), frozenset({N}))
    assert (refusal.rule.id, refusal.field) == ("class-uses-uniform", "uses") and "corsia" in refusal.detail
    # after a narrowing the class carries NDC only: a designation for NDC only keeps that
    narrowed = facts(letter_uses=frozenset({N}), letter_status=LetterStatus.scope_reduced)
    assert designation_keeps_uses(narrowed, frozenset({N})) is None
    # first transferred at issuance, the class still carries CORSIA: an NDC-only designation would take it
    frozen = replace(narrowed, first_transfer=FirstTransfer.issuance)
    assert designation_keeps_uses(frozen, frozenset({N})).rule.id == "class-uses-uniform"


def test_tokenization_is_refused_while_the_letter_is_withdrawn():
    assert tokenization_refusal(LetterStatus.withdrawn).rule.id == "letter-withdrawn-tokenization"
    assert tokenization_refusal(LetterStatus.withdrawn).rule.section == "§I.10.3"
    for status in (LetterStatus.approved, LetterStatus.amended, LetterStatus.scope_reduced):
        assert tokenization_refusal(status) is None


def test_uses_masks_round_trip():
    for n in range(16):
        assert uses_mask(purposes_in(n)) == n
    assert uses_mask([C, N]) == 0b0110
