"""The public paths of what the world reads about a retirement and a token: one home for the
certificate and metadata links of certificates, token metadata and webhook payloads."""

from __future__ import annotations

from typing import Optional

from registry.domain.classes import token_id_hex


def metadata_path(token_id: int | str) -> str:
    return f"/metadata/{token_id_hex(token_id)}.json"


def certificate_links(base: str, retirement_id: int, class_token_id: int | str,
                      certificate_token_id: Optional[int | str] = None) -> dict[str, str]:
    """``html``, ``json`` and ``class_metadata`` links of a retirement's certificate, and
    ``certificate_metadata`` when the retirement minted a certificate token; ``base`` is an
    origin (``https://bridge.example.org``) or ``""`` for paths."""
    base = base.rstrip("/")
    links = {"html": f"{base}/certificates/{retirement_id}", "json": f"{base}/certificates/{retirement_id}.json",
             "class_metadata": base + metadata_path(class_token_id)}
    if certificate_token_id is not None:
        links["certificate_metadata"] = base + metadata_path(certificate_token_id)
    return links


#: Names of the chains a certificate may name; any other shows as ``chain <id>``.
CHAIN_NAMES = {
    1: "Ethereum",
    10: "OP Mainnet",
    137: "Polygon PoS",
    8453: "Base",
    42161: "Arbitrum One",
    80002: "Polygon Amoy (testnet)",
    11155111: "Sepolia (testnet)",
    31337: "Local development chain (anvil)",
    131277322940537: "In-process test chain (eth-tester)",
}


def chain_name(chain_id: int) -> str:
    return CHAIN_NAMES.get(chain_id, f"chain {chain_id}")


#: The placeholder of ``ICR_EXPLORER_TX_URL`` (e.g. ``https://polygonscan.com/tx/{tx}``).
TX_PLACEHOLDER = "{tx}"


def explorer_tx_link(template: Optional[str], tx_hash: Optional[str]) -> Optional[str]:
    """A transaction's page on a block explorer, from the configured template (None without one)."""
    if not template or not tx_hash:
        return None
    return template.replace(TX_PLACEHOLDER, tx_hash)
