"""DKIM verification in tests with the key published on a real DNS server on loopback
(``tests.dnsserver``): dkimpy asks it over the wire through dnspython, as it would ask a
receiver's resolver."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tests.dnsserver import dns_server


def dkim_dns_record(public_key: RSAPublicKey) -> str:
    """The TXT record a deployer publishes at ``<selector>._domainkey.<domain>``."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


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
