"""Two bridge workers at once on PostgreSQL against anvil: nothing is processed twice."""

import threading

import pytest
from eth_account import Account

from bridge.chain.client import Chain, http_web3
from bridge.engine.cycle import run_cycle
from bridge.engine.deploy import BridgeKeys
from bridge.schema import create_schema
from registry.db import make_engine
from tests.support.world import make_world

pytestmark = [pytest.mark.postgres, pytest.mark.anvil]


def test_two_workers_mint_and_sync_everything_exactly_once(postgres_url, anvil_url):
    engine = make_engine(postgres_url)
    create_schema(engine)
    world = make_world(engine, http_web3(anvil_url), seed="workers")
    for quantity in (50, 60, 70, 80, 90):
        world.tokenize(quantity)
    errors: list[BaseException] = []
    reports = []

    def worker(index: int):
        chain = Chain(http_web3(anvil_url), world.chain.address)
        relayer = Account.create()
        world.chain.fund_from_dev_account(relayer.address)
        keys = BridgeKeys(world.keys.admin, world.keys.registry_signer, relayer)
        try:
            for round_ in range(3):
                reports.append(run_cycle(engine, chain, keys))
                if round_ == 0 and index == 0:
                    world.tokenize(25)  # new work arrives while the other worker runs
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    run_cycle(engine, world.chain, world.keys)
    outcome = world.outcome()
    assert sum(r.leaves_minted for r in reports) == 6  # every leaf sent once, by one worker
    assert all(minted for *_, minted in outcome["leaves"]) and len(outcome["leaves"]) == 6
    (check,) = outcome["conservation"]
    assert check == (375, 0, 375, True)
    assert world.chain.token.functions.totalSupply(world.token_id).call() == 375
