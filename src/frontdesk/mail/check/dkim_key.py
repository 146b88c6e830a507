"""The DKIM key as DNS sees it: a new signing key (``frontdesk mail dkim-key``), its public
half, the TXT record that publishes it, and the check that DNS publishes that very key.

Signing itself is ``frontdesk.mail.dkim``; this module only reads keys and records.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from frontdesk.mail.check.findings import Check, DnsRecord, Finding, Status
from frontdesk.mail.check.lookups import DNS_NAME, DnsLookups, record_tags, unchecked
from frontdesk.mail.check.mail_setup import MailSetup

DKIM_KEY_BITS = 2048


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


def dkim_record(selector: str, domain: str, key: DkimPublicKey) -> DnsRecord:
    for what, name in (("selector", selector), ("domain", domain)):
        if not DNS_NAME.fullmatch(name):
            raise ValueError(f"the {what} {name!r} is not a DNS name")
    return DnsRecord(f"{selector}._domainkey.{domain.rstrip('.')}", "TXT", key.record_value())


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
        return [unchecked(Check.DKIM, lookup, why)]
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
    tags = record_tags(records[0])
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
