"""Property-based inputs for the parsers: ICR serial numbers and the ``data`` of an on-chain
retirement. Anything at all either parses (and then round-trips) or is refused with the
parser's own error naming what is wrong; nothing else escapes.

``ICR_FUZZ_EXAMPLES`` sets the examples per property (default 300).
"""

from __future__ import annotations

import os
import time
from dataclasses import astuple, replace

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from bridge.chain.client import REVERTS, ChainRevert, eth_tester_web3
from bridge.chain.token import (
    MAX_CONSUMPTION_TIME,
    RETIREMENT_DETAILS_TYPE,
    MalformedRetirementData,
    RetirementData,
    decode_retirement_data,
    encode_retirement_data,
)
from bridge.engine.cycle import run_cycle
from bridge.engine.sync import sync_once
from registry.domain.classes import ClassKey, Purpose
from registry.domain.lifecycle import CORSIA_COMPLIANCE_PERIODS, validate_retirement
from registry.domain.serials import (
    CREDIT_TYPES,
    SerialBlock,
    SerialFormatError,
    SerialRange,
    VintageSerialization,
    parse_serial_block,
    parse_serialization,
)
from registry.tables.core import Retirement
from tests.reliability.counts import record
from tests.support.world import make_world

EXAMPLES = int(os.environ.get("ICR_FUZZ_EXAMPLES", "300"))
#: A class authorizing every purpose (bit ``1 << purpose``).
ALL_USES = sum(1 << p for p in Purpose)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEGMENTS = {"serialization", "program", "host country", "dial code", "project number", "sector", "credit type",
            "Article 6.2 flag", "vintage", "serial block", "first unit", "last unit", "unit range"}

# ------------------------------------------------------------------------------------------
# Serial numbers
# ------------------------------------------------------------------------------------------

dial_codes = st.from_regex(r"\A[0-9]{1,4}(-[0-9]{1,4})?\Z")
serializations = st.builds(
    VintageSerialization,
    country=st.from_regex(r"\A[A-Z]{3}\Z"),
    dial_code=dial_codes,
    project_number=st.integers(0, 10**9),
    sector=st.integers(0, 99),
    credit_type=st.sampled_from(sorted(CREDIT_TYPES)),
    article6=st.booleans(),
    vintage=st.integers(1000, 9999),
)
ranges = st.tuples(st.integers(1, 10**12), st.integers(0, 10**6)).map(lambda t: SerialRange(t[0], t[0] + t[1]))
#: Text built from the serial alphabet, so random inputs come near valid ones.
serialish = st.text(alphabet="ICRicr-0123456789ISLASMRAH01 _x", max_size=60)


@FUZZ
@given(serializations)
@example(VintageSerialization("ASM", "1-684", 120, 3, "A", True, 2024))
@example(VintageSerialization("PRI", "1-787", 78040, 14, "R", False, 2021))
def test_every_serialization_round_trips(value):
    record("fuzz cases", "serial numbers")
    text = str(value)
    assert parse_serialization(text) == value
    assert parse_serialization("icr" + text[3:]) == value  # ICR's live data has lower-case prefixes


@FUZZ
@given(serializations, ranges)
def test_every_serial_block_round_trips(value, units):
    record("fuzz cases", "serial numbers")
    block = SerialBlock(value, units)
    parsed = parse_serial_block(str(block))
    assert parsed == block and parsed.quantity == units.last - units.first + 1


def _parses_or_names_the_segment(parse, text):
    try:
        value = parse(text)
    except SerialFormatError as exc:
        assert exc.segment in SEGMENTS, exc.segment
        assert exc.value == text
        return None
    return value


@FUZZ
@given(st.one_of(st.text(max_size=80), serialish))
def test_any_text_parses_or_is_refused_naming_the_segment(text):
    record("fuzz cases", "serial numbers")
    value = _parses_or_names_the_segment(parse_serialization, text)
    if value is not None:
        assert parse_serialization(str(value)) == value  # a parsed value has one canonical form
    block = _parses_or_names_the_segment(parse_serial_block, text)
    if block is not None:
        assert parse_serial_block(str(block)) == block


