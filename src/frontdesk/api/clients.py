"""Who is calling: the client's address, the same for every route, socket and limit.

The address a request came from is the peer of its TCP connection, unless that peer is one
of ``trusted_proxies``: then it is read from the proxy's ``Forwarded`` (RFC 7239) or, when
that is absent, ``X-Forwarded-For`` header, right to left, skipping the trusted proxies
that added themselves; the first address not trusted is the client. Any other header that
claims a client (``X-Real-IP``, ``True-Client-IP`` …) is never believed, and a forwarding
header from a peer that is not trusted is ignored.

A few things answer only this machine (the development mailbox, the metrics without a
token): ``from_this_machine`` holds when the connection's peer is loopback and the request
carries no header a proxy adds, so that a proxy on this machine never makes a request
from elsewhere look local.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.types import Scope

from frontdesk.peers import proxied

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_PEER = "frontdesk.peer"
_PROXIED = "frontdesk.proxied"
# Addresses read from headers are kept to this length; anything longer is not an address.
_MAX_ADDRESS = 64


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``127.0.0.1``, ``::1`` … (a bare address is a network of one)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


class ClientAddresses:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self.trusted = parse_networks(trusted_proxies)
        self.trusts = lru_cache(maxsize=4096)(self._trusts)

    def resolve(self, scope: Scope) -> None:
        """Set ``scope["client"]`` to the client's address (port 0 when it came from a
        header), and remember the connection's own peer for ``from_this_machine``."""
        peer = scope.get("client")
        host = peer[0] if peer else ""
        scope[_PEER] = host
        headers = scope.get("headers", ())
        scope[_PROXIED] = proxied(name for name, _ in headers)
        if not scope[_PROXIED] or not self.trusted or not self.trusts(host):
            return
        forwarded = _header(headers, b"forwarded")
        hops = (
            _forwarded_for(forwarded)
            if forwarded is not None
            else _forwarded_for_list(_header(headers, b"x-forwarded-for"))
        )
        client = None
        for hop in reversed(hops):
            client = hop
            if not self.trusts(hop):
                break
        if client is not None:
            scope["client"] = (client, 0)

    def _trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.trusted)


def from_this_machine(scope: Scope) -> bool:
    """The connection's peer is loopback, and no proxy header says it forwards for another."""
    if scope.get(_PROXIED, True):
        return False
    address = _address(scope.get(_PEER, ""))
    return address is not None and address.is_loopback


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in headers if key == name]
    return ", ".join(values) if values else None


def _forwarded_for_list(value: str | None) -> list[str]:
    if value is None:
        return []
    return [_bare(hop) for hop in value.split(",") if hop.strip()]


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` of each element of a ``Forwarded`` header, in order."""
    hops = []
    for element in value.split(","):
        for pair in element.split(";"):
            key, _, raw = pair.strip().partition("=")
            if key.strip().lower() == "for":
                hops.append(_bare(raw))
    return hops


def _bare(raw: str) -> str:
    """``"[2001:db8::1]:4711"`` → ``2001:db8::1``, ``192.0.2.1:80`` → ``192.0.2.1``; a
    name that is not an address (``unknown``, ``_hidden``) stays as it is."""
    hop = raw.strip().strip('"')[:_MAX_ADDRESS]
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
