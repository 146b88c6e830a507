"""A Web Push service on loopback, as a browser's push service is to Frontdesk: it takes
pushes over HTTP (RFC 8030), checks each one's VAPID token (RFC 8292) against the
installation's public key with its own code, and decrypts the payload (RFC 8291,
``aes128gcm``) with the private key of the subscription a test made, as the browser would.

``PushService.subscribe()`` plays the browser: a new P-256 key pair and auth secret, and
the subscription JSON the browser would post. ``answer`` makes the service refuse a
subscription's pushes with a status (410: the browser unsubscribed).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One subscription, as the browser that made it holds it."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription_json(self) -> dict[str, Any]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }


@dataclass(frozen=True)
class Received:
    browser_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


@dataclass
class PushService:
    port: int
    now: Callable[[], datetime]
    vapid_public_key: str | None = None  # None: whatever key signed, if it verifies
    browsers: dict[str, Browser] = field(default_factory=dict)
    answer: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why pushes failed their checks
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def subscribe(self) -> Browser:
        browser_id = secrets.token_urlsafe(12)
        browser = Browser(
            id=browser_id,
            endpoint=f"{self.origin}/push/{browser_id}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=secrets.token_bytes(16),
        )
        self.browsers[browser_id] = browser
        return browser

    def received_by(self, browser: Browser) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.browser_id == browser.id]

    def take(self, browser_id: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Check and decrypt one push; the status to answer and why."""
        browser = self.browsers.get(browser_id)
        if browser is None:
            return 404, "no such subscription"
        if browser_id in self.answer:
            return self.answer[browser_id], "as the test asked"
        try:
            claims = self._check_vapid(headers.get("authorization", ""))
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding {headers.get('content-encoding')!r}")
            if not headers.get("ttl", "").isdigit():
                raise ValueError("no TTL")
            plain = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth
            )
            payload = json.loads(plain)
        except (ValueError, InvalidSignature, KeyError) as exc:
            with self.lock:
                self.refused.append(f"{type(exc).__name__}: {exc}")
            return 400, str(exc)
        with self.lock:
            self.received.append(Received(browser_id, payload, headers, claims))
        return 201, ""

    def _check_vapid(self, authorization: str) -> dict[str, Any]:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"Authorization scheme {scheme!r}, not vapid")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        key, token = parts["k"], parts["t"]
        if self.vapid_public_key is not None and key != self.vapid_public_key:
            raise ValueError("signed with another key than the installation's")
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(unb64url(header_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"JWT alg {header.get('alg')!r}")
        signature = unb64url(signature_b64)
        if len(signature) != 64:
            raise ValueError("an ES256 signature is 64 bytes")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        public.verify(
            encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            ),
            f"{header_b64}.{claims_b64}".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
        claims: dict[str, Any] = json.loads(unb64url(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r}, not {self.origin}")
        left = claims["exp"] - self.now().timestamp()
        if not 0 < left <= 24 * 3600:
            raise ValueError(f"exp {left:.0f} s from now")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError(f"sub {claims.get('sub')!r}")
        return claims


@contextmanager
def push_service(now: Callable[[], datetime]) -> Iterator[PushService]:
    """A push service on a free loopback port, for the duration of the block."""
    holder: list[PushService] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            browser_id = self.path.removeprefix("/push/")
            code, why = holder[0].take(browser_id, headers, body)
            data = why.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service = PushService(port=server.server_address[1], now=now)
    holder.append(service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
