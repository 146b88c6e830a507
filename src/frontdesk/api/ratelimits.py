"""Rate limits: how many requests one address, one e-mail address or one visitor may make.

Counted with the ``limits`` library in fixed windows: in this process's memory, or with
``redis_url`` set, in Redis, so that every process of an installation counts together
(docs/security.md). Every limit is a setting in ``limits``' notation ("3000/minute",
"5 per 5 minutes"; "off" for none); the defaults are the peers' (Chatwoot, Zulip).

``RateLimitLayer`` counts each request and socket by the client's address
(``frontdesk.api.clients``) before anything else runs, and the widget's visitor and
message creations besides; logins are counted by their route, failures only, per address
and per e-mail address. A request over a limit is answered 429 with ``Retry-After`` and
changes nothing; a socket over it is refused before its handshake completes.

When Redis cannot be reached, nothing is refused for it (a warning is logged, at most once
a minute): limits protect the service, and an outage of theirs must not become its own.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindow
from starlette.types import ASGIApp, Receive, Scope, Send

from frontdesk.api.errors import error_response
from frontdesk.api.hot import bearer
from frontdesk.errors import TooManyRequests
from frontdesk.security import token_digest
from frontdesk.settings import Settings, parse_limit

log = logging.getLogger("frontdesk.limits")
# How often a lost Redis is told in the log.
_WARN_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Limit:
    name: str  # the part of the storage key that tells the limits apart
    item: RateLimitItem
    amount: int  # hits a window allows
    period: float  # seconds a window lasts from its first hit


class LocalWindows:
    """Fixed windows in this process's memory, counted as ``limits``' storages count them:
    a key's window opens at its first hit and lasts the limit's period. Used from the event
    loop only, so without locks; expired windows are dropped as the table grows.

    ``limits``' own memory storage started a timer thread every 10 ms under load, each
    walking every key: 60-100 µs of CPU per visitor message (docs/performance.md)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._prune_at = 1024

    def hit(self, limit: Limit, key: str) -> float | None:
        """Count one; the seconds left of the window if it was used up (then nothing was
        counted), else None."""
        now = self._clock()
        window = self._windows.get((limit.name, key))
        if window is None or window[1] <= now:
            if len(self._windows) >= self._prune_at:
                self._prune(now)
            self._windows[(limit.name, key)] = [1, now + limit.period]
            return None if limit.amount >= 1 else limit.period
        if window[0] >= limit.amount:
            return window[1] - now
        window[0] += 1
        return None

    def left(self, limit: Limit, key: str) -> float | None:
        """Without counting: the seconds left of the window if it is used up, else None."""
        now = self._clock()
        window = self._windows.get((limit.name, key))
        if window is None or window[1] <= now or window[0] < limit.amount:
            return None
        return window[1] - now

    def _prune(self, now: float) -> None:
        self._windows = {key: w for key, w in self._windows.items() if w[1] > now}
        self._prune_at = max(1024, 2 * len(self._windows))