@FUZZ
@given(serializations, st.data())
def test_an_empty_or_missing_segment_is_refused(value, data):
    record("fuzz cases", "serial numbers")
    segments = str(value).split("-")
    index = data.draw(st.integers(0, len(segments) - 1))
    emptied = "-".join(segments[:index] + [""] + segments[index + 1:])
    with pytest.raises(SerialFormatError):
        parse_serialization(emptied)
    if len(segments) == 8:  # without a hyphenated dial code, a missing segment leaves seven
        with pytest.raises(SerialFormatError):
            parse_serialization("-".join(segments[:index] + segments[index + 1:]))


# ------------------------------------------------------------------------------------------
# Retirement data
# ------------------------------------------------------------------------------------------

uint64 = st.integers(0, 2**64 - 1)
uint16 = st.integers(0, 2**16 - 1)
details_strategy = st.builds(
    RetirementData,
    purpose=st.sampled_from(list(Purpose)),
    beneficiary_name=st.text(max_size=40),
    beneficiary_address=st.text(max_size=40),
    organization_id=st.text(max_size=12),
    consumption_start=uint64,
    consumption_end=uint64,
    corsia_operator=st.text(max_size=20),
    corsia_state=st.text(max_size=3),
    compliance_period_start=uint16,
    compliance_period_end=uint16,
    ndc_party=st.text(max_size=3),
)


def decode_or_flag(data: bytes) -> RetirementData | None:
    try:
        return decode_retirement_data(data)
    except MalformedRetirementData:
        return None


@FUZZ
@given(details_strategy)
def test_retirement_details_round_trip(details):
    record("fuzz cases", "retirement data")
    assert decode_retirement_data(encode_retirement_data(details)) == details


@FUZZ
@given(st.binary(max_size=1_200))
@example(b"")
@example(b"\x00" * 32)
@example(b"\xff" * 320)
def test_random_bytes_decode_or_are_flagged_malformed(data):
    record("fuzz cases", "retirement data")
    result = decode_or_flag(data)
    assert result is None or isinstance(result.purpose, Purpose)


@FUZZ
@given(details_strategy, st.data())
def test_damaged_encodings_decode_or_are_flagged_malformed(details, data):
    record("fuzz cases", "retirement data")
    raw = bytearray(encode_retirement_data(details))
    how = data.draw(st.sampled_from(["flip", "truncate", "append", "purpose"]))
    if how == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "append":
        raw += data.draw(st.binary(min_size=1, max_size=64))
    else:  # an unknown purpose in a well-formed tuple
        raw[32 + 31] = data.draw(st.integers(len(Purpose), 255))
    result = decode_or_flag(bytes(raw))
    if how == "purpose":
        assert result is None
    else:
        assert result is None or isinstance(result.purpose, Purpose)


# ------------------------------------------------------------------------------------------
# Python and the contract agree on what a retirement's data says
# ------------------------------------------------------------------------------------------


