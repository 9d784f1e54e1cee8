"""retire (ICR-compatible), retireWithSignature (EIP-712, relayed), purposes, the registry's
retirement rules (texts the registry can store, CORSIA and NDC details, consumption periods),
certificates and a receiver re-entering during a retirement."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from eth_abi import encode

from bridge.chain.client import REVERTS
from bridge.chain.retire_signature import RetireRequest, recover_retirement_signer, sign_retirement
from bridge.chain.token import (
    MAX_CONSUMPTION_TIME,
    RETIREMENT_DETAILS_TYPE,
    RETIREMENT_TEXT_LIMITS,
    MalformedRetirementData,
    RetirementData,
    decode_retirement_data,
    encode_retirement_data,
)
from registry.domain.classes import CERTIFICATE_FLAG, Purpose
from registry.domain.lifecycle import CORSIA_COMPLIANCE_PERIODS
from registry.tables.core import Retirement
from tests.contracts.helpers import ARTICLE6, STANDARD, ZERO, seeded

DEADLINE = 2**40


#: Details a CORSIA retirement needs (an operator, its state, a compliance period).
CORSIA = dict(corsia_operator="Icelandair", corsia_state="ISL", compliance_period_start=2024,
              compliance_period_end=2026)
#: What an NDC retirement needs: the acquiring party.
NDC = dict(ndc_party="CHE")


def _data(purpose: Purpose, **fields) -> bytes:
    return encode_retirement_data(RetirementData(purpose=purpose, **fields))


# ------------------------------------------------------------------------------------ retire


def test_retire_voluntary_burns_and_mints_a_certificate(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    selector = world.token.get_function_by_name("retire").abi
    assert [i["type"] for i in selector["inputs"]] == [
        "uint256", "uint256", "address", "string", "string", "string", "bytes"]  # ICR's live interface
    receipt = world.tx(holder, "retire", STANDARD.token_id, 4, ZERO, "Acme", "ipfs://x", "offset 2024", b"")
    [event] = world.events(receipt, "Retired")
    assert event == {"retirementId": 1, "tokenId": STANDARD.token_id, "holder": holder.address,
                     "beneficiary": holder.address, "amount": 4, "retireeName": "Acme", "customUri": "ipfs://x",
                     "comment": "offset 2024", "data": b""}
    certificate = CERTIFICATE_FLAG | 1
    assert world.balance(holder.address) == 6 and world.supply() == 6
    assert world.call("balanceOf", holder.address, certificate) == 1
    assert world.call("retirementCount") == 1


def test_retire_for_a_beneficiary_passes_through_it(world):
    holder, beneficiary = world.holders[0], world.holders[1]
    world.give(holder.address, 10)
    receipt = world.tx(holder, "retire", STANDARD.token_id, 3, beneficiary.address, "B", "", "", b"")
    assert world.events(receipt, "Retired")[0]["beneficiary"] == beneficiary.address
    moves = [(t["from"], t["to"], t["id"], t["value"]) for t in world.events(receipt, "TransferSingle")]
    assert moves == [
        (holder.address, beneficiary.address, STANDARD.token_id, 3),
        (beneficiary.address, ZERO, STANDARD.token_id, 3),
        (ZERO, beneficiary.address, CERTIFICATE_FLAG | 1, 1),
    ]
    assert world.balance(beneficiary.address) == 0 and world.balance(holder.address) == 7
    assert world.call("balanceOf", beneficiary.address, CERTIFICATE_FLAG | 1) == 1


def test_retire_with_details_for_an_authorized_purpose(world):
    holder = world.holders[0]
    world.give(holder.address, 10, class_id=ARTICLE6.token_id)
    data = _data(Purpose.corsia, beneficiary_name="Airline", organization_id="org-9", **CORSIA)
    receipt = world.tx(holder, "retire", ARTICLE6.token_id, 2, ZERO, "Airline", "", "", data)
    assert world.events(receipt, "Retired")[0]["data"] == data
    decoded = world.call("decodeRetirementData", data)
    assert decoded[0] == Purpose.corsia and decoded[1] == "Airline" and decoded[-3:] == (2024, 2026, "")
    ndc = _data(Purpose.ndc, **NDC)
    world.tx(holder, "retire", ARTICLE6.token_id, 1, ZERO, "Party", "", "", ndc)
    assert world.call("decodeRetirementData", ndc)[-1] == "CHE"
    assert world.supply(ARTICLE6.token_id) == 7


@pytest.mark.parametrize(
    "class_id, purpose",
    [(STANDARD.token_id, Purpose.corsia), (STANDARD.token_id, Purpose.ndc),
     (ARTICLE6.token_id, Purpose.other_international)],
)
def test_retire_unauthorized_purpose(world, class_id, purpose):
    holder = world.holders[0]
    world.give(holder.address, 10, class_id=class_id)
    args = world.reverts("PurposeNotAuthorized", holder, "retire", class_id, 1, ZERO, "", "", "", _data(purpose))
    assert args == (class_id, purpose)
    assert world.supply(class_id) == 10


def test_retire_refused_for_a_use_the_registry_removed(world):
    holder = world.holders[0]
    world.give(holder.address, 10, class_id=ARTICLE6.token_id)
    corsia = _data(Purpose.corsia, **CORSIA)
    world.tx(holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "", corsia)
    world.tx(world.signer, "setClassUses", ARTICLE6.token_id, 1 << Purpose.ndc)  # the letter narrowed to NDC
    args = world.reverts("PurposeNotAuthorized", holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "", corsia)
    assert args == (ARTICLE6.token_id, Purpose.corsia)
    world.reverts("PurposeNotAuthorized", holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "", b"")  # voluntary
    world.tx(holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "", _data(Purpose.ndc, **NDC))
    world.tx(world.signer, "setClassUses", ARTICLE6.token_id, 0)  # withdrawn: every compliance use on hold
    world.reverts("PurposeNotAuthorized", holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "",
                  _data(Purpose.ndc, **NDC))
    assert world.balance(holder.address, ARTICLE6.token_id) == 8


def test_retire_reverts(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    retire = ("retire", STANDARD.token_id)
    args = world.reverts("ERC1155InsufficientBalance", holder, *retire, 11, ZERO, "", "", "", b"")
    assert args[1:] == (10, 11, STANDARD.token_id)
    world.reverts("ERC1155InsufficientBalance", world.holders[1], *retire, 1, ZERO, "", "", "", b"")
    world.reverts("ZeroAmount", holder, *retire, 0, ZERO, "", "", "", b"")
    world.reverts("NotACreditClass", holder, "retire", CERTIFICATE_FLAG | 1, 1, ZERO, "", "", "", b"")
    world.reverts("ClassNotRegistered", holder, "retire", 12345, 1, ZERO, "", "", "", b"")
    world.reverts("MalformedRetirementData", holder, *retire, 1, ZERO, "", "", "", b"\x01\x02")
    unknown = encode([RETIREMENT_DETAILS_TYPE], [(9, "", "", "", 0, 0, "", "", 0, 0, "")])
    world.reverts("UnknownRetirementPurpose", holder, *retire, 1, ZERO, "", "", "", unknown)
    assert world.supply() == 10 and world.call("retirementCount") == 0


def test_retire_is_open_while_paused(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    world.tx(world.pauser, "pause")
    world.tx(holder, "retire", STANDARD.token_id, 10, ZERO, "", "", "", b"")
    assert world.supply() == 0


def test_certificates_cannot_move(world):
    holder, other = world.holders[0], world.holders[1]
    world.give(holder.address, 10)
    world.tx(holder, "retire", STANDARD.token_id, 1, ZERO, "", "", "", b"")
    certificate = CERTIFICATE_FLAG | 1
    args = world.reverts("CertificateNonTransferable", holder, "safeTransferFrom", holder.address, other.address,
                         certificate, 1, b"")
    assert args == (certificate,)
    world.reverts("CertificateNonTransferable", holder, "safeBatchTransferFrom", holder.address, other.address,
                  [STANDARD.token_id, certificate], [1, 1], b"")
    world.tx(holder, "setApprovalForAll", other.address, True)
    world.reverts("CertificateNonTransferable", other, "safeTransferFrom", holder.address, other.address,
                  certificate, 1, b"")
    world.reverts("NotACreditClass", holder, "requestRedemption", certificate, 1, "acct")
    assert world.call("balanceOf", holder.address, certificate) == 1


def test_receiver_reentering_retire_cannot_retire_more_than_it_holds(world):
    receiver = world.deploy_receiver(world.outsider.address)
    world.give(receiver.address, 10)
    world.arm(receiver, "retire", STANDARD.token_id, 6, ZERO, "again", "", "", b"")
    # the receiver retires 6 for itself; its certificate hook tries to retire 6 more
    world.as_receiver(receiver, "retire", STANDARD.token_id, 6, ZERO, "first", "", "", b"")
    assert world.reentry_outcome(receiver) == (True, False, "ERC1155InsufficientBalance")
    assert world.balance(receiver.address) == 4 and world.supply() == 4
    assert world.call("retirementCount") == 1


def test_receiver_reentering_retire_for_what_is_left_is_a_second_retirement(world):
    receiver = world.deploy_receiver(world.outsider.address)
    world.give(receiver.address, 10)
    world.arm(receiver, "retire", STANDARD.token_id, 4, ZERO, "rest", "", "", b"")
    receipt = world.as_receiver(receiver, "retire", STANDARD.token_id, 6, ZERO, "first", "", "", b"")
    assert world.reentry_outcome(receiver) == (True, True, "")
    retired = world.events(receipt, "Retired")
    assert [(e["retirementId"], e["amount"]) for e in retired] == [(1, 6), (2, 4)]
    assert world.supply() == 0 and world.call("retirementCount") == 2


# ------------------------------------------------------------------------------------ by signature


def _request(world, holder, amount=3, nonce=None, deadline=DEADLINE, **fields) -> RetireRequest:
    nonce = world.call("nonces", holder) if nonce is None else nonce
    return RetireRequest(holder=holder, token_id=fields.pop("token_id", STANDARD.token_id), amount=amount,
                         nonce=nonce, deadline=deadline, **fields)


def _signed(world, signer, request, chain_id=None, contract=None) -> bytes:
    return sign_retirement(signer, request, chain_id or world.chain.chain_id, contract or world.token.address)


def test_retire_with_signature_relayed_emits_the_same_event(world):
    holder, beneficiary = world.holders[0], world.holders[1]
    world.give(holder.address, 10, class_id=ARTICLE6.token_id)
    data = _data(Purpose.corsia, beneficiary_name="Airline", **CORSIA)
    request = _request(world, holder.address, token_id=ARTICLE6.token_id, beneficiary=beneficiary.address,
                       retiree_name="Airline", custom_uri="https://x", comment="gasless", data=data)
    signature = _signed(world, holder, request)
    assert recover_retirement_signer(request, signature, world.chain.chain_id, world.token.address) == holder.address
    receipt = world.tx(world.relayer, "retireWithSignature", request.as_call_args(), signature)
    [event] = world.events(receipt, "Retired")
    assert event == {"retirementId": 1, "tokenId": ARTICLE6.token_id, "holder": holder.address,
                     "beneficiary": beneficiary.address, "amount": 3, "retireeName": "Airline",
                     "customUri": "https://x", "comment": "gasless", "data": data}
    assert world.balance(holder.address, ARTICLE6.token_id) == 7
    assert world.call("balanceOf", beneficiary.address, CERTIFICATE_FLAG | 1) == 1
    assert world.call("nonces", holder.address) == 1


def test_retire_with_signature_replayed(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    request = _request(world, holder.address)
    signature = _signed(world, holder, request)
    world.tx(world.relayer, "retireWithSignature", request.as_call_args(), signature)
    args = world.reverts("InvalidAccountNonce", world.relayer, "retireWithSignature", request.as_call_args(), signature)
    assert args[1] == 1
    assert world.balance(holder.address) == 7


def test_retire_with_signature_wrong_signer_chain_contract_or_values(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    request = _request(world, holder.address)
    call = ("retireWithSignature", request.as_call_args())
    someone = seeded("someone")
    forged = sign_retirement(someone, _request(world, someone.address), world.chain.chain_id, world.token.address)
    world.reverts("InvalidRetirementSignature", world.relayer, *call, forged)
    other_chain = _signed(world, holder, request, chain_id=world.chain.chain_id + 1)
    world.reverts("InvalidRetirementSignature", world.relayer, *call, other_chain)
    other_contract = _signed(world, holder, request, contract=world.outsider.address)
    world.reverts("InvalidRetirementSignature", world.relayer, *call, other_contract)
    # the relayer changes the amount or the beneficiary of a valid signature
    signature = _signed(world, holder, request)
    more = _request(world, holder.address, amount=4)
    world.reverts("InvalidRetirementSignature", world.relayer, "retireWithSignature", more.as_call_args(), signature)
    redirected = _request(world, holder.address, beneficiary=world.relayer.address)
    world.reverts("InvalidRetirementSignature", world.relayer, "retireWithSignature", redirected.as_call_args(),
                  signature)
    world.reverts("InvalidRetirementSignature", world.relayer, *call, b"\x01" * 65)
    # a signature for a future nonce
    future = _request(world, holder.address, nonce=5)
    world.reverts("InvalidAccountNonce", world.relayer, "retireWithSignature", future.as_call_args(),
                  _signed(world, holder, future))
    assert world.balance(holder.address) == 10 and world.call("nonces", holder.address) == 0


def test_retire_with_signature_expired(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    request = _request(world, holder.address, deadline=world.now() - 1)
    args = world.reverts("RetirementSignatureExpired", world.relayer, "retireWithSignature", request.as_call_args(),
                         _signed(world, holder, request))
    assert args == (request.deadline,)


def test_retire_with_signature_checks_balance_and_purpose(world):
    holder = world.holders[0]
    world.give(holder.address, 2)
    too_much = _request(world, holder.address, amount=3)
    world.reverts("ERC1155InsufficientBalance", world.relayer, "retireWithSignature", too_much.as_call_args(),
                  _signed(world, holder, too_much))
    corsia = _request(world, holder.address, amount=1, data=_data(Purpose.corsia))
    world.reverts("PurposeNotAuthorized", world.relayer, "retireWithSignature", corsia.as_call_args(),
                  _signed(world, holder, corsia))
    assert world.call("nonces", holder.address) == 0  # a reverted retirement uses no nonce


def test_retire_with_signature_from_an_erc1271_wallet_while_paused(world):
    owner = seeded("wallet-owner")
    wallet = world.deploy_receiver(owner.address)
    world.give(wallet.address, 5)
    world.tx(world.pauser, "pause")
    request = _request(world, wallet.address, amount=5)
    from eth_account.messages import encode_typed_data

    from bridge.chain.retire_signature import retire_typed_data

    signable = encode_typed_data(full_message=retire_typed_data(request, world.chain.chain_id, world.token.address))
    signature = bytes(owner.sign_message(signable).signature)
    receipt = world.tx(world.relayer, "retireWithSignature", request.as_call_args(), signature)
    assert world.events(receipt, "Retired")[0]["holder"] == wallet.address
    assert world.balance(wallet.address) == 0


def test_python_helper_rejects_bad_requests():
    holder = seeded("h")
    with pytest.raises(ValueError, match="amount"):
        RetireRequest(holder=holder.address, token_id=1, amount=0, nonce=0, deadline=1)
    with pytest.raises(ValueError, match="nonce"):
        RetireRequest(holder=holder.address, token_id=1, amount=1, nonce=-1, deadline=1)
    request = RetireRequest(holder=holder.address, token_id=1, amount=1, nonce=0, deadline=1)
    with pytest.raises(ValueError, match="signing key"):
        sign_retirement(seeded("other"), request, 1, holder.address)
    assert RetireRequest.with_details(None, holder=holder.address, token_id=1, amount=1, nonce=0, deadline=1).data == b""


# ------------------------------------------------------------------------------------ registry rules

#: The contract's ``RetirementText`` enum, in order, and each text's registry column.
TEXT_COLUMNS = {"retireeName": "retiree", "customUri": "custom_uri", "comment": "comment",
                "beneficiaryName": "beneficiary_name", "beneficiaryAddress": "beneficiary_address",
                "organizationId": None, "corsiaOperator": "corsia_operator"}


def test_text_limits_fit_the_registry_columns():
    """The contract's limits are RETIREMENT_TEXT_LIMITS (its constants have no getters, to keep the
    mint dispatch as it was: ``RetirementTextTooLong`` reports each one, see the boundary test)."""
    assert list(RETIREMENT_TEXT_LIMITS) == list(TEXT_COLUMNS)
    for field, limit in RETIREMENT_TEXT_LIMITS.items():
        column = TEXT_COLUMNS[field]
        if column is not None:  # the contract counts bytes, the column characters (<= bytes)
            assert limit <= Retirement.__table__.c[column].type.length, field
    assert datetime.fromtimestamp(MAX_CONSUMPTION_TIME, tz=timezone.utc) == datetime(9999, 12, 31, 23, 59, 59,
                                                                                     tzinfo=timezone.utc)
    # CORSIA state and NDC party are three letters: their columns hold three.
    assert Retirement.__table__.c.corsia_state.type.length == Retirement.__table__.c.ndc_party.type.length == 3


def _accepts(world, class_id: int, data: bytes) -> bool:
    """Whether the first holder's ``retire`` of one tonne with ``data`` succeeds (simulated)."""
    fn = world.token.functions.retire(class_id, 1, ZERO, "", "", "", data)
    try:
        fn.call({"from": world.holders[0].address})
    except REVERTS:
        return False
    return True


