"""HTTP routes of the bridge: deployments, batch dumps and claim proofs; :func:`create_app` assembles
the whole API (registry reads, token metadata and pages from :mod:`bridge.public.pages`, webhooks from
:mod:`bridge.webhooks.routes`)."""

from __future__ import annotations

import json
from typing import Iterable, Optional

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlmodel import select

from bridge.chain.client import Chain
from bridge.chain.erc1271 import contract_signature_check
from bridge.chain.token import LEAF_ENCODING
from bridge.engine.batcher import load_tree
from bridge.public.tokenizations import batch_or_404
from bridge.settings import BridgeSettings
from bridge.tables import Deployment, MintLeaf
from registry.api.deps import SessionDep
from registry.api.limits import RequestLimitsMiddleware
from registry.api.main import api_router
from registry.api.pagination import ENVELOPE_NOTE, Paged, PageDep
from registry.api.problems import (
    PROBLEM_RESPONSES,
    document_errors_as_problems,
    install_internal_error_handler,
    install_out_of_range_handler,
    install_problem_handlers,
)
from registry.errors import NotFound

router = APIRouter()


class DeploymentPublic(BaseModel):
    chain_id: int
    address: str
    deployed_block: int
    custody_account_id: int
    lookup_address: Optional[str] = Field(
        description="ICRCarbonContractRegistry answering getProjectIdFromAddress(address) as ICR's registry does "
                    "(null for deployments made before it existed)")


class LeafProof(BaseModel):
    batch_id: int
    leaf_index: int
    leaf: list[str]
    leaf_encoding: list[str]
    serial_block: str
    minted: bool
    proof: list[str]
    root: str


@router.get("/deployments", tags=["bridge"], responses=PROBLEM_RESPONSES)
def list_deployments(session: SessionDep, page: PageDep) -> Paged[DeploymentPublic]:
    """The token contracts this registry mirrors into, one per chain."""
    total, rows = page.rows(session, Deployment, [], [Deployment.chain_id])
    return page.answer(total, [DeploymentPublic.model_validate(d, from_attributes=True) for d in rows])


@router.get("/batches/{batch_id}/tree", tags=["bridge"], responses=PROBLEM_RESPONSES)
def batch_tree(batch_id: int, session: SessionDep) -> dict:
    """The batch as an OpenZeppelin StandardMerkleTree dump (``standard-v1``)."""
    return json.loads(batch_or_404(session, batch_id).tree_dump)


@router.get("/batches/{batch_id}/leaves/{leaf_index}/proof", tags=["bridge"], responses=PROBLEM_RESPONSES)
def leaf_proof(batch_id: int, leaf_index: int, session: SessionDep) -> LeafProof:
    """Leaf and proof for ``ICCToken.claim`` (holders can pull their own tokens)."""
    batch = batch_or_404(session, batch_id)
    leaf: Optional[MintLeaf] = session.exec(
        select(MintLeaf).where(MintLeaf.batch_id == batch_id, MintLeaf.leaf_index == leaf_index)
    ).first()
    if leaf is None:
        raise NotFound(f"batch {batch_id} has no leaf {leaf_index}", field="leaf_index")
    tree = load_tree(batch)
    value = [str(v) for v in (leaf.batch_id, leaf.leaf_index, int(leaf.token_id), leaf.recipient, leaf.amount,
                              leaf.unit_first, leaf.unit_last)]
    return LeafProof(
        batch_id=batch_id,
        leaf_index=leaf_index,
        leaf=value,
        leaf_encoding=LEAF_ENCODING,
        serial_block=leaf.serial_block,
        minted=leaf.minted,
        proof=tree.get_proof(leaf_index),
        root=batch.root,
    )


def create_app(engine, *, chains: Iterable[Chain] = (), public_base_url: str | None = None,
               relayer=None, finality: tuple[int, bool] | None = None,
               explorer_tx_url: str | None = None) -> FastAPI:
    """The HTTP app over a registry database. ``chains`` (optional) let token metadata and the
    explorer read the on-chain supply live; ``public_base_url`` is the origin used in absolute
    links (token metadata images, certificate links) when the app sits behind a proxy;
    ``relayer`` (a LocalAccount holding gas on those chains) enables the gasless retirement relay;
    ``finality`` is ``(confirmations, use_finalized_tag)`` as the sync applies events (default: the
    settings' defaults), for the receipts of retirements not yet final.
    ``explorer_tx_url`` (``https://polygonscan.com/tx/{tx}``) links certificates to a block explorer."""
    from bridge.public import pages, receipts, relay, tokenizations
    from bridge.public.docs import OPENAPI_TAGS, WALKTHROUGH, install_docs
    from bridge.public.headers import PublicReadHeadersMiddleware, SecurityHeadersMiddleware
    from bridge.webhooks import events
    from bridge.webhooks import routes as webhooks_api
    from bridge.webhooks.payloads import document_webhooks

    events.register_listeners()

    app = FastAPI(
        title="ICR Bridge API",
        version="0.1.0",
        description=(
            "International Carbon Registry bridge: registry ledger, ERC-1155 token metadata, Merkle proofs, "
            "retirement certificates, the explorer page and marketplace webhooks. Errors are RFC 9457 "
            "problem+json naming the field or rule. Token ids are accepted as decimal or 0x-hex (and the "
            "64-hex-digit form of `uri(id)`) and served as both (`token_id`, `token_id_hex`).\n\n" + ENVELOPE_NOTE
            + "\n" + WALKTHROUGH
        ),
        openapi_tags=OPENAPI_TAGS,
        docs_url=None,  # both served by bridge.public.docs from pinned packages, not a CDN
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.chains = {chain.chain_id: chain for chain in chains}
    # wallet links of contract wallets (ERC-1271), checked on the chains this server reads
    app.state.contract_signature = contract_signature_check(app.state.chains.values()) if app.state.chains else None
    app.state.public_base_url = public_base_url
    app.state.explorer_tx_url = explorer_tx_url
    app.state.relay = relay.Relay(relayer) if relayer is not None else None
    defaults = BridgeSettings.model_fields
    app.state.finality = finality or (defaults["confirmations"].default, defaults["use_finalized_tag"].default)
    install_problem_handlers(app)
    app.add_middleware(RequestLimitsMiddleware)  # body size and JSON depth, before anything parses
    app.add_middleware(SecurityHeadersMiddleware)  # nosniff, no referrer, CSP on HTML and SVG
    app.add_middleware(PublicReadHeadersMiddleware)  # CORS and caching of token metadata and certificates
    install_internal_error_handler(app)
    install_out_of_range_handler(app)
    app.include_router(api_router)
    app.include_router(router)
    app.include_router(pages.router)
    app.include_router(receipts.router)
    app.include_router(tokenizations.router)
    app.include_router(tokenizations.auth_router)
    app.include_router(webhooks_api.router)
    app.include_router(relay.router)
    document_webhooks(app)
    install_docs(app)
    document_errors_as_problems(app)
    return app
