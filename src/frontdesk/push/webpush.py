"""One push to one subscription, and what the push service answered.

The payload is encrypted for the subscription (``aes128gcm``, RFC 8291) with ``pywebpush``,
and the request carries a VAPID token (RFC 8292) signed with ``py_vapid``: ``vapid
t=<JWT>,k=<public key>``, the JWT's ``aud`` the push service's origin, ``exp`` twelve hours
on the clock passed in, ``sub`` the installation's contact. The HTTP request is aiohttp's,
one session for all pushes of a sender. Both libraries, and ``cryptography`` for the key,
are imported when they are first needed, not with this module: a process that pushes
nothing does not hold them (``cryptography`` alone is 9 MB of a worker's memory).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import aiohttp

# RFC 8292: a token valid for at most 24 hours; twelve leaves room for clocks that differ.
VAPID_VALID_FOR = timedelta(hours=12)
# What a push may carry: 4,096 bytes encrypted (RFC 8291 section 4) is 3,993 of payload.
MAX_PAYLOAD_BYTES = 3993
ENDPOINT_MAX = 2048
# The order of P-256's group: a private key is a number from 1 to N - 1.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class PushResult(StrEnum):
    SENT = "sent"  # the push service took it (201)
    GONE = "gone"  # the subscription no longer exists (404, 410): forget it
    RETRY = "retry"  # try again later (429, 5xx, no answer)
    REFUSED = "refused"  # the push service will not take it (another 4xx)


@dataclass(frozen=True, slots=True)
class PushAnswer:
    result: PushResult
    status: int | None  # the HTTP status, None when there was no answer
    text: str  # what the push service said, or why there was no answer (at most 300 chars)


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a browser's ``PushSubscription.toJSON()`` gives: where to push, and the keys to
    encrypt for (base64url)."""

    endpoint: str
    p256dh: str
    auth: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VapidKey:
    """This installation's VAPID key pair (P-256), made from a secret of 32 random bytes."""

    def __init__(self, secret: bytes) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        scalar = int.from_bytes(secret, "big") % (_P256_ORDER - 1) + 1
        self.private_key = ec.derive_private_key(scalar, ec.SECP256R1())
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        # What a browser's PushManager.subscribe() takes as applicationServerKey.
        self.public_key = _b64url(point)

    def authorization(self, endpoint: str, *, contact: str, now: datetime) -> str:
        """The ``Authorization`` header of a push to ``endpoint``."""
        from py_vapid import Vapid02

        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int((now + VAPID_VALID_FOR).timestamp()),
            "sub": contact,
        }
        return str(Vapid02(self.private_key).sign(claims)["Authorization"])


def subscription_problem(subscription: Subscription, *, http_hosts: list[str]) -> str | None:
    """Why a browser's subscription cannot be pushed to, or None: the endpoint must be an
    https URL (plain http only to ``http_hosts``, a push service on this machine), the keys a
    P-256 public key and a 16-byte secret."""
    endpoint = subscription.endpoint
    if len(endpoint) > ENDPOINT_MAX:
        return f"endpoint must be at most {ENDPOINT_MAX} characters"
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018  (a port out of range raises)
    except ValueError:
        return "endpoint must be a URL"
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return "endpoint must be a URL with a host and no user name or password"
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in http_hosts):
        return "endpoint must be an https URL"
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        point = _unb64url(subscription.p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, binascii.Error):
        return "keys.p256dh must be a P-256 public key, base64url-encoded"
    try:
        secret = _unb64url(subscription.auth)
    except (ValueError, binascii.Error):
        secret = b""
    if len(secret) != 16:
        return "keys.auth must be 16 bytes, base64url-encoded"
    return None


class PushSender:
    """Sends pushes over one HTTP session: ``async with PushSender(...) as sender``."""

    def __init__(self, key: VapidKey, *, contact: str, timeout: float) -> None:
        self.key = key
        self.contact = contact
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PushSender:
        import aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            # A push service that redirects is not followed: the endpoint is the one the
            # browser gave, nothing else.
            raise_for_status=False,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def push(
        self,
        subscription: Subscription,
        payload: bytes,
        *,
        now: datetime,
        ttl: int,
        topic: str | None = None,
        urgency: str = "high",
    ) -> PushAnswer:
        """Encrypt ``payload`` for the subscription and hand it to its push service.
        ``topic`` (RFC 8030 section 5.4: at most 32 base64url characters) makes the push
        service replace a push of the same topic that it has not delivered yet."""
        import aiohttp
        from pywebpush import WebPusher

        assert self._session is not None, "use the sender inside `async with`"
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"a push carries at most {MAX_PAYLOAD_BYTES} bytes")
        headers: dict[str, Any] = {
            "Authorization": self.key.authorization(
                subscription.endpoint, contact=self.contact, now=now
            ),
            "Urgency": urgency,
        }
        if topic is not None:
            headers["Topic"] = topic
        encrypted = WebPusher(
            {
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            }
        ).encode(payload, "aes128gcm")
        headers |= {"Content-Encoding": "aes128gcm", "TTL": str(ttl)}
        try:
            async with self._session.post(
                subscription.endpoint,
                data=encrypted["body"],
                headers=headers,
                allow_redirects=False,
            ) as response:
                said = (await response.text(errors="replace"))[:300]
                return PushAnswer(_result_of(response.status), response.status, said)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return PushAnswer(PushResult.RETRY, None, (str(exc) or type(exc).__name__)[:300])


def _result_of(status: int) -> PushResult:
    if status in (200, 201, 202):
        return PushResult.SENT
    if status in (404, 410):
        return PushResult.GONE
    if status == 429 or status >= 500:
        return PushResult.RETRY
    return PushResult.REFUSED
