"""ERC-1271 ``isValidSignature`` of contract wallets, read from the chains a server reads: the
``contract_signature`` check :func:`registry.domain.wallets.verify_wallet_link` falls back to
when a wallet link's signature is not the wallet key's ECDSA signature (SignatureChecker-style)."""

from __future__ import annotations

import logging
from typing import Iterable

from eth_abi import encode
from eth_utils import to_checksum_address

from bridge.chain.client import Chain

log = logging.getLogger("icr_bridge.erc1271")

#: ``bytes4(keccak256("isValidSignature(bytes32,bytes)"))``, the selector and the magic value.
ERC1271_MAGIC = bytes.fromhex("1626ba7e")


def is_valid_signature(chain: Chain, wallet: str, digest: bytes, signature: bytes) -> bool:
    """Whether ``wallet``'s code (a contract, or an EIP-7702 delegation) accepts ``signature``
    for ``digest``: it answers the magic value. No code, a revert or any other answer is no."""
    wallet = to_checksum_address(wallet)
    if not chain.w3.eth.get_code(wallet):
        return False
    data = ERC1271_MAGIC + encode(["bytes32", "bytes"], [digest, signature])
    try:
        answer = bytes(chain.w3.eth.call({"to": wallet, "data": "0x" + data.hex()}))
    except Exception as exc:  # a revert, or a node error: the signature is not shown valid
        log.info("isValidSignature of %s on chain %s failed: %s", wallet, chain.chain_id, exc)
        return False
    return answer[:4] == ERC1271_MAGIC and len(answer) == 32


def contract_signature_check(chains: Iterable[Chain]):
    """The check for :func:`registry.domain.wallets.verify_wallet_link`: valid when the wallet's
    code accepts the signature on any of ``chains``."""
    chains = list(chains)

    def check(wallet: str, digest: bytes, signature: bytes) -> bool:
        return any(is_valid_signature(chain, wallet, digest, signature) for chain in chains)

    return check
