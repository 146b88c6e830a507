"""The DMARC check: does the From domain (or its organizational domain) publish a policy
that makes receivers act on mail failing SPF and DKIM, and do the envelope sender and the
DKIM signature line up with the From domain so Frontdesk's own mail passes?"""

from __future__ import annotations

import dataclasses
import re

from frontdesk.mail.check.findings import Check, DnsRecord, Finding, Status
from frontdesk.mail.check.lookups import DnsLookups, record_tags, unchecked
from frontdesk.mail.check.mail_setup import MailSetup

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
            return [unchecked(Check.DMARC, lookup, why)]
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
    tags = record_tags(records[0])
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
