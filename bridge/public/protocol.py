"""The HTTP server's own answers in problem+json.

uvicorn answers a request it cannot parse (a malformed request line or header, an invalid
``Content-Length``, a header block over its limit) with a plain-text 400 before the
application sees anything. :class:`ProblemH11Protocol` is uvicorn's h11 protocol with that
answer as an RFC 9457 problem, like every other error of the API. Written as a subclass:
uvicorn has no setting for the body of its own 400."""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from registry.api.problems import PROBLEM_JSON


def malformed_request_problem(message: str) -> bytes:
    return json.dumps({"type": "urn:icr-bridge:problem:malformed-http-request", "title": "malformed HTTP request",
                       "status": 400, "detail": f"the server could not parse the request: {message}"}).encode()


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = malformed_request_problem(msg)
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def server_config(app, host: str, port: int, log_level: str = "info", **options):
    """The uvicorn configuration ``serve`` runs (and tests serve with): the h11 protocol whose own
    400s are problems."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=ProblemH11Protocol, **options)
