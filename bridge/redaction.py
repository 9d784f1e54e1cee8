"""Secrets out of what an operator sees: URLs (database, RPC node, webhook) with their password,
query values and key-like path segments as ``***``. Used by the CLI's one-line errors and by the
preflight banner, so a URL is shown the same way wherever it appears."""

from __future__ import annotations

import re

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]]+)")
_USERINFO = re.compile(r"^([^:/]+://)([^/@:]*):([^/@]*)@")
#: A path segment that looks like an API key (Infura's /v3/<32 hex>, Alchemy's /v2/<key>, ...).
_KEYLIKE = re.compile(r"^(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}$")


def redact_url(url: str) -> str:
    """``url`` without its secrets: the password of its user info, its query values and path
    segments that look like API keys become ``***``."""
    url = _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:***@", url)
    head, sep, query = url.partition("?")
    if head.lower().startswith(("http://", "https://", "ws://", "wss://")):  # an RPC provider's key
        scheme, rest = head.split("://", 1)
        parts = rest.split("/")
        head = scheme + "://" + "/".join([parts[0], *("***" if _KEYLIKE.match(p) else p for p in parts[1:])])
    if sep:
        query = "&".join(f"{k}=***" if eq else k for k, eq, _ in (p.partition("=") for p in query.split("&")))
    return head + sep + query


def redact(text: str) -> str:
    """``text`` with every URL in it redacted (see :func:`redact_url`)."""
    return _URL.sub(lambda m: redact_url(m.group(1)), text)
