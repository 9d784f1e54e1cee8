"""Property-based inputs for the parsers: ICR serial numbers and the ``data`` of an on-chain
retirement. Anything at all either parses (and then round-trips) or is refused with the
parser's own error naming what is wrong; nothing else escapes.

``ICR_FUZZ_EXAMPLES`` sets the examples per property (default 300).
"""

from __future__ import annotations

import os
import time

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.chain.client import ChainRevert, eth_tester_web3
from bridge.chain.token import (
    RETIREMENT_DETAILS_TYPE,
    MalformedRetirementData,
    RetirementData,
    decode_retirement_data,
    encode_retirement_data,
)
from bridge.engine.cycle import run_cycle
from bridge.engine.sync import sync_once
from registry.domain.classes import Purpose
from registry.domain.serials import (
    CREDIT_TYPES,
    SerialBlock,
    SerialFormatError,
    SerialRange,
    VintageSerialization,
    parse_serial_block,
    parse_serialization,
)
from tests.reliability.counts import record
from tests.support.world import make_world

EXAMPLES = int(os.environ.get("ICR_FUZZ_EXAMPLES", "300"))
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


@pytest.fixture(scope="module")
def token():
    from bridge.chain.client import Chain
    from tests.support.world import seeded

    w3 = eth_tester_web3()
    chain = Chain(w3)
    deployer = seeded("fuzz/deployer")
    chain.fund_from_dev_account(deployer.address)
    chain.deploy(deployer, "http://localhost/{id}.json", deployer.address, deployer.address)
    return chain


@settings(max_examples=max(20, EXAMPLES // 6), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                                      HealthCheck.function_scoped_fixture])
@given(details_strategy, st.data())
def test_python_never_reads_what_the_contract_refuses_nor_reads_it_differently(token, details, data):
    """The sync decodes what ``retire`` accepted. Whatever bytes arrive, if Python decodes them
    the contract's ``decodeRetirementData`` accepts them too and reads the same fields."""
    record("fuzz cases", "retirement data (against the contract)")
    raw = bytearray(encode_retirement_data(details))
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    ours = decode_or_flag(bytes(raw))
    try:
        theirs = token.call(token.token.functions.decodeRetirementData(bytes(raw)), "decodeRetirementData")
    except (ChainRevert, Exception):  # noqa: B014 - reverts and undecodable return data alike
        theirs = None
    if ours is not None:
        assert theirs is not None, "Python decoded data the contract refuses"
        assert (int(ours.purpose), ours.beneficiary_name, ours.beneficiary_address, ours.organization_id,
                ours.consumption_start, ours.consumption_end, ours.corsia_operator, ours.corsia_state,
                ours.compliance_period_start, ours.compliance_period_end) == tuple(theirs)


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


def test_retirement_data_the_contract_accepts_is_synced_and_malformed_data_flagged(sqlite_engine):
    world = make_world(sqlite_engine, eth_tester_web3(), seed="fuzz-sync")
    world.tokenize(100)
    run_cycle(sqlite_engine, world.chain, world.keys)
    good = encode_retirement_data(RetirementData(Purpose.voluntary, beneficiary_name="Ferry operator"))
    # Well-formed ABI whose purpose field is out of the Purpose range is refused on-chain...
    bad_purpose = bytearray(good)
    bad_purpose[63] = 200
    with pytest.raises(ChainRevert):
        world.chain.transact(world.holder, world.chain.token.functions.retire(
            world.token_id, 1, "0x" + "00" * 20, "n", "", "", bytes(bad_purpose)), "retire")
    world.chain._nonces.clear()
    # ... and data the contract accepts but whose strings are not UTF-8 reaches the registry flagged.
    latin1 = encode([RETIREMENT_DETAILS_TYPE], [(0, "xyzzy", "", "", 0, 0, "", "", 0, 0)]).replace(b"xyzzy", b"\xe9yzzy")
    _raw_retire(world, world.token_id, 3, b"Retiree", b"", b"", good)
    _raw_retire(world, world.token_id, 4, b"Retiree", b"", b"", latin1)
    report = sync_once(sqlite_engine, world.chain)
    assert report.applied == {"Retired": 2}
    assert len(report.flagged) == 1 and "does not decode" in report.flagged[0]
    record("fuzz cases", "hostile retirements synced", 3)


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
