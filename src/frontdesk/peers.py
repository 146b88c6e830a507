"""Who may read what is for "this machine only" (docs/security.md): a loopback peer that no
proxy header says forwards for another. Shared by the HTTP side (``frontdesk.api.clients``)
and a worker's own ``/metrics`` (``frontdesk.metrics``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# Headers by which a proxy says who it forwards for; with any of them, a request is not
# "from this machine" even on a loopback connection.
PROXY_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-real-ip",
        b"true-client-ip",
        b"cf-connecting-ip",
        b"x-client-ip",
        b"via",
    }
)


def proxied(header_names: Iterable[bytes]) -> bool:
    """Whether any of these (lower-case) header names is a proxy's."""
    return any(name in PROXY_HEADERS for name in header_names)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
