"""Limits a request meets before anything parses it: write rate, body size, JSON nesting depth
and control characters in text.

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

import os
import re
import time
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.api.problems import problem_response

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


#: Writes (POST, PUT, PATCH, DELETE) one API key, or one client address without a key, may send
#: per minute: ``ICR_WRITES_PER_MINUTE`` and ``ICR_ANONYMOUS_WRITES_PER_MINUTE``.
WRITES_PER_MINUTE = 600
ANONYMOUS_WRITES_PER_MINUTE = 120
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class WriteRate:
    """A sliding one-minute window of writes per client (in memory, per server process)."""

    def __init__(self, per_key: int, per_address: int, clock=time.monotonic):
        self.per_key, self.per_address, self.clock = per_key, per_address, clock
        self._seen: dict[str, deque[float]] = {}

    @classmethod
    def from_env(cls) -> WriteRate:
        return cls(int(os.environ.get("ICR_WRITES_PER_MINUTE", WRITES_PER_MINUTE)),
                   int(os.environ.get("ICR_ANONYMOUS_WRITES_PER_MINUTE", ANONYMOUS_WRITES_PER_MINUTE)))

    def admit(self, client: str, keyed: bool) -> float | None:
        """None if ``client`` may write now (and counts it), else the seconds until it may."""
        now = self.clock()
        window = self._seen.setdefault(client, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= (self.per_key if keyed else self.per_address):
            return 60 - (now - window[0])
        window.append(now)
        if len(self._seen) > 100_000:  # forget idle clients
            for idle in [c for c, w in self._seen.items() if not w or w[-1] <= now - 60]:
                del self._seen[idle]
        return None


_KEY_ID = re.compile(r"^icr_([0-9a-f]{1,32})_")


def _buckets_of(scope: Scope, headers: dict[bytes, bytes]) -> tuple[list[str], bool]:
    """The buckets a write counts against, and whether it has a key: its client address, and its
    API key's id (``icr_<id>_...``; the secret is never kept) when it has one. A keyed write's
    address counts at the keyed limit, so made-up key ids do not multiply what one address may send."""
    address = (scope.get("client") or ("?", 0))[0]
    key = _KEY_ID.match(headers.get(b"x-api-key", b"").decode("latin-1"))
    if key is None:
        return [f"address:{address}"], False
    return [f"keyed-address:{address}", f"key:{key.group(1)}"], True


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES, max_json_depth: int = MAX_JSON_DEPTH,
                 rate: WriteRate | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.rate = rate or WriteRate.from_env()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        buckets, keyed = _buckets_of(scope, headers)
        wait = max((w for w in (self.rate.admit(b, keyed) for b in buckets) if w is not None), default=None)
        if wait is not None:
            await _problem(scope, receive, send, 429, "too many writes",
                           f"{'this API key' if keyed else 'this client'} sent the most writes allowed per minute; "
                           f"try again in {int(wait) + 1} s", retry_after=int(wait) + 1)
            return
        if scope["method"] == "DELETE":
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _problem(scope, receive, send, 413, "request body too large",
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
                await _problem(scope, receive, send, 413, "request body too large",
                               f"the request body is over {self.max_body_bytes:,} bytes, the most accepted")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b""):
            if json_depth(body) > self.max_json_depth:
                await _problem(scope, receive, send, 400, "JSON nested too deeply",
                               f"the request body nests arrays and objects deeper than {self.max_json_depth} levels")
                return
            control = _CONTROL_ESCAPE.search(body)
            if control is not None:
                await _problem(scope, receive, send, 422, "control character in text",
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


async def _problem(scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str,
                   retry_after: int | None = None) -> None:
    """Answer with a problem before the application sees the request (the connection is closed:
    what is left of the body is never read)."""
    headers = {"connection": "close", **({"retry-after": str(retry_after)} if retry_after is not None else {})}
    await problem_response(status, title, detail, headers=headers)(scope, receive, send)
