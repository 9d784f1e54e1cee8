"""Wallet link signatures (registry/domain/wallets.py): ECDSA first, then ERC-1271 through the
check the caller supplies (SignatureChecker-style)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from registry.domain.wallets import (
    MAX_LINK_SIGNATURE_BYTES,
    WalletLinkError,
    sign_wallet_link,
    verify_wallet_link,
    wallet_link_digest,
    wallet_link_typed_data,
)

KEY = Account.from_key(b"\x11" * 32)
OWNER = Account.from_key(b"\x22" * 32)
CONTRACT = "0x" + "ab" * 20
NOW = 1_800_000_000


def test_the_digest_is_what_a_key_signs_for_the_typed_data():
    signed = KEY.sign_message(encode_typed_data(full_message=wallet_link_typed_data(7, KEY.address, NOW)))
    assert Account._recover_hash(wallet_link_digest(7, KEY.address, NOW), signature=signed.signature) == KEY.address
    assert wallet_link_digest(7, KEY.address, NOW) != wallet_link_digest(8, KEY.address, NOW)


def test_an_ecdsa_signature_links_without_asking_the_contract():
    asked = []
    _, signature = sign_wallet_link(KEY.key, 7, NOW)
    assert verify_wallet_link(7, KEY.address.lower(), NOW, signature, NOW,
                              lambda *a: asked.append(a) or False) == KEY.address
    assert asked == []


def test_a_contract_wallet_links_when_its_erc1271_check_accepts():
    contract = to_checksum_address(CONTRACT)  # the owner signs the message naming the contract as the wallet
    owner_signature = OWNER.sign_message(encode_typed_data(full_message=wallet_link_typed_data(7, contract, NOW)))
    signature = owner_signature.signature.hex()
    seen = []

    def check(wallet, digest, raw):
        seen.append((wallet, digest, raw))
        return True

    assert verify_wallet_link(7, CONTRACT, NOW, signature, NOW, check) == contract
    assert seen == [(contract, wallet_link_digest(7, contract, NOW), bytes(owner_signature.signature))]
    # a multi-owner signature longer than 65 bytes is no ECDSA signature: only the contract can say
    long = "0x" + "cd" * 130
    assert verify_wallet_link(7, CONTRACT, NOW, long, NOW, check) == contract
    with pytest.raises(WalletLinkError, match="does not accept it under ERC-1271") as refused:
        verify_wallet_link(7, CONTRACT, NOW, signature, NOW, lambda *a: False)
    assert refused.value.field == "signature"
    with pytest.raises(WalletLinkError, match="serve --rpc-url"):
        verify_wallet_link(7, CONTRACT, NOW, signature, NOW)


@pytest.mark.parametrize("signature", ["0x", "0xzz", "0x" + "00" * (MAX_LINK_SIGNATURE_BYTES + 1)])
def test_a_signature_that_is_no_bytes_or_too_long_is_refused_before_any_check(signature):
    with pytest.raises(WalletLinkError) as refused:
        verify_wallet_link(7, CONTRACT, NOW, signature, NOW, lambda *a: pytest.fail("asked the contract"))
    assert refused.value.field == "signature"
