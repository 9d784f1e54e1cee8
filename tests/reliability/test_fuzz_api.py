"""Fuzz the HTTP API from its own OpenAPI document (schemathesis): every operation gets inputs
that fit the schema and inputs that do not. No input may cause a server error; every refused
input gets a 4xx answer in problem+json (RFC 9457) naming its status, and changes nothing in
the registry. The registry behind the API holds the demo's history (issuance, tokenization,
mint, transfer, retirement), so reads find real rows.

``ICR_FUZZ_API_EXAMPLES`` sets the cases per operation and mode (default 10).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from bridge.app import create_app
from bridge.chain.client import eth_tester_web3
from bridge.demo import run_demo
from bridge.schema import create_schema
from registry.db import make_engine
from tests.reliability.counts import record
from tests.reliability.invariants import fingerprint

EXAMPLES = int(os.environ.get("ICR_FUZZ_API_EXAMPLES", "10"))
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz-api') / 'registry.sqlite'}")
    create_schema(engine)
    summary = run_demo(engine, eth_tester_web3())
    assert summary["ok"]
    # The write-rate limits are read when the app's middleware is built, here (schemathesis asks
    # for the OpenAPI document), before the function-scoped ``unthrottled_writes`` applies: lift
    # them now, or most of the cases stop at the limiter with a 429 and test nothing behind it.
    with pytest.MonkeyPatch.context() as unthrottled:
        unthrottled.setenv("ICR_WRITES_PER_MINUTE", "1000000")
        unthrottled.setenv("ICR_ANONYMOUS_WRITES_PER_MINUTE", "1000000")
        app = create_app(engine)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    yield engine, operations
    engine.dispose()


def check_response(engine, case, response, state: dict, mode: GenerationMode) -> None:
    """``state["registry"]`` is the registry's fingerprint before the request; a refused
    request, or any read, must leave it as it was."""
    where = f"{case.method} {case.formatted_path} {case.query or ''}"
    assert response.status_code < 500, f"{where}: server error {response.status_code}: {response.text[:300]}"
    after = fingerprint(engine)
    if response.status_code >= 400 or case.method.upper() in ("GET", "HEAD"):
        assert after == state["registry"], f"{where}: answered {response.status_code} but changed the registry"
    state["registry"] = after
    if response.status_code >= 400:
        content_type = _header(response, "content-type")
        if "html" not in content_type:  # the explorer's HTML pages answer errors as HTML pages
            assert content_type.startswith(PROBLEM_JSON), f"{where}: {response.status_code} as {content_type!r}"
            body = response.json()
            assert body["status"] == response.status_code and body.get("detail"), f"{where}: {body}"
        record("fuzz cases", f"API {mode.value}: refused with {response.status_code}")
    record("fuzz cases", f"API {mode.value}")


def _header(response, name: str) -> str:
    value = {k.lower(): v for k, v in response.headers.items()}.get(name, "")
    return value[0] if isinstance(value, list) and value else str(value or "")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_operation_answers_every_input_without_a_server_error(api, mode):
    engine, operations = api
    assert operations, "the OpenAPI document lists no operations"
    failures = []
    state = {"registry": fingerprint(engine)}
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=False,
                  phases=[Phase.explicit, Phase.generate],  # report the input found, skip shrinking it
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            try:
                response = case.call()
            except Exception as exc:  # the app raised through the transport: a server error
                raise AssertionError(f"{case.method} {case.formatted_path}: {type(exc).__name__}: {exc}") from exc
            check_response(engine, case, response, state, mode)

        try:
            run()
        except Unsatisfiable:  # nothing can be outside the schema of an operation without inputs
            record("fuzz cases", f"API {mode.value}: operations without such inputs")
            continue
        except AssertionError as exc:
            failures.append(f"{operation.label}: {str(exc).splitlines()[0]}")
        if mode is GenerationMode.POSITIVE:
            record("fuzz cases", "API operations")
    assert not failures, "\n".join(failures)
