"""Random sequences of everything that moves credits, with crashes and chain reorganizations
injected between steps, on SQLite and on PostgreSQL. After every step no tonne is lost,
created or retired twice; once the engine has caught up, registry custody equals the
on-chain supply per class and both equal what the test put in minus what it retired.

One hypothesis example is one registry + chain history. Its steps (rules):
- registry: ex-post issuance (two vintages, so two classes), ex-ante issuance and its
  conversion on verification (partial or final, cancelling the shortfall), transfers
  between holding accounts, registry retirements, unit holds on the holding account (placed,
  lowest units first, or the oldest released; held units are skipped by every other step,
  and the hold entries replay in the ledger), and tokenization requests (some aborted
  by a crash before the commit; some asking for more than the account holds: refused);
- bridge: an engine cycle (batch, commit, mint, sync), sometimes with a crash armed at one
  of the crash points of bridge/ (``faults.point``); every cycle is a restarted process (a
  new chain client with no in-memory state), which finishes what a crashed one left;
- chain: holders transfer tokens between four wallets, retire them (empty data, ICR
  retirement details, another beneficiary; a hostile holder's NUL and control characters,
  any comment and random data bytes) and redeem them back into a registry account
  (finalized into either holding account, or rejected for an unknown account); retiring more
  than a wallet holds is refused;
  a reorganization abandons the last 1-3 chain-changing steps' blocks for a longer branch;
- Article 6.2: the template has an authorized Article 6.2 class (vintage 2023, 100 t
  tokenized); CA decisions (CA applied on evidence, or no CA applied) go through the
  registry's CA records and the engine pushes them with ``setCAStatus`` (a decision the
  record's state does not allow is refused and changes nothing); once settled, the class's
  on-chain CA status equals the registry's, and no decision moves supply;
- batch revocation: the admin revokes a committed batch before its mint; its units come back
  to the account once the revocation is final (minted after all if a reorganization removes it);
- a replay of the whole event history into the registry, which must apply nothing.

Invariants after every step: tests/reliability/invariants.py.

Extension points (rules to add as the code grows): redemption reclaims after the timeout
(needs a chain clock the test can move: eth-tester's ``time_travel``) and
standard -> Article 6.2 conversions (cancel + issue: add to ``registry_problems``
that cancelled originals equal the new issuance). Each new rule records itself in
``counts`` under "operations".

Size: ``ICR_STATEFUL_EXAMPLES`` (default 5) examples of up to ``ICR_STATEFUL_STEPS``
(default 16) steps per database; the defaults keep both databases under two minutes on 2 cores.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from dataclasses import dataclass, replace
from datetime import date

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from bridge.chain.client import Chain, ChainRevert, TransactionFailed, eth_tester_web3
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine import batcher, faults
from bridge.engine.cycle import run_cycle
from bridge.engine.sync import rewind_cursor, sync_once
from bridge.schema import create_schema
from bridge.tables import MintLeaf, Redemption, RedemptionStatus
from registry.bridged import custody
from registry.db import make_engine, sqlite_path, transaction
from registry.domain import lifecycle as lc
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.classes import Purpose
from registry.domain.enums import IssuanceKind
from registry.errors import RegistryError
from registry.operations import additionality as aops
from registry.operations import conversions, issuances
from registry.operations.accounts import open_account
from registry.operations.article6 import adjustments as adjustment_ops
from registry.operations.article6 import designation as designation_ops
from registry.operations.article6 import letters as letter_ops
from registry.operations.article6 import projects as project_ops
from registry.operations.holds import place_hold, release_hold
from registry.operations.projects import register_project
from registry.operations.retirements import retire
from registry.operations.transfers import transfer
from registry.tables.core import Account, CreditClass, Issuance, Project, Serialization, UnitHold
from tests.reliability.counts import crash_points, record
from tests.reliability.invariants import fingerprint, registry_problems, settled_problems, supply_bound_problems
from tests.support import a6_world
from tests.support.periods import predicted, verification_of, verified
from tests.support.world import make_world

EXAMPLES = int(os.environ.get("ICR_STATEFUL_EXAMPLES", "5"))
STEPS = int(os.environ.get("ICR_STATEFUL_STEPS", "16"))
CRASH_POINTS = crash_points()
VINTAGES = (2023, 2024)
A6_VINTAGE = 2023
A6_TOKENIZED = 100
#: Which crash points a kind of pending work passes through (substrings of their names).
REACHED_BY = {"mint": ("batch", "LeafMinted"), "retirement": ("Retired",), "redemption": ("Redemption", "redemption"),
              "revocation": ("BatchRevoked",), "ca": ("ca.", "uses.")}
ALWAYS_REACHED = {"engine.before_sync", "sync.before_cursor", "engine.before_redemptions"}
MINT_CRASH_POINTS = [p for p in CRASH_POINTS if p in ALWAYS_REACHED or any(m in p for m in REACHED_BY["mint"])]
ZERO = "0x" + "00" * 20


@dataclass
class Template:
    """A registry database and an eth-tester chain snapshot every example starts from."""

    url: str
    kind: str
    w3: object
    snapshot: object
    world: object
    project_id: int
    second_account_id: int
    a6_class_id: int
    a6_token_id: str
    #: A standard project for ex-ante issuances: the Article 6.2 authorized project issues none (§4.1).
    ex_ante_project_id: int


def _admin(url: str):
    return create_engine("postgresql+psycopg://" + url.split("://", 1)[1].rsplit("/", 1)[0] + "/postgres",
                         isolation_level="AUTOCOMMIT")


def clone_database(template: Template) -> str:
    if template.kind == "sqlite":
        source = sqlite_path(template.url)
        target = source.with_name(f"example-{uuid.uuid4().hex[:8]}.sqlite")
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return f"sqlite:///{target}"
    name = f"icr_example_{uuid.uuid4().hex[:10]}"
    admin = _admin(template.url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template.url.rsplit("/", 1)[1]}"'))
    admin.dispose()
    return f"{template.url.rsplit('/', 1)[0]}/{name}"


def drop_database(template: Template, url: str) -> None:
    if template.kind == "sqlite":
        path = sqlite_path(url)
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink(missing_ok=True)
        return
    admin = _admin(template.url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def template(db_url):
    engine = make_engine(db_url)
    create_schema(engine)
    w3 = eth_tester_web3()
    world = make_world(engine, w3, seed="stateful", issued=1_000)
    with transaction(engine) as s:
        project_id = s.exec(select(Project.id).where(Project.project_number == 78040)).one()
        org_id = s.get(Account, world.account_id).organization_id
        second = open_account(s, org_id, "second holding account")
        a6_class = _authorized_article6_class(s, world, project_id, org_id)
        ex_ante_project = register_project(s, project_number=78041, name="Ex-ante project", country="ISL",
                                           dial_code="354", sector=14, credit_type="R", methodology="M")
    engine.dispose()
    snapshot = w3.provider.ethereum_tester.take_snapshot()
    kind = "sqlite" if db_url.startswith("sqlite") else "postgres"
    return Template(db_url, kind, w3, snapshot, world, project_id, second.id, a6_class.id, a6_class.token_id,
                    ex_ante_project.id)


def _authorized_article6_class(s, world, project_id: int, org_id: int) -> CreditClass:
    """Authorize the template's project under Article 6.2 (host country framework, letter
    approved), issue 200 t of vintage 2023 designated as Article 6.2 ICCs and ask to tokenize
    A6_TOKENIZED of them (minted by the first engine cycle of every example)."""
    project = s.get(Project, project_id)
    project_ops.set_host_country(s, "ISL", article6_framework=True, reference="Act 2024/12", actor="admin")
    project_ops.configure_project(s, project_id, adjustment_percentage="10", risk_assessment="RA-2026-01",
                                  methodology_approved=True, proponent_organization_id=org_id, actor="admin")
    aops.register_additionality(s, project_id, a6_world.claims(), actor="vvb")
    letter = a6_world.content()
    letter = replace(letter, activity=replace(letter.activity, methodology=project.methodology))
    submitted = letter_ops.submit_letter(s, project_id=project_id, content=letter, document="sha256:abc",
                                         actor="proponent")
    letter_ops.start_letter_review(s, submitted.id, actor="reviewer")
    letter_ops.approve_letter(s, submitted.id, authenticity_confirmed=True, published_ref="https://icr/letters/1",
                              actor="reviewer")
    result = designation_ops.issue_article6(s, project_id=project_id, vintage=A6_VINTAGE, quantity=200,
                                            account_id=world.account_id, monitoring_start=date(A6_VINTAGE, 12, 1),
                                            monitoring_end=date(A6_VINTAGE, 12, 31), actor="admin",
                                            verification_reference=f"VR-{A6_VINTAGE}", verification_body="VVB hf.",
                                            verified_on=date(A6_VINTAGE + 1, 3, 1))
    a6_class = s.exec(select(CreditClass).where(CreditClass.token_id == result.token_id)).one()
    custody.request_tokenization(s, account_id=world.account_id, wallet=world.holder.address, class_id=a6_class.id,
                                 quantity=A6_TOKENIZED, custody_account_id=world.deployment.custody_account_id)
    return a6_class


def make_machine(t: Template):
    class BridgeMachine(RuleBasedStateMachine):
        """See the module docstring."""

        @initialize(quantity=st.integers(1, 1_000),
                    crash=st.tuples(st.sampled_from(MINT_CRASH_POINTS), st.integers(1, 2)))
        def start(self, quantity, crash):
            """A fresh registry and chain, and a first tokenization minted (a crash may hit that
            first cycle), so that chain steps have something to move from the start."""
            self.url = clone_database(t)
            t.w3.provider.ethereum_tester.revert_to_snapshot(t.snapshot)
            self.engine = make_engine(self.url)
            self.world = t.world
            self.chain = Chain(t.w3, t.world.deployment.address)
            self.wallets = [t.world.holder, *t.world.others]
            self.crashed = False  # a crash left work for the next cycle
            self.dirty = False  # something happened since the engine last caught up
            self.reorg_pending = False  # the chain dropped blocks the registry has not rolled back yet
            self.synced_once = False  # reconcile compares at the sync's cursor: there is none before
            self.replays = 0
            self.pending: set[str] = set()  # kinds of work waiting for the engine
            self.tokenized: dict[str, int] = {t.a6_token_id: A6_TOKENIZED}  # asked for in the template
            self.retired_onchain: dict[str, int] = {}
            self.revoked: dict[str, int] = {}  # tonnes tokenized into batches the admin revoked unminted
            self.chain_snapshots: list[tuple[object, int, dict[str, int], dict[str, int]]] = []
            record("examples", t.kind)
            self.tokenize(quantity, VINTAGES[0], False)
            self.cycle(crash)

        def teardown(self):
            if hasattr(self, "engine"):
                self.engine.dispose()
                drop_database(t, self.url)

        # ------------------------------------------------------------------ helpers
        def class_of(self, vintage: int) -> tuple[int, int, str] | None:
            """(class id, serialization id, token id) of a vintage, if it was issued."""
            with Session(self.engine) as s:
                row = s.exec(
                    select(CreditClass.id, Serialization.id, CreditClass.token_id)
                    .join(Serialization, Serialization.id == CreditClass.serialization_id)
                    .where(Serialization.project_id == t.project_id, Serialization.vintage == vintage,
                           Serialization.article6 == False)  # noqa: E712
                ).first()
            return tuple(row) if row else None

        def refused(self, operation: str, call) -> bool:
            """Run a registry operation in one transaction; a refusal must change nothing."""
            before = fingerprint(self.engine)
            try:
                with transaction(self.engine) as s:
                    call(s)
            except RegistryError:
                assert fingerprint(self.engine) == before, f"refused {operation} changed the registry"
                record("refused (changed nothing)", operation)
                return True
            return False

        def before_chain_step(self):
            tester = t.w3.provider.ethereum_tester
            self.chain_snapshots.append((tester.take_snapshot(), t.w3.eth.block_number, dict(self.retired_onchain),
                                         dict(self.revoked)))

        def balance(self, wallet, token_id: str) -> int:
            return self.chain.token.functions.balanceOf(wallet.address, int(token_id)).call()

        # ------------------------------------------------------------------ registry
        @rule(quantity=st.integers(1, 600), vintage=st.sampled_from(VINTAGES))
        def issue(self, quantity, vintage):
            with transaction(self.engine) as s:
                issuances.issue_ex_post(s, project_id=t.project_id, vintage=vintage,
                                        **verified(s, t.project_id, vintage), quantity=quantity,
                                        account_id=t.world.account_id)
            record("operations", "issuance (ex-post)")

        @rule(quantity=st.integers(1, 300), vintage=st.sampled_from(VINTAGES))
        def issue_ex_ante(self, quantity, vintage):
            with transaction(self.engine) as s:
                issuances.issue_ex_ante(s, project_id=t.ex_ante_project_id, vintage=vintage,
                                        **predicted(s, t.ex_ante_project_id, vintage), quantity=quantity,
                                        account_id=t.world.account_id)
            record("operations", "issuance (ex-ante)")

        @rule(share=st.integers(0, 120), final=st.booleans())
        def convert_ex_ante(self, share, final):
            with Session(self.engine) as s:
                issuance = s.exec(select(Issuance).where(Issuance.kind == IssuanceKind.ex_ante)
                                  .order_by(Issuance.id.desc())).first()
            if issuance is None:
                return
            verified = issuance.quantity * share // 100
            if not self.refused("ex-ante conversion", lambda s: conversions.convert_ex_ante(
                    s, issuance_id=issuance.id, **verification_of(s, issuance.id), verified_quantity=verified,
                    final=final, verification_reference=f"verification report {share}")):
                record("operations", "ex-ante conversion" + (" (final)" if final else ""))

        @rule(quantity=st.integers(1, 700), vintage=st.sampled_from(VINTAGES))
        def registry_transfer(self, quantity, vintage):
            found = self.class_of(vintage)
            if found is None:
                return
            if not self.refused("registry transfer", lambda s: transfer(
                    s, from_account_id=t.world.account_id, to_account_id=t.second_account_id,
                    serialization_id=found[1], quantity=quantity)):
                record("operations", "registry transfer")

        @rule(quantity=st.integers(1, 300), vintage=st.sampled_from(VINTAGES), second=st.booleans())
        def registry_retire(self, quantity, vintage, second):
            found = self.class_of(vintage)
            if found is None:
                return
            account = t.second_account_id if second else t.world.account_id
            details = lc.RetirementDetails(purpose=Purpose.voluntary, beneficiary_name="Registry beneficiary")
            if not self.refused("registry retirement", lambda s: retire(
                    s, account_id=account, serialization_id=found[1], quantity=quantity, details=details)):
                record("operations", "registry retirement")

        @rule(quantity=st.integers(1, 400), vintage=st.sampled_from(VINTAGES), release=st.booleans())
        def unit_hold(self, quantity, vintage, release):
            """An operator holds the lowest active units of the holding account (a KYC case), or
            releases the oldest hold still placed; held units are skipped by every other step."""
            with Session(self.engine) as s:
                placed = s.exec(select(UnitHold.id).where(UnitHold.status == "placed").order_by(UnitHold.id)).first()
            if release and placed is not None:
                with transaction(self.engine) as s:
                    release_hold(s, placed, note="case closed", actor="operator")
                record("operations", "unit hold released")
                return
            found = self.class_of(vintage)
            if found is None:
                return
            if not self.refused("unit hold", lambda s: place_hold(
                    s, account_id=t.world.account_id, serialization_id=found[1], quantity=quantity,
                    reason="KYC case", actor="operator")):
                record("operations", "unit hold placed")

        @rule(quantity=st.integers(1, 500), vintage=st.sampled_from(VINTAGES), crash_before_commit=st.booleans())
        def tokenize(self, quantity, vintage, crash_before_commit):
            found = self.class_of(vintage)
            if found is None:
                return
            class_id, _, token_id = found
            before = fingerprint(self.engine)

            def request(s):
                custody.request_tokenization(
                    s, account_id=t.world.account_id, wallet=t.world.holder.address, class_id=class_id,
                    quantity=quantity, custody_account_id=t.world.deployment.custody_account_id)
                if crash_before_commit:
                    raise faults.SimulatedCrash("tokenization.before_commit")

            try:
                refused = self.refused("tokenization", request)
            except faults.SimulatedCrash:
                assert fingerprint(self.engine) == before, "a crash before the commit left changes behind"
                record("crashes injected", "tokenization.before_commit")
                return
            if not refused:
                self.tokenized[token_id] = self.tokenized.get(token_id, 0) + quantity
                self.dirty = True
                self.pending.add("mint")
                record("operations", "tokenization")

        # ------------------------------------------------------------------ bridge
        def cycle(self, crash):
            """One engine cycle in a restarted process, with ``crash`` (point, occurrence) armed."""
            self.before_chain_step()
            self.chain = Chain(t.w3, t.world.deployment.address)  # a restarted process
            crashed = False
            if crash is None:
                run_cycle(self.engine, self.chain, t.world.keys)
            else:
                with faults.crash_at(*crash):
                    try:
                        run_cycle(self.engine, self.chain, t.world.keys)
                    except faults.SimulatedCrash:
                        crashed = True
                if crashed:
                    record("crashes injected", f"{crash[0]}#{crash[1]}")
                else:
                    record("crash points armed but not reached", crash[0])
            record("operations", "engine cycle" + (" (crashed)" if crashed else ""))
            if self.crashed and not crashed:
                record("operations", "restart after a crash")
            self.crashed = crashed
            if not crashed:
                self.reorg_pending = False
                self.synced_once = True
                # A redemption is answered after the sync that saw it; the answer's own event
                # is applied by the next cycle's sync: until then there is work left.
                self.dirty = self.open_redemptions() > 0
                self.pending = {"redemption"} if self.dirty else set()

        @rule()
        def engine_cycle(self):
            self.cycle(None)

        def relevant_crash_points(self) -> list[str]:
            """The crash points the next cycle can reach, given the work waiting for it."""
            points = [p for p in CRASH_POINTS if p in ALWAYS_REACHED
                      or any(marker in p for kind in self.pending for marker in REACHED_BY[kind])]
            return points or CRASH_POINTS

        @rule(data=st.data())
        def engine_cycle_with_a_crash(self, data):
            """A cycle with a crash armed at a point its work passes through, then the restart,
            which sometimes crashes too."""
            crash = (data.draw(st.sampled_from(self.relevant_crash_points()), label="crash point"),
                     data.draw(st.integers(1, 2), label="occurrence"))
            self.cycle(crash)
            if self.crashed and data.draw(st.booleans(), label="the restart crashes too"):
                self.cycle((data.draw(st.sampled_from(self.relevant_crash_points())), 1))

        @precondition(lambda self: self.synced_once and not self.dirty and not self.crashed and self.replays < 2)
        @rule()
        def replay_history(self):
            self.replays += 1
            rewind_cursor(self.engine, self.chain, t.world.deployment.deployed_block)
            report = sync_once(self.engine, self.chain)
            assert report.applied == {}, f"replaying the chain history applied {report.applied} again"
            record("operations", "replay of the whole history")

        @precondition(lambda self: not self.crashed and not self.reorg_pending)
        @rule(quantity=st.integers(1, 300), vintage=st.sampled_from(VINTAGES))
        def revoked_batch(self, quantity, vintage):
            """A batch the admin revokes on-chain before any of its leaves is minted (incident
            response): a new tokenization and whatever else waits to be batched. Once the
            revocation is final their units are back in the account, unless a reorganization
            removes the revocation, and then they are minted after all."""
            self.tokenize(quantity, vintage, False)
            with transaction(self.engine) as s:
                batch = batcher.build_batch(s, t.world.deployment)
                if batch is None:
                    return  # refused and nothing else waiting
                batch_id = batch.id
                leaves = s.exec(select(MintLeaf.token_id, MintLeaf.amount).where(MintLeaf.batch_id == batch_id)).all()
            self.before_chain_step()
            batcher.commit_batch(self.engine, self.chain, batch_id, t.world.keys.registry_signer, t.world.keys.relayer)
            self.chain.transact(t.world.keys.admin, self.chain.token.functions.revokeBatch(batch_id), "revokeBatch",
                                gas=100_000)
            for token_id, amount in leaves:
                self.revoked[token_id] = self.revoked.get(token_id, 0) + amount
            self.dirty = True
            self.pending.add("revocation")
            record("operations", "batch revoked before its mint")

        @rule(applied=st.booleans())
        def ca_decision(self, applied):
            """The registry's CA decision for the Article 6.2 vintage; the engine pushes it."""
            def decide(s):
                if applied:
                    evidence = Evidence(EvidenceKind.ca_applied, f"BTR1 table 4 ({uuid.uuid4().hex[:8]})",
                                        None, 1_000, date.today().year)  # applied once used
                    adjustment_ops.confirm_ca_applied(s, t.project_id, A6_VINTAGE, evidence, actor="admin")
                else:
                    adjustment_ops.record_no_ca(s, t.project_id, A6_VINTAGE,
                                                reason="the host country's report omits it", suspend=False,
                                                actor="admin")

            if self.refused("CA decision", decide):
                return
            self.dirty = True
            self.pending.add("ca")
            record("operations", "CA decision: " + ("CA applied" if applied else "no CA applied"))

        # ------------------------------------------------------------------ chain
        def holdings(self) -> list[tuple[int, str, int]]:
            """(wallet index, token id, balance) of every non-empty on-chain holding."""
            out = []
            for vintage in VINTAGES:
                found = self.class_of(vintage)
                if found is None:
                    continue
                for index, wallet in enumerate(self.wallets):
                    balance = self.balance(wallet, found[2])
                    if balance:
                        out.append((index, found[2], balance))
            return out

        @rule(pick=st.integers(0, 1_000), to=st.integers(1, 3), share=st.integers(1, 100))
        def chain_transfer(self, pick, to, share):
            holdings = self.holdings()
            if not holdings:
                return
            src, token_id, balance = holdings[pick % len(holdings)]
            dst = (src + to) % len(self.wallets)
            amount = max(1, balance * share // 100)
            self.before_chain_step()
            fn = self.chain.token.functions.safeTransferFrom(
                self.wallets[src].address, self.wallets[dst].address, int(token_id), amount, b"")
            self.chain.transact(self.wallets[src], fn, "transfer", gas=200_000)
            record("operations", "on-chain transfer")

        def open_redemptions(self) -> int:
            with Session(self.engine) as s:
                return len(s.exec(select(Redemption.id).where(Redemption.status == RedemptionStatus.requested)).all())

        @rule(pick=st.integers(0, 1_000), share=st.integers(1, 100),
              account=st.sampled_from(["holding", "second holding", "no such account"]))
        def chain_redeem(self, pick, share, account):
            """A holder asks for tokens back as registry credits: escrowed on-chain, then finalized
            into the referenced account (custody serials move there) or rejected (tokens return)."""
            holdings = self.holdings()
            if not holdings:
                return
            holder, token_id, balance = holdings[pick % len(holdings)]
            amount = max(1, balance * share // 100)
            reference = {"holding": str(t.world.account_id), "second holding": str(t.second_account_id),
                         "no such account": "999999"}[account]
            self.before_chain_step()
            fn = self.chain.token.functions.requestRedemption(int(token_id), amount, reference)
            self.chain.transact(self.wallets[holder], fn, "requestRedemption", gas=300_000)
            self.dirty = True
            self.pending.add("redemption")
            record("operations", f"redemption request ({account})")

        @rule(pick=st.integers(0, 1_000), share=st.integers(1, 100),
              form=st.sampled_from(["empty data", "retirement details", "another beneficiary", "hostile holder"]),
              hostile=st.tuples(
                  st.text(st.characters(exclude_categories=("Cs",)), max_size=60).map(lambda n: n + "\x00\x07"),
                  st.text(st.characters(codec="utf-8"), max_size=200), st.binary(max_size=160)))
        def chain_retire(self, pick, share, form, hostile):
            """Retire on-chain. A hostile holder puts NUL and control characters in the names, any
            text in the comment and random bytes in the data: whatever the contract accepts is
            burned and must become a registry retirement (or a quarantined event counted as one);
            what it refuses changes nothing."""
            holdings = self.holdings()
            if not holdings:
                return
            holder, token_id, balance = holdings[pick % len(holdings)]
            wallet = self.wallets[holder]
            amount = max(1, balance * share // 100)
            name, comment, data, beneficiary = "Retiree", "stateful", b"", ZERO
            if form == "retirement details":
                data = encode_retirement_data(RetirementData(
                    purpose=Purpose.voluntary, beneficiary_name="Ferry operator", organization_id="7"))
            elif form == "another beneficiary":
                beneficiary = self.wallets[(holder + 1) % len(self.wallets)].address
            elif form == "hostile holder":
                name, comment, data = hostile
            self.before_chain_step()
            fn = self.chain.token.functions.retire(int(token_id), amount, beneficiary, name, "", comment, data)
            try:
                self.chain.transact(wallet, fn, "retire", gas=600_000)
            except (ChainRevert, TransactionFailed):
                if form != "hostile holder":
                    raise
                # Mined as reverted: a block, and nothing else.
                self.chain = Chain(t.w3, t.world.deployment.address)  # forget the nonce of the refused send
                assert self.balance(wallet, token_id) == balance
                record("refused (changed nothing)", "hostile on-chain retirement")
                return
            self.retired_onchain[token_id] = self.retired_onchain.get(token_id, 0) + amount
            self.dirty = True
            self.pending.add("retirement")
            record("operations", f"on-chain retirement ({form})")

        @rule(holder=st.integers(0, 3), vintage=st.sampled_from(VINTAGES))
        def chain_retire_too_much(self, holder, vintage):
            found = self.class_of(vintage)
            if found is None:
                return
            token_id = found[2]
            wallet = self.wallets[holder]
            balance = self.balance(wallet, token_id)
            head = t.w3.eth.block_number
            fn = self.chain.token.functions.retire(int(token_id), balance + 1, ZERO, "Retiree", "", "", b"")
            with pytest.raises((ChainRevert, TransactionFailed)):
                self.chain.transact(wallet, fn, "retire too much")
            self.chain = Chain(t.w3, t.world.deployment.address)  # forget the nonce of the refused send
            assert self.balance(wallet, token_id) == balance and t.w3.eth.block_number == head
            record("refused (changed nothing)", "on-chain retirement beyond the balance")

        @precondition(lambda self: len(self.chain_snapshots) > 0)
        @rule(back=st.integers(1, 3))
        def reorg(self, back):
            tester = t.w3.provider.ethereum_tester
            snapshot, block, retired, revoked = self.chain_snapshots[-min(back, len(self.chain_snapshots))]
            head = t.w3.eth.block_number
            depth = head - block
            if depth == 0:
                return
            tester.revert_to_snapshot(snapshot)
            tester.mine_blocks(depth + 1)  # the new branch is longer than the abandoned one
            del self.chain_snapshots[-min(back, len(self.chain_snapshots)):]
            self.retired_onchain = retired
            self.revoked = revoked  # a revocation the new branch lacks: its batch is minted after all
            self.chain = Chain(t.w3, t.world.deployment.address)
            self.dirty = True
            self.reorg_pending = True
            self.pending |= {"mint", "retirement", "redemption", "revocation", "ca"}  # whatever was undone is redone
            record("reorg depths (blocks)", str(depth))
            record("operations", "chain reorganization")

        # ------------------------------------------------------------------ invariants
        @invariant()
        def registry_is_consistent(self):
            if hasattr(self, "engine"):
                assert registry_problems(self.engine) == []

        @invariant()
        def supply_never_exceeds_custody(self):
            if hasattr(self, "engine") and not self.reorg_pending:
                assert supply_bound_problems(self.engine, self.chain) == []

        @invariant()
        def settled_state_agrees(self):
            if hasattr(self, "engine") and self.synced_once and not self.dirty and not self.crashed:
                minted = {k: v - self.revoked.get(k, 0) for k, v in self.tokenized.items()}
                assert settled_problems(self.engine, self.chain, minted, self.retired_onchain) == []
                with Session(self.engine) as s:
                    registry_ca = adjustment_ops.ca_status_for_class(s, t.a6_class_id)
                onchain_ca = self.chain.token.functions.creditClass(int(t.a6_token_id)).call()[6]
                assert onchain_ca == registry_ca, f"CA status on-chain {onchain_ca}, in the registry {registry_ca!r}"
                with Session(self.engine) as s:  # No CA applied holds the vintage's uses, a CA lifts the hold
                    registry_uses = s.get(CreditClass, t.a6_class_id).authorized_uses
                onchain_uses = self.chain.token.functions.creditClass(int(t.a6_token_id)).call()[5]
                assert onchain_uses == registry_uses, f"uses on-chain {onchain_uses}, in the registry {registry_uses}"
                record("settled checks", t.kind)

    return BridgeMachine


def test_random_histories_keep_every_tonne(template):
    options = {}
    if os.environ.get("ICR_STATEFUL_SHRINK") == "0":  # report a failing history as found, unminimized
        options["phases"] = [Phase.explicit, Phase.generate]
    run_state_machine_as_test(
        make_machine(template),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            **options,
        ),
    )


def test_the_crash_points_cover_every_step_of_the_engine():
    """The stateful test arms every ``faults.point`` in bridge/; the engine has crash points at
    each boundary (batch, class registration, commit, mint chunk, sync apply/commit/cursor)."""
    assert {"engine.batch_built", "batch.commit_sent", "batch.mint_chunk_sent", "sync.applied.LeafMinted",
            "sync.applied.Retired", "sync.committed.Retired", "sync.before_cursor"} <= set(CRASH_POINTS)
