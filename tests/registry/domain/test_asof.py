"""Compliance dates are the registry's own (registry.domain.asof): each refusal in a rule table
and what a back-dated decision records."""

from datetime import date

import pytest

from registry.domain.asof import AsOf, resolve_as_of
from registry.domain.lifecycle import LifecycleError

TODAY = date(2026, 12, 7)
APPROVED = date(2025, 7, 1)


def resolve(requested, reason=None):
    return resolve_as_of(requested, reason, TODAY, field="as_of", section="seed 003 §I.9, §II.1", earliest=APPROVED,
                         earliest_what="letter 1's approval")


@pytest.mark.parametrize("requested, reason, rule, field", [
    (date(2026, 12, 8), "tomorrow's review", "as-of-not-in-future", "as_of"),
    (date(2026, 1, 15), None, "back-dating-needs-reason", "as_of_reason"),
    (date(2026, 1, 15), "   ", "back-dating-needs-reason", "as_of_reason"),
    (date(2025, 6, 30), "decided before the letter was approved", "as-of-after-registry-could-act", "as_of"),
])
def test_refusal_names_rule_field_and_section(requested, reason, rule, field):
    with pytest.raises(LifecycleError) as info:
        resolve(requested, reason)
    assert (info.value.rule, info.value.field) == (rule, field)
    assert "seed 003 §I.9" in info.value.detail


def test_server_date_unless_back_dated_with_a_reason():
    assert resolve(None) == AsOf(TODAY, TODAY, None)
    assert resolve(TODAY, "ignored: not back-dated") == AsOf(TODAY, TODAY, None)
    day = resolve(date(2026, 1, 15), " review concluded on 15 January ")
    assert day == AsOf(date(2026, 1, 15), TODAY, "review concluded on 15 January") and day.back_dated
    assert day.record() == {"decided_on": "2026-12-07", "as_of": "2026-01-15",
                            "as_of_reason": "review concluded on 15 January"}
    assert resolve(APPROVED, "the day of approval").day == APPROVED
    assert not resolve(None).back_dated