class RateLimits:
    """The limits of one process, with their counts in memory or in Redis."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits

        def limit(name: str, value: str) -> Limit | None:
            item = parse_limit(value)
            if item is None or not self.enabled:
                return None
            return Limit(name, item, amount=item.amount, period=float(item.get_expiry()))

        self.per_ip = limit("ip", settings.rate_limit_per_ip)
        self.login_failures_per_ip = limit("login-ip", settings.rate_limit_login_failures_per_ip)
        self.login_failures_per_email = limit(
            "login-email", settings.rate_limit_login_failures_per_email
        )
        self.signups_per_ip = limit("signup-ip", settings.rate_limit_signups_per_ip)
        self.visitors_per_ip = limit("visitor-ip", settings.rate_limit_visitors_per_ip)
        self.messages_per_ip = limit("message-ip", settings.rate_limit_messages_per_ip)
        self.messages_per_visitor = limit(
            "message-visitor", settings.rate_limit_messages_per_visitor
        )
        self._local: LocalWindows | None = None
        self._shared: AsyncFixedWindow | None = None
        if settings.redis_url:
            from limits.aio.storage import RedisStorage

            self._shared = AsyncFixedWindow(
                RedisStorage(
                    f"async+{settings.redis_url}",
                    implementation="redispy",
                    key_prefix=f"{settings.redis_prefix}:limits",
                    wrap_exceptions=True,
                )
            )
        else:
            self._local = LocalWindows()
        self._warned_at = -_WARN_EVERY

    async def hit(self, limit: Limit | None, key: str) -> float | None:
        """Count one for ``key``; the seconds until it may again if it was over its limit
        (then nothing was counted), else None."""
        if limit is None:
            return None
        if self._local is not None:
            return self._local.hit(limit, key)
        assert self._shared is not None
        return await self._ask_shared(self._shared.hit, limit, key)

    async def exhausted(self, limit: Limit | None, key: str) -> float | None:
        """Without counting: the seconds until ``key`` may again, if it has used all."""
        if limit is None:
            return None
        if self._local is not None:
            return self._local.left(limit, key)
        assert self._shared is not None
        return await self._ask_shared(self._shared.test, limit, key)

    async def _ask_shared(
        self,
        within: Callable[[RateLimitItem, str, str], Awaitable[bool]],
        limit: Limit,
        key: str,
    ) -> float | None:
        assert self._shared is not None
        try:
            if await within(limit.item, limit.name, key):
                return None
            stats = await self._shared.get_window_stats(limit.item, limit.name, key)
            return max(1.0, stats.reset_time - time.time())
        except Exception as error:
            self._lost(error)
            return None

    def _lost(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning(
                "rate limits are not counted: %s: %s", type(error).__name__, str(error)[:200]
            )


def too_many(what: str, retry_after: float) -> TooManyRequests:
    return TooManyRequests(
        f"Too many {what} from here; try again in {max(1, round(retry_after))} s.",
        retry_after=retry_after,
        code="rate_limited",
    )


class RateLimitLayer:
    """Counts each request and socket by address, and the widget's creations besides."""

    def __init__(self, app: ASGIApp, *, limits: RateLimits, prefix: str) -> None:
        self.app = app
        self.limits = limits
        self.widget_prefix = f"{prefix}/widget/"
        self.signup_path = f"{prefix}/accounts"
        widget = re.escape(self.widget_prefix)
        self.visitors = re.compile(rf"^{widget}[^/]+/visitors$")
        self.messages = re.compile(rf"^{widget}[^/]+/messages$")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = await self._over(scope)
        if refused is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            # Before the handshake: the server answers 403 and the socket never opens.
            await send({"type": "websocket.close", "code": 1008, "reason": "rate limited"})
        else:
            answer = error_response(
                429, refused.code, refused.message, retry_after=refused.retry_after
            )
            if scope["path"].startswith(self.widget_prefix):
                answer.headers["access-control-allow-origin"] = "*"
            await answer(scope, receive, send)

    async def _over(self, scope: Scope) -> TooManyRequests | None:
        limits = self.limits
        client = scope.get("client")
        address = client[0] if client else ""
        retry = await limits.hit(limits.per_ip, address)
        if retry is not None:
            return too_many("requests", retry)
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path = scope["path"]
        if path == self.signup_path:
            retry = await limits.hit(limits.signups_per_ip, address)
            return None if retry is None else too_many("sign-ups", retry)
        if not path.startswith(self.widget_prefix):
            return None
        if self.visitors.match(path):
            retry = await limits.hit(limits.visitors_per_ip, address)
            return None if retry is None else too_many("new visitors", retry)
        if self.messages.match(path):
            retry = await limits.hit(limits.messages_per_ip, address)
            if retry is None:
                token = bearer(dict(scope["headers"]).get(b"authorization", b""))
                if token is not None:
                    retry = await limits.hit(limits.messages_per_visitor, token_digest(token))
            return None if retry is None else too_many("messages", retry)
        return None
