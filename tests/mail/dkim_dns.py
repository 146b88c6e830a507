"""DKIM verification in tests with the key published on a real DNS server on loopback
(``tests.dnsserver``): dkimpy asks it over the wire through dnspython, as it would ask a
receiver's resolver."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import dns.resolver

from tests.dnsserver import dns_server


@contextmanager
def dns_answering(txt_records: Mapping[str, str]) -> Iterator[Callable[..., bytes]]:
    """A ``dnsfunc`` for ``dkim.verify`` that looks names up on a loopback DNS server
    serving ``txt_records``."""
    with dns_server({name: {"TXT": [value]} for name, value in txt_records.items()}) as server:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [server.host]
        resolver.port = server.port
        resolver.lifetime = 5

        def lookup(name: bytes | str, timeout: int = 5) -> bytes:
            text = name.decode() if isinstance(name, bytes) else name
            try:
                answer = resolver.resolve(text, "TXT")
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                return b""
            return b"".join(b"".join(rdata.strings) for rdata in answer)

        yield lookup
