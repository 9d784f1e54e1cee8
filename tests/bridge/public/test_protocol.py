"""The HTTP server's own refusals (requests uvicorn cannot parse, before the application sees
them) are problem+json like every other error, and the server keeps answering."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from bridge.app import create_app
from tests.support.browser import live_server

MALFORMED = {
    "header without a colon": b"GET /health HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n",
    "not a request line": b"HELLO THERE\r\n\r\n",
    "Content-Length not a number": b"POST /organizations HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
    "CR inside a header value": b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n",
}


def _raw(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from bridge.schema import create_schema
    from registry.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('protocol') / 'registry.sqlite'}")
    create_schema(engine)
    with live_server(create_app(engine)) as base:
        yield base
    engine.dispose()


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_request_the_server_cannot_parse_is_answered_400_in_problem_json(server, request_bytes):
    status, headers, body = _raw(server, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["title"] == "malformed HTTP request"
    assert problem["detail"].startswith("the server could not parse the request")
    assert httpx.get(f"{server}/health", timeout=5).status_code == 200  # and it keeps serving
