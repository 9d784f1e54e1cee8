"""The interactive API docs, served by the app itself from the pinned ``fastapi-offline``
package's copies of Swagger UI 5 (``/docs``) and ReDoc 2 (``/redoc``): no CDN, so the pages work
offline and no third-party script runs where an operator pastes an API key. ReDoc loads no web
fonts, and the one thing its bundle fetches from elsewhere (Redocly's logo, from cdn.redoc.ly) is
replaced by an empty image when the bundle is served, so neither page makes a request outside
this origin. (Swagger UI must be version 5: FastAPI's document is OpenAPI 3.1, which Swagger UI 4
refuses to render.)"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

ASSETS = "/docs/assets"
REDOC_ASSETS = "/redoc/assets"
#: Where fastapi-offline keeps the bundles.
STATIC = Path(importlib.util.find_spec("fastapi_offline").origin).parent / "static"
#: The files served under ``ASSETS`` and their types.
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
CACHE = {"Cache-Control": "public, max-age=86400"}


@lru_cache(maxsize=None)
def asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@lru_cache(maxsize=1)
def redoc_bundle() -> bytes:
    """ReDoc's bundle with the logo it would fetch from Redocly's CDN replaced by an empty image."""
    bundle = asset("redoc.standalone.js")
    if REDOC_LOGO not in bundle:
        raise RuntimeError(f"the ReDoc bundle in {STATIC} no longer references {REDOC_LOGO.decode()}: "
                           "check what it fetches before serving it")
    return bundle.replace(REDOC_LOGO, EMPTY_IMAGE)

# The integrator's flow, as the README's curl walkthrough runs it (tests/bridge/public/test_walkthrough.py
# checks that every route the walkthrough calls is named here, in the same order).
WALKTHROUGH = """
**From an empty registry to a retirement certificate** (the README's curl walkthrough, run as a test):

1. Administrator key (`icr-bridge admin create-key`): `POST /organizations`, then
   `POST /organizations/{organization_id}/accounts` (a holding account), `POST /projects`,
   `POST /issuances` (ex-post ICCs into the account for a monitoring period and its verification; the
   answer names the `serialization`).
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
    """Serve ``/docs``, ``/redoc`` and their assets (the app is created with ``docs_url=None`` and
    ``redoc_url=None``)."""

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - docs",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon.png")

    @app.get(ASSETS + "/{name}", include_in_schema=False)
    def swagger_asset(name: str) -> Response:
        if name not in SWAGGER_FILES:
            return Response(status_code=404)
        return Response(asset(name), media_type=SWAGGER_FILES[name], headers=CACHE)

    @app.get("/redoc", include_in_schema=False, response_class=HTMLResponse)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - reference",
                              redoc_js_url=f"{REDOC_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False)

    @app.get(f"{REDOC_ASSETS}/redoc.standalone.js", include_in_schema=False)
    def redoc_script() -> Response:
        return Response(redoc_bundle(), media_type="text/javascript", headers=CACHE)
