"""The DKIM signer: dkimpy's canonicalization and header, OpenSSL's RSA."""

from __future__ import annotations

import time
from functools import partial

import dkim
import pytest

from frontdesk.mail.check.dkim_key import dkim_public_key, new_dkim_private_key
from frontdesk.mail.dkim import DkimKeyError, DkimSigner
from tests.mail.dkim_dns import dns_answering

MESSAGE = (
    b"From: Frontdesk <frontdesk@shop.example>\r\n"
    b"To: =?utf-8?q?Ol=C3=ADga?= <olga@shop.example>\r\n"
    b"Subject: New message from Anna on Shop\r\n"
    b"Date: Wed, 25 Nov 2026 19:40:00 +0000\r\n"
    b"Message-ID: <frontdesk.delivery.1@shop.example>\r\n"
    b"List-Unsubscribe: <https://chat.shop.example/u/x>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"X-Not-Signed: anything\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"\r\n"
    b"Hello  there,\r\n"
    b".a line with a dot\r\n"
    b"\r\n"
    b"\r\n"
)


@pytest.fixture(scope="module")
def key() -> bytes:
    return new_dkim_private_key()


def test_the_header_is_the_one_dkimpy_writes_byte_for_byte(key: bytes) -> None:
    """RSA PKCS#1 v1.5 signatures are deterministic: with the same time in t=, the header
    is dkimpy's own (its RSA in Python, ours in OpenSSL)."""
    for _ in range(5):
        now = int(time.time())
        ours = DkimSigner(
            domain="shop.example", selector="fd2026", private_key=key, now=partial(int, now)
        ).sign(MESSAGE)
        theirs = (
            dkim.sign(
                MESSAGE,
                b"fd2026",
                b"shop.example",
                key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[
                    b"From",
                    b"To",
                    b"Subject",
                    b"Date",
                    b"Message-ID",
                    b"List-Unsubscribe",
                    b"List-Unsubscribe-Post",
                    b"MIME-Version",
                    b"Content-Type",
                ],
            )
            + MESSAGE
        )
        if f"t={now};".encode() in theirs:  # signed in the same second
            assert ours == theirs
            assert b"x-not-signed" not in ours.split(b"\r\n\r\n")[0].split(b"h=")[1]
            return
    pytest.fail("dkimpy never signed within the second of ours")


def test_a_receiver_verifies_it_and_rejects_a_change(key: bytes) -> None:
    signed = DkimSigner(domain="shop.example", selector="fd2026", private_key=key).sign(MESSAGE)
    record = dkim_public_key(key).record_value()
    with dns_answering({"fd2026._domainkey.shop.example.": record}) as dnsfunc:
        assert dkim.verify(signed, dnsfunc=dnsfunc)
        assert not dkim.verify(signed.replace(b"Hello", b"Hallo"), dnsfunc=dnsfunc)
        assert not dkim.verify(signed.replace(b"Anna", b"Eve"), dnsfunc=dnsfunc)
        # Relaxed canonicalization: what relays do to whitespace does not break it.
        assert dkim.verify(signed.replace(b"Hello  there", b"Hello there"), dnsfunc=dnsfunc)


@pytest.mark.parametrize(
    "private_key",
    [b"", b"-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"],
)
def test_a_key_that_cannot_sign_stops_the_start(private_key: bytes) -> None:
    with pytest.raises(DkimKeyError):
        DkimSigner(domain="shop.example", selector="fd2026", private_key=private_key)


def test_a_key_that_is_not_rsa_stops_the_start() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(DkimKeyError, match="not an RSA key"):
        DkimSigner(domain="shop.example", selector="fd2026", private_key=pem)
