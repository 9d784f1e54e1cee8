"""Wallet linking: an EIP-712 message the wallet signs to prove control (pure, no I/O).

A signature is checked as OpenZeppelin's ``SignatureChecker`` does: ECDSA first (an externally
owned account, an EIP-7702 delegated one included, signs with its own key), then ERC-1271 for a
contract wallet, through a ``contract_signature(wallet, digest, signature) -> bool`` the caller
supplies (it reads the chain; without one only ECDSA signatures link)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import is_address, keccak, to_checksum_address

#: How long a signed link message stays acceptable (seconds either side of now).
LINK_MESSAGE_VALIDITY = 24 * 3600
#: Longest signature accepted (a contract wallet's ERC-1271 signature may hold several ECDSA ones).
MAX_LINK_SIGNATURE_BYTES = 2048

#: ``(wallet, EIP-712 digest, signature) -> bool``: ERC-1271 ``isValidSignature`` of a contract wallet.
ContractSignatureCheck = Callable[[str, bytes, bytes], bool]


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


def _link_message(account_id: int, wallet: str, signed_at: int):
    return encode_typed_data(full_message=wallet_link_typed_data(account_id, wallet, signed_at))


def wallet_link_digest(account_id: int, wallet: str, signed_at: int) -> bytes:
    """The 32-byte EIP-712 hash of the link message (what ECDSA signs and ERC-1271 is asked about)."""
    message = _link_message(account_id, wallet, signed_at)
    return keccak(b"\x19" + message.version + message.header + message.body)


def sign_wallet_link(private_key: bytes | str, account_id: int, signed_at: int) -> tuple[str, str]:
    """Sign a link message with a wallet key; returns (checksummed address, 0x signature)."""
    wallet = Account.from_key(private_key)
    message = _link_message(account_id, wallet.address, signed_at)
    return wallet.address, "0x" + wallet.sign_message(message).signature.hex().removeprefix("0x")


def _signature_bytes(signature: str) -> bytes:
    text = signature[2:] if signature[:2] in ("0x", "0X") else signature
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise WalletLinkError("signature", "not hexadecimal") from None
    if not raw or len(raw) > MAX_LINK_SIGNATURE_BYTES:
        raise WalletLinkError("signature", f"must be 1 to {MAX_LINK_SIGNATURE_BYTES} bytes")
    return raw


def verify_wallet_link(account_id: int, wallet: str, signed_at: int, signature: str, now: int,
                       contract_signature: Optional[ContractSignatureCheck] = None) -> str:
    """Return the checksummed wallet if ``signature`` is its signature of the link message: an
    ECDSA signature by the wallet's key, else (with ``contract_signature``) one its contract
    accepts under ERC-1271."""
    if not is_address(wallet):
        raise WalletLinkError("wallet", f"{wallet!r} is not an Ethereum address")
    wallet = to_checksum_address(wallet)
    if abs(now - signed_at) > LINK_MESSAGE_VALIDITY:
        raise WalletLinkError("signed_at", "the link message is older than 24 hours or in the future")
    raw = _signature_bytes(signature)
    digest = wallet_link_digest(account_id, wallet, signed_at)
    signer, problem = None, None
    try:
        signer = Account.recover_message(_link_message(account_id, wallet, signed_at), signature=raw)
    except Exception as exc:  # not a 65-byte ECDSA signature (a contract wallet's may be anything)
        problem = f"not an ECDSA signature ({exc})"
    if signer == wallet:
        return wallet
    if contract_signature is not None and contract_signature(wallet, digest, raw):
        return wallet
    said = problem or f"signed by {signer}, not by {wallet}"
    if contract_signature is None:
        raise WalletLinkError("signature", f"{said}; a contract wallet's ERC-1271 signature is checked only by a "
                                           "server that reads the chain (serve --rpc-url)")
    raise WalletLinkError("signature", f"{said}, and {wallet} does not accept it under ERC-1271")
