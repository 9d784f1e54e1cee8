"""A retirement receipt by transaction hash (issue 18): ``GET /retirements/by-transaction/{hash}``.

The registry records an on-chain retirement only once its block is final (the sync's rule), so a
holder who just retired would have no receipt for minutes. This route answers at once: the
registry's records when the sync has applied the transaction; before that, what the chain's
receipt says (the ``Retired`` events of the token, the certificate token ids) and how far the
block is from final: "seen on-chain, N of M confirmations", where N counts the blocks mined on
top of it and M is the depth the sync waits for (the ``finalized`` tag's distance from the head,
or ``ICR_CONFIRMATIONS``). Reading the chain needs ``serve --rpc-url``; without it the answer
says so."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlmodel import select
from web3.exceptions import TransactionNotFound

from bridge.chain.client import Chain
from bridge.chain.logs import events_in_receipt
from registry.api.deps import SessionDep
from registry.api.problems import PROBLEM_RESPONSES
from registry.api.routes.retirements import TX_HASH, retirement_public
from registry.api.schemas.registry import RetirementPublic
from registry.api.token_ids import WithTokenIdHex
from registry.domain.classes import CERTIFICATE_FLAG, token_id_hex
from registry.errors import NotFound
from registry.tables.core import Retirement

router = APIRouter(tags=["registry"], responses=PROBLEM_RESPONSES)


class RetiredOnChain(WithTokenIdHex):
    """One ``Retired`` event of the transaction, as the chain's receipt has it."""

    log_index: int
    onchain_retirement_id: int
    holder: str
    beneficiary: str
    amount: int
    certificate_token_id: str
    certificate_token_id_hex: str


class RetirementReceipt(BaseModel):
    tx_hash: str
    state: Literal["recorded", "awaiting_finality", "final_awaiting_sync"] = Field(description=(
        "recorded: the registry holds the retirement; awaiting_finality: seen on-chain, not yet final; "
        "final_awaiting_sync: final on-chain, the next sync records it"))
    message: str
    chain_id: int
    block_number: int
    confirmations: Optional[int] = Field(default=None, description="blocks mined on top of the transaction's block")
    confirmations_required: Optional[int] = Field(default=None, description="the depth at which the sync applies it")
    final: bool
    events: list[RetiredOnChain] = Field(description="the Retired events of the receipt (before the registry record)")
    retirements: list[RetirementPublic] = Field(description="the registry's records, once recorded")


def _seen(chain: Chain, receipt, tx_hash: str, confirmations: int, use_finalized_tag: bool) -> RetirementReceipt:
    head = chain.w3.eth.block_number
    safe = chain.safe_head(confirmations, use_finalized_tag)
    block = int(receipt["blockNumber"])
    depth, required = head - block, head - safe
    events = [RetiredOnChain(
        log_index=int(e["logIndex"]), onchain_retirement_id=int(e["args"]["retirementId"]),
        token_id=str(e["args"]["tokenId"]), holder=e["args"]["holder"], beneficiary=e["args"]["beneficiary"],
        amount=int(e["args"]["amount"]), certificate_token_id=str(CERTIFICATE_FLAG | int(e["args"]["retirementId"])),
        certificate_token_id_hex=token_id_hex(CERTIFICATE_FLAG | int(e["args"]["retirementId"])),
    ) for e in events_in_receipt(chain, receipt, "Retired")]
    if not events:
        raise NotFound(f"transaction {tx_hash} on chain {chain.chain_id} retired nothing: it has no Retired event of "
                       f"the token at {chain.address}" + (" (it reverted)" if receipt["status"] == 0 else ""),
                       field="tx_hash", rule="not-a-retirement")
    final = block <= safe
    message = (f"final on-chain ({depth} confirmations); the registry records it at the next sync" if final else
               f"seen on-chain, {depth} of {required} confirmations; the registry records it once final")
    return RetirementReceipt(tx_hash=tx_hash, state="final_awaiting_sync" if final else "awaiting_finality",
                             message=message, chain_id=chain.chain_id, block_number=block, confirmations=depth,
                             confirmations_required=required, final=final, events=events, retirements=[])


@router.get("/retirements/by-transaction/{tx_hash}")
def retirement_by_transaction(
    request: Request,
    session: SessionDep,
    tx_hash: str = Path(pattern=TX_HASH, description="the transaction that called retire (0x + 64 hex digits)"),
) -> RetirementReceipt:
    """A holder's receipt at once: the registry's retirement records for the transaction once
    the sync applied it, before that what the chain's receipt shows ("seen on-chain, N of M
    confirmations") when this server reads a chain (``serve --rpc-url``)."""
    records = session.exec(select(Retirement).where(Retirement.tx_hash == tx_hash.lower())
                           .order_by(Retirement.log_index)).all()
    if records:
        first = records[0]
        return RetirementReceipt(
            tx_hash=first.tx_hash, state="recorded", final=True, chain_id=first.chain_id,
            block_number=first.block_number, message="recorded in the registry",
            events=[], retirements=[retirement_public(session, r) for r in records])
    chains: dict[int, Chain] = getattr(request.app.state, "chains", {}) or {}
    if not chains:
        raise NotFound(f"the registry has no retirement from transaction {tx_hash}; this server reads no chain "
                       "(started without --rpc-url), so it cannot show retirements that are not yet final",
                       field="tx_hash", rule="not-recorded")
    confirmations, use_finalized_tag = request.app.state.finality
    for chain in chains.values():
        try:
            receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            continue
        return _seen(chain, receipt, tx_hash, confirmations, use_finalized_tag)
    raise NotFound(f"the registry has no retirement from transaction {tx_hash}, and no chain this server reads "
                   f"(chain {', '.join(str(c) for c in chains)}) has mined it", field="tx_hash", rule="not-recorded")
