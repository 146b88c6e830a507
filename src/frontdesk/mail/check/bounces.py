"""The bounces check: does the MX of the envelope sender's domain lead bounces back to
Frontdesk's inbound endpoint, so it stops e-mailing addresses that do not exist?"""

from __future__ import annotations

import ipaddress

import dns.rdtypes.ANY.MX

from frontdesk.mail.check.findings import Check, DnsRecord, Finding, Status
from frontdesk.mail.check.lookups import DNS_NAME, DnsLookups, if_no_such_name, unchecked
from frontdesk.mail.check.mail_setup import MailSetup


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
        return [unchecked(Check.BOUNCES, lookup, why)]
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
                f"{domain} has no MX record{if_no_such_name(lookup)}: bounces will not "
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
        return "." in text and DNS_NAME.fullmatch(text) is not None
    return False
