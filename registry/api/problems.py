"""RFC 9457 problem responses (``application/problem+json``): the :class:`Problem` model, the
OpenAPI entries routes declare for their errors, and the exception handlers that answer every
error as a problem (registry rule refusals, invalid input, HTTP errors, out-of-range numbers and
unexpected failures)."""

from __future__ import annotations

import logging
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry.errors import RegistryError

log = logging.getLogger("icr_bridge.api")

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    field: Optional[str] = None
    rule: Optional[str] = None


def problem_responses(descriptions: dict[int, str], *codes: int) -> dict:
    """OpenAPI entries for the problem+json errors a route can answer: ``codes`` (all of
    ``descriptions`` when none are given), each described by its entry in ``descriptions``."""
    return {code: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": descriptions[code]}
            for code in codes or descriptions}


PROBLEM_RESPONSES = problem_responses({
    404: "Not found",
    422: "Invalid input or a registry rule refused the operation",
})
AUTH_RESPONSES = problem_responses({
    401: "No API key, or an unknown or revoked one",
    403: "The key may not act on this account or operation",
    409: "Conflicts with the registry's state (overlapping serials, duplicates, concurrent change)",
})


# --------------------------------------------------------------------------------------------
# Exception handlers
# --------------------------------------------------------------------------------------------


def problem_response(status: int, title: str, detail: str, *, type: str = "about:blank",
                     headers: dict[str, str] | None = None, **members) -> JSONResponse:
    """A problem+json answer (also usable as an ASGI app, as the request limits answer before routing)."""
    body = {"type": type, "title": title, "status": status, "detail": detail, **members}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)



def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def _registry_error(_request: Request, exc: RegistryError):
        return JSONResponse(exc.problem(), status_code=exc.status, media_type=PROBLEM_JSON,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        body = {
            "type": "urn:icr-bridge:problem:invalid-input",
            "title": "invalid input",
            "status": 422,
            "detail": f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg", "invalid input")),
            "field": field or None,
            "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()],
        }
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        return problem_response(exc.status_code, str(exc.detail), str(exc.detail))


def install_internal_error_handler(app: FastAPI) -> None:
    """Unexpected failures are problem+json too (and logged); the detail says nothing internal."""

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return problem_response(500, "internal error", "the server failed to answer this request; nothing was changed",
                                type="urn:icr-bridge:problem:internal-error")


def install_out_of_range_handler(app: FastAPI) -> None:
    """A number too large for the database (ids, offsets: SQLite and PostgreSQL store 64-bit
    integers) is bad input, not a server failure: 422 problem+json, nothing read or changed.
    Found by tests/reliability/test_fuzz_api.py."""
    from sqlalchemy.exc import DataError

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception):
        return problem_response(422, "invalid input",
                                "a value in the request does not fit the database (numbers are at most "
                                "9223372036854775807)", type="urn:icr-bridge:problem:invalid-input",
                                rule="integer-range")


# --------------------------------------------------------------------------------------------
# The OpenAPI document
# --------------------------------------------------------------------------------------------


def document_errors_as_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the server does: every error response is
    ``application/problem+json`` (FastAPI would also list the route's own media type and its
    HTTPValidationError shape), and routes without parameters or body cannot answer 422."""
    default_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default_openapi()
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                if not operation.get("parameters") and "requestBody" not in operation:
                    responses.pop("422", None)
                for code, response in responses.items():
                    if not code.startswith(("4", "5")):
                        continue
                    content = response.get("content", {})
                    chosen = content.get(PROBLEM_JSON, {}).get("schema") or next(
                        (c["schema"] for c in content.values() if "schema" in c), problem_ref)
                    if chosen.get("$ref", "").endswith("/HTTPValidationError"):
                        chosen = problem_ref
                    response["content"] = {PROBLEM_JSON: {"schema": chosen}}
        if "Problem" not in schema.setdefault("components", {}).setdefault("schemas", {}):
            schema["components"]["schemas"]["Problem"] = Problem.model_json_schema()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
