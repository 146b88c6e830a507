"""One webhook delivery attempt: an HTTP POST to an endpoint, signed as the Standard Webhooks
specification says, and what the endpoint answered.

The headers are ``webhook-id`` (the same on every attempt of one event, so a receiver can
drop a repeat), ``webhook-timestamp`` (this attempt's, in seconds) and ``webhook-signature``
(``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` with the endpoint's secret),
made with the ``standardwebhooks`` reference library. Redirects are not followed.

An endpoint is somebody's URL, so the request is only made to public addresses: a name
that resolves to a loopback, private, link-local or reserved address is refused before a
connection is opened (and so is such an address written as the host), unless the host is
one of ``local_hosts``, the receivers on this machine or network that the installation
allows. The check is made on the addresses the connection then uses, so a name that
resolves differently a second later gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from frontdesk import __version__

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.abc import ResolveResult

URL_MAX = 2048
USER_AGENT = f"Frontdesk-Webhooks/{__version__}"
# What an answer is kept of, for the delivery log.
ANSWER_KEPT = 300


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    delivered: bool  # the endpoint answered 2xx
    status: int | None  # the HTTP status, None when there was no answer
    text: str  # what the endpoint said, or why there was no answer (at most 300 chars)
    duration_ms: int


def url_problem(url: str, *, local_hosts: list[str]) -> str | None:
    """Why ``url`` cannot be a webhook endpoint, or None: an https URL with a host and no
    user name or password (plain http only to ``local_hosts``); an address written as the
    host must be a public one unless it is one of ``local_hosts``."""
    if len(url) > URL_MAX:
        return f"url must be at most {URL_MAX} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port out of range raises)
    except ValueError:
        return "url must be a URL"
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return "url must be a URL with a host and no user name or password"
    if parts.scheme != "https" and not (parts.scheme == "http" and host in local_hosts):
        return "url must be an https URL"
    if host not in local_hosts and _not_public(host):
        return "url must name a public address"
    return None


def _not_public(host: str) -> bool:
    """Whether ``host`` is an address (not a name) outside the public internet."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")
    return not address.is_global


class _PublicResolver:
    """aiohttp's resolver, keeping only the public addresses of a name (all of them for
    ``local_hosts``)."""

    def __init__(self, local_hosts: list[str]) -> None:
        from aiohttp.resolver import ThreadedResolver

        self._inner = ThreadedResolver()
        self._local_hosts = local_hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if host in self._local_hosts:
            return found
        public = [r for r in found if not _not_public(r["host"])]
        if not public:
            raise OSError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


class WebhookSender:
    """Makes webhook requests over one HTTP session: ``async with WebhookSender(...) as s``."""

    def __init__(self, *, timeout: float, local_hosts: list[str]) -> None:
        self.timeout = timeout
        self.local_hosts = local_hosts
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookSender:
        import aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(resolver=_PublicResolver(self.local_hosts)),  # type: ignore[arg-type]
            raise_for_status=False,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, url: str, body: bytes, *, msg_id: str, secret: str, now: datetime
    ) -> WebhookAnswer:
        """POST ``body`` (JSON) to ``url``, signed with ``secret`` as message ``msg_id`` at
        ``now``."""
        import aiohttp
        from standardwebhooks.webhooks import Webhook

        assert self._session is not None, "use the sender inside `async with`"
        started = time.perf_counter()

        def took() -> int:
            return round((time.perf_counter() - started) * 1000)

        problem = url_problem(url, local_hosts=self.local_hosts)
        if problem is not None:
            return WebhookAnswer(False, None, problem, took())
        headers: dict[str, Any] = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        }
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                said = (await response.text(errors="replace"))[:ANSWER_KEPT]
                return WebhookAnswer(200 <= response.status < 300, response.status, said, took())
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            text = str(exc) or type(exc).__name__
            return WebhookAnswer(False, None, text[:ANSWER_KEPT], took())
