"""Bulk tokenization against the one-by-one operation, on SQLite and PostgreSQL: the same requests
through :func:`registry.bridged.bulk_tokenization.request_tokenizations` (one transaction) and
through :func:`registry.bridged.custody.request_tokenization` (one transaction each), in two
copies of the same registry, leave identical serial blocks (ids included), tokenization
requests, ledger entries (hash chain) and balances; a call with a refused request applies
nothing and names every refused request as the one-by-one operation refuses it."""

from __future__ import annotations

import random
import shutil
import time
import uuid

import pytest
from eth_account import Account as EthAccount
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from bridge.engine import batcher
from bridge.schema import create_schema
from bridge.tables import Deployment, MintBatch, MintLeaf
from registry.bridged import custody
from registry.bridged.bulk_tokenization import BulkTokenizationRefused, TokenizationOrder, request_tokenizations
from registry.db import make_engine, sqlite_path, transaction
from registry.domain.enums import AccountType, HoldOrigin
from registry.domain.wallets import sign_wallet_link
from registry.errors import RegistryError
from registry.operations.accounts import create_organization, link_wallet, open_account, open_system_account
from registry.operations.holds import place_hold
from registry.operations.issuances import issue_ex_post
from registry.operations.ledger import verify_ledger
from registry.operations.projects import register_project
from registry.operations.transfers import transfer
from registry.tables.core import AccountBalance, CreditClass, LedgerEntry, SerialBlock, TokenizationRequest
from tests.conftest import POSTGRES_URL, _admin_url
from tests.support.periods import verified


def _wallet(s: Session, account_id: int) -> str:
    key, now = EthAccount.create(), int(time.time())
    address, signature = sign_wallet_link(key.key, account_id, now)
    link_wallet(s, account_id, address, now, signature, now)
    return address


def _build(engine) -> dict:
    """Two holding accounts with fragmented holdings of two vintages, a hold, a custody account."""
    with transaction(engine) as s:
        a1 = open_account(s, create_organization(s, "One").id, "one").id
        a2 = open_account(s, create_organization(s, "Two").id, "two").id
        custody_id = open_system_account(s, AccountType.bridge_custody, "custody").id
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        first = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=1000,
                              account_id=a1)
        issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=500,
                      account_id=a1)
        second = issue_ex_post(s, project_id=project.id, vintage=2024, **verified(s, project.id, 2024), quantity=800,
                               account_id=a2)
        s1, s2 = first.serialization_id, second.serialization_id
        transfer(s, from_account_id=a1, to_account_id=a2, serialization_id=s1, quantity=300)
        transfer(s, from_account_id=a2, to_account_id=a1, serialization_id=s1, quantity=120)
        transfer(s, from_account_id=a1, to_account_id=a2, serialization_id=s1, quantity=40)
        place_hold(s, account_id=a2, serialization_id=s2, quantity=50, reason="KYC case", actor="test",
                   origin=HoldOrigin.operator)
        classes = {c.serialization_id: c.id for c in s.exec(select(CreditClass)).all()}
        wallets = {a1: _wallet(s, a1), a2: _wallet(s, a2)}
    return {"a1": a1, "a2": a2, "custody": custody_id, "c1": classes[s1], "c2": classes[s2], "wallets": wallets}


@pytest.fixture
def twins(db_url, tmp_path):
    """Two engines on two databases holding the same registry (the second a copy of the first)."""
    first = make_engine(db_url)
    create_schema(first)
    world = _build(first)
    first.dispose()
    if sqlite_path(db_url) is not None:
        copy = tmp_path / "twin.sqlite"
        shutil.copyfile(sqlite_path(db_url), copy)
        twin_url, drop = f"sqlite:///{copy}", None
    else:
        name = f"icr_twin_{uuid.uuid4().hex[:12]}"
        admin = create_engine(_admin_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{db_url.rsplit("/", 1)[1]}"'))
        twin_url, drop = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}", name
    engines = (make_engine(db_url), make_engine(twin_url))
    yield engines, world
    for engine in engines:
        engine.dispose()
    if drop:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
        admin.dispose()


def _orders(world: dict, seed: int, count: int, *, bad: bool = False) -> list[TokenizationOrder]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        account = rng.choice([world["a1"], world["a2"]])
        order = TokenizationOrder(account_id=account, wallet=world["wallets"][account],
                                  class_id=rng.choice([world["c1"], world["c2"]]), quantity=rng.randint(1, 90),
                                  custody_account_id=world["custody"])
        if bad and rng.random() < 0.3:
            order = rng.choice([
                TokenizationOrder(order.account_id, order.wallet, order.class_id, 5_000, order.custody_account_id),
                TokenizationOrder(order.account_id, world["wallets"][world["a1"] + world["a2"] - account],
                                  order.class_id, 3, order.custody_account_id),
                TokenizationOrder(order.account_id, order.wallet, order.class_id, 3, world["a1"]),
                TokenizationOrder(order.account_id, order.wallet, 999, 3, order.custody_account_id),
                TokenizationOrder(world["custody"], order.wallet, order.class_id, 3, order.custody_account_id),
                TokenizationOrder(order.account_id, order.wallet, order.class_id, 0, order.custody_account_id),
            ])
        out.append(order)
    return out


