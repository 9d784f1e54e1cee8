"""Reading the token contract's logs: the synced events, fetched and decoded in (block, log
index) order. Strings that are not UTF-8 are decoded with replacement characters and marked
(``LOSSY_STRINGS``), never refused: the event happened on-chain whatever its bytes say.

JSON-RPC and ABI only; no database code."""

from __future__ import annotations

from typing import Any

from eth_abi.codec import ABICodec
from eth_abi.decoding import StringDecoder
from eth_abi.registry import BaseEquals
from web3._utils.events import get_event_data

from bridge.chain.client import Chain

SYNCED_EVENTS = (
    "LeafMinted", "Retired", "BatchRevoked",
    "RedemptionRequested", "RedemptionFinalized", "RedemptionRejected", "RedemptionReclaimed",
)


def to_hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = value.hex() if hasattr(value, "hex") and not isinstance(value, str) else str(value)
    return text if text.startswith("0x") else "0x" + text


def _signature(event) -> str:
    abi = event.abi
    return f"{abi['name']}({','.join(_abi_type(i) for i in abi['inputs'])})"


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def fetch_events(chain: Chain, from_block: int, to_block: int) -> list[tuple[str, Any]]:
    """Decoded (event name, log) pairs of the synced events, in (block, log index) order."""
    token = chain.token
    events = {name: getattr(token.events, name)() for name in SYNCED_EVENTS}
    topics = {"0x" + bytes(chain.w3.keccak(text=_signature(e))).hex(): name for name, e in events.items()}
    logs = chain.w3.eth.get_logs(
        {"fromBlock": from_block, "toBlock": to_block, "address": chain.address, "topics": [list(topics)]}
    )
    decoded = []
    times: dict[int, int] = {}
    for raw in sorted(logs, key=lambda r: (r["blockNumber"], r["logIndex"])):
        name = topics[to_hex(raw["topics"][0])]
        if name in TIMED_EVENTS:
            raw = {**dict(raw), "blockTimestamp": block_timestamp(chain, raw, times)}
        decoded.append((name, decode_log(chain, name, raw)))
    return decoded


def block_timestamp(chain: Chain, raw: Any, known: dict[int, int]) -> int:
    """The Unix time of a log's block: the log's own ``blockTimestamp`` when the node adds it,
    else the block's (asked once per block)."""
    number = int(raw["blockNumber"])
    given = raw.get("blockTimestamp")
    if given is not None:
        known[number] = int(given, 16) if isinstance(given, str) else int(given)
    if number not in known:
        known[number] = int(chain.w3.eth.get_block(number)["timestamp"])
    return known[number]


def decode_log(chain: Chain, name: str, raw: Any) -> dict[str, Any]:
    """One synced event's log decoded, with the raw log kept under ``RAW_LOG``.

    Anyone can put bytes that are not UTF-8 into an event's strings (a retiree name). The event
    still happened (the tokens are burned): such a log is decoded with replacement characters
    and marked ``LOSSY_STRINGS``, so the applier records it and flags it for the operator."""
    event = getattr(chain.token.events, name)()
    try:
        entry = dict(event.process_log(raw))
    except UnicodeDecodeError:
        entry = dict(get_event_data(_lenient_codec(chain.w3), event.abi, raw))
        entry[LOSSY_STRINGS] = True
    entry[RAW_LOG] = plain_log(raw)
    return entry


def plain_log(raw: Any) -> dict[str, Any]:
    """A raw log as JSON: what :func:`decode_log` decodes again (a quarantined event's retry)."""
    return {"address": raw["address"], "topics": [to_hex(t) for t in raw["topics"]], "data": to_hex(raw["data"]),
            "blockNumber": int(raw["blockNumber"]), "blockHash": to_hex(raw["blockHash"]),
            "transactionHash": to_hex(raw["transactionHash"]), "transactionIndex": int(raw.get("transactionIndex", 0)),
            "logIndex": int(raw["logIndex"]),
            **({"blockTimestamp": int(raw["blockTimestamp"], 16) if isinstance(raw["blockTimestamp"], str)
                else int(raw["blockTimestamp"])} if raw.get("blockTimestamp") is not None else {})}


def log_from_plain(plain: dict[str, Any]) -> dict[str, Any]:
    """The raw log :func:`plain_log` wrote, with bytes again where web3 decodes bytes."""
    return {**plain, "topics": [bytes.fromhex(t[2:]) for t in plain["topics"]], "data": bytes.fromhex(plain["data"][2:]),
            "blockHash": bytes.fromhex(plain["blockHash"][2:]),
            "transactionHash": bytes.fromhex(plain["transactionHash"][2:])}


LOSSY_STRINGS = "lossyStrings"  # set on an event whose strings were not valid UTF-8
#: Events whose block time the registry records (the certificate shows it beside the registry's).
TIMED_EVENTS = frozenset({"Retired"})
RAW_LOG = "rawLog"  # the log as it came (plain_log), kept with the decoded event


def _lenient_codec(w3) -> ABICodec:
    registry = w3.codec._registry.copy()
    registry.unregister_decoder("string")
    registry.register_decoder(BaseEquals("string"), StringDecoder(handle_string_errors="replace"), label="string")
    return ABICodec(registry)
