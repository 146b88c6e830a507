"""The SPF check: does the envelope sender's domain publish one valid SPF record, within
the ten DNS lookups receivers allow, that lets Frontdesk's mail relay send for it?

The record is walked as a receiver would evaluate it (RFC 7208), includes and redirects
followed, without deciding for any one IP address except the relay's.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import dns.rdtypes.ANY.MX

from frontdesk.mail.check.findings import Check, DnsRecord, Finding, Status
from frontdesk.mail.check.lookups import (
    DnsLookups,
    IpAddress,
    IpNetwork,
    if_no_such_name,
    unchecked,
)
from frontdesk.mail.check.mail_setup import MailSetup

# RFC 7208 4.6.4: evaluating an SPF record may take at most 10 DNS lookups; a record that
# needs more is a permanent error, and receivers treat the mail as if SPF failed.
SPF_LOOKUP_LIMIT = 10


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
        return [unchecked(Check.SPF, lookup, why)]
    records = _spf_records(lookup.texts)
    if not records:
        return [
            Finding(
                Check.SPF,
                Status.MISSING,
                f"{domain} has no SPF record{if_no_such_name(lookup)}.",
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
