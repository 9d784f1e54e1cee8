"""Limits a request meets before anything parses it: body size and JSON nesting depth.

Bodies are read before authentication (FastAPI parses them to validate the request), so an
anonymous client could otherwise send an unbounded body, or brackets nested deep enough to
overflow the C stack of the JSON parser (py_ecc raises the interpreter's recursion limit to
100,000 when it is imported). This ASGI middleware reads the body chunk by chunk, answers 413
as soon as it passes ``max_body_bytes`` (what was received is dropped, the rest never read),
scans a JSON body's nesting without parsing it, answers 400 past ``max_json_depth``, and
otherwise hands the body it read to the application unchanged. Answers are problem+json.

Written by hand: Starlette's body limit (FastAPI ``max_body_size``) sits inside the
application's middleware stack, after a middleware here would already have read the body,
and no library bounds JSON nesting before ``json.loads``.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.api.problems import PROBLEM_JSON

#: Largest request body accepted (bytes): far above any registry request, far below a memory problem.
MAX_BODY_BYTES = 1_000_000
#: Deepest JSON nesting accepted: the deepest request model nests four levels.
MAX_JSON_DEPTH = 32

_JSON_TOKENS = re.compile(rb'\\.|["\[\]{}]')
#: A JSON escape of a C0 control character other than tab, line feed and carriage return: NUL
#: cannot be stored by PostgreSQL and none of them by XML (certificates and badges).
_CONTROL_ESCAPE = re.compile(rb"\\u00(?:0[0-8bcefBCEF]|1[0-9a-fA-F])")


def json_depth(body: bytes) -> int:
    """How deeply ``body``'s arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = False
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if token[0] == 0x5C:  # a backslash escape: only meaningful inside a string
            continue
        if token == b'"':
            in_string = not in_string
        elif in_string:
            continue
        elif token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES, max_json_depth: int = MAX_JSON_DEPTH):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _problem(send, 413, "request body too large",
                           f"the request body is {int(declared):,} bytes; at most {self.max_body_bytes:,} are accepted")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _problem(send, 413, "request body too large",
                               f"the request body is over {self.max_body_bytes:,} bytes, the most accepted")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b""):
            if json_depth(body) > self.max_json_depth:
                await _problem(send, 400, "JSON nested too deeply",
                               f"the request body nests arrays and objects deeper than {self.max_json_depth} levels")
                return
            control = _CONTROL_ESCAPE.search(body)
            if control is not None:
                await _problem(send, 422, "control character in text",
                               f"a text in the request holds the control character {control.group().decode()}: "
                               "text may hold tab, line feed and carriage return, no other control character")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    payload = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})