def _one_by_one(engine, orders: list[TokenizationOrder]) -> tuple[list, dict[int, RegistryError]]:
    """Each request in its own transaction; a refused one changes nothing and the next goes on."""
    results, refused = [], {}
    for index, order in enumerate(orders):
        try:
            with transaction(engine) as s:
                request, moved = custody.request_tokenization(
                    s, account_id=order.account_id, wallet=order.wallet, class_id=order.class_id,
                    quantity=order.quantity, custody_account_id=order.custody_account_id)
                results.append((request.id, request.wallet, request.quantity, moved))
        except RegistryError as exc:
            refused[index] = exc
    return results, refused


def _state(engine) -> dict:
    with Session(engine) as s:
        assert verify_ledger(s).ok, verify_ledger(s)
        return {
            "blocks": sorted(tuple(b.model_dump().items()) for b in s.exec(select(SerialBlock))),
            "requests": [(r.id, r.account_id, r.class_id, r.wallet, r.quantity, r.status)
                         for r in s.exec(select(TokenizationRequest).order_by(TokenizationRequest.id))],
            "ledger": [(e.seq, e.kind, e.payload, e.prev_hash, e.entry_hash)
                       for e in s.exec(select(LedgerEntry).order_by(LedgerEntry.seq))],
            "balances": sorted((b.account_id, b.serialization_id, b.status, b.quantity)
                               for b in s.exec(select(AccountBalance))),
        }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_tokenization_leaves_the_registry_as_one_by_one_requests_do(twins, seed):
    (one_engine, bulk_engine), world = twins
    orders = _orders(world, seed, 30)
    expected, refused = _one_by_one(one_engine, orders)
    orders = [o for i, o in enumerate(orders) if i not in refused]  # the ones a registry this full can take
    assert len(orders) >= 10
    with transaction(bulk_engine) as s:
        done = request_tokenizations(s, orders)
    assert [(t.id, t.wallet, t.quantity, t.moved) for t in done] == expected
    assert _state(bulk_engine) == _state(one_engine)
    # and the batch built from them is the same, leaf for leaf
    deployment = Deployment(chain_id=31337, address="0x" + "00" * 20, deployed_block=0,
                            custody_account_id=world["custody"])
    for engine in (one_engine, bulk_engine):
        with transaction(engine) as s:
            batcher.build_batch(s, deployment)
    assert _batches(bulk_engine) == _batches(one_engine)
    assert _state(bulk_engine) == _state(one_engine)


def _batches(engine) -> tuple:
    with Session(engine) as s:
        batches = [(b.id, b.chain_id, b.root, b.leaf_count, b.tree_dump, b.status)
                   for b in s.exec(select(MintBatch).order_by(MintBatch.id))]
        leaves = [tuple(sorted(leaf.model_dump().items())) for leaf in s.exec(select(MintLeaf).order_by(MintLeaf.id))]
    assert batches and len(leaves) >= batches[0][3] > 0
    return batches, leaves


def test_a_bulk_call_with_a_refused_request_applies_nothing_and_names_each_refusal(twins):
    (one_engine, bulk_engine), world = twins
    orders = _orders(world, 7, 40, bad=True)
    before = _state(bulk_engine)
    _, refused = _one_by_one(one_engine, orders)
    assert len(refused) >= 5
    with pytest.raises(BulkTokenizationRefused) as info, transaction(bulk_engine) as s:
        request_tokenizations(s, orders)
    got = {index: error for index, error in info.value.refusals}
    assert set(got) == set(refused)
    for index, error in refused.items():
        assert type(got[index]) is type(error) and got[index].problem() == error.problem(), index
    assert {p["index"] for p in info.value.problem()["problems"]} == set(refused)
    assert _state(bulk_engine) == before


def test_held_units_are_refused_in_bulk_as_one_by_one(twins):
    (one_engine, bulk_engine), world = twins
    # a2 holds 750 active units of the 2024 vintage (50 more are held): 700 fit, 100 more do not
    orders = [TokenizationOrder(world["a2"], world["wallets"][world["a2"]], world["c2"], q, world["custody"])
              for q in (700, 100)]
    _, refused = _one_by_one(one_engine, orders)
    with pytest.raises(BulkTokenizationRefused) as info, transaction(bulk_engine) as s:
        request_tokenizations(s, orders)
    ((index, error),) = info.value.refusals
    assert index == 1 and error.rule == "unit-held" and "hold" in error.detail
    assert error.problem() == refused[1].problem()
