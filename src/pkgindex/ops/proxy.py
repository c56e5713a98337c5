"""Forwarded headers, trusted only from the proxies an operator names (``PKGINDEX_FORWARDED_ALLOW_IPS``).

Behind a reverse proxy the client's scheme, host and address arrive in ``Forwarded`` (RFC 7239) or
``X-Forwarded-Proto/-Host/-For``. Hyperlinks are built from the scheme and host, so these headers are
applied only when the connection comes from a trusted proxy; from anyone else they change nothing, and
no client can make the service write its host into the links it serves. Of several proxies, the values
the nearest trusted one appended (the last ones) are used, and the client address is the rightmost one
that is not itself a trusted proxy.
"""

import ipaddress
import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
SCHEMES = {"http", "https", "ws", "wss"}
FORWARDED_PAIR = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s"]*)\s*')
# An element of a Forwarded list: commas inside a quoted value do not end it.
FORWARDED_ELEMENT = re.compile(r'(?:"(?:[^"\\]|\\.)*"?|[^",])+')
QUOTED_PAIR = re.compile(r"\\(.)")


def parse_networks(spec: str) -> tuple[bool, list[Network]]:
    """``"*"`` (trust every peer) or comma-separated addresses and CIDR networks."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    return "*" in items, [ipaddress.ip_network(item, strict=False) for item in items if item != "*"]


def _last(values: Iterable[str]) -> str | None:
    listed = [value.strip() for header in values for value in header.split(",") if value.strip()]
    return listed[-1] if listed else None


def _forwarded_elements(headers: Headers) -> list[dict[str, str]]:
    elements = []
    for header in headers.getlist("forwarded"):
        for element in FORWARDED_ELEMENT.findall(header):
            pairs = {key.lower(): _unquote(value) for key, value in FORWARDED_PAIR.findall(element) if value}
            if pairs:
                elements.append(pairs)
    return elements


def _unquote(value: str) -> str:
    """A token as is; a quoted string without its quotes and with its quoted-pairs undone."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


class TrustedProxyHeaders:
    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.trust_all, self.networks = parse_networks(trusted)

    def trusts(self, address: str | None) -> bool:
        if address is None:
            return False
        if self.trust_all:
            return True
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self.trusts(client[0]):
            scope = self._apply(dict(scope))
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> Scope:
        headers = Headers(scope=scope)
        elements = _forwarded_elements(headers)
        if elements:
            proto = elements[-1].get("proto")
            host = elements[-1].get("host")
            chain = [element["for"] for element in elements if "for" in element]
        else:
            proto = _last(headers.getlist("x-forwarded-proto"))
            host = _last(headers.getlist("x-forwarded-host"))
            chain = [item.strip() for h in headers.getlist("x-forwarded-for") for item in h.split(",")]
        if proto and proto.lower() in SCHEMES:
            scope["scheme"] = proto.lower()
        if host and HOST.match(host):
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [
                (b"host", host.encode("latin-1"))
            ]
        for address in reversed(chain):
            address = _without_port(address)
            if address and not self.trusts(address):
                scope["client"] = (address, 0)
                break
        return scope


def _without_port(address: str) -> str:
    address = address.strip()
    if address.startswith("["):  # [v6]:port
        return address[1 : address.find("]")] if "]" in address else ""
    if address.count(":") == 1:  # v4:port
        return address.split(":", 1)[0]
    return address
