"""Wallet linking: an EIP-712 message the wallet signs to prove control (pure, no I/O)."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import is_address, to_checksum_address

#: How long a signed link message stays acceptable (seconds either side of now).
LINK_MESSAGE_VALIDITY = 24 * 3600


class WalletLinkError(ValueError):
    def __init__(self, field: str, reason: str):
        self.field = field
        super().__init__(f"{field}: {reason}")


def wallet_link_typed_data(account_id: int, wallet: str, signed_at: int) -> dict[str, Any]:
    """EIP-712 typed data of ``LinkWallet(uint256 accountId,address wallet,uint256 signedAt)``."""
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
            "LinkWallet": [
                {"name": "accountId", "type": "uint256"},
                {"name": "wallet", "type": "address"},
                {"name": "signedAt", "type": "uint256"},
            ],
        },
        "primaryType": "LinkWallet",
        "domain": {"name": "International Carbon Registry", "version": "1"},
        "message": {"accountId": account_id, "wallet": wallet, "signedAt": signed_at},
    }


def sign_wallet_link(private_key: bytes | str, account_id: int, signed_at: int) -> tuple[str, str]:
    """Sign a link message with a wallet key; returns (checksummed address, 0x signature)."""
    wallet = Account.from_key(private_key)
    message = encode_typed_data(full_message=wallet_link_typed_data(account_id, wallet.address, signed_at))
    return wallet.address, "0x" + wallet.sign_message(message).signature.hex().removeprefix("0x")


def verify_wallet_link(account_id: int, wallet: str, signed_at: int, signature: str, now: int) -> str:
    """Return the checksummed wallet if ``signature`` is its signature of the link message."""
    if not is_address(wallet):
        raise WalletLinkError("wallet", f"{wallet!r} is not an Ethereum address")
    wallet = to_checksum_address(wallet)
    if abs(now - signed_at) > LINK_MESSAGE_VALIDITY:
        raise WalletLinkError("signed_at", "the link message is older than 24 hours or in the future")
    message = encode_typed_data(full_message=wallet_link_typed_data(account_id, wallet, signed_at))
    try:
        signer = Account.recover_message(message, signature=signature)
    except Exception as exc:  # malformed signature bytes
        raise WalletLinkError("signature", f"not a valid signature ({exc})") from exc
    if signer != wallet:
        raise WalletLinkError("signature", f"signed by {signer}, not by {wallet}")
    return wallet
