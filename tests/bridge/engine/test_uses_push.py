"""A class's current uses reach the chain: the letter narrowed to NDC is pushed with
``setClassUses`` and CORSIA retirements revert on-chain; a push lost to a crash or a reorg (the
chain's uses drift back) is sent again; nothing is sent when the chain agrees; a CORSIA
retirement the contract accepted before the push landed is stored and flagged, and shows in
reconcile; a withdrawal puts NDC on hold on-chain too."""

import json
import time
from dataclasses import replace

import pytest
from eth_account import Account
from sqlmodel import Session, select
from web3.logs import DISCARD

from bridge.chain.client import Chain, ChainRevert
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine.cycle import run_cycle
from bridge.engine.deploy import BridgeKeys, deploy
from bridge.engine.reconcile import reconcile
from registry.bridged import custody
from registry.db import transaction
from registry.domain.article6.letters import AuthorizedUse
from registry.domain.classes import Purpose
from registry.domain.wallets import sign_wallet_link
from registry.operations.accounts import link_wallet
from registry.operations.article6 import letters as letter_ops
from registry.operations.classes import class_for_token
from registry.tables.core import LedgerEntry, Retirement
from tests.support import a6_world
from tests.support.world import seeded

NDC_ONLY = 1 << Purpose.ndc
CORSIA_NDC = (1 << Purpose.corsia) | (1 << Purpose.ndc)
CORSIA = dict(corsia_operator="Icelandair", corsia_state="ISL", compliance_period_start=2024,
              compliance_period_end=2026)


def _onchain_uses(chain, token_id):
    return chain.token.functions.creditClass(int(token_id)).call()[5]


def _retire(chain, holder, token_id, amount, purpose, **details):
    data = encode_retirement_data(RetirementData(purpose=purpose, beneficiary_name="Buyer AG", **details))
    fn = chain.token.functions.retire(int(token_id), amount, holder.address, "Buyer AG", "", "", data)
    return chain.transact(holder, fn, "retire", gas=500_000)


@pytest.fixture
def bridged(sqlite_engine, w3):
    world = a6_world.make_world(sqlite_engine)
    letter_id = a6_world.authorized(world)
    result = a6_world.issue(world, quantity=500)
    chain = Chain(w3)
    keys = BridgeKeys(seeded("uses/admin"), seeded("uses/signer"), seeded("uses/relayer"))
    holder = Account.from_key(seeded("uses/holder").key)
    chain.fund_from_dev_account(keys.admin.address, keys.registry_signer.address, keys.relayer.address, holder.address)
    deployment = deploy(sqlite_engine, chain, keys)
    now = int(time.time())
    address, signature = sign_wallet_link(holder.key, world.account, now)
    with transaction(sqlite_engine) as s:
        link_wallet(s, world.account, address, now, signature, now)
        class_id = class_for_token(s, result.token_id).id
        custody.request_tokenization(s, account_id=world.account, wallet=holder.address, class_id=class_id,
                                     quantity=200, custody_account_id=deployment.custody_account_id)
    run_cycle(sqlite_engine, chain, keys)
    return world, letter_id, result.token_id, chain, keys, holder


def _narrow_to_ndc(engine, letter_id):
    with transaction(engine) as s:
        letter_ops.reduce_letter_scope(s, letter_id, content=replace(a6_world.content(),
                                                                     uses=frozenset({AuthorizedUse.ndc})),
                                       note="host country notice", actor="admin")


def test_narrowed_uses_are_pushed_and_a_lost_push_is_sent_again(sqlite_engine, bridged):
    world, letter_id, token_id, chain, keys, holder = bridged
    assert _onchain_uses(chain, token_id) == CORSIA_NDC  # registered with the class's uses
    assert run_cycle(sqlite_engine, chain, keys).uses.pushed == {}
    _narrow_to_ndc(sqlite_engine, letter_id)
    report = run_cycle(sqlite_engine, chain, keys)
    assert report.uses.pushed == {token_id: NDC_ONLY} and report.steps["uses_push"] == "ok"
    assert _onchain_uses(chain, token_id) == NDC_ONLY
    receipt = chain.w3.eth.get_transaction_receipt(report.uses.transactions[0])
    (changed,) = chain.token.events.ClassUsesChanged().process_receipt(receipt, errors=DISCARD)
    assert (changed["args"]["previousUses"], changed["args"]["newUses"]) == (CORSIA_NDC, NDC_ONLY)
    with pytest.raises(ChainRevert, match="PurposeNotAuthorized"):
        _retire(chain, holder, token_id, 5, Purpose.corsia, **CORSIA)
    assert run_cycle(sqlite_engine, chain, keys).uses.pushed == {}  # the chain agrees: nothing sent

    # the push is lost (a reorg abandoned its block, a crash before it was mined): the chain
    # holds the old uses again, and the next cycle sends them again
    fn = chain.token.functions.setClassUses(int(token_id), CORSIA_NDC)
    chain.transact(keys.registry_signer, fn, "drift", gas=100_000)
    assert run_cycle(sqlite_engine, chain, keys).uses.pushed == {token_id: NDC_ONLY}
    assert _onchain_uses(chain, token_id) == NDC_ONLY
    with Session(sqlite_engine) as s:
        pushes = s.exec(select(LedgerEntry).where(LedgerEntry.kind == "article6.class_uses.pushed")).all()
    assert len(pushes) == 2

    # withdrawn (first transfer at use): NDC is on hold on-chain too
    with transaction(sqlite_engine) as s:
        letter_ops.withdraw_letter(s, letter_id, note="withdrawn by the host country", actor="admin")
    assert run_cycle(sqlite_engine, chain, keys).uses.pushed == {token_id: 0}
    with pytest.raises(ChainRevert, match="PurposeNotAuthorized"):
        _retire(chain, holder, token_id, 5, Purpose.ndc, ndc_party="CHE")


def test_a_retirement_accepted_before_the_push_is_stored_and_flagged(sqlite_engine, bridged):
    world, letter_id, token_id, chain, keys, holder = bridged
    _narrow_to_ndc(sqlite_engine, letter_id)
    _retire(chain, holder, token_id, 7, Purpose.corsia, **CORSIA)  # the chain still allows CORSIA
    report = run_cycle(sqlite_engine, chain, keys)  # pushes the uses, then syncs the retirement
    assert report.uses.pushed == {token_id: NDC_ONLY}
    with Session(sqlite_engine) as s:
        (retirement,) = s.exec(select(Retirement)).all()
    assert (retirement.quantity, retirement.purpose) == (7, "corsia")
    (flag,) = json.loads(retirement.input_flags)
    assert flag.startswith("purpose: use-removed-by-letter (seed 003 §I.10.2-3)")
    assert any("use-removed-by-letter" in flag for flag in report.sync.flagged)
    rec = reconcile(sqlite_engine, chain)
    assert rec.ok and len(rec.flagged) == 1 and "use-removed-by-letter" in rec.flagged[0]
