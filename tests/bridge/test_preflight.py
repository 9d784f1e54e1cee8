"""Start-up checks of sync, serve --relay and deploy (bridge/preflight.py): each failing check is
one line naming the setting, the key and its address, or the node."""

from __future__ import annotations

import pytest
import typer
from alembic import command
from alembic.script import ScriptDirectory
from eth_account import Account

from bridge import preflight
from bridge.chain.anvil import ANVIL_BIN, start_anvil
from bridge.chain.client import Chain, http_web3
from bridge.cli.startup import preflight_or_exit
from bridge.engine.deploy import BridgeKeys
from bridge.preflight import bridge_key_map
from bridge.schema import alembic_config
from bridge.settings import BridgeSettings
from registry.db import make_engine
from tests.support.world import make_world, seeded


def _settings(url: str, **values) -> BridgeSettings:
    values = {"confirmations": 0, "use_finalized_tag": False, **values}
    return BridgeSettings(database_url=url, rpc_url="unused", **values)


@pytest.fixture
def world(sqlite_engine, w3):
    return make_world(sqlite_engine, w3, seed="preflight")


def test_a_ready_bridge_passes_and_the_banner_names_chain_contract_database_finality_and_keys(world, sqlite_url):
    report = preflight.run("sync --once", world.engine, world.chain, _settings(sqlite_url), bridge_key_map(world.keys))
    assert report.problems == []
    assert report.cursor_block == world.deployment.deployed_block
    assert report.banner() == [
        f"icr-bridge sync --once: chain {world.chain.chain_id}, contract {world.chain.address}",
        f"database {sqlite_url}",
        "finality: 0 confirmations (ICR_USE_FINALIZED_TAG=false)",
        f"keys: admin {world.keys.admin.address}, registry signer {world.keys.registry_signer.address}, "
        f"relayer {world.keys.relayer.address} (relayer 1000.0000 ETH)",
    ]


def test_the_database_password_is_redacted():
    assert preflight.redacted_database("postgresql://bridge:s3cret@db.internal:5432/icr") == \
        "postgresql://bridge:***@db.internal:5432/icr"
    # the CLI's rule: query values too (libpq takes passwords there), and no "(unparsable URL)"
    assert preflight.redacted_database("postgresql://bridge@db/icr?sslpassword=s3cret&sslmode=require") == \
        "postgresql://bridge@db/icr?sslpassword=***&sslmode=***"


def test_keys_without_their_role_or_ether_are_named_with_their_address(world, sqlite_url):
    signer, relayer = seeded("preflight/stranger1"), seeded("preflight/stranger2")
    keys = BridgeKeys(world.keys.admin, signer, relayer)
    report = preflight.run("sync --once", world.engine, world.chain, _settings(sqlite_url), bridge_key_map(keys))
    where = f"on {world.chain.address} (chain {world.chain.chain_id})"
    assert [p.line for p in report.problems] == [
        f"registry signer {signer.address} lacks REGISTRY_ROLE {where}",
        f"relayer {relayer.address} lacks BRIDGE_OPERATOR_ROLE {where}",
        f"relayer {relayer.address} holds 0.000000 ETH on chain {world.chain.chain_id}, below "
        "ICR_RELAYER_MIN_BALANCE 0.05: the transactions it pays for fail until it is funded",
    ]
    # the engine's steps fail alone (bridge/engine/steps.py): these do not stop the sync
    assert report.fatal == []


def test_the_relayer_balance_is_held_against_the_configured_floor(world, sqlite_url):
    keys = bridge_key_map(world.keys)  # the relayer holds 1,000 ether
    assert preflight.key_problems(world.chain, keys, _settings(sqlite_url, relayer_min_balance=1000)) == []
    (low,) = preflight.key_problems(world.chain, keys, _settings(sqlite_url, relayer_min_balance=1000.5))
    assert low.check == "balance" and "below ICR_RELAYER_MIN_BALANCE 1000.5" in low.line and not low.fatal


def test_a_deployment_needs_an_admin_with_ether(sqlite_engine, sqlite_url, w3):
    chain = Chain(w3)  # no contract yet
    broke = Account.create()
    keys = {"admin": broke, "registry_signer": broke, "relayer": broke}
    report = preflight.run("deploy", sqlite_engine, chain, _settings(sqlite_url, relayer_min_balance=0), keys,
                           roles=False, history=False)
    assert [p.line for p in report.fatal] == [
        f"admin {broke.address} holds no ether on chain {chain.chain_id} to pay for the deployment "
        "(anvil: --fund-from-dev-account)"]
    with pytest.raises(typer.Exit) as stopped:
        preflight_or_exit("deploy", sqlite_engine, chain, _settings(sqlite_url), keys, roles=False, history=False)
    assert stopped.value.exit_code == 2


