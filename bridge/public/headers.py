"""Security headers on what the world reads: every answer says its type is its type
(``nosniff``) and sends no referrer; HTML pages and SVG badges get a Content-Security-Policy
that allows no script but the certificate's print button, no framing and no foreign origin,
so a retiree name that is markup (the chain accepts any string) can run nothing.

The interactive API docs (``/docs`` Swagger UI, ``/redoc`` ReDoc) are served by the app itself
(:mod:`bridge.public.docs`): their policy allows this origin's scripts, the page's own inline
start-up script and ReDoc's search worker (a ``blob:``), and nothing from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The one inline script the pages have: the certificate's print button.
PRINT_HANDLER = "window.print()"
_PRINT_HASH = base64.b64encode(hashlib.sha256(PRINT_HANDLER.encode()).digest()).decode()

HTML_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
               f"script-src 'unsafe-hashes' 'sha256-{_PRINT_HASH}'; frame-ancestors 'none'; base-uri 'none'; "
               "form-action 'self'")
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
EVERY_ANSWER = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
DOCS_PATHS = ("/docs", "/redoc")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "").startswith(DOCS_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in dict(EVERY_ANSWER)]
                headers += EVERY_ANSWER
                kind = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                if kind.startswith(b"text/html"):
                    policy = DOCS_POLICY if docs else HTML_POLICY
                    headers += [(b"content-security-policy", policy.encode()), (b"x-frame-options", b"DENY")]
                elif kind.startswith(b"image/svg+xml"):
                    headers.append((b"content-security-policy", SVG_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


#: Public reads other sites and wallets fetch: token metadata (JSON and pictures) and
#: certificates as data or pictures (not the HTML pages).
PUBLIC_READ_PREFIXES = ("/metadata/", "/certificates/")
PUBLIC_READ_SUFFIXES = (".json", ".svg")
#: Seconds a shared cache may keep them: supply and CA status change, so not long; the ETag
#: makes a revalidation cheap.
PUBLIC_MAX_AGE = 60


def _is_public_read(scope: Scope) -> bool:
    path = scope.get("path", "")
    return (scope.get("method") in ("GET", "HEAD") and path.startswith(PUBLIC_READ_PREFIXES)
            and path.endswith(PUBLIC_READ_SUFFIXES))


class PublicReadHeadersMiddleware:
    """CORS and caching of the public reads: ``Access-Control-Allow-Origin: *`` on every answer
    (errors too, so a page elsewhere can read why), and on a 200 a strong ``ETag`` (SHA-256 of
    the body), ``Cache-Control: public, max-age=60``; a request whose ``If-None-Match`` names the
    current ETag gets ``304 Not Modified`` without a body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_public_read(scope):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, buffer)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"access-control-allow-origin", b"*"))
        status = start.get("status", 500)
        if status == 200:
            etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
            headers += [(b"etag", etag), (b"cache-control", f"public, max-age={PUBLIC_MAX_AGE}".encode())]
            wanted = dict((k.lower(), v) for k, v in scope.get("headers", [])).get(b"if-none-match", b"")
            if etag in [tag.strip() for tag in wanted.split(b",")] or wanted.strip() == b"*":
                status, body = 304, b""
                headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
        if status != 304:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
