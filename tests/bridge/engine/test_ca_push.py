"""CA decisions reach the chain: an Article 6.2 class is registered with Pending CA, the
registry's "CA applied" is pushed with the evidence hash, history rows are marked pushed, an
on-chain status that drifted from the registry's is pushed again, and an Article 6.2
retirement on-chain is recorded with its purpose."""

import hashlib
import time

import pytest
from eth_account import Account
from sqlmodel import Session, select
from web3.logs import DISCARD

from bridge.chain.client import Chain, ChainRevert
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine.cycle import run_cycle
from bridge.engine.deploy import BridgeKeys, deploy
from registry.bridged import custody
from registry.db import transaction
from registry.domain.article6.adjustments import Evidence, EvidenceKind
from registry.domain.article6.letters import FirstTransfer
from registry.domain.classes import CAStatus, Purpose
from registry.domain.wallets import sign_wallet_link
from registry.operations.accounts import link_wallet
from registry.operations.article6 import adjustments as adjustment_ops
from registry.tables.article6 import A6CAHistory
from registry.tables.core import CreditClass, Retirement
from tests.support import a6_world
from tests.support.world import seeded


def _bridge(engine, w3):
    chain = Chain(w3)
    keys = BridgeKeys(seeded("ca/admin"), seeded("ca/signer"), seeded("ca/relayer"))
    holder = Account.from_key(seeded("ca/holder").key)
    chain.fund_from_dev_account(keys.admin.address, keys.registry_signer.address, keys.relayer.address, holder.address)
    deployment = deploy(engine, chain, keys)
    return chain, keys, holder, deployment


def _onchain_ca(chain, token_id):
    return chain.token.functions.creditClass(int(token_id)).call()[6]


@pytest.mark.parametrize("chain_fixture", ["w3", pytest.param("anvil_w3", marks=pytest.mark.anvil)])
def test_ca_decisions_are_pushed_on_chain_with_their_evidence(sqlite_engine, chain_fixture, request):
    w3 = request.getfixturevalue(chain_fixture)
    world = a6_world.make_world(sqlite_engine)
    a6_world.authorized(world, first_transfer=FirstTransfer.issuance)  # 450 t first transferred at issuance
    result = a6_world.issue(world, quantity=500)
    chain, keys, holder, deployment = _bridge(sqlite_engine, w3)
    now = int(time.time())
    address, signature = sign_wallet_link(holder.key, world.account, now)
    with transaction(sqlite_engine) as s:
        link_wallet(s, world.account, address, now, signature, now)
        credit_class = s.exec(select(CreditClass).where(CreditClass.token_id == result.token_id)).one()
        custody.request_tokenization(s, account_id=world.account, wallet=holder.address, class_id=credit_class.id,
                                     quantity=200, custody_account_id=deployment.custody_account_id)
    run_cycle(sqlite_engine, chain, keys)
    assert _onchain_ca(chain, result.token_id) == CAStatus.pending
    assert chain.token.functions.balanceOf(holder.address, int(result.token_id)).call() == 200

    reference = "BTR1 2026 table 4, ICR-78040"
    with transaction(sqlite_engine) as s:
        adjustment_ops.confirm_ca_applied(s, world.project, 2023, Evidence(EvidenceKind.ca_applied, reference,
                                                                       None, 450, a6_world.AT.year),
                                          actor="admin")
    report = run_cycle(sqlite_engine, chain, keys)
    assert report.ca.pushed == {result.token_id: CAStatus.applied}
    assert _onchain_ca(chain, result.token_id) == CAStatus.applied
    receipt = w3.eth.get_transaction_receipt(report.ca.transactions[0])
    (changed,) = chain.token.events.CAStatusChanged().process_receipt(receipt, errors=DISCARD)
    assert changed["args"]["newStatus"] == CAStatus.applied
    assert changed["args"]["evidenceHash"] == hashlib.sha256(reference.encode()).digest()
    with Session(sqlite_engine) as s:
        history = s.exec(select(A6CAHistory).where(A6CAHistory.class_id == credit_class.id)).all()
        assert history and all(h.pushed_at is not None for h in history)
        assert any(h.onchain_tx == report.ca.transactions[0] for h in history)
    assert run_cycle(sqlite_engine, chain, keys).ca.pushed == {}  # nothing left to push

    # the chain's status drifts from the registry's (a lost push, a reorg): pushed again
    fn = chain.token.functions.setCAStatus(int(result.token_id), int(CAStatus.pending), b"\0" * 32)
    chain.transact(keys.registry_signer, fn, "drift", gas=150_000)
    assert run_cycle(sqlite_engine, chain, keys).ca.pushed == {result.token_id: CAStatus.applied}
    assert _onchain_ca(chain, result.token_id) == CAStatus.applied

    # a voluntary retirement is outside the letter's authorized uses; another party's NDC is not
    voluntary = chain.token.functions.retire(int(result.token_id), 25, holder.address, "Buyer AG", "", "", b"")
    with pytest.raises(ChainRevert, match="PurposeNotAuthorized"):
        chain.transact(holder, voluntary, "retire", gas=500_000)
    data = encode_retirement_data(RetirementData(purpose=Purpose.ndc, beneficiary_name="Buyer AG", ndc_party="CHE"))
    retire = chain.token.functions.retire(int(result.token_id), 25, holder.address, "Buyer AG", "", "NDC use", data)
    chain.transact(holder, retire, "retire", gas=500_000)
    run_cycle(sqlite_engine, chain, keys)
    with Session(sqlite_engine) as s:
        (retirement,) = s.exec(select(Retirement)).all()
        assert (retirement.quantity, retirement.class_id, retirement.purpose) == (25, credit_class.id, "ndc")
