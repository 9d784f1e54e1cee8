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
