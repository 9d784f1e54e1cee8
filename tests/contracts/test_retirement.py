"""retire (ICR-compatible), retireWithSignature (EIP-712, relayed), purposes, certificates and a
receiver re-entering during a retirement."""

from __future__ import annotations

import pytest
from eth_abi import encode

from bridge.chain.retire_signature import RetireRequest, recover_retirement_signer, sign_retirement
from bridge.chain.token import RETIREMENT_DETAILS_TYPE, RetirementData, encode_retirement_data
from registry.domain.classes import CERTIFICATE_FLAG, Purpose
from tests.contracts.helpers import ARTICLE6, STANDARD, ZERO, seeded

DEADLINE = 2**40


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
    data = _data(Purpose.corsia, beneficiary_name="Airline", organization_id="org-9", corsia_operator="OP1",
                 corsia_state="IS", compliance_period_start=2024, compliance_period_end=2026)
    receipt = world.tx(holder, "retire", ARTICLE6.token_id, 2, ZERO, "Airline", "", "", data)
    assert world.events(receipt, "Retired")[0]["data"] == data
    decoded = world.call("decodeRetirementData", data)
    assert decoded[0] == Purpose.corsia and decoded[1] == "Airline" and decoded[-2:] == (2024, 2026)
    world.tx(holder, "retire", ARTICLE6.token_id, 1, ZERO, "Party", "", "", _data(Purpose.ndc))
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
    unknown = encode([RETIREMENT_DETAILS_TYPE], [(9, "", "", "", 0, 0, "", "", 0, 0)])
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
    data = _data(Purpose.corsia, beneficiary_name="Airline")
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
