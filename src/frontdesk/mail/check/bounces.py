"""The bounces check: does the MX of the envelope sender's domain lead bounces back to
Frontdesk's inbound endpoint, so it stops e-mailing addresses that do not exist? And the
replies check, with reply by e-mail on: does the reply domain's MX lead replies there
(docs/reply-by-email.md)?"""

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
    return _check_mx(
        Check.BOUNCES,
        setup,
        dns_lookups,
        domain=domain,
        what="bounces",
        why=why,
        addresses=setup.envelope_address.replace("@", "+*@"),
    )


def check_replies(setup: MailSetup, dns_lookups: DnsLookups) -> list[Finding]:
    domain = setup.reply_domain
    if domain is None:
        return []
    why = (
        f"Agents and visitors answer e-mails by replying to reply+<token>@{domain}; their "
        f"mail servers find where to send the reply in {domain}'s MX record, which must lead "
        "to Frontdesk's inbound SMTP endpoint, or to a mail provider whose inbound webhook "
        "posts to /api/v1/inbound/mime (docs/reply-by-email.md)."
    )
    return _check_mx(
        Check.REPLIES,
        setup,
        dns_lookups,
        domain=domain,
        what="replies",
        why=why,
        addresses=f"reply+*@{domain}",
    )


def _check_mx(
    check: Check,
    setup: MailSetup,
    dns_lookups: DnsLookups,
    *,
    domain: str,
    what: str,
    why: str,
    addresses: str,
) -> list[Finding]:
    lookup = dns_lookups.lookup(domain, "MX")
    if lookup.failure is not None and not lookup.absent:
        return [unchecked(check, lookup, why)]
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
                check,
                Status.WARNING,
                f"{domain} has no MX record{if_no_such_name(lookup)}: {what} will not "
                "reach Frontdesk.",
                f"{why} Publish an MX record naming the host that runs Frontdesk's inbound "
                f"endpoint (or the mail server that forwards the domain's {what} to it)"
                + (f"; if that is this server ({host}), the record below." if host else "."),
                DnsRecord(domain, "MX", f"10 {host}.") if host else None,
            )
        ]
    if exchanges == [(0, "")] or exchanges == [(0, ".")]:
        return [
            Finding(
                check,
                Status.WRONG,
                f'{domain} publishes a null MX ("0 ."): it accepts no mail, {what} included.',
                f"{why} Many receivers also refuse mail from a domain that accepts none.",
            )
        ]
    unresolved = [host for _, host in exchanges if not dns_lookups.addresses(host)]
    if unresolved:
        return [
            Finding(
                check,
                Status.WRONG,
                f"{domain}'s MX names {', '.join(unresolved)}, which has no address.",
                f"{why} Give the MX host an A (or AAAA) record.",
            )
        ]
    return [
        Finding(
            check,
            Status.OK,
            f"{what.capitalize()} for {domain} go to {', '.join(host for _, host in exchanges)}.",
            f"Make sure that host is Frontdesk's inbound endpoint or forwards {addresses} to it.",
        )
    ]


def _is_host_name(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return "." in text and DNS_NAME.fullmatch(text) is not None
    return False
