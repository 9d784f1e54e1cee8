"""The interactive API docs (Swagger UI at ``/docs``), served by the app itself from the pinned
``swagger-ui-bundle`` package: no CDN, so the page works offline and no third-party script runs
where an operator pastes an API key. ReDoc has no such package and is not served."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"

# The integrator's flow, as the README's curl walkthrough runs it (tests/bridge/public/test_walkthrough.py
# checks that every route the walkthrough calls is named here, in the same order).
WALKTHROUGH = """
**From an empty registry to a retirement certificate** (the README's curl walkthrough, run as a test):

1. Administrator key (`icr-bridge admin create-key`): `POST /organizations`, then
   `POST /organizations/{organization_id}/accounts` (a holding account), `POST /projects`,
   `POST /issuances` (ex-post ICCs into the account; the answer names the `serialization`).
2. `POST /api-keys` with the `organization_id`: the organization's own key, used from here on.
3. `GET /wallet-links/typed-data?account_id=&wallet=` gives the EIP-712 `LinkWallet` message; the wallet
   signs it (ECDSA, or ERC-1271 for a contract wallet) and `POST /accounts/{account_id}/wallets` links it.
4. `POST /tokenizations` moves ICCs into bridge custody for that wallet (`custody_account_id` may be left
   out when there is one deployment); the bridge batches, commits and mints (`icr-bridge sync`);
   `GET /tokenizations/{tokenization_id}` names the batch, leaves, mint transaction and claim proofs;
   `GET /deployments` gives the token contract.
5. The holder calls `retire(tokenId, amount, beneficiary, retireeName, customUri, comment, data)` on the token.
6. `GET /retirements/by-transaction/{tx_hash}` answers at once ("seen on-chain, N of M confirmations"),
   then with the registry record once final and synced; `GET /retirements?tx_hash=` lists it.
7. `GET /certificates/{retirement_id}.json`, the printable `GET /certificates/{retirement_id}`,
   `GET /retirements/{retirement_id}` (with `certificate_token_id`) and the certificate token's
   `GET /metadata/{hex_id}.json`.
"""

OPENAPI_TAGS = [
    {"name": "registry", "description": "Organizations, accounts, projects, issuances, transfers, retirements, "
                                        "wallet links: public reads, writes with an API key (steps 1-3, 6)."},
    {"name": "bridge", "description": "Deployments, tokenizations, mint batches, Merkle trees and claim proofs "
                                      "(step 4)."},
    {"name": "certificates", "description": "Retirement certificates: JSON, printable page, SVG (step 7)."},
    {"name": "metadata", "description": "ERC-1155 metadata `uri(id)` resolves to; ids decimal or hex (step 7)."},
]


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets (the app is created with ``docs_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - docs",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")
