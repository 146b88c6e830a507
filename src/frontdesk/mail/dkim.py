"""DKIM signatures (RFC 6376) over the final bytes of each e-mail.

Signed when ``dkim_domain``, ``dkim_selector`` and ``dkim_private_key_file`` are set. The
signature covers the headers a receiver judges an e-mail by and that a forger would want to
change — From, To, Subject, Date, Message-ID, the threading headers, List-Id and the two
unsubscribe headers (RFC 8058 asks that List-Unsubscribe and List-Unsubscribe-Post be
signed) — and the body. Canonicalization is relaxed/relaxed, which survives the re-folding
and whitespace changes relays make.

dkimpy parses, canonicalizes and hashes, and writes the header; the RSA signature itself is
OpenSSL's (``cryptography``). dkimpy's own RSA is pure Python, 8 ms an e-mail, which alone
held the engine to ~120 e-mails a second; OpenSSL takes 0.3 ms for the same signature
(docs/performance.md). RSA PKCS#1 v1.5 signatures are deterministic, so the header is the
one dkimpy would write, byte for byte (``tests/mail/test_dkim.py``).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

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


_RELAXED = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_HEADER = b"DKIM-Signature"


class DkimSigner:
    def __init__(
        self,
        *,
        domain: str,
        selector: str,
        private_key: bytes,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.domain = domain
        self.selector = selector
        self._now = now
        # Fail at start-up, not at the first e-mail, when the key is not one that signs.
        try:
            key = serialization.load_pem_private_key(private_key, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimKeyError(f"the DKIM private key cannot sign: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DkimKeyError("the DKIM private key cannot sign: it is not an RSA key")
        self._key = key
        try:
            self.sign(b"From: check@" + domain.encode() + b"\r\nSubject: check\r\n\r\ncheck\r\n")
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
        """``message`` with a ``DKIM-Signature`` header in front of it: rsa-sha256,
        relaxed/relaxed, the fields in the order dkimpy's ``sign`` writes them."""
        headers, body = dkim.rfc822_parse(message)
        present = {name.lower() for name, _ in headers}
        signed = tuple(h.lower().encode() for h in SIGNED_HEADERS if h.lower().encode() in present)
        domain = self.domain.encode()
        body_hash = base64.b64encode(hashlib.sha256(_RELAXED.canonicalize_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", _RELAXED.to_c_value()),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector.encode()),
            (b"t", str(int(self._now())).encode()),
            (b"h", b" : ".join(signed)),
            (b"bh", body_hash),
            # A stand-in as long as dkimpy's, so that b= folds onto a line of its own.
            (b"b", b"0" * 60),
        ]
        folded = dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(_HEADER))
        hasher = hashlib.sha256()
        dkim.hash_headers(
            hasher,
            _RELAXED,
            _RELAXED.canonicalize_headers(headers),
            signed,
            (_HEADER, b" " + dkim.RE_BTAG.sub(b"\\1", folded)),
            dict(fields),
        )
        signature = self._key.sign(
            hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )
        fields[-1] = (b"b", base64.b64encode(signature))
        value = b"; ".join(b"=".join(f) for f in fields) + b"\r\n"
        header: bytes = dkim.fold(value, namelen=len(_HEADER))
        return _HEADER + b": " + header + message
