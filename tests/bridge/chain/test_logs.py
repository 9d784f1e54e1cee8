"""The log decoder (bridge/chain/logs.py) against web3's own ``process_log``: every synced event
the engine produces decodes to the same arguments and log fields, and strings that are not
UTF-8 are decoded with replacement characters and marked, where web3 refuses the log."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from bridge.chain.client import eth_tester_web3
from bridge.chain.logs import LOSSY_STRINGS, RAW_LOG, decode_log, event_layouts, fetch_events
from bridge.chain.token import RetirementData, encode_retirement_data
from bridge.engine.cycle import run_cycle
from registry.domain.classes import Purpose
from tests.support.world import make_world

META = ("event", "logIndex", "transactionIndex", "transactionHash", "address", "blockHash", "blockNumber")


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Every synced event kind on one eth-tester chain."""
    from bridge.schema import create_schema
    from registry.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('logs') / 'registry.sqlite'}")
    create_schema(engine)
    world = make_world(engine, eth_tester_web3(), seed="logs")
    world.tokenize(120)
    run_cycle(engine, world.chain, world.keys)  # LeafMinted
    world.retire(world.holder, 5, beneficiary=world.others[0].address, name="Reykjavík Ferðir ✓")
    data = encode_retirement_data(RetirementData(purpose=Purpose.voluntary, beneficiary_name="Harbour", organization_id="ORG-7"))
    token = world.chain.token
    world.chain.transact(world.holder, token.functions.retire(world.token_id, 3, "0x" + "00" * 20, "", "", "", data),
                         "retire", gas=500_000)
    world.request_redemption(world.holder, 4)  # RedemptionRequested
    world.request_redemption(world.holder, 2, reference="no-such-account")
    run_cycle(engine, world.chain, world.keys)  # the registry answers: RedemptionFinalized / Rejected
    head = world.chain.w3.eth.block_number
    raws = world.chain.w3.eth.get_logs({"fromBlock": world.deployment.deployed_block, "toBlock": head,
                                        "address": world.chain.address})
    yield world, raws, head
    engine.dispose()


def _web3(world, raw):
    layout = event_layouts(world.chain.abi).get(bytes(raw["topics"][0]))
    if layout is None:
        return None, None
    return layout.name, getattr(world.chain.token.events, layout.name)().process_log(raw)


def test_every_synced_event_decodes_as_web3_decodes_it(history):
    world, raws, head = history
    names = set()
    for raw in raws:
        name, expected = _web3(world, raw)
        if name is None:
            continue
        ours = decode_log(world.chain, name, raw)
        assert dict(ours["args"]) == dict(expected["args"]), name
        assert {k: ours[k] for k in META} == {k: expected[k] for k in META}, name
        assert LOSSY_STRINGS not in ours and ours[RAW_LOG]["logIndex"] == raw["logIndex"]
        names.add(name)
    assert {"LeafMinted", "Retired", "RedemptionRequested", "RedemptionFinalized", "RedemptionRejected"} <= names
    fetched = fetch_events(world.chain, world.deployment.deployed_block, head)
    assert [n for n, _ in fetched] == [n for n, _ in (_web3(world, r) for r in raws) if n is not None]


def test_a_string_that_is_not_utf8_is_decoded_with_replacements_and_marked(history):
    world, raws, _ = history
    raw = next(r for r in raws if _web3(world, r)[0] == "Retired" and b"Reykjav" in bytes(r["data"]))
    data = bytes(raw["data"])
    at = data.index("í".encode())
    damaged = {**raw, "data": data[:at] + b"\xff\xfe" + data[at + 2:]}
    with pytest.raises(UnicodeDecodeError):
        world.chain.token.events.Retired().process_log(damaged)
    entry = decode_log(world.chain, "Retired", damaged)
    assert entry[LOSSY_STRINGS] is True and entry["args"]["retireeName"].startswith("Reykjav\ufffd\ufffd")
    assert entry["args"]["amount"] == 5 and entry[RAW_LOG]["data"] == "0x" + damaged["data"].hex()


def test_a_log_of_another_event_is_refused_by_name(history):
    world, raws, _ = history
    raw = next(r for r in raws if _web3(world, r)[0] == "LeafMinted")
    with pytest.raises(ValueError, match="LeafMinted event, not Retired"):
        decode_log(world.chain, "Retired", raw)
    assert DISCARD  # web3's receipt processing stays available to callers that want it


def test_logs_read_from_the_nodes_json_are_the_logs_web3_formats(anvil_url, tmp_path):
    """Over HTTP the sync reads ``eth_getLogs`` from the node's JSON itself (fetch_logs, each log
    converted by log_from_json when decoded): the same logs, keys and types as web3's formatted
    answer, and the same decoded events; an error answer still raises as web3 raises it."""
    from bridge.chain.client import http_web3
    from bridge.chain.logs import fetch_logs, log_from_json, to_hex
    from bridge.schema import create_schema
    from registry.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    create_schema(engine)
    world = make_world(engine, http_web3(anvil_url), seed="jsonlogs")
    world.tokenize(40)
    run_cycle(engine, world.chain, world.keys)
    world.retire(world.holder, 3, name="Ferðir \u2713")
    world.retire(world.holder, 2, beneficiary=world.others[0].address)
    world.retire(world.holder, 1, name="a third")
    head = world.chain.w3.eth.block_number
    layouts = event_layouts(world.chain.abi)
    query = {"fromBlock": world.deployment.deployed_block, "toBlock": head, "address": world.chain.address,
             "topics": [["0x" + topic.hex() for topic in layouts]]}
    logs = fetch_logs(world.chain, world.deployment.deployed_block, head)
    ours, theirs = [log_from_json(log.raw) for log in logs], world.chain.w3.eth.get_logs(query)
    assert len(ours) == len(theirs) > 3

    def comparable(log):
        log = dict(log)
        stamp = log.pop("blockTimestamp", None)  # hex in the JSON, an int once web3 formats it
        return log, (int(stamp, 16) if isinstance(stamp, str) else stamp)

    for mine, web3s in zip(ours, theirs):
        assert comparable(mine) == comparable(web3s)
        assert {k: type(v) for k, v in mine.items() if k != "blockTimestamp"} == \
            {k: type(v) for k, v in dict(web3s).items() if k != "blockTimestamp"}
    fetched = fetch_events(world.chain, world.deployment.deployed_block, head)
    again = [(layouts[bytes(raw["topics"][0])].name, raw) for raw in theirs if bytes(raw["topics"][0]) in layouts]
    assert [(n, dict(e["args"])) for n, e in fetched] == \
        [(n, dict(decode_log(world.chain, n, raw)["args"])) for n, raw in again]
    assert {"LeafMinted", "Retired"} <= {n for n, _ in fetched}
    keys = [(log.tx_hash, log.log_index, log.block_number, log.json) for log in logs]
    assert keys == [("0x" + bytes(raw["transactionHash"]).hex(), raw["logIndex"], raw["blockNumber"], True)
                    for _, raw in again]
    assert [k[0] for k in keys] == [to_hex(e["transactionHash"]) for _, e in fetched]
    with pytest.raises(Exception, match="block|range|invalid|Invalid"):
        fetch_logs(world.chain, head + 10, head)  # a range that ends before it starts
    engine.dispose()
