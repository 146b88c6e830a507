"""``frontdesk mail check``: does the sender domain's DNS let receivers trust Frontdesk's e-mail?

Receivers decide whether an e-mail from ``notify@shop.example`` really comes from
shop.example with three DNS records the deployer publishes: SPF (which servers may send
with that envelope sender), DKIM (the public key of the signature Frontdesk adds) and
DMARC (what to do with mail that passes neither, and which domains must line up with the
From header). Bounces come back to the envelope sender's domain, so its MX must lead to
Frontdesk. This module looks all of that up and turns it into findings a deployer can act
on: a status, a sentence in plain words, why it matters, and the exact record to publish.

Nothing here reads the settings or the system's DNS configuration: the caller passes a
``MailSetup`` and a dnspython resolver, so tests point the checks at a DNS server on
loopback. Every DNS failure (no such name, no record, a timeout, a server failure) becomes
a finding, never an exception. The design notes are in ``docs/email.md``.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import re
import socket
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import dns.exception
import dns.rdata
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.TXT
import dns.resolver
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from frontdesk.mail.dkim import DkimKeyError, DkimSigner
from frontdesk.mail.transport import SmtpTransport
from frontdesk.mail.verp import bare_address, return_path_base

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 7208 4.6.4: evaluating an SPF record may take at most 10 DNS lookups; a record that
# needs more is a permanent error, and receivers treat the mail as if SPF failed.
SPF_LOOKUP_LIMIT = 10
DKIM_KEY_BITS = 2048
TEST_EMAIL_SUBJECT = "Frontdesk mail check"


class Status(StrEnum):
    OK = "ok"
    INFO = "info"  # nothing to fix; something the deployer should know
    WARNING = "warning"  # works, but receivers trust the mail less than they could
    MISSING = "missing"  # a record or setting that must exist does not
    WRONG = "wrong"  # it exists and receivers will reject or distrust the mail because of it
    UNCHECKED = "unchecked"  # DNS did not answer, so nobody can tell

    @property
    def needs_fixing(self) -> bool:
        return self in (Status.MISSING, Status.WRONG, Status.UNCHECKED)


class Check(StrEnum):
    SENDER = "sender"
    SPF = "SPF"
    DKIM = "DKIM"
    DMARC = "DMARC"
    ALIGNMENT = "alignment"
    BOUNCES = "bounces"
    LINKS = "links"
    TEST_EMAIL = "test e-mail"


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A record to publish, as a DNS provider's form asks for it."""

    name: str
    type: str
    value: str

    def zone_line(self) -> str:
        """The same record for a zone file, where a TXT string holds at most 255 bytes."""
        if self.type != "TXT":
            return f"{self.name}. IN {self.type} {self.value}"
        chunks = [self.value[i : i + 255] for i in range(0, len(self.value), 255)] or [""]
        return f"{self.name}. IN TXT " + " ".join(f'"{chunk}"' for chunk in chunks)


@dataclass(frozen=True, slots=True)
class Finding:
    check: Check
    status: Status
    summary: str  # one sentence: what is the case
    explanation: str = ""  # why it matters and what to do, in plain words
    publish: DnsRecord | None = None
    found: str = ""  # the record as published now, when there is one

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check.value,
            "status": self.status.value,
            "summary": self.summary,
            "explanation": self.explanation,
            "found": self.found or None,
            "publish": None
            if self.publish is None
            else {
                "name": self.publish.name,
                "type": self.publish.type,
                "value": self.publish.value,
                "zone_line": self.publish.zone_line(),
            },
        }


@dataclass(frozen=True, slots=True)
class MailSetup:
    """What Frontdesk sends with, as the settings say (the CLI builds it from them)."""

    mail_from: str  # the From header, "Frontdesk <notify@shop.example>"
    bounce_address: str | None = None  # base of the VERP envelope sender; None: mail_from's
    relay_host: str | None = None  # host of smtp_url; None: the built-in catcher
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_private_key_file: Path | None = None
    # Where Frontdesk runs, so likely where its inbound endpoint listens: the MX
    # suggestion names its host.
    public_url: str | None = None

    @property
    def from_address(self) -> str:
        return bare_address(self.mail_from)

    @property
    def from_domain(self) -> str:
        return _domain_of(self.from_address)

    @property
    def public_host(self) -> str | None:
        return urlsplit(self.public_url).hostname if self.public_url else None

    @property
    def envelope_address(self) -> str:
        return return_path_base(self.bounce_address, self.mail_from)

    @property
    def envelope_domain(self) -> str:
        return _domain_of(self.envelope_address)


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


# --- DNS --------------------------------------------------------------------------------


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