#: ``RetirementDetails`` with every string as ``bytes`` (the same ABI encoding), so a blob can
#: carry any bytes, and the contract's answer can be read back byte for byte.
RAW_DETAILS_TYPE = RETIREMENT_DETAILS_TYPE.replace("string", "bytes")
#: Byte sequences near the edges of well-formed UTF-8 (Unicode Table 3-7): good characters of
#: every length and the overlong, surrogate, out-of-range, lone and cut-off forms around them.
UTF8_PIECES = [b"a", b" ", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xee\x80\x80",
               b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xe3\x80\x80", b"\xc0\x80", b"\xc1\xbf",
               b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
               b"\xff", b"\x80", b"\xbf", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc2"]
utf8ish = st.one_of(
    st.text(max_size=40).map(str.encode),
    st.lists(st.sampled_from(UTF8_PIECES), max_size=40).map(b"".join),
    st.binary(max_size=40),
)
raw_details = st.tuples(st.integers(0, 5), utf8ish, utf8ish, utf8ish, uint64, uint64, utf8ish, utf8ish, uint16, uint16,
                        utf8ish).map(lambda fields: encode([RAW_DETAILS_TYPE], [fields]))
encodings = st.one_of(details_strategy.map(encode_retirement_data), raw_details)

#: Word values that probe the decoder's offset and length checks.
def _edge_words(size: int) -> list[int]:
    return [0, 1, 31, 32, 64, 352, size - 33, size - 32, size - 31, size - 1, size, size + 1, 2**64 - 1, 2**64,
            2**255, 2**256 - 1]


def _padding(raw: bytes) -> list[int]:
    """Where the padding bytes of a canonical encoding's strings are."""
    try:
        head = int.from_bytes(raw[:32], "big")
        spots = []
        for i, kind in enumerate(RAW_DETAILS_TYPE.strip("()").split(",")):
            if kind == "bytes":
                at = head + int.from_bytes(raw[head + 32 * i:head + 32 * i + 32], "big")
                length = int.from_bytes(raw[at:at + 32], "big")
                spots += range(at + 32 + length, at + 32 + -(-length // 32) * 32)
        return spots
    except (IndexError, ValueError):
        return []


def mutate(raw: bytes, data) -> bytes:
    """Up to three damages: a dirty padding byte, a flipped or set byte, a word set to an offset
    or length near an edge, a cut, an insertion or extra bytes at the end."""
    blob = bytearray(raw)
    padding = _padding(raw)
    if padding and data.draw(st.booleans()):
        blob[data.draw(st.sampled_from(padding))] = data.draw(st.integers(1, 255))
    for _ in range(data.draw(st.integers(0, 3))):
        how = data.draw(st.sampled_from(["flip", "set zero byte", "word", "truncate", "insert", "append"]))
        if how == "flip" and blob:
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
        elif how == "set zero byte" and 0 in blob:  # padding or the high bytes of a word
            zeros = [i for i, b in enumerate(blob) if b == 0]
            blob[data.draw(st.sampled_from(zeros))] = data.draw(st.integers(1, 255))
        elif how == "word" and len(blob) >= 32:
            i = data.draw(st.integers(0, len(blob) // 32 - 1))
            value = data.draw(st.one_of(st.sampled_from(_edge_words(len(blob))), st.integers(0, len(blob) + 64)))
            blob[32 * i:32 * i + 32] = (value % 2**256).to_bytes(32, "big")
        elif how == "truncate" and blob:
            del blob[data.draw(st.integers(0, len(blob) - 1)):]
        elif how == "insert":
            at = data.draw(st.integers(0, len(blob)))
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=33))
        elif how == "append":
            blob += data.draw(st.binary(min_size=1, max_size=64))
    return bytes(blob)


@pytest.fixture(scope="module")
def world():
    """A token with a class authorizing every purpose and a holder of 1,000 of it."""
    from tests.contracts.helpers import class_info, deploy_world

    world = deploy_world(eth_tester_web3())
    key = ClassKey(project_number=78041, vintage=2025, article6=True, letter_number=9)
    world.tx(world.signer, "registerClass", key.token_id, class_info(key, ALL_USES))
    world.give(world.holders[0].address, 1_000, class_id=key.token_id)
    world.class_id = key.token_id
    return world


def contract_decode(world, blob: bytes) -> tuple | None:
    """What ``retire`` reads from ``data``: nothing but a voluntary purpose from empty data, else
    ``decodeRetirementData``'s answer (strings as bytes) when it decodes and the purpose is one
    ``retire`` knows, else None."""
    if not blob:
        return _as_bytes(RetirementData())
    w3 = world.w3
    call = world.token.encode_abi("decodeRetirementData", args=[blob])
    try:
        out = w3.eth.call({"to": world.token.address, "data": call})
    except Exception:  # noqa: BLE001 - eth-tester and web3 raise their own revert types
        return None
    (fields,) = decode([RAW_DETAILS_TYPE], bytes(out))
    return fields if fields[0] < len(Purpose) else None


def contract_retires(world, blob: bytes, name: str = "", comment: str = "") -> bool:
    """Whether ``retire`` of one tonne with ``data`` = ``blob`` succeeds (simulated: nothing is burned)."""
    fn = world.token.functions.retire(world.class_id, 1, "0x" + "00" * 20, name, "", comment, blob)
    try:
        fn.call({"from": world.holders[0].address})
    except REVERTS:
        return False
    return True


def _as_bytes(details: RetirementData) -> tuple:
    return (int(details.purpose), *(v.encode() if isinstance(v, str) else v for v in astuple(details)[1:]))


DIFFERENTIAL = settings(max_examples=max(50, EXAMPLES), deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@DIFFERENTIAL
@given(encodings, st.data())
@example(encode_retirement_data(RetirementData(beneficiary_name="Acme")), None)
def test_python_decodes_exactly_what_the_contract_decodes(world, raw, data):
    """The sync decodes what ``retire`` accepted. For any blob, damaged or not, Python and the
    contract both refuse it, or both read it, field for field and byte for byte."""
    record("fuzz cases", "retirement data (against the contract)")
    blob = raw if data is None else mutate(raw, data)
    theirs = contract_decode(world, blob)
    ours = decode_or_flag(blob)
    event("both refuse" if theirs is None else "both decode" if blob == raw else "both decode a damaged blob")
    if theirs is None:
        assert ours is None, f"Python decoded data the contract refuses: {blob.hex()}"
    else:
        assert ours is not None, f"Python refused data the contract decodes: {blob.hex()}"
        assert _as_bytes(ours) == tuple(theirs)


def _mostly(valid, *others, weight: int = 24):
    """``valid`` ``weight`` times as often as each of ``others`` (values or strategies)."""
    choices = [v if isinstance(v, st.SearchStrategy) else st.just(v) for v in others]
    return st.integers(0, weight + len(choices) - 1).flatmap(
        lambda i: st.just(valid) if i < weight else choices[i - weight])


@st.composite
def near_valid(draw) -> RetirementData:
    """Details that are valid for their purpose but for a field or two near a rule's edge."""
    purpose = draw(st.sampled_from(list(Purpose)))
    corsia, ndc = purpose is Purpose.corsia, purpose is Purpose.ndc
    operator = (_mostly("Icelandair", "", " ", "\u3000\t", "x" * 200, "x" * 201, "é" * 100, st.text(max_size=4))
                if corsia else _mostly("", " ", "Icelandair"))
    state = _mostly("ISL", "", "IS", "isl", " ISL", "ISLX", st.text(max_size=3)) if corsia else _mostly("", "ISL")
    period = (_mostly((2024, 2026), *CORSIA_COMPLIANCE_PERIODS, (0, 0), (2024, 2025), (2036, 2038), (2021, 0))
              if corsia else _mostly((0, 0), (2024, 2026), (0, 2026)))
    party = _mostly("CHE", "", "ch", "CHEE", " CH", st.text(max_size=3)) if ndc else _mostly("", "CHE")
    consumption = _mostly((0, 0), (1704067200, 1735689599), (1, MAX_CONSUMPTION_TIME), (1, MAX_CONSUMPTION_TIME + 1),
                          (5, 1), (0, 5), (5, 0), weight=16)
    text = lambda limit: _mostly("", "Acme hf.", "é" * (limit // 2), "b" * limit, "b" * (limit + 1),  # noqa: E731
                                 st.text(max_size=8), weight=12)
    start, end = draw(consumption)
    first_year, last_year = draw(period)
    return RetirementData(purpose, draw(text(500)), draw(text(500)), draw(text(100)), start, end, draw(operator),
                          draw(state), first_year, last_year, draw(party))


@DIFFERENTIAL
@given(near_valid(), _mostly("Retiree", "", "r" * 500, "r" * 501), _mostly("", "c" * 2000, "c" * 2001))
@example(RetirementData(Purpose.ndc, beneficiary_name="Swiss Confederation", ndc_party="CHE"), "Buyer", "")
@example(RetirementData(Purpose.corsia, corsia_operator="Icelandair", corsia_state="ISL", compliance_period_start=2024,
                        compliance_period_end=2026, consumption_start=1704067200, consumption_end=1735689599),
         "r" * 500, "c" * 2000)
def test_what_the_contract_accepts_the_registry_accepts_and_can_store(world, details, name, comment):
    """The issue's rule: the contract refuses what the registry would refuse. Every retirement the
    contract accepts passes the registry's own ``validate_retirement`` (all purposes authorized;
    the registry's "other purposes" description has no on-chain field and is supplied here) and
    fits the registry's retirement columns."""
    record("fuzz cases", "retirement rules (against the registry)")
    accepted = contract_retires(world, encode_retirement_data(details), name=name, comment=comment)
    event(f"contract {'accepts' if accepted else 'refuses'} a {details.purpose.name} retirement")
    if not accepted:
        return
    record("fuzz cases", "retirement rules: accepted by the contract")
    claim = details.claim(retiree_name=name, comment=comment)
    if claim.purpose is Purpose.other_international:
        claim = replace(claim, purpose_detail="described off-chain")
    validated = validate_retirement(claim, authorized_uses=ALL_USES)
    columns = Retirement.__table__.c
    for field in ("beneficiary_name", "beneficiary_address", "retiree", "comment", "corsia_operator", "corsia_state",
                  "ndc_party"):
        value = getattr(validated, field) or ""
        assert len(value) <= columns[field].type.length, field


# ------------------------------------------------------------------------------------------
# The sync against hostile retirements
# ------------------------------------------------------------------------------------------


RETIRE = function_signature_to_4byte_selector("retire(uint256,uint256,address,string,string,string,bytes)")


def _raw_retire(world, token_id: int, amount: int, name: bytes, uri: bytes, comment: bytes, data: bytes):
    """``retire`` called with arbitrary bytes where the ABI says string (the EVM accepts them)."""
    w3 = world.chain.w3
    calldata = RETIRE + encode(["uint256", "uint256", "address", "bytes", "bytes", "bytes", "bytes"],
                               [token_id, amount, "0x" + "00" * 20, name, uri, comment, data])
    tx = {"to": world.chain.address, "data": calldata, "gas": 500_000, "from": world.holder.address,
          "nonce": w3.eth.get_transaction_count(world.holder.address), "chainId": world.chain.chain_id,
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(world.holder.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1


def test_retirement_data_the_contract_accepts_is_synced_as_it_reads(sqlite_engine):
    world = make_world(sqlite_engine, eth_tester_web3(), seed="fuzz-sync")
    world.tokenize(100)
    run_cycle(sqlite_engine, world.chain, world.keys)
    good = encode_retirement_data(RetirementData(Purpose.voluntary, beneficiary_name="Ferry operator"))
    # Well-formed ABI whose purpose field is out of the Purpose range is refused on-chain, and so
    # are strings that are not UTF-8 (the registry could not read them)...
    bad_purpose = bytearray(good)
    bad_purpose[63] = 200
    latin1 = encode([RETIREMENT_DETAILS_TYPE], [(0, "xyzzy", "", "", 0, 0, "", "", 0, 0, "")]).replace(b"xyzzy",
                                                                                                   b"\xe9yzzy")
    for refused in (bytes(bad_purpose), latin1):
        with pytest.raises(ChainRevert):
            world.chain.transact(world.holder, world.chain.token.functions.retire(
                world.token_id, 1, "0x" + "00" * 20, "n", "", "", refused), "retire")
        world.chain._nonces.clear()
    # ... while a dirty padding byte, which Solidity's decoder never reads (eth_abi's strict decoder
    # refused it: the sync used to record such a retirement as "malformed"), is read alike.
    dirty = bytearray(good)
    name_at = 32 + int.from_bytes(dirty[64:96], "big")
    dirty[name_at + 32 + len("Ferry operator")] = 0x01
    _raw_retire(world, world.token_id, 3, b"Retiree", b"", b"", good)
    _raw_retire(world, world.token_id, 4, b"Retiree", b"", b"", bytes(dirty))
    report = sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 2}
    assert report.flagged == []
    with Session(sqlite_engine) as s:
        rows = s.exec(select(Retirement).where(Retirement.chain_id == world.chain.chain_id)).all()
    assert sorted((r.quantity, r.purpose, r.beneficiary_name) for r in rows) == [
        (3, "voluntary", "Ferry operator"), (4, "voluntary", "Ferry operator")]
    record("fuzz cases", "hostile retirements synced", 4)


def test_a_retiree_name_that_is_not_utf8_does_not_stop_the_sync(sqlite_engine):
    """Found by this harness: strict UTF-8 decoding of event strings used to stop every later
    sync pass. Now the event is recorded with replacement characters and flagged."""
    world = make_world(sqlite_engine, eth_tester_web3(), seed="fuzz-utf8")
    world.tokenize(100)
    run_cycle(sqlite_engine, world.chain, world.keys)
    _raw_retire(world, world.token_id, 5, b"\xff\xfe not UTF-8", b"", b"\xc3", b"")
    world.retire(world.holder, 7, name="after it")
    started = time.monotonic()
    report = sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 2}, f"sync after {time.monotonic() - started:.1f} s: {report}"
    assert len(report.flagged) == 1 and "not UTF-8" in report.flagged[0]
