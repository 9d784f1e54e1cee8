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
