"""``frontdesk mail check``: does the sender domain's DNS let receivers trust Frontdesk's e-mail?

Receivers decide whether an e-mail from ``notify@shop.example`` really comes from
shop.example with three DNS records the deployer publishes: SPF (which servers may send
with that envelope sender), DKIM (the public key of the signature Frontdesk adds) and
DMARC (what to do with mail that passes neither, and which domains must line up with the
From header). Bounces come back to the envelope sender's domain, so its MX must lead to
Frontdesk. This package looks all of that up and turns it into findings a deployer can act
on: a status, a sentence in plain words, why it matters, and the exact record to publish.

Nothing here reads the settings or the system's DNS configuration: the caller passes a
``MailSetup`` and a dnspython resolver, so tests point the checks at a DNS server on
loopback. Every DNS failure (no such name, no record, a timeout, a server failure) becomes
a finding, never an exception. The design notes are in ``docs/email.md``.

One module per check, in the order ``check_dns`` runs them: ``mail_setup`` (the sender
and the links, no DNS), ``spf``, ``dkim_key`` (also makes the key ``frontdesk mail
dkim-key`` prints), ``dmarc`` (and alignment), ``bounces`` (the MX); besides them
``lookups`` (asking DNS), ``findings`` (what a check says), ``probe`` (the test e-mail of
``--to``) and ``report`` (the findings as text).
"""

from __future__ import annotations

import dns.resolver

from frontdesk.mail.check.bounces import check_bounces, check_replies
from frontdesk.mail.check.dkim_key import (
    DKIM_KEY_BITS,
    DkimPublicKey,
    check_dkim,
    dkim_public_key,
    dkim_record,
    new_dkim_private_key,
)
from frontdesk.mail.check.dmarc import check_dmarc, organizational_domain
from frontdesk.mail.check.findings import Check, DnsRecord, Finding, Status
from frontdesk.mail.check.lookups import (
    DnsLookups,
    IpAddress,
    IpNetwork,
    Lookup,
    LookupFailure,
    make_resolver,
)
from frontdesk.mail.check.mail_setup import MailSetup, check_links, check_sender
from frontdesk.mail.check.probe import (
    TEST_EMAIL_SUBJECT,
    compose_test_email,
    send_test_email,
    unsent_test_email,
)
from frontdesk.mail.check.report import render_text, setup_lines, summary_line
from frontdesk.mail.check.spf import SPF_LOOKUP_LIMIT, check_spf

__all__ = [
    "DKIM_KEY_BITS",
    "SPF_LOOKUP_LIMIT",
    "TEST_EMAIL_SUBJECT",
    "Check",
    "DkimPublicKey",
    "DnsLookups",
    "DnsRecord",
    "Finding",
    "IpAddress",
    "IpNetwork",
    "Lookup",
    "LookupFailure",
    "MailSetup",
    "Status",
    "check_bounces",
    "check_dkim",
    "check_dmarc",
    "check_dns",
    "check_links",
    "check_sender",
    "check_spf",
    "compose_test_email",
    "dkim_public_key",
    "dkim_record",
    "make_resolver",
    "new_dkim_private_key",
    "organizational_domain",
    "render_text",
    "send_test_email",
    "setup_lines",
    "summary_line",
    "unsent_test_email",
]


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
    findings += check_replies(setup, dns_lookups)
    findings.append(check_links(setup))
    return findings
