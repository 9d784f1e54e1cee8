"""Where a webhook may be sent: public http(s) endpoints only, checked when a subscription is
made or changed and again at every send, at the address that is then connected to.

An organization key chooses the URL, so without these checks it could make the bridge POST to
its own network (127.0.0.1, [::1], 0x7f000001, 169.254.169.254, the database port) and read
the answer back from the delivery log. The URL is parsed by httpx, the client that sends it
(what ``urlsplit`` accepts and httpx refuses would otherwise fail at send time); its host is
resolved and every address must be a public unicast one; the port must be one of the allowed
ports. At send time the host is resolved again and the request goes to the checked address,
with the original host name in the ``Host`` header and for TLS (SNI and certificate), so a
DNS answer that changes between the check and the connect cannot redirect it.

``ICR_WEBHOOK_ALLOW_PRIVATE=1`` (local development, tests) allows loopback and private
receivers; ``ICR_WEBHOOK_PORTS`` (comma-separated, default ``80,443,8080,8443``; ``any``)
sets the allowed ports.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Callable

import httpx

from registry.errors import RuleViolation

ALLOW_PRIVATE_ENV = "ICR_WEBHOOK_ALLOW_PRIVATE"
PORTS_ENV = "ICR_WEBHOOK_PORTS"
DEFAULT_PORTS = frozenset({80, 443, 8080, 8443})
#: The port a URL without one connects to.
SCHEME_PORTS = {"http": 80, "https": 443}

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


@dataclass(frozen=True)
class DestinationPolicy:
    allow_private: bool = False
    ports: frozenset[int] | None = DEFAULT_PORTS  # None: any port

    @classmethod
    def from_env(cls) -> DestinationPolicy:
        allow = os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes")
        raw = os.environ.get(PORTS_ENV, "").strip()
        if not raw:
            return cls(allow, DEFAULT_PORTS)
        if raw.lower() == "any":
            return cls(allow, None)
        try:
            ports = frozenset(int(p) for p in raw.split(",") if p.strip())
        except ValueError:
            raise ValueError(f"{PORTS_ENV}: {raw!r} is not a comma-separated list of ports (or 'any')") from None
        return cls(allow, ports)


@dataclass(frozen=True)
class Destination:
    """A checked URL and the address to connect to."""

    url: httpx.URL
    address: str

    def request_url(self) -> httpx.URL:
        """The URL with the checked address in place of the host name (the host goes in ``Host``)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return self.url.copy_with(host=host)

    def extensions(self) -> dict:
        return {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}

    def headers(self) -> dict[str, str]:
        port = self.url.port
        return {"host": self.url.host if port in (None, SCHEME_PORTS[self.url.scheme]) else f"{self.url.host}:{port}"}


def _refuse(url: str, reason: str) -> RuleViolation:
    return RuleViolation(f"webhook URL {url!r} {reason}", field="url", rule="webhook-public-destination")


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def check_destination(url: str, policy: DestinationPolicy | None = None,
                      resolver: Resolver | None = None) -> Destination:
    """The destination of ``url`` if the bridge may send to it; RuleViolation (field ``url``) naming why not."""
    policy = policy or DestinationPolicy.from_env()
    resolver = resolver or resolve
    if any(c in url for c in "\r\n\t\x00") or url != url.strip():
        raise _refuse(url, "contains whitespace or control characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _refuse(url, f"is not a URL httpx can send to ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _refuse(url, "is not an http(s) URL with a host")
    if parsed.userinfo:
        raise _refuse(url, "carries credentials: put the secret in the subscription instead")
    port = parsed.port or SCHEME_PORTS[parsed.scheme]
    if policy.ports is not None and port not in policy.ports:
        raise _refuse(url, f"uses port {port}; allowed: {', '.join(map(str, sorted(policy.ports)))}")
    try:
        addresses = resolver(parsed.host, port)
    except (OSError, UnicodeError) as exc:
        raise _refuse(url, f"has a host that does not resolve ({exc})") from None
    if not addresses:
        raise _refuse(url, "has a host that does not resolve")
    if not policy.allow_private:
        inside = [a for a in addresses if not _public(a)]
        if inside:
            raise _refuse(url, f"resolves to {inside[0]}, which is not a public address")
    return Destination(parsed, addresses[0])
