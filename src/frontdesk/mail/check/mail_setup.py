"""What Frontdesk sends with (``MailSetup``, built by the CLI from the settings), and the
two checks that need no DNS: a sender at a real domain, and links the e-mails can carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from frontdesk.mail.check.findings import Check, Finding, Status
from frontdesk.mail.verp import bare_address, return_path_base


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
    # The domain of the reply addresses (docs/reply-by-email.md); None: reply by e-mail off.
    reply_domain: str | None = None

    @property
    def from_address(self) -> str:
        return bare_address(self.mail_from)

    @property
    def from_domain(self) -> str:
        return domain_of(self.from_address)

    @property
    def public_host(self) -> str | None:
        return urlsplit(self.public_url).hostname if self.public_url else None

    @property
    def envelope_address(self) -> str:
        return return_path_base(self.bounce_address, self.mail_from)

    @property
    def envelope_domain(self) -> str:
        return domain_of(self.envelope_address)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


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
        domain = domain_of(address) if "@" in address else ""
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
