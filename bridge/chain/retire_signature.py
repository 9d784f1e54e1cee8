"""Gasless retirement: the holder signs an EIP-712 ``Retire`` message, a relayer submits it to
``ICCToken.retireWithSignature(request, signature)`` and pays the gas.

Pure message building and signing (no chain access): the relay reads the holder's current
nonce (``token.functions.nonces(holder)``) and the chain id, the holder signs, and the relay
sends ``RetireRequest.as_call_args()`` with the signature. The domain is the token's EIP-712
domain (:func:`bridge.chain.token.eip712_domain`: its name and version, chain id, token
address), so a signature is valid on one chain and one contract only, and the nonce makes it
valid once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from bridge.chain.token import EIP712_DOMAIN_FIELDS, RetirementData, eip712_domain, encode_retirement_data

ZERO_ADDRESS = "0x" + "00" * 20

#: Field order and types of the contract's ``RetireRequest`` struct and EIP-712 ``Retire`` type.
RETIRE_FIELDS: list[dict[str, str]] = [
    {"name": "holder", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "amount", "type": "uint256"},
    {"name": "beneficiary", "type": "address"},
    {"name": "retireeName", "type": "string"},
    {"name": "customUri", "type": "string"},
    {"name": "comment", "type": "string"},
    {"name": "data", "type": "bytes"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

@dataclass(frozen=True)
class RetireRequest:
    """The arguments of ``retire`` plus the holder, its nonce and a deadline (unix seconds).

    ``beneficiary`` None means the holder itself (``address(0)`` on-chain); ``data`` is the raw
    ``data`` bytes of ``retire`` (see :func:`with_details` to build it from RetirementData)."""

    holder: str
    token_id: int
    amount: int
    nonce: int
    deadline: int
    beneficiary: str | None = None
    retiree_name: str = ""
    custom_uri: str = ""
    comment: str = ""
    data: bytes = b""

    def __post_init__(self) -> None:
        for name in ("token_id", "amount", "nonce", "deadline"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0 or value >= 2**256:
                raise ValueError(f"{name} must be an integer in [0, 2**256): {value!r}")
        if self.amount == 0:
            raise ValueError("amount must be at least 1 tonne")
        object.__setattr__(self, "holder", to_checksum_address(self.holder))
        if self.beneficiary is not None:
            object.__setattr__(self, "beneficiary", to_checksum_address(self.beneficiary))
        if not isinstance(self.data, (bytes, bytearray)):
            raise ValueError("data must be bytes (empty for a voluntary retirement)")

    @classmethod
    def with_details(cls, details: RetirementData | None, **fields: Any) -> RetireRequest:
        """A request whose ``data`` is ``abi.encode(RetirementData)`` (empty for None)."""
        return cls(data=encode_retirement_data(details), **fields)

    def message(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "tokenId": self.token_id,
            "amount": self.amount,
            "beneficiary": self.beneficiary or ZERO_ADDRESS,
            "retireeName": self.retiree_name,
            "customUri": self.custom_uri,
            "comment": self.comment,
            "data": bytes(self.data),
            "nonce": self.nonce,
            "deadline": self.deadline,
        }

    def as_call_args(self) -> tuple:
        """The ``request`` tuple of ``retireWithSignature(request, signature)``."""
        m = self.message()
        return tuple(m[f["name"]] for f in RETIRE_FIELDS)


def retire_typed_data(request: RetireRequest, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 typed data (as wallets' ``eth_signTypedData_v4`` takes it)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "Retire": RETIRE_FIELDS},
        "primaryType": "Retire",
        "domain": eip712_domain(chain_id, contract),
        "message": request.message(),
    }


def sign_retirement(holder: LocalAccount, request: RetireRequest, chain_id: int, contract: str) -> bytes:
    """The holder's 65-byte signature of ``request`` for ``retireWithSignature``."""
    if to_checksum_address(holder.address) != request.holder:
        raise ValueError(f"request is for holder {request.holder}, signing key is {holder.address}")
    signable = encode_typed_data(full_message=retire_typed_data(request, chain_id, contract))
    return bytes(holder.sign_message(signable).signature)


def recover_retirement_signer(request: RetireRequest, signature: bytes, chain_id: int, contract: str) -> str:
    """The address that signed ``request`` (a relay checks it equals ``request.holder`` before
    paying gas; contract wallets sign with ERC-1271 instead and recover to nobody useful)."""
    signable = encode_typed_data(full_message=retire_typed_data(request, chain_id, contract))
    return Account.recover_message(signable, signature=signature)
