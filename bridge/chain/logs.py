"""Reading the token contract's logs: the synced events, fetched and decoded in (block, log
index) order. Strings that are not UTF-8 are decoded with replacement characters and marked
(``LOSSY_STRINGS``), never refused: the event happened on-chain whatever its bytes say.

JSON-RPC and ABI only; no database code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi.codec import ABICodec
from eth_abi.decoding import StringDecoder
from eth_abi.registry import BaseEquals
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import HTTPProvider
from web3.datastructures import AttributeDict
from web3.types import RPCEndpoint

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


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


@dataclass(frozen=True)
class EventLayout:
    """Where one synced event keeps its arguments: the indexed ones in topics 1..3 (all words:
    uint and address), the others ABI-encoded in ``data``."""

    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    #: every data argument is a word (uint, address), a string or bytes: read by slicing, not
    #: run through eth_abi (the synced events have no other kind)
    sliceable: bool


_LAYOUTS: dict[int, tuple[list, dict[bytes, EventLayout]]] = {}


def event_layouts(abi: list[dict[str, Any]]) -> dict[bytes, EventLayout]:
    """The synced events of ``abi`` by their topic 0 (built once per ABI)."""
    cached = _LAYOUTS.get(id(abi))
    if cached is not None and cached[0] is abi:
        return cached[1]
    layouts = {}
    for item in abi:
        if item.get("type") != "event" or item["name"] not in SYNCED_EVENTS:
            continue
        topic = keccak(text=f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})")
        indexed = tuple((i["name"], i["type"]) for i in item["inputs"] if i["indexed"])
        if any(t not in _WORD_TYPES for _, t in indexed):
            raise ValueError(f"event {item['name']} indexes a type the log decoder does not read from a topic")
        data = [(i["name"], i["type"]) for i in item["inputs"] if not i["indexed"]]
        layouts[topic] = EventLayout(item["name"], topic, indexed, tuple(n for n, _ in data),
                                     tuple(t for _, t in data), all(t in _SLICEABLE for _, t in data))
    _LAYOUTS[id(abi)] = (abi, layouts)
    return layouts


_WORD_TYPES = {"address", "uint8", "uint16", "uint32", "uint64", "uint128", "uint256"}
_SLICEABLE = _WORD_TYPES | {"string", "bytes"}


def _word(kind: str, word: bytes) -> Any:
    return _address(word[12:]) if kind == "address" else int.from_bytes(word, "big")


@lru_cache(maxsize=65_536)
def _address(raw: bytes) -> str:
    """Checksummed (a keccak per call: the same holders and beneficiaries recur, so cached)."""
    return to_checksum_address(raw)


def _data_value(kind: str, data: bytes, head: int, entry: dict[str, Any]) -> Any:
    """The argument whose head word is at ``head``: the word itself, or (string, bytes) the
    length-prefixed bytes its offset points to, read as the ABI lays them out."""
    if kind in _WORD_TYPES:
        return _word(kind, data[head:head + 32])
    at = int.from_bytes(data[head:head + 32], "big")
    length = int.from_bytes(data[at:at + 32], "big")
    if at + 32 + length > len(data) or head + 32 > len(data):
        raise ValueError(f"the log's data ({len(data)} bytes) is too short for its {kind} at offset {at}")
    value = data[at + 32:at + 32 + length]
    if kind == "bytes":
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        entry[LOSSY_STRINGS] = True
        return value.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class FetchedLog:
    """One log as fetched, not yet decoded: where it comes from (the key a registry records it
    under) and the node's answer for it (its JSON object over HTTP, web3's log otherwise)."""

    tx_hash: str  # 0x-prefixed, lower case
    log_index: int
    block_number: int
    raw: Any
    json: bool

    @property
    def origin(self) -> tuple[str, int]:
        return self.tx_hash, self.log_index


def fetch_logs(chain: Chain, from_block: int, to_block: int) -> list[FetchedLog]:
    """The synced events' logs in (block, log index) order, undecoded: a sync pass leaves out
    the ones it has recorded before decoding the rest (:func:`decode_logs`), so a replay of a
    range does not convert and decode every log again."""
    layouts = event_layouts(chain.abi)
    query = {"fromBlock": from_block, "toBlock": to_block, "address": chain.address,
             "topics": [["0x" + topic.hex() for topic in layouts]]}
    answer = _logs_json(chain, query)
    if answer is not None:
        fetched = answer
    else:
        fetched = [FetchedLog(to_hex(raw["transactionHash"]).lower(), int(raw["logIndex"]), int(raw["blockNumber"]),
                              raw, False) for raw in chain.w3.eth.get_logs(query)]
    return sorted(fetched, key=lambda log: (log.block_number, log.log_index))


def decode_logs(chain: Chain, logs: list[FetchedLog]) -> list[tuple[str, Any]]:
    """Decoded (event name, log) pairs of fetched logs, in their order (see :func:`decode_with`;
    a ``Retired`` log gets its block's time)."""
    layouts = event_layouts(chain.abi)
    decoded = []
    times: dict[int, int] = {}
    for log in logs:
        raw = log_from_json(log.raw) if log.json else log.raw
        layout = layouts[bytes(raw["topics"][0])]
        if layout.name in TIMED_EVENTS:
            raw = {**dict(raw), "blockTimestamp": block_timestamp(chain, raw, times)}
        decoded.append((layout.name, decode_with(layout, raw, chain.w3)))
    return decoded


def fetch_events(chain: Chain, from_block: int, to_block: int) -> list[tuple[str, Any]]:
    """Decoded (event name, log) pairs of the synced events, in (block, log index) order."""
    return decode_logs(chain, fetch_logs(chain, from_block, to_block))


def _logs_json(chain: Chain, query: dict[str, Any]) -> list[FetchedLog] | None:
    """``eth_getLogs`` over HTTP read from the node's JSON (None: ask web3). web3's result
    formatters and attribute dicts cost ~0.7 ms per log, three quarters of a sync pass's chain
    time once the registry side became set-based (profiled with
    ``scripts/bench_retirement_sync.py``); here each log keeps the node's JSON object until it is
    decoded. An error answer, an answer of another shape, or another kind of provider
    (eth-tester) goes through web3, which raises or formats as it always does."""
    provider = chain.w3.provider
    if not isinstance(provider, HTTPProvider):
        return None
    params = {**query, "fromBlock": hex(query["fromBlock"]), "toBlock": hex(query["toBlock"])}
    response = provider.make_request(RPCEndpoint("eth_getLogs"), [params])
    result = response.get("result") if isinstance(response, dict) and "error" not in response else None
    if not isinstance(result, list):
        return None
    try:
        fetched = []
        for item in result:
            if not (isinstance(item["topics"], list) and item["topics"] and isinstance(item["data"], str)
                    and isinstance(item["blockHash"], str) and isinstance(item["address"], str)):
                return None
            int(item["transactionIndex"], 16)  # read again when decoded: checked here with the rest
            fetched.append(FetchedLog(item["transactionHash"].lower(), int(item["logIndex"], 16),
                                      int(item["blockNumber"], 16), item, True))
        return fetched
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not what a node sends: web3's own path says what is wrong with it


def log_from_json(item: dict[str, Any]) -> dict[str, Any]:
    """One log of an ``eth_getLogs`` JSON answer with the types web3's formatters give it."""
    log = {"address": _address(bytes.fromhex(item["address"][2:])), "topics": [HexBytes(t) for t in item["topics"]],
           "data": HexBytes(item["data"]), "blockNumber": int(item["blockNumber"], 16),
           "blockHash": HexBytes(item["blockHash"]), "transactionHash": HexBytes(item["transactionHash"]),
           "transactionIndex": int(item["transactionIndex"], 16), "logIndex": int(item["logIndex"], 16),
           "removed": bool(item.get("removed", False))}
    if item.get("blockTimestamp") is not None:
        log["blockTimestamp"] = item["blockTimestamp"]
    return log


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


def events_in_receipt(chain: Chain, receipt: Any, name: str) -> list[dict[str, Any]]:
    """The ``name`` events the token contract emitted in a transaction receipt, decoded (logs of
    other contracts with the same signature are not the token's)."""
    (layout,) = [layout for layout in event_layouts(chain.abi).values() if layout.name == name]
    return [decode_with(layout, raw, chain.w3) for raw in receipt["logs"]
            if raw["address"].lower() == chain.address.lower() and raw["topics"]
            and bytes(raw["topics"][0]) == layout.topic]


def decode_log(chain: Chain, name: str, raw: Any) -> dict[str, Any]:
    """One synced event's log decoded (see :func:`decode_with`)."""
    layout = event_layouts(chain.abi)[bytes(raw["topics"][0])]
    if layout.name != name:
        raise ValueError(f"the log is a {layout.name} event, not {name}")
    return decode_with(layout, raw, chain.w3)


def decode_with(layout: EventLayout, raw: Any, w3) -> dict[str, Any]:
    """One log decoded as web3's ``process_log`` decodes it (checksummed addresses, ints, str,
    bytes; the same keys), without its per-event machinery: topics, words, strings and bytes are
    read by slicing (eth_abi only for a kind the synced events do not have). The raw log is kept
    under ``RAW_LOG``.

    Anyone can put bytes that are not UTF-8 into an event's strings (a retiree name). The event
    still happened (the tokens are burned): such a log is decoded with replacement characters
    and marked ``LOSSY_STRINGS``, so the applier records it and flags it for the operator."""
    topics = raw["topics"]
    args = {name: _word(kind, bytes(topic)) for (name, kind), topic in zip(layout.indexed, topics[1:])}
    data = bytes(raw["data"])
    entry: dict[str, Any] = {}
    if layout.sliceable:
        values = [_data_value(kind, data, 32 * i, entry) for i, kind in enumerate(layout.data_types)]
    else:
        try:
            values = list(w3.codec.decode(layout.data_types, data))
        except UnicodeDecodeError:
            values = list(_lenient_codec(w3).decode(layout.data_types, data))
            entry[LOSSY_STRINGS] = True
        values = [to_checksum_address(v) if kind == "address" else v for kind, v in zip(layout.data_types, values)]
    args.update(zip(layout.data_names, values))
    entry.update({"args": AttributeDict(args), "event": layout.name, "logIndex": raw["logIndex"],
                  "transactionIndex": raw.get("transactionIndex", 0), "transactionHash": raw["transactionHash"],
                  "address": raw["address"], "blockHash": raw["blockHash"], "blockNumber": raw["blockNumber"],
                  RAW_LOG: plain_log(raw)})
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