def test_corsia_compliance_periods_are_the_registry_s(world):
    """Every (first year, last year) from 2000 to 2060 is a CORSIA compliance period on-chain
    exactly when it is one of the registry's CORSIA_COMPLIANCE_PERIODS."""
    world.give(world.holders[0].address, 1, class_id=ARTICLE6.token_id)
    accepted = [
        (start, end) for start in range(2000, 2061) for end in range(start - 1, start + 4)
        if _accepts(world, ARTICLE6.token_id, _data(Purpose.corsia, **{**CORSIA, "compliance_period_start": start,
                                                                      "compliance_period_end": end}))
    ]
    assert tuple(accepted) == CORSIA_COMPLIANCE_PERIODS


def _texts(field: str, text: str) -> tuple[str, str, str, dict]:
    """(retireeName, customUri, comment, RetirementData fields) with ``text`` in ``field``."""
    event = {name: text if name == field else "" for name in ("retireeName", "customUri", "comment")}
    details = {"beneficiaryName": "beneficiary_name", "beneficiaryAddress": "beneficiary_address",
               "organizationId": "organization_id", "corsiaOperator": "corsia_operator"}
    fields = {details[field]: text} if field in details else {}
    return event["retireeName"], event["customUri"], event["comment"], fields


@pytest.mark.parametrize("field", list(RETIREMENT_TEXT_LIMITS))
def test_each_text_limit_at_its_boundary(world, field):
    holder = world.holders[0]
    world.give(holder.address, 10, class_id=ARTICLE6.token_id)
    limit = RETIREMENT_TEXT_LIMITS[field]
    index = list(RETIREMENT_TEXT_LIMITS).index(field)
    # a multi-byte character counts its bytes: "é" is two
    for text, length in (("x" * limit, limit), ("é" * (limit // 2), limit), ("x" * (limit + 1), limit + 1),
                         ("é" * (limit // 2) + "x", limit + 1)):
        name, uri, comment, fields = _texts(field, text)
        purpose, extra = (Purpose.corsia, CORSIA) if field == "corsiaOperator" else (Purpose.voluntary, {})
        data = _data(purpose, **{**extra, **fields})
        args = (ARTICLE6.token_id, 1, ZERO, name, uri, comment, data)
        if length <= limit:
            world.tx(holder, "retire", *args)
        else:
            assert world.reverts("RetirementTextTooLong", holder, "retire", *args) == (index, length, limit)
    assert world.supply(ARTICLE6.token_id) == 8


def test_corsia_retirement_needs_operator_state_and_a_compliance_period(world):
    holder = world.holders[0]
    world.give(holder.address, 20, class_id=ARTICLE6.token_id)

    def retire(**fields):
        return ("retire", ARTICLE6.token_id, 1, ZERO, "Airline", "", "", _data(Purpose.corsia, **{**CORSIA, **fields}))

    for period in CORSIA_COMPLIANCE_PERIODS:
        world.tx(holder, *retire(compliance_period_start=period[0], compliance_period_end=period[1]))
    world.tx(holder, *retire(corsia_operator=" Loftleiðir\u200b "))  # a zero-width space is text (not isspace)
    for blank in ("", " ", "\t\n", "\u3000", "\xa0\u2028\u200a\x1c"):
        world.reverts("CorsiaOperatorMissing", holder, *retire(corsia_operator=blank))
    for state in ("", "IS", "isl", "ISLX", " IS", "IS1", "ÍSL"):
        assert world.reverts("InvalidCorsiaState", holder, *retire(corsia_state=state)) == (state,)
    for start, end in ((0, 0), (2024, 2025), (2022, 2024), (2024, 0), (2036, 2038), (2020, 2022)):
        args = world.reverts("UnknownCorsiaCompliancePeriod", holder,
                             *retire(compliance_period_start=start, compliance_period_end=end))
        assert args == (start, end)
    assert world.supply(ARTICLE6.token_id) == 14


def test_every_python_whitespace_character_is_blank_to_the_contract(world):
    """The registry trims names with ``str.strip()``; an operator of only such characters is missing."""
    holder = world.holders[0]
    world.give(holder.address, 1, class_id=ARTICLE6.token_id)
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert "".join(spaces).strip() == ""
    for space in [*spaces, "".join(spaces)]:
        world.reverts("CorsiaOperatorMissing", holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "",
                      _data(Purpose.corsia, **{**CORSIA, "corsia_operator": space}))
    for near in ("\u200b", "\u0084", "\u1681", "\u200c", "\u2027", "\u3001", "\u205e", "\u180e"):
        assert near.strip() == near  # not whitespace to Python: text to the contract too
        world.tx(holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "",
                 _data(Purpose.corsia, **{**CORSIA, "corsia_operator": near}))
        world.give(holder.address, 1, class_id=ARTICLE6.token_id)


@pytest.mark.parametrize("purpose, class_id", [(Purpose.voluntary, STANDARD.token_id),
                                               (Purpose.ndc, ARTICLE6.token_id)])
def test_corsia_details_belong_to_corsia_retirements_only(world, purpose, class_id):
    holder = world.holders[0]
    world.give(holder.address, 10, class_id=class_id)
    extra = NDC if purpose is Purpose.ndc else {}
    world.tx(holder, "retire", class_id, 1, ZERO, "", "", "", _data(purpose, **extra))
    for field, value in (("corsia_operator", "Icelandair"), ("corsia_operator", " "), ("corsia_state", "ISL"),
                         ("compliance_period_start", 2024), ("compliance_period_end", 2026)):
        data = _data(purpose, **extra, **{field: value})
        args = world.reverts("CorsiaDetailsOnlyForCorsia", holder, "retire", class_id, 1, ZERO, "", "", "", data)
        assert args == (purpose,)
    assert world.supply(class_id) == 9


def test_ndc_retirement_names_the_acquiring_party_and_no_other_does(world):
    holder = world.holders[0]
    world.give(holder.address, 10, class_id=ARTICLE6.token_id)
    world.tx(holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "", _data(Purpose.ndc, ndc_party="GHA"))
    for party in ("", "CH", "che", "CHEE", "CH1", " CH"):
        args = world.reverts("InvalidNdcParty", holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "",
                             _data(Purpose.ndc, ndc_party=party))
        assert args == (party,)
    for purpose, extra in ((Purpose.voluntary, {}), (Purpose.corsia, CORSIA)):
        args = world.reverts("NdcPartyOnlyForNdc", holder, "retire", ARTICLE6.token_id, 1, ZERO, "", "", "",
                             _data(purpose, ndc_party="CHE", **extra))
        assert args == (purpose,)
    assert world.supply(ARTICLE6.token_id) == 9


def test_consumption_period_is_absent_or_complete_ordered_and_representable(world):
    holder = world.holders[0]
    world.give(holder.address, 10)

    def retire(start, end):
        return ("retire", STANDARD.token_id, 1, ZERO, "", "", "",
                _data(Purpose.voluntary, consumption_start=start, consumption_end=end))

    for start, end in ((0, 0), (1, 1), (1704067200, 1735689599), (1, MAX_CONSUMPTION_TIME)):
        world.tx(holder, *retire(start, end))
    for start, end, error, args in (
        (1, 0, "IncompleteConsumptionPeriod", (1, 0)),
        (0, 5, "IncompleteConsumptionPeriod", (0, 5)),
        (10, 5, "ConsumptionPeriodReversed", (10, 5)),
        (1, MAX_CONSUMPTION_TIME + 1, "ConsumptionTimeOutOfRange", (MAX_CONSUMPTION_TIME + 1,)),
        (2**64 - 1, 2**64 - 1, "ConsumptionTimeOutOfRange", (2**64 - 1,)),
    ):
        assert world.reverts(error, holder, *retire(start, end)) == args
    assert world.supply() == 6


def test_strings_of_data_must_be_utf8_and_padding_is_not_read(world):
    holder = world.holders[0]
    world.give(holder.address, 10)
    latin1 = encode([RETIREMENT_DETAILS_TYPE], [(0, "xyzzy", "", "", 0, 0, "", "", 0, 0, "")]).replace(b"xyzzy",
                                                                                                       b"\xe9yzzy")
    world.reverts("MalformedRetirementData", holder, "retire", STANDARD.token_id, 1, ZERO, "", "", "", latin1)
    with pytest.raises(MalformedRetirementData, match="utf-8"):
        decode_retirement_data(latin1)
    # Solidity's decoder never reads padding: a dirty one is accepted, by the contract and by Python
    data = bytearray(_data(Purpose.voluntary, beneficiary_name="Acme"))
    name_at = 32 + int.from_bytes(data[32 + 32:32 + 64], "big")  # the tuple starts at word 1
    assert data[name_at + 32:name_at + 36] == b"Acme"
    data[name_at + 63] = 0xFF
    world.tx(holder, "retire", STANDARD.token_id, 1, ZERO, "", "", "", bytes(data))
    assert decode_retirement_data(bytes(data)).beneficiary_name == "Acme"
    assert world.supply() == 9


def test_retire_with_signature_applies_the_same_rules(world):
    holder = world.holders[0]
    world.give(holder.address, 10, class_id=ARTICLE6.token_id)
    cases = [
        (dict(data=_data(Purpose.corsia, **{**CORSIA, "corsia_state": "IS"})), "InvalidCorsiaState", ("IS",)),
        (dict(data=_data(Purpose.ndc)), "InvalidNdcParty", ("",)),
        (dict(data=_data(Purpose.voluntary, consumption_start=9, consumption_end=8)), "ConsumptionPeriodReversed",
         (9, 8)),
        (dict(comment="c" * 2001), "RetirementTextTooLong", (2, 2001, 2000)),
        (dict(data=_data(Purpose.voluntary, organization_id="o" * 101)), "RetirementTextTooLong", (5, 101, 100)),
    ]
    for fields, error, expected in cases:
        request = _request(world, holder.address, amount=1, token_id=ARTICLE6.token_id, **fields)
        args = world.reverts(error, world.relayer, "retireWithSignature", request.as_call_args(),
                             _signed(world, holder, request))
        assert args == expected
    assert world.call("nonces", holder.address) == 0  # a refused retirement uses no nonce
    good = _request(world, holder.address, amount=1, token_id=ARTICLE6.token_id, retiree_name="r" * 500,
                    data=_data(Purpose.corsia, **CORSIA))
    world.tx(world.relayer, "retireWithSignature", good.as_call_args(), _signed(world, holder, good))
    assert world.balance(holder.address, ARTICLE6.token_id) == 9