def test_a_database_behind_the_migrations_or_without_a_schema_is_fatal(tmp_path):
    behind = make_engine(f"sqlite:///{tmp_path / 'behind.sqlite'}")
    command.upgrade(alembic_config(behind), "0010")
    problem = preflight.schema_problem(behind, "DB")
    (head,) = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert problem.fatal and problem.line == ("ICR_DATABASE_URL / --db: DB is at schema revision 0010, this "
                                              f"icr-bridge needs {head}: run `icr-bridge db upgrade`")
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert preflight.schema_problem(empty, "DB").line == (
        "ICR_DATABASE_URL / --db: DB holds no registry schema (`icr-bridge deploy` creates it)")


def test_no_code_at_the_contract_is_fatal(world, sqlite_url):
    chain = Chain(world.chain.w3, world.holder.address)  # an address without code
    report = preflight.run("sync --once", world.engine, chain, _settings(sqlite_url), bridge_key_map(world.keys))
    assert [p.line for p in report.fatal] == [
        f"ICR_CONTRACT / the recorded deployment: no contract at {world.holder.address} on chain {chain.chain_id}"]


def test_finality_modes_and_zero_confirmations_outside_development_chains(world, sqlite_url, monkeypatch):
    mode, problem = preflight.finality(world.chain, _settings(sqlite_url, use_finalized_tag=True))
    head = world.chain.w3.eth.block_number
    final = world.chain.w3.eth.get_block("finalized")["number"]
    assert mode == f"the node's finalized block ({final}, {head - final} behind head {head})" and problem is None
    monkeypatch.setattr(world.chain, "chain_id", 1)
    mode, problem = preflight.finality(world.chain, _settings(sqlite_url))
    assert problem.fatal and problem.line == (
        "ICR_CONFIRMATIONS=0 without a finalized block on chain 1: events would apply before they are final; "
        "set ICR_CONFIRMATIONS or ICR_USE_FINALIZED_TAG=true")
    assert preflight.finality(world.chain, _settings(sqlite_url, confirmations=12))[1] is None


@pytest.mark.anvil
def test_a_node_without_the_state_at_the_cursor_is_fatal_and_blames_the_node(sqlite_engine, sqlite_url):
    if not ANVIL_BIN.exists():
        pytest.skip(f"anvil is not installed at {ANVIL_BIN}: run `make setup`")
    with start_anvil(["--prune-history", "2"]) as node:
        w3 = http_web3(node.url)
        world = make_world(sqlite_engine, w3, seed="pruned")
        for _ in range(5):
            w3.provider.make_request("anvil_mine", [1])
        report = preflight.run("sync --once", sqlite_engine, world.chain, _settings(sqlite_url),
                               bridge_key_map(world.keys))
        (problem,) = report.fatal
        assert problem.check == "history" and problem.infrastructure
        assert problem.line.startswith(f"the node (ICR_RPC_URL) has no state at block {world.deployment.deployed_block},"
                                       " the sync's cursor (Web3RPCError:")
        assert problem.line.endswith("reconcile and snapshots read there; use an archive node")
        with pytest.raises(typer.Exit) as stopped:
            preflight_or_exit("sync --once", sqlite_engine, world.chain, _settings(sqlite_url),
                              bridge_key_map(world.keys))
        assert stopped.value.exit_code == 3


@pytest.mark.anvil
@pytest.mark.parametrize("block_time", [None, "1"])
def test_an_anvil_that_mines_only_on_transactions_is_named_when_events_wait_for_its_finalized_block(block_time):
    if not ANVIL_BIN.exists():
        pytest.skip(f"anvil is not installed at {ANVIL_BIN}: run `make setup`")
    with start_anvil(["--block-time", block_time] if block_time else []) as node:
        chain = Chain(http_web3(node.url))
        mode, problem = preflight.finality(chain, _settings("sqlite://", use_finalized_tag=True))
        assert mode.startswith("the node's finalized block (")
        if block_time:
            assert problem is None
        else:
            assert not problem.fatal and problem.line.startswith(
                "the node (ICR_RPC_URL) is anvil without --block-time: its finalized block trails the head by 64")
        _, problem = preflight.finality(chain, _settings("sqlite://"))  # confirmations instead: no wait
        assert problem is None
