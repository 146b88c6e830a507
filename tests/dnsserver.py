"""A real DNS server on loopback (dnslib) that serves a zone given as a dict, for the tests
of ``frontdesk mail check``: the checks talk DNS to it over the wire exactly as they would
to a deployer's resolver, so no DNS is mocked.

It listens on one random port over UDP and TCP, and truncates UDP answers over 512 bytes
as a real server does, so a long record (a 4096-bit DKIM key, a long SPF record) makes the
resolver ask again over TCP.

    zone = {
        "shop.example": {"TXT": ["v=spf1 a:mx.shop.example -all"], "MX": [(10, "mx.shop.example")]},
        "mx.shop.example": {"A": ["127.0.0.1"]},
        "broken.example": SERVFAIL,  # every question about it gets SERVFAIL
    }

A name that is not in the zone (and has no name below it) is NXDOMAIN; a name without the
asked type answers with no records. ``silent_dns_server()`` takes questions and never
answers, for timeouts.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer

SERVFAIL = "SERVFAIL"
UDP_LIMIT = 512  # without EDNS; longer answers come truncated, and the resolver asks over TCP

Zone = Mapping[str, Mapping[str, Sequence[Any]] | str]


def _normal(name: str) -> str:
    return name.lower().rstrip(".")


def _rdata(rtype: str, value: Any) -> Any:
    if rtype == "TXT":
        text = value.encode()
        # One TXT string holds at most 255 bytes; longer records are several strings.
        return TXT([text[i : i + 255] for i in range(0, len(text), 255)] or [b""])
    if rtype == "MX":
        preference, exchange = value
        return MX(exchange, preference)
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    raise ValueError(f"the test DNS server does not serve {rtype} records")


class ZoneResolver:
    def __init__(self, zone: Zone) -> None:
        self.zone = {_normal(name): records for name, records in zone.items()}

    def resolve(self, request: DNSRecord, _handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname = _normal(str(request.q.qname))
        rtype = QTYPE[request.q.qtype]
        records = self.zone.get(qname)
        if records == SERVFAIL:
            reply.header.rcode = RCODE.SERVFAIL
        elif records is None:
            if not any(name.endswith("." + qname) for name in self.zone):
                reply.header.rcode = RCODE.NXDOMAIN
        else:
            assert not isinstance(records, str)
            for value in records.get(rtype, ()):
                reply.add_answer(
                    RR(qname, QTYPE.reverse[rtype], rdata=_rdata(rtype, value), ttl=60)
                )
        return reply


class _TruncatingHandler(DNSHandler):  # type: ignore[misc]  # dnslib has no types
    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed: bytes = reply.pack()
        if self.protocol == "udp" and len(packed) > UDP_LIMIT:
            # What a real server does (dnslib's own truncation drops the question, which
            # resolvers reject): the question, no answers, and TC set.
            truncated = request.reply()
            truncated.header.tc = 1
            packed = truncated.pack()
        return packed


@dataclass
class DnsServer:
    port: int
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        """What ``frontdesk mail check --nameserver`` takes."""
        return f"{self.host}:{self.port}"


@contextmanager
def dns_server(zone: Zone) -> Iterator[DnsServer]:
    resolver = ZoneResolver(zone)
    logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    for _attempt in range(20):
        udp = DNSServer(
            resolver, address="127.0.0.1", port=0, logger=logger, handler=_TruncatingHandler
        )
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(
                resolver,
                address="127.0.0.1",
                port=port,
                tcp=True,
                logger=logger,
                handler=_TruncatingHandler,
            )
        except OSError:  # the TCP port of that number is taken: another pair
            udp.server.server_close()
            continue
        break
    else:
        raise RuntimeError("no free port for both UDP and TCP")
    threads = [
        # A short poll interval: stopping waits for one poll, and the tests start many.
        threading.Thread(
            target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        for server in (udp, tcp)
    ]
    for thread in threads:
        thread.start()
    try:
        yield DnsServer(port)
    finally:
        for server in (udp, tcp):
            server.stop()
            server.server.server_close()
        for thread in threads:
            thread.join()


@contextmanager
def silent_dns_server() -> Iterator[DnsServer]:
    """A name server that takes every question and answers none."""
    # A bound UDP socket that nobody reads: questions arrive and are never answered.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        yield DnsServer(udp.getsockname()[1])