# --- Keys -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DkimPublicKey:
    key_type: Literal["rsa", "ed25519"]
    data: bytes  # what p= carries: SubjectPublicKeyInfo DER (rsa), the raw 32 bytes (ed25519)
    bits: int

    @property
    def p(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def record_value(self) -> str:
        return f"v=DKIM1; k={self.key_type}; p={self.p}"

    def matches(self, published_p: str) -> bool:
        try:
            published = base64.b64decode("".join(published_p.split()), validate=True)
        except ValueError:
            return False
        if self.key_type == "ed25519":
            return published == self.data
        # RSA keys are published as SubjectPublicKeyInfo or as a bare RSAPublicKey
        # (RFC 6376 allows both); compare the keys, not the bytes.
        try:
            key = serialization.load_der_public_key(published)
        except (ValueError, UnsupportedAlgorithm):
            return False
        mine = serialization.load_der_public_key(self.data)
        return (
            isinstance(key, rsa.RSAPublicKey)
            and isinstance(mine, rsa.RSAPublicKey)
            and key.public_numbers() == mine.public_numbers()
        )


def dkim_public_key(private_key_pem: bytes) -> DkimPublicKey:
    """The public half of a DKIM signing key (PEM, RSA or ed25519); ValueError if the PEM
    is not such a key."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a PEM private key without a password ({exc})") from None
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return DkimPublicKey("rsa", der, key.key_size)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return DkimPublicKey("ed25519", raw, 256)
    raise ValueError(f"a {type(key).__name__} cannot sign DKIM; use RSA or ed25519")


def new_dkim_private_key() -> bytes:
    """A fresh 2048-bit RSA key as PEM: RSA because every receiver verifies it (ed25519
    DKIM is not yet checked everywhere), 2048 bits because that is what Gmail and the
    others expect and still fits a TXT record; PKCS#1 PEM because that is what dkimpy and
    OpenDKIM read."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=DKIM_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


_DNS_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")


def dkim_record(selector: str, domain: str, key: DkimPublicKey) -> DnsRecord:
    for what, name in (("selector", selector), ("domain", domain)):
        if not _DNS_NAME.fullmatch(name):
            raise ValueError(f"the {what} {name!r} is not a DNS name")
    return DnsRecord(f"{selector}._domainkey.{domain.rstrip('.')}", "TXT", key.record_value())


# --- Checks -----------------------------------------------------------------------------


def check_dns(setup: MailSetup, resolver: dns.resolver.Resolver) -> list[Finding]:
    """Every DNS check for ``setup``, in the order a deployer fixes them."""
    dns_lookups = DnsLookups(resolver)
    sender = check_sender(setup)
    if sender is not None:
        return [sender]
    findings = check_spf(setup, dns_lookups)
    findings += check_dkim(setup, dns_lookups)
    findings += check_dmarc(setup, dns_lookups)
    findings += check_bounces(setup, dns_lookups)
    findings.append(check_links(setup))
    return findings


def check_links(setup: MailSetup) -> Finding:
    """The e-mails' links (the dashboard button, one-click unsubscribe) point at
    ``public_url``; Gmail and Yahoo honour ``List-Unsubscribe-Post`` only with an HTTPS link."""
    parts = urlsplit(setup.public_url or "")
    host = parts.hostname or ""
    if parts.scheme == "https" and host and host not in ("localhost", "127.0.0.1", "::1"):
        return Finding(
            Check.LINKS,
            Status.OK,
            f"Links in the e-mails, one-click unsubscribe included, use {setup.public_url}.",
        )
    return Finding(
        Check.LINKS,
        Status.WARNING,
        f"FRONTDESK_PUBLIC_URL is {setup.public_url!r}: the e-mails' links point there.",
        "Every notification e-mail links to the conversation and carries a one-click "
        "unsubscribe link (List-Unsubscribe) under this URL. Readers can only follow them "
        "if it is the address people reach this server at, and Gmail and Yahoo offer "
        "one-click unsubscribe only for an https:// link; a bulk sender without it is "
        "trusted less. Set FRONTDESK_PUBLIC_URL to the https:// address of this server.",
    )


def check_sender(setup: MailSetup) -> Finding | None:
    """Nothing else can be checked for an address at no real domain."""
    for setting, address in (
        ("FRONTDESK_MAIL_FROM", setup.from_address),
        ("FRONTDESK_BOUNCE_ADDRESS", setup.envelope_address),
    ):
        domain = _domain_of(address) if "@" in address else ""
        if "." not in domain or domain.endswith((".localhost", ".local")):
            return Finding(
                Check.SENDER,
                Status.WRONG,
                f"{setting} is {address!r}, not an address at a domain of yours.",
                f"Receivers check the sender's domain in DNS; set {setting} to an address "
                "at the domain your e-mail should come from, such as "
                '"Frontdesk <notify@shop.example>", and run this check again.',
            )
    return None


# SPF ---


@dataclass
class _SpfWalk:
    """What evaluating a record (and what it includes) would touch: its lookups, and the
    senders it allows."""

    lookups: int = 0
    networks: list[IpNetwork] = field(default_factory=list)
    hosts: list[tuple[str, int, int]] = field(default_factory=list)  # a: name, /v4, /v6
    mx_domains: list[tuple[str, int, int]] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    unknown: bool = False  # exists:, ptr or macros: cannot tell who is allowed


def _spf_records(texts: Iterable[str]) -> list[str]:
    return [t for t in texts if re.match(r"v=spf1(\s|$)", t, re.IGNORECASE)]


def check_spf(setup: MailSetup, dns_lookups: DnsLookups) -> list[Finding]:
    domain = setup.envelope_domain
    relay = setup.relay_host
    lookup = dns_lookups.lookup(domain, "TXT")
    relay_mechanism = _relay_mechanism(relay)
    fresh = DnsRecord(domain, "TXT", f"v=spf1 {relay_mechanism} ~all") if relay_mechanism else None
    why = (
        f"Receivers ask {domain}'s SPF record whether the server handing them the e-mail may "
        f"send for {domain} (the domain of the envelope sender {setup.envelope_address}, "
        "where bounces go)."
    )
    to_name = _what_to_name(relay, relay_mechanism)
    if lookup.failure is not None and not lookup.absent:
        return [_unchecked(Check.SPF, lookup, why)]
    records = _spf_records(lookup.texts)
    if not records:
        return [
            Finding(
                Check.SPF,
                Status.MISSING,
                f"{domain} has no SPF record{_if_no_such_name(lookup)}.",
                f"{why} Without one, many receivers put the e-mail in spam or refuse it. "
                f'{to_name} "~all" asks receivers to distrust mail from anywhere else; '
                'once every sender of the domain is listed, "-all" is stricter still.',
                fresh,
            )
        ]
    if len(records) > 1:
        return [
            Finding(
                Check.SPF,
                Status.WRONG,
                f"{domain} has {len(records)} SPF records; there must be exactly one.",
                f"{why} With more than one, SPF fails for every e-mail (RFC 7208: a "
                "permanent error). Merge them into one TXT record that starts with "
                "v=spf1 and lists every mechanism once: " + " | ".join(records),
            )
        ]
    record = records[0]
    findings: list[Finding] = []
    terms = record.split()[1:]
    all_terms = [t for t in terms if t.lower().lstrip("+-~?") == "all"]
    ending = all_terms[-1] if all_terms else None
    if ending is not None and ending[0] not in "-~?":
        findings.append(
            Finding(
                Check.SPF,
                Status.WRONG,
                f'{domain}\'s SPF record ends in "{ending}": it lets any server on the '
                f"internet send as {domain}.",
                f'{why} "+all" (or a bare "all") passes everybody, so SPF proves nothing and '
                'receivers treat it as a spammer\'s record. End it in "~all" (or "-all").',
                DnsRecord(domain, "TXT", _with_ending(record, "~all")),
            )
        )
    elif ending == "?all" or (ending is None and not _has_redirect(terms)):
        findings.append(
            Finding(
                Check.SPF,
                Status.WARNING,
                f"{domain}'s SPF record does not end in -all or ~all.",
                f'{why} Ending it in "?all", or not at all, says nothing about other servers, '
                'so mail forged from elsewhere is not marked. End it in "~all" (or "-all").',
                DnsRecord(domain, "TXT", _with_ending(record, "~all")),
            )
        )
    walk = _SpfWalk()
    _walk_spf(dns_lookups, record, domain, walk, within=(domain,))
    for problem in walk.broken:
        findings.append(
            Finding(
                Check.SPF,
                Status.WRONG,
                f"{domain}'s SPF record {problem}.",
                f"{why} A broken part of the record is a permanent error: SPF fails for "
                "every e-mail. Remove or correct it.",
            )
        )
    if walk.lookups > SPF_LOOKUP_LIMIT:
        findings.append(
            Finding(
                Check.SPF,
                Status.WRONG,
                f"{domain}'s SPF record needs {walk.lookups} DNS lookups; receivers stop "
                f"at {SPF_LOOKUP_LIMIT}.",
                f"{why} Every include:, a, mx, ptr, exists: and redirect= counts, those "
                "inside included records too; past ten, SPF fails for every e-mail. Drop "
                "includes of services that no longer send for you, or list their addresses "
                "with ip4:/ip6:.",
            )
        )
    covered: bool | None = None
    if relay is not None and not any(f.status.needs_fixing for f in findings):
        covered = _spf_allows(dns_lookups, walk, dns_lookups.addresses(relay))
        if covered is False:
            suggestion = (
                DnsRecord(domain, "TXT", _with_mechanism(record, relay_mechanism))
                if relay_mechanism
                else None
            )
            findings.append(
                Finding(
                    Check.SPF,
                    Status.WARNING,
                    f"{domain}'s SPF record does not seem to name Frontdesk's mail relay {relay}.",
                    f"{why} {to_name} If your relay is a mail provider that sends from "
                    "other addresses than the one Frontdesk connects to, add the include: "
                    "its documentation names instead, and ignore this warning.",
                    suggestion,
                )
            )
    if not findings:
        relay_words = {
            True: f", that allows the relay {relay}",
            None: f"; whether it allows the relay {relay} this check cannot tell",
        }
        findings.append(
            Finding(
                Check.SPF,
                Status.OK,
                f"{domain} has one SPF record, ending in {ending or 'a redirect'}"
                + (relay_words[covered] if relay else "")
                + f" ({walk.lookups} of {SPF_LOOKUP_LIMIT} DNS lookups).",
            )
        )
    return [dataclasses.replace(finding, found=record) for finding in findings]


def _relay_mechanism(relay: str | None) -> str | None:
    """What an SPF record should say to allow the relay, when we can tell."""
    if relay is None:
        return None
    try:
        address = ipaddress.ip_address(relay)
    except ValueError:
        return f"a:{relay}"
    if address.is_private or address.is_loopback:
        return None
    return f"ip{address.version}:{address}"


def _what_to_name(relay: str | None, mechanism: str | None) -> str:
    if relay is None:
        return (
            "FRONTDESK_SMTP_URL is not set, so nobody knows yet which server will send: the "
            'record must name it ("include:" of your mail provider, "a:" and the name of '
            'your own relay, or its address with "ip4:").'
        )
    if mechanism is None:
        return (
            f"Frontdesk's relay {relay} is on this machine or a private network, so the "
            'record must name the public address it sends from ("ip4:"/"ip6:", or '
            '"a:" and its name).'
        )
    return f'The record must name Frontdesk\'s relay: "{mechanism}".'


def _has_redirect(terms: Sequence[str]) -> bool:
    return any(t.lower().startswith("redirect=") for t in terms)


def _with_ending(record: str, ending: str) -> str:
    terms = [t for t in record.split() if t.lower().lstrip("+-~?") != "all"]
    return " ".join([*terms, ending])


def _with_mechanism(record: str, mechanism: str) -> str:
    terms = record.split()
    endings = [i for i, t in enumerate(terms) if t.lower().lstrip("+-~?") == "all"]
    at = endings[0] if endings else len(terms)
    return " ".join([*terms[:at], mechanism, *terms[at:]])


_SPF_MECHANISM = re.compile(
    r"(?P<name>all|include|a|mx|ptr|ip4|ip6|exists)(?::(?P<arg>[^/]*))?"
    r"(?:/(?P<v4>\d+))?(?://(?P<v6>\d+))?",
    re.IGNORECASE,
)


def _walk_spf(
    dns_lookups: DnsLookups, record: str, domain: str, walk: _SpfWalk, within: tuple[str, ...]
) -> None:
    """Count the lookups evaluating ``record`` takes and collect what it allows, as a
    receiver would (RFC 7208 sections 4.6.4 and 5), without deciding for any one IP.
    ``within``: the domains whose records led here, to find a record that includes itself."""
    for term in record.split()[1:]:
        if walk.lookups > SPF_LOOKUP_LIMIT:
            return
        qualifier = term[0] if term[0] in "+-~?" else "+"
        body = term[1:] if term[0] in "+-~?" else term
        lower = body.lower()
        if lower.startswith("redirect="):
            walk.lookups += 1
            if not any(t.lower().lstrip("+-~?") == "all" for t in record.split()):
                _follow_spf(dns_lookups, body.partition("=")[2], "redirect=", walk, within)
            continue
        if "=" in body.partition(":")[0]:  # exp= and unknown modifiers cost nothing
            continue
        if "%" in body:
            walk.unknown = True  # macros depend on the sender; we cannot expand them here
        if lower.startswith(("ip4:", "ip6:")):
            try:
                network = ipaddress.ip_network(body[4:], strict=False)
            except ValueError:
                walk.broken.append(f'has "{term}", which is not an IP address or network')
                continue
            if qualifier == "+":
                walk.networks.append(network)
            continue
        match = _SPF_MECHANISM.fullmatch(body)
        if match is None:
            walk.broken.append(f'has "{term}", which SPF does not know')
            continue
        name = match["name"].lower()
        if name == "all":
            continue
        walk.lookups += 1
        target = match["arg"] or domain
        if name == "include":
            if not match["arg"]:
                walk.broken.append(f'has "{term}" without a domain')
                continue
            _follow_spf(dns_lookups, target, "include:", walk, within)
        elif name in ("exists", "ptr"):
            walk.unknown = True
        elif qualifier == "+" and "%" not in target:
            cidr = (int(match["v4"] or 32), int(match["v6"] or 128))
            (walk.hosts if name == "a" else walk.mx_domains).append((target, *cidr))


def _follow_spf(
    dns_lookups: DnsLookups, target: str, how: str, walk: _SpfWalk, within: tuple[str, ...]
) -> None:
    if "%" in target:
        walk.unknown = True
        return
    if target.lower().rstrip(".") in within:
        walk.broken.append(f"has {how}{target}, which leads back to itself")
        return
    lookup = dns_lookups.lookup(target, "TXT")
    records = _spf_records(lookup.texts)
    if lookup.failure is not None and not lookup.absent:
        walk.unknown = True  # a lookup that failed is a temporary error, not a broken record
        return
    if len(records) != 1:
        walk.broken.append(
            f"has {how}{target}, and {target} has "
            + ("no SPF record" if not records else f"{len(records)} SPF records")
        )
        return
    _walk_spf(dns_lookups, records[0], target, walk, (*within, target.lower().rstrip(".")))


def _spf_allows(
    dns_lookups: DnsLookups, walk: _SpfWalk, addresses: Sequence[IpAddress]
) -> bool | None:
    """Whether the record allows one of ``addresses`` (None: cannot tell)."""
    if not addresses:
        return None
    networks = list(walk.networks)
    hosts = list(walk.hosts)
    for mx_domain, v4, v6 in walk.mx_domains:
        for record in dns_lookups.lookup(mx_domain, "MX").records:
            if isinstance(record, dns.rdtypes.ANY.MX.MX):
                hosts.append((record.exchange.to_text(omit_final_dot=True), v4, v6))
    for host, v4, v6 in hosts:
        for found in dns_lookups.addresses(host):
            prefix = v4 if found.version == 4 else v6
            networks.append(ipaddress.ip_network(f"{found}/{prefix}", strict=False))
    if any(a in n for a in addresses for n in networks if a.version == n.version):
        return True
    return None if walk.unknown else False


# DKIM ---


def _tags(record: str) -> dict[str, str]:
    """``tag=value; …`` of DKIM and DMARC records; whitespace around the parts is folding."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def check_dkim(setup: MailSetup, dns_lookups: DnsLookups) -> list[Finding]:
    domain, selector, key_file = setup.dkim_domain, setup.dkim_selector, setup.dkim_private_key_file
    why = (
        "With DKIM, Frontdesk signs each e-mail with a private key; receivers fetch the "
        "public key from "
        "DNS to check that the e-mail really comes from the domain and was not changed. "
        "DKIM survives forwarding, where SPF does not."
    )
    if domain is None or selector is None or key_file is None:
        return [
            Finding(
                Check.DKIM,
                Status.MISSING,
                "Frontdesk does not sign its e-mail with DKIM (not configured).",
                f"{why} Gmail, Yahoo and Microsoft expect it. Make a key with `frontdesk "
                f"mail dkim-key --selector frontdesk --domain {setup.from_domain} --out "
                "dkim.pem`, publish the record it prints, and set FRONTDESK_DKIM_DOMAIN="
                f"{setup.from_domain}, FRONTDESK_DKIM_SELECTOR=frontdesk and "
                "FRONTDESK_DKIM_PRIVATE_KEY_FILE to the key file.",
            )
        ]
    try:
        key = dkim_public_key(key_file.read_bytes())
        wanted = dkim_record(selector, domain, key)
    except (OSError, ValueError) as exc:
        return [
            Finding(
                Check.DKIM,
                Status.WRONG,
                f"Frontdesk cannot sign with the DKIM key {key_file}: {exc}.",
                f"{why} FRONTDESK_DKIM_PRIVATE_KEY_FILE must name a PEM RSA or ed25519 private "
                "key without a password that Frontdesk can read (`frontdesk mail dkim-key` "
                "makes one), and FRONTDESK_DKIM_SELECTOR and _DOMAIN must be DNS names.",
            )
        ]
    lookup = dns_lookups.lookup(wanted.name, "TXT")
    if lookup.failure is not None and not lookup.absent:
        return [_unchecked(Check.DKIM, lookup, why)]
    records = [t for t in lookup.texts if "p=" in t.replace(" ", "")]
    if not records:
        return [
            Finding(
                Check.DKIM,
                Status.MISSING,
                f"No DKIM key is published for selector {selector!r} at {wanted.name}.",
                f"{why} Without the public key every signature fails. Publish the record "
                "below (it holds the public half of the key in "
                f"{key_file}).",
                wanted,
            )
        ]
    if len(records) > 1:
        return [
            Finding(
                Check.DKIM,
                Status.WRONG,
                f"{wanted.name} has {len(records)} DKIM records; receivers may pick any.",
                f"{why} Keep only the one below.",
                wanted,
            )
        ]
    tags = _tags(records[0])
    findings: list[Finding] = []
    version = tags.get("v")
    published_type = tags.get("k", "rsa").lower()
    if version is not None and version != "DKIM1":
        findings.append(
            Finding(
                Check.DKIM,
                Status.WRONG,
                f"The DKIM record at {wanted.name} says v={version}, not v=DKIM1.",
                f"{why} Receivers ignore a record with another version.",
                wanted,
            )
        )
    elif not tags.get("p"):
        findings.append(
            Finding(
                Check.DKIM,
                Status.WRONG,
                f"The DKIM record at {wanted.name} has an empty p=: the key is revoked.",
                f"{why} An empty key tells receivers to fail every signature. Publish the "
                "current key.",
                wanted,
            )
        )
    elif published_type != key.key_type or not key.matches(tags["p"]):
        findings.append(
            Finding(
                Check.DKIM,
                Status.WRONG,
                f"The DKIM key published at {wanted.name} is not the public half of {key_file}.",
                f"{why} Receivers check Frontdesk's signatures against the published key, so "
                "every signature fails. Publish the record below instead (or point "
                "FRONTDESK_DKIM_PRIVATE_KEY_FILE at the key that belongs to the published "
                "one).",
                wanted,
            )
        )
    if findings:
        return findings
    if version is None:
        findings.append(
            Finding(
                Check.DKIM,
                Status.WARNING,
                f"The DKIM record at {wanted.name} has no v=DKIM1.",
                f"{why} The key matches, but some receivers insist on v=DKIM1 first.",
                wanted,
            )
        )
    if "y" in tags.get("t", "").lower().split(":"):
        findings.append(
            Finding(
                Check.DKIM,
                Status.WARNING,
                f"The DKIM record at {wanted.name} is in test mode (t=y).",
                f"{why} In test mode receivers may ignore failed and passed signatures "
                "alike. Remove t=y once mail is signed and verified.",
                wanted,
            )
        )
    if key.key_type == "rsa" and key.bits < 1024:
        findings.append(
            Finding(
                Check.DKIM,
                Status.WRONG,
                f"The DKIM key in {key_file} has only {key.bits} bits.",
                f"{why} Receivers ignore RSA keys under 1024 bits; make a 2048-bit one with "
                "`frontdesk mail dkim-key`.",
            )
        )
    return findings or [
        Finding(
            Check.DKIM,
            Status.OK,
            f"{wanted.name} publishes the public half of {key_file} "
            f"({key.key_type}, {key.bits} bits).",
        )
    ]


# DMARC ---


_PUBLIC_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go"}


def organizational_domain(domain: str) -> str:
    """shop.example for notify.shop.example, shop.co.uk for notify.shop.co.uk.

    DMARC defines this with the Public Suffix List; this approximation (the last two
    labels, three under a country's co./com./org. …) is right for the domains people send
    from and keeps the list out of Frontdesk.
    """
    labels = domain.lower().rstrip(".").split(".")
    keep = 2
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _PUBLIC_SECOND_LEVEL:
        keep = 3
    return ".".join(labels[-keep:])


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    if mode == "s":
        return domain == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


def check_dmarc(setup: MailSetup, dns_lookups: DnsLookups) -> list[Finding]:
    from_domain = setup.from_domain
    why = (
        f"DMARC tells receivers what to do with e-mail whose From is {from_domain} but that "
        "passes neither SPF nor DKIM for that domain, and where to send reports."
    )
    wanted = DnsRecord(
        f"_dmarc.{from_domain}",
        "TXT",
        f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{from_domain}",
    )
    # Receivers look at the From domain first, then at its organizational domain.
    names = [f"_dmarc.{from_domain}"]
    organization = organizational_domain(from_domain)
    if organization != from_domain:
        names.append(f"_dmarc.{organization}")
    found: tuple[str, list[str]] | None = None
    for name in names:
        lookup = dns_lookups.lookup(name, "TXT")
        if lookup.failure is not None and not lookup.absent:
            return [_unchecked(Check.DMARC, lookup, why)]
        records = [t for t in lookup.texts if re.match(r"v\s*=\s*DMARC1", t, re.IGNORECASE)]
        if records:
            found = (name, records)
            break
    if found is None:
        missing = Finding(
            Check.DMARC,
            Status.MISSING,
            f"{from_domain} has no DMARC record (nothing at {' or '.join(names)}).",
            f"{why} Gmail and Yahoo require one from bulk senders, and without it anyone "
            f"can send as {from_domain}. Start with the record below; p=quarantine sends "
            "failing mail to spam. Reports arrive at the rua= address.",
            wanted,
        )
        # Alignment matters as soon as the record exists; DMARC's default is relaxed.
        return [missing, _check_alignment(setup, {})]
    name, records = found
    if len(records) > 1:
        several = Finding(
            Check.DMARC,
            Status.WRONG,
            f"{name} has {len(records)} DMARC records; receivers ignore them all.",
            f"{why} Keep exactly one.",
            wanted,
        )
        return [several, _check_alignment(setup, {})]
    tags = _tags(records[0])
    inherited = name != f"_dmarc.{from_domain}"
    policy = (tags.get("sp") if inherited else None) or tags.get("p", "")
    findings: list[Finding] = []
    if policy.lower() not in ("none", "quarantine", "reject"):
        findings.append(
            Finding(
                Check.DMARC,
                Status.WRONG,
                f"The DMARC record at {name} has no valid policy (p={policy or 'missing'}).",
                f"{why} Without p=none, p=quarantine or p=reject receivers ignore the record.",
                wanted if not inherited else None,
            )
        )
    elif policy.lower() == "none":
        stricter = re.sub(r"\bp\s*=\s*none", "p=quarantine", records[0])
        if "rua" not in tags:
            stricter = f"{stricter.rstrip().rstrip(';')}; rua=mailto:dmarc-reports@{from_domain}"
        reports = (
            "Publish the record below once your own mail passes SPF or DKIM (the other "
            "findings say whether it does): p=quarantine sends mail that fails to spam"
            + (", and rua= brings you the reports." if "rua" not in tags else ".")
        )
        findings.append(
            Finding(
                Check.DMARC,
                Status.WARNING,
                f"{from_domain}'s DMARC policy is p=none: receivers only report.",
                f"{why} With p=none mail that fails is delivered anyway, so forged e-mail "
                f"from {from_domain} reaches inboxes and receivers give your real mail less "
                f"credit. {reports}",
                DnsRecord(name, "TXT", stricter) if not inherited else None,
            )
        )
    else:
        findings.append(
            Finding(
                Check.DMARC,
                Status.OK,
                f"{from_domain} has a DMARC policy of p={policy.lower()}"
                + (f" (inherited from {name})." if inherited else "."),
            )
        )
    findings = [dataclasses.replace(finding, found=records[0]) for finding in findings]
    return [*findings, _check_alignment(setup, tags)]


def _check_alignment(setup: MailSetup, dmarc_tags: dict[str, str]) -> Finding:
    from_domain = setup.from_domain
    spf_mode = dmarc_tags.get("aspf", "r").lower()
    dkim_mode = dmarc_tags.get("adkim", "r").lower()
    spf_aligned = _aligned(setup.envelope_domain, from_domain, spf_mode)
    dkim_domain = setup.dkim_domain.lower() if setup.dkim_domain else None
    dkim_aligned = dkim_domain is not None and _aligned(dkim_domain, from_domain, dkim_mode)
    strictly = {"s": " (strict alignment)", "r": ""}
    why = (
        f"DMARC only counts SPF for the envelope sender's domain ({setup.envelope_domain}) "
        f"and the DKIM signature's d= ({dkim_domain or 'no signature'}) when they match the "
        f"From domain {from_domain}."
    )
    if not spf_aligned and not dkim_aligned:
        return Finding(
            Check.ALIGNMENT,
            Status.WRONG,
            f"Neither the envelope sender nor DKIM lines up with the From domain "
            f"{from_domain}: DMARC fails for every e-mail.",
            f"{why} Set FRONTDESK_DKIM_DOMAIN to {from_domain}{strictly.get(dkim_mode, '')}, "
            f"or FRONTDESK_BOUNCE_ADDRESS to an address at {from_domain}.",
        )
    if not dkim_aligned:
        return Finding(
            Check.ALIGNMENT,
            Status.WARNING,
            "Only SPF lines up with the From domain; DKIM "
            + ("does not." if dkim_domain else "is not configured."),
            f"{why} Forwarded e-mail fails SPF, so without an aligned DKIM signature it fails "
            f"DMARC. Sign with FRONTDESK_DKIM_DOMAIN={from_domain}.",
        )
    if not spf_aligned:
        return Finding(
            Check.ALIGNMENT,
            Status.OK,
            f"DKIM (d={dkim_domain}) lines up with the From domain; the envelope sender "
            f"({setup.envelope_domain}) does not, which DMARC allows.",
            why,
        )
    return Finding(
        Check.ALIGNMENT,
        Status.OK,
        f"The envelope sender ({setup.envelope_domain}) and DKIM (d={dkim_domain}) both line "
        f"up with the From domain {from_domain}.",
    )


# Bounces ---


def check_bounces(setup: MailSetup, dns_lookups: DnsLookups) -> list[Finding]:
    domain = setup.envelope_domain
    why = (
        f"Receivers send bounces (delivery status notifications) to the envelope sender "
        f"{setup.envelope_address.replace('@', '+<token>@')}; they find the server to send "
        f"them to in {domain}'s MX record, which must lead to Frontdesk's inbound SMTP "
        "endpoint (`frontdesk inbound`) so Frontdesk stops e-mailing addresses that do not "
        "exist."
    )
    lookup = dns_lookups.lookup(domain, "MX")
    if lookup.failure is not None and not lookup.absent:
        return [_unchecked(Check.BOUNCES, lookup, why)]
    exchanges = sorted(
        (r.preference, r.exchange.to_text(omit_final_dot=True))
        for r in lookup.records
        if isinstance(r, dns.rdtypes.ANY.MX.MX)
    )
    if not exchanges:
        host = setup.public_host
        if host is not None and (host == "localhost" or not _is_host_name(host)):
            host = None
        return [
            Finding(
                Check.BOUNCES,
                Status.WARNING,
                f"{domain} has no MX record{_if_no_such_name(lookup)}: bounces will not "
                "reach Frontdesk.",
                f"{why} Publish an MX record naming the host that runs Frontdesk's inbound "
                "endpoint (or the mail server that forwards the domain's bounces to it)"
                + (f"; if that is this server ({host}), the record below." if host else "."),
                DnsRecord(domain, "MX", f"10 {host}.") if host else None,
            )
        ]
    if exchanges == [(0, "")] or exchanges == [(0, ".")]:
        return [
            Finding(
                Check.BOUNCES,
                Status.WRONG,
                f'{domain} publishes a null MX ("0 ."): it accepts no mail, bounces included.',
                f"{why} Many receivers also refuse mail from a domain that accepts none.",
            )
        ]
    unresolved = [host for _, host in exchanges if not dns_lookups.addresses(host)]
    if unresolved:
        return [
            Finding(
                Check.BOUNCES,
                Status.WRONG,
                f"{domain}'s MX names {', '.join(unresolved)}, which has no address.",
                f"{why} Give the MX host an A (or AAAA) record.",
            )
        ]
    return [
        Finding(
            Check.BOUNCES,
            Status.OK,
            f"Bounces for {domain} go to {', '.join(host for _, host in exchanges)}.",
            "Make sure that host is Frontdesk's inbound endpoint or forwards "
            f"{setup.envelope_address.replace('@', '+*@')} to it.",
        )
    ]


def _is_host_name(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return "." in text and _DNS_NAME.fullmatch(text) is not None
    return False


def _if_no_such_name(lookup: Lookup) -> str:
    """A missing record is usual; a missing domain is worth saying (a typo?)."""
    if lookup.failure is LookupFailure.NO_SUCH_NAME:
        return f" ({lookup.name} does not exist in DNS: NXDOMAIN)"
    return ""


def _unchecked(check: Check, lookup: Lookup, why: str) -> Finding:
    return Finding(
        check,
        Status.UNCHECKED,
        f"Could not check: {lookup.in_words()}.",
        f"{why} Make sure the domain's name servers answer (and that this machine reaches a "
        "resolver, or give one with --nameserver), then run the check again.",
    )


# --- The test e-mail --------------------------------------------------------------------


def compose_test_email(*, mail_from: str, recipient: str, now: datetime, host: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = mail_from
    message["To"] = recipient
    message["Subject"] = TEST_EMAIL_SUBJECT
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=_domain_of(bare_address(mail_from)) or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"This e-mail was sent by `frontdesk mail check` on {host} to test that Frontdesk's "
        "notification e-mail reaches people.\n\n"
        "If it arrived in the inbox (not in spam), the mail relay works. To see what the "
        'receiver thought of it, look at its headers ("Show original"): '
        "Authentication-Results should say spf=pass, dkim=pass and dmarc=pass.\n",
        charset="utf-8",
    )
    return message


async def send_test_email(
    transport: SmtpTransport, *, setup: MailSetup, recipient: str, now: datetime, host: str
) -> Finding:
    """Send one plain e-mail through Frontdesk's relay, signed as the notifications are,
    and report the relay's reply."""
    raw = compose_test_email(
        mail_from=setup.mail_from, recipient=recipient, now=now, host=host
    ).as_bytes()
    signed = ""
    if setup.dkim_domain and setup.dkim_selector and setup.dkim_private_key_file:
        try:
            signer = DkimSigner.from_file(
                domain=setup.dkim_domain,
                selector=setup.dkim_selector,
                key_file=setup.dkim_private_key_file,
            )
        except DkimKeyError as exc:
            signed = f" It went out without a DKIM signature: {exc}."
        else:
            raw = signer.sign(raw)
            signed = f" It carries a DKIM signature (d={setup.dkim_domain})."
    relay = f"{transport.target.host}:{transport.target.port}"
    try:
        outcome = await transport.send(setup.envelope_address, recipient, raw)
    finally:
        await transport.close()
    if outcome.accepted:
        return Finding(
            Check.TEST_EMAIL,
            Status.OK,
            f"The relay {relay} accepted the test e-mail to {recipient}: "
            f"{outcome.code} {outcome.text}",
            f"Check that it arrived in the inbox, not in spam.{signed} Its "
            'Authentication-Results header ("Show original") should say spf=pass, dkim=pass '
            "and dmarc=pass.",
        )
    reply = f"{outcome.code} {outcome.text}" if outcome.code else f"no reply ({outcome.text})"
    return Finding(
        Check.TEST_EMAIL,
        Status.WRONG,
        f"The relay {relay} did not take the test e-mail to {recipient}: {reply}",
        "Frontdesk's notification e-mail would fare the same. Check FRONTDESK_SMTP_URL (host, "
        "port, user and password) and that the relay lets this machine send as "
        f"{setup.envelope_address}.",
    )


def unsent_test_email(*, relay_configured: bool) -> Finding:
    if not relay_configured:
        return Finding(
            Check.TEST_EMAIL,
            Status.MISSING,
            "No test e-mail: FRONTDESK_SMTP_URL is not set, so Frontdesk uses its built-in "
            "mail catcher and no e-mail leaves this machine.",
            "The catcher keeps every e-mail in a Maildir (data_dir/mail) for trying Frontdesk "
            "out. For real use, set FRONTDESK_SMTP_URL to your mail relay "
            "(smtp://user:password@smtp.example:587).",
        )
    return Finding(
        Check.TEST_EMAIL,
        Status.INFO,
        "No test e-mail sent: give --to you@example.com to send one through the relay.",
    )


# --- Reading the findings ---------------------------------------------------------------

_LABELS = {
    Status.OK: "OK",
    Status.INFO: "NOTE",
    Status.WARNING: "WARNING",
    Status.MISSING: "MISSING",
    Status.WRONG: "WRONG",
    Status.UNCHECKED: "UNCHECKED",
}


def setup_lines(
    setup: MailSetup, *, relay: str | None, nameserver: str | None
) -> list[tuple[str, str]]:
    """What was checked, for the head of the report."""
    envelope = setup.envelope_address.replace("@", "+<token>@")
    dkim = (
        f"selector {setup.dkim_selector} at {setup.dkim_domain} ({setup.dkim_private_key_file})"
        if setup.dkim_domain
        else "not configured"
    )
    return [
        ("From", setup.mail_from),
        ("Envelope sender", f"{envelope} (bounces come back here)"),
        ("DKIM", dkim),
        ("Relay", relay or "none: the built-in mail catcher (FRONTDESK_SMTP_URL is not set)"),
        ("DNS", f"name server {nameserver}" if nameserver else "this machine's resolver"),
    ]


def render_text(findings: Sequence[Finding], *, header: Sequence[tuple[str, str]] = ()) -> str:
    """The findings as a deployer reads them; records stay on one line to be copied."""
    lines: list[str] = []
    width = max((len(label) for label, _ in header), default=0)
    lines.extend(f"{label + ':':<{width + 1}} {value}" for label, value in header)
    if header:
        lines.append("")
    indent = " " * 10
    for finding in findings:
        label = f"{_LABELS[finding.status]:<9} {finding.check.value}: {finding.summary}"
        lines.extend(_wrap(label, then=indent))
        if finding.found:
            lines.append(f"{indent}Published now: {finding.found}")
        if finding.explanation:
            lines.extend(_wrap(finding.explanation, first=indent, then=indent))
        if finding.publish is not None:
            record = finding.publish
            lines.append(f"{indent}Publish this {record.type} record:")
            lines.append(f"{indent}  name:  {record.name}")
            lines.append(f"{indent}  value: {record.value}")
        lines.append("")
    lines.append(summary_line(findings))
    return "\n".join(lines)


def _wrap(text: str, *, first: str = "", then: str = "") -> list[str]:
    # Paths, addresses and records are never cut: a deployer copies them.
    return textwrap.wrap(
        text,
        92,
        initial_indent=first,
        subsequent_indent=then,
        break_long_words=False,
        break_on_hyphens=False,
    )


def summary_line(findings: Sequence[Finding]) -> str:
    to_fix = sum(f.status.needs_fixing for f in findings)
    warnings = sum(f.status is Status.WARNING for f in findings)
    if not to_fix and not warnings:
        return "Everything is in place."
    parts = []
    if to_fix:
        parts.append(f"{to_fix} thing{'s' if to_fix != 1 else ''} to fix")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) + "."
