"""The checks' one way to ask DNS (``DnsLookups``, through a resolver ``make_resolver``
points at a name server), and how a lookup that got no answer reads as a finding.

Every DNS failure (no such name, no record, a timeout, a server failure) becomes a
``Lookup`` with its ``LookupFailure``, never an exception.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.rdata
import dns.rdtypes.ANY.TXT
import dns.resolver

from frontdesk.mail.check.findings import Check, Finding, Status

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A host or domain name as DNS takes it: labels of 1-63 characters, no hyphen at either end.
DNS_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")


def make_resolver(nameserver: str | None, *, timeout: float) -> dns.resolver.Resolver:
    """A resolver that asks ``nameserver`` (``HOST[:PORT]``, ``[V6]:PORT``), or the
    system's configured ones. ``timeout`` bounds each lookup, retries included."""
    if nameserver is None:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise ValueError(
                "this machine has no DNS resolver configured; give one with --nameserver"
            ) from None
    else:
        host, port = _split_host_port(nameserver)
        resolver = dns.resolver.Resolver(configure=False)
        try:
            ipaddress.ip_address(host)
            address = host
        except ValueError:
            # dnspython wants an address; a name is looked up the ordinary way once.
            address = str(socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)[0][4][0])
        resolver.nameservers = [address]
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def _split_host_port(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?|([0-9a-fA-F:]+)", text)
    if match is None:
        raise ValueError(f"{text!r} is not HOST[:PORT]")
    host = match.group(1) or match.group(3) or match.group(5)
    port = int(match.group(2) or match.group(4) or 53)
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port must be 1-65535")
    return host, port


class LookupFailure(StrEnum):
    NO_SUCH_NAME = "no such name"  # NXDOMAIN
    NO_RECORD = "no record"  # the name exists, but has no record of this type
    TIMEOUT = "timeout"
    SERVER_FAILURE = "server failure"  # SERVFAIL, REFUSED, or an answer that made no sense


@dataclass(frozen=True, slots=True)
class Lookup:
    name: str
    rdtype: str
    records: tuple[dns.rdata.Rdata, ...] = ()
    failure: LookupFailure | None = None
    detail: str = ""

    @property
    def absent(self) -> bool:
        return self.failure in (LookupFailure.NO_SUCH_NAME, LookupFailure.NO_RECORD)

    @property
    def texts(self) -> list[str]:
        """TXT records, each one string (DNS splits long ones into 255-byte pieces)."""
        return [
            b"".join(record.strings).decode("utf-8", "replace")
            for record in self.records
            if isinstance(record, dns.rdtypes.ANY.TXT.TXT)
        ]

    def in_words(self) -> str:
        """Why DNS gave no answer, for a deployer (an absent record is a finding of its own)."""
        if self.failure is LookupFailure.TIMEOUT:
            return f"the name server did not answer for {self.name} {self.rdtype} in time"
        return f"the name server failed to answer for {self.name} {self.rdtype} ({self.detail})"


class DnsLookups:
    """The checks' one way to ask DNS; answers are kept, so a name asked twice costs one
    query (and a name that times out does not time out twice)."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        self._answers: dict[tuple[str, str], Lookup] = {}

    def lookup(self, name: str, rdtype: str) -> Lookup:
        key = (name.lower().rstrip("."), rdtype)
        if key not in self._answers:
            self._answers[key] = self._ask(*key)
        return self._answers[key]

    def _ask(self, name: str, rdtype: str) -> Lookup:
        try:
            answer = self.resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return Lookup(name, rdtype, failure=LookupFailure.NO_SUCH_NAME)
        except dns.resolver.NoAnswer:
            return Lookup(name, rdtype, failure=LookupFailure.NO_RECORD)
        except dns.exception.Timeout:
            return Lookup(name, rdtype, failure=LookupFailure.TIMEOUT)
        except dns.resolver.NoNameservers as exc:
            return Lookup(name, rdtype, failure=LookupFailure.SERVER_FAILURE, detail=_why(exc))
        except (dns.exception.DNSException, OSError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            return Lookup(name, rdtype, failure=LookupFailure.SERVER_FAILURE, detail=detail)
        return Lookup(name, rdtype, records=tuple(answer))

    def addresses(self, host: str) -> list[IpAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        found: list[IpAddress] = []
        for rdtype in ("A", "AAAA"):
            found.extend(
                ipaddress.ip_address(r.to_text()) for r in self.lookup(host, rdtype).records
            )
        return found


def _why(exc: dns.resolver.NoNameservers) -> str:
    # dnspython's message lists each server's reply ("... answered SERVFAIL"); the rcode is
    # what a deployer can search for.
    match = re.search(r"answered (\w+)", str(exc))
    return match.group(1) if match else "no server could answer"


def record_tags(record: str) -> dict[str, str]:
    """``tag=value; …`` of DKIM and DMARC records; whitespace around the parts is folding."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def if_no_such_name(lookup: Lookup) -> str:
    """A missing record is usual; a missing domain is worth saying (a typo?)."""
    if lookup.failure is LookupFailure.NO_SUCH_NAME:
        return f" ({lookup.name} does not exist in DNS: NXDOMAIN)"
    return ""


def unchecked(check: Check, lookup: Lookup, why: str) -> Finding:
    return Finding(
        check,
        Status.UNCHECKED,
        f"Could not check: {lookup.in_words()}.",
        f"{why} Make sure the domain's name servers answer (and that this machine reaches a "
        "resolver, or give one with --nameserver), then run the check again.",
    )
