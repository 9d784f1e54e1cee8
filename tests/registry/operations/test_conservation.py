"""Property-based: across any sequence of issuance, transfer, retirement, cancellation and ex-ante
conversion (each splitting and merging serial blocks), tonnes are conserved, no serial is in
two blocks, no two blocks are left mergeable, balances follow a simple model, refusals change
nothing, the ledger replays to the blocks and the maintained balance table matches them.

Runs against a real registry database (SQLite): each example starts from a copy of a template
database, so the database layer (splits, merges, locks, ledger) is what is exercised.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlmodel import Session, select

from bridge.schema import create_schema
from registry.db import make_engine, transaction
from registry.domain.blocks import Piece, plan_merges
from registry.domain.enums import AccountType, CancellationReason, CreditStatus
from registry.domain.lifecycle import RetirementDetails
from registry.errors import RuleViolation
from registry.operations import cancellations, conversions, issuances, retirements, transfers
from registry.operations.accounts import create_organization, open_account, open_system_account
from registry.operations.balances import table_problems
from registry.operations.holdings import balances
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.tables.core import Issuance, SerialBlock
from tests.support.periods import predicted, verification_of, verified

ACCOUNTS = ("h1", "h2", "h3", "buffer", "adjustment")
HOLDING = {"h1", "h2", "h3"}
_TEMPLATE: dict = {}


def template() -> dict:
    """Build the template database once: accounts, a project, 1,000 ex-post ICCs in h1 and 300
    ex-ante ICCs in h2."""
    if not _TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="icr-conservation-")) / "template.sqlite"
        engine = make_engine(f"sqlite:///{path}")
        create_schema(engine)
        with transaction(engine) as s:
            org1, org2 = create_organization(s, "One"), create_organization(s, "Two")
            ids = {
                "h1": open_account(s, org1.id, "h1").id,
                "h2": open_account(s, org1.id, "h2").id,
                "h3": open_account(s, org2.id, "h3").id,
                "buffer": open_system_account(s, AccountType.buffer, "buffer").id,
                "adjustment": open_system_account(s, AccountType.adjustment, "adjustment").id,
            }
            project = register_project(s, project_number=7, name="P", country="ISL", dial_code="354",
                                       sector=14, credit_type="R", methodology="M")
            post = issuances.issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=1000, account_id=ids["h1"])
            ante = issuances.issue_ex_ante(s, project_id=project.id, vintage=2023, **predicted(s, project.id, 2023), quantity=300, account_id=ids["h2"])
        engine.dispose()
        _TEMPLATE.update(path=path, ids=ids, project=project.id, serialization=post.serialization_id,
                         ex_ante=ante.id)
    return _TEMPLATE


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        t = template()
        self.dir = Path(tempfile.mkdtemp(prefix="icr-example-"))
        shutil.copy(t["path"], self.dir / "r.sqlite")
        self.engine = make_engine(f"sqlite:///{self.dir / 'r.sqlite'}")
        self.ids, self.sid, self.project, self.ex_ante = t["ids"], t["serialization"], t["project"], t["ex_ante"]
        # the model: tonnes per (account name or None, status)
        self.model: dict[tuple, int] = defaultdict(int)
        self.model[("h1", "active")] = 1000
        self.model[("h2", "inactive")] = 300
        self.ex_ante_outstanding = 300
        self.ex_ante_closed = False
        self.issued = 1300

    def teardown(self):
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------

    def snapshot(self):
        with Session(self.engine) as s:
            return sorted((b.unit_first, b.unit_last, b.account_id, b.status.value, b.retirement_id,
                           b.cancellation_id) for b in s.exec(select(SerialBlock)))

    def attempt(self, allowed: bool, call) -> bool:
        """Run ``call`` in one transaction; it must succeed iff ``allowed``; a refusal must
        change nothing."""
        before = self.snapshot()
        try:
            with transaction(self.engine) as s:
                call(s)
        except RuleViolation as exc:
            assert not allowed, f"refused although the model allows it: {exc.rule}: {exc.detail}"
            assert self.snapshot() == before
            return False
        assert allowed, "succeeded although the model refuses it"
        return True

    def move(self, src, dst, status, new_status, quantity):
        self.model[(src, status)] -= quantity
        self.model[(dst, new_status)] += quantity

    # -- rules --------------------------------------------------------------------------------

    @rule(src=st.sampled_from(ACCOUNTS), dst=st.sampled_from(ACCOUNTS), quantity=st.integers(1, 400),
          status=st.sampled_from(["active", "inactive"]))
    def transfer(self, src, dst, quantity, status):
        allowed = (src != dst and quantity <= self.model[(src, status)]
                   and (status == "active" or (src in HOLDING and dst in HOLDING)))
        if self.attempt(allowed, lambda s: transfers.transfer(s, from_account_id=self.ids[src], to_account_id=self.ids[dst],
                                                              serialization_id=self.sid, quantity=quantity,
                                                              status=CreditStatus(status))):
            self.move(src, dst, status, status, quantity)

    @rule(src=st.sampled_from(ACCOUNTS), quantity=st.integers(1, 300))
    def retire(self, src, quantity):
        allowed = src in HOLDING and quantity <= self.model[(src, "active")]
        if self.attempt(allowed, lambda s: retirements.retire(s, account_id=self.ids[src], serialization_id=self.sid,
                                                              quantity=quantity, details=RetirementDetails())):
            self.move(src, None, "active", "retired", quantity)

    @rule(src=st.sampled_from(ACCOUNTS), quantity=st.integers(1, 200),
          reason=st.sampled_from([CancellationReason.correction, CancellationReason.buffer_use,
                                  CancellationReason.conversion_article6]),
          status=st.sampled_from(["active", "inactive"]))
    def cancel(self, src, quantity, reason, status):
        allowed = quantity <= self.model[(src, status)] and {
            CancellationReason.correction: True,
            CancellationReason.buffer_use: src == "buffer" and status == "active",
            CancellationReason.conversion_article6: src in HOLDING and status == "active",
        }[reason]
        if self.attempt(allowed, lambda s: cancellations.cancel(s, account_id=self.ids[src], serialization_id=self.sid,
                                                                quantity=quantity, reason=reason, status=CreditStatus(status))):
            self.move(src, None, status, "cancelled", quantity)
            if status == "inactive":  # every inactive unit belongs to the one ex-ante issuance
                self.ex_ante_outstanding -= quantity

    @rule(dst=st.sampled_from(ACCOUNTS), quantity=st.integers(1, 100))
    def issue_ex_post(self, dst, quantity):
        self.attempt(True, lambda s: issuances.issue_ex_post(s, project_id=self.project, vintage=2023, **verified(s, self.project, 2023), quantity=quantity,
                                                             account_id=self.ids[dst]))
        self.model[(dst, "active")] += quantity
        self.issued += quantity

    @rule(verified=st.integers(0, 120), final=st.booleans())
    def convert_ex_ante(self, verified, final):
        allowed = not self.ex_ante_closed and verified <= self.ex_ante_outstanding and (verified > 0 or final)
        result = {}

        def call(s):
            result["r"] = conversions.convert_ex_ante(s, issuance_id=self.ex_ante, **verification_of(s, self.ex_ante), verified_quantity=verified, final=final,
                                                      verification_reference="VR")

        if self.attempt(allowed, call):
            # which holders the converted units belong to is recomputed from the blocks below
            r = result["r"]
            assert r.conversion.converted_quantity == verified
            self.ex_ante_outstanding -= verified
            if final:
                assert r.conversion.shortfall_cancelled == self.ex_ante_outstanding
                self.ex_ante_outstanding = 0
                self.ex_ante_closed = True
            self.resync_inactive_model()

    def resync_inactive_model(self):
        """Conversion decides per serial, so after it take the per-account split from the
        database, checking first that the totals match the model."""
        names = {v: k for k, v in self.ids.items()}
        fresh: dict[tuple, int] = defaultdict(int)
        with Session(self.engine) as s:
            for b in s.exec(select(SerialBlock)):
                fresh[(names.get(b.account_id), b.status.value)] += b.quantity
        inactive_before = sum(v for (a, st_), v in self.model.items() if st_ == "inactive")
        inactive_after = sum(v for (a, st_), v in fresh.items() if st_ == "inactive")
        assert inactive_after == self.ex_ante_outstanding and inactive_after <= inactive_before
        self.model = fresh

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def tonnes_are_conserved_and_no_serial_is_in_two_blocks(self):
        with Session(self.engine) as s:
            blocks = s.exec(select(SerialBlock).order_by(SerialBlock.unit_first)).all()
            issued = s.exec(select(Issuance)).all()
        assert sum(b.quantity for b in blocks) == self.issued == sum(i.quantity for i in issued)
        for a, b in zip(blocks, blocks[1:]):
            assert a.unit_last < b.unit_first, f"units {b.unit_first}-{a.unit_last} are in two blocks"
        units = sum(b.unit_last - b.unit_first + 1 for b in blocks)
        assert units == self.issued
        # the blocks cover exactly the issued ranges
        covered = [(b.unit_first, b.unit_last) for b in blocks]
        merged_cover = []
        for first, last in covered:
            if merged_cover and merged_cover[-1][1] + 1 == first:
                merged_cover[-1][1] = last
            else:
                merged_cover.append([first, last])
        assert merged_cover == [[1, max(i.unit_last for i in issued)]]

    @invariant()
    def balances_follow_the_model_and_nothing_is_left_to_merge(self):
        names = {v: k for k, v in self.ids.items()}
        actual: dict[tuple, int] = defaultdict(int)
        with Session(self.engine) as s:
            rows = s.exec(select(SerialBlock)).all()
        for b in rows:
            actual[(names.get(b.account_id), b.status.value)] += b.quantity
        assert {k: v for k, v in actual.items() if v} == {k: v for k, v in self.model.items() if v}
        # the maintained balance table, which GET /balances reads, says the same
        with Session(self.engine) as s:
            listed = [(names.get(b.account_id), b.status, b.quantity) for b in balances(s)]
            assert table_problems(s) == []
        assert {(a, st_): q for a, st_, q in listed} == {k: v for k, v in actual.items() if v}
        assert len(listed) == len({(a, st_) for a, st_, _ in listed}) and all(q > 0 for _, _, q in listed)
        pieces = [Piece(b.id, b.unit_first, b.unit_last,
                        (b.account_id, b.status, b.issuance_id, b.retirement_id, b.cancellation_id)) for b in rows]
        assert plan_merges(pieces) == []

    @invariant()
    def the_ledger_replays_to_the_blocks(self):
        with Session(self.engine) as s:
            v = verify_ledger(s)
        assert v.ok, v.chain.problems + v.balances.problems


RegistryMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRegistryConservation = RegistryMachine.TestCase
