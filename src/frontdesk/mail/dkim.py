"""DKIM signatures (RFC 6376) with dkimpy, over the final bytes of each e-mail.

Signed when ``dkim_domain``, ``dkim_selector`` and ``dkim_private_key_file`` are set. The
signature covers the headers a receiver judges an e-mail by and that a forger would want to
change — From, To, Subject, Date, Message-ID, the threading headers, List-Id and the two
unsubscribe headers (RFC 8058 asks that List-Unsubscribe and List-Unsubscribe-Post be
signed) — and the body. Canonicalization is relaxed/relaxed, which survives the re-folding
and whitespace changes relays make.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import dkim

SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
)


class DkimKeyError(ValueError):
    """The configured private key cannot sign."""


class DkimSigner:
    def __init__(self, *, domain: str, selector: str, private_key: bytes) -> None:
        self.domain = domain
        self.selector = selector
        self._private_key = private_key
        # Fail at start-up, not at the first e-mail, when the key is not one dkimpy reads.
        try:
            dkim.sign(
                b"From: check@" + domain.encode() + b"\r\nSubject: check\r\n\r\ncheck\r\n",
                selector.encode(),
                domain.encode(),
                private_key,
            )
        except (dkim.DKIMException, ValueError, IndexError) as exc:
            raise DkimKeyError(f"the DKIM private key cannot sign: {exc}") from exc

    @classmethod
    def from_file(cls, *, domain: str, selector: str, key_file: Path) -> DkimSigner:
        try:
            private_key = key_file.read_bytes()
        except OSError as exc:
            raise DkimKeyError(f"cannot read the DKIM private key {key_file}: {exc}") from exc
        return cls(domain=domain, selector=selector, private_key=private_key)

    def sign(self, message: bytes) -> bytes:
        """``message`` with a ``DKIM-Signature`` header in front of it."""
        present = {name.lower() for name in BytesHeaderParser(policy=compat32).parsebytes(message)}
        headers = [h.encode() for h in SIGNED_HEADERS if h.lower() in present]
        signature = dkim.sign(
            message,
            self.selector.encode(),
            self.domain.encode(),
            self._private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
        )
        return bytes(signature) + message
