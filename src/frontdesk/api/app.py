"""The ASGI application: ``create_app(runtime)`` wires the routers, the error mapping and the
request limits around one ``Runtime``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import frontdesk
from frontdesk import metrics
from frontdesk.api.clients import ClientAddresses, from_this_machine
from frontdesk.api.cors import WidgetCors
from frontdesk.api.deps import PasswordChecks
from frontdesk.api.docs_page import swagger_ui
from frontdesk.api.errors import install_error_handlers
from frontdesk.api.hot import HotPaths
from frontdesk.api.limits import BodyLimit
from frontdesk.api.live import Live
from frontdesk.api.ratelimits import RateLimitLayer, RateLimits
from frontdesk.api.routes import (
    accounts,
    agents,
    alerts,
    conversations,
    groups,
    hours,
    inbound,
    mailbox,
    notifications,
    presence,
    push,
    reachability,
    sockets,
    unsubscribe,
    webhooks,
    widget,
)
from frontdesk.api.schemas.common import ErrorOut
from frontdesk.engine.inbound import InboundReceiver
from frontdesk.engine.mailer import Mailer
from frontdesk.engine.worker import NotificationWorker
from frontdesk.health import readiness
from frontdesk.realtime.heap import HeapKeeper
from frontdesk.realtime.hub import Hub, LocalHub
from frontdesk.realtime.keeper import PresenceKeeper
from frontdesk.service.runtime import ACCESS_CHANNEL, Runtime
from frontdesk.web import routes as web

API_PREFIX = "/api/v1"
# After losing the access channel, listen again after this long (seconds).
ACCESS_RETRY_PAUSE = 1.0

log = logging.getLogger("frontdesk.api")


class FrontdeskApp(FastAPI):
    """FastAPI, with the hot paths (frontdesk.api.hot) served in front of its layers."""

    # In front of everything but the client's address: the rate limits, then the hot
    # paths, then FastAPI's own layers.
    front: ASGIApp | None = None
    hot_paths: HotPaths | None = None
    # Told of each HTTP request: its full collections wait for a second with few of them.
    heap: HeapKeeper | None = None
    # Who each request and socket comes from, for every route, socket and limit alike.
    clients: ClientAddresses | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.clients is not None and scope["type"] != "lifespan":
            self.clients.resolve(scope)
        if scope["type"] != "http":
            await self._serve(scope, receive, send)
            return
        answer = Answer(send, api=scope["path"].startswith(API_PREFIX))
        if self.heap is not None:
            self.heap.request()
        try:
            await self._serve(scope, receive, answer)
        except Exception:
            if not answer.complete:
                raise
            # Starlette raises again what its last handler (frontdesk.api.errors) has already
            # answered and logged. The answer is whole: the connection serves the next
            # request, where the server would otherwise close it unannounced and leave the
            # client unsure whether its request was carried out.

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:  # it hands every other request on to FastAPI.__call__
            await self.front(scope, receive, send)


# On every answer that does not set its own: the browser takes a file for the type it is
# said to be, and no page of Frontdesk tells another site where it came from (a
# conversation's address in the dashboard names a visitor).
_SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
# On the API's answers besides: what they carry is one person's, never for a shared cache.
_API_HEADERS = ((b"cache-control", b"no-store"),)


class Answer:
    """The ``send`` of an HTTP request: adds the security headers to its answer, and knows
    whether the answer has been sent whole."""

    __slots__ = ("_send", "_wanted", "complete")

    def __init__(self, send: Send, *, api: bool) -> None:
        self._send = send
        self._wanted = _SECURITY_HEADERS + _API_HEADERS if api else _SECURITY_HEADERS
        self.complete = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {bytes(name).lower() for name, _ in headers}
            headers.extend(pair for pair in self._wanted if pair[0] not in present)
            message = {**message, "headers": headers}
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)


def create_app(runtime: Runtime, *, hub: Hub | None = None) -> FastAPI:
    """The application. Its lifespan runs the live side (the hub, socket lease renewal and
    the presence sweep) and, unless ``run_worker`` is off, the notification engine with its
    mail transport; without it (a test client outside ``with``) the API still works and
    nothing runs in the background."""
    if hub is None:
        settings = runtime.settings
        if settings.redis_url:
            # Imported only when used: redis-py is ~7 MB of a process that does not need it.
            from frontdesk.realtime.redis_hub import RedisHub

            hub = RedisHub(settings.redis_url, prefix=settings.redis_prefix)
        else:
            hub = LocalHub()
    keeper = PresenceKeeper(runtime, hub)
    mailer = Mailer(runtime.settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        await keeper.start()
        access = (
            asyncio.create_task(_hear_access_changes(runtime), name="access-changes")
            if runtime.database.is_postgresql
            else None
        )
        worker = None
        if runtime.settings.run_worker:
            await mailer.start()
            worker = NotificationWorker(runtime, mailer)
            await worker.start()
        app.state.mailer = mailer
        # The inbound endpoint (SMTP: bounces, replies), when inbound_port is set;
        # ``frontdesk inbound`` runs it alone instead.
        receiver = None
        if runtime.settings.inbound_port is not None:
            receiver = InboundReceiver(runtime)
            await receiver.start()
        app.state.inbound_receiver = receiver
        # What was loaded to start (the framework, the models, the templates: about half a
        # million objects) stays for good; frozen, the collector stops walking it in each
        # full collection, which took 110-150 ms and showed as the p99 of every request
        # (docs/performance.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            # Each part within its share of the shutdown's time: one that hangs (a
            # connection that never answers) is left behind, not waited for forever.
            bound = runtime.settings.shutdown_timeout
            if receiver is not None:
                await _stopped("the bounce receiver", receiver.stop(), bound)
            if worker is not None:
                await _stopped("the notification engine", worker.stop(), bound)
            await _stopped("the mail transport", mailer.stop(), bound)
            await _stopped("the presence keeper", keeper.stop(), bound)
            await _stopped("the live hub", hub.stop(), bound)
            if access is not None:
                access.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await access
                runtime.agent_callers.forget_all(trusted=False)

    app = FrontdeskApp(
        lifespan=lifespan,
        title="Frontdesk",
        version=frontdesk.__version__,
        summary="Live chat whose e-mail notifications are sent exactly when they should be.",
        openapi_url="/openapi.json",
        # /docs is Swagger UI at a pinned version with integrity hashes (docs_page).
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry here: FastAPI would otherwise look for a provider on every
        # request (docs/performance.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        responses={
            400: {"model": ErrorOut},
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
            404: {"model": ErrorOut},
            409: {"model": ErrorOut},
            413: {"model": ErrorOut},
            422: {"model": ErrorOut},
        },
    )
    app.state.runtime = runtime
    app.state.hub = hub
    app.state.keeper = keeper
    app.state.openings = asyncio.Semaphore(runtime.settings.socket_openings_at_once)
    app.state.frame_writers = sockets.FrameWriters()
    app.state.agent_sockets = sockets.SocketsPerAgent(runtime.settings.max_sockets_per_agent)
    app.state.rate_limits = RateLimits(runtime.settings)
    app.state.password_checks = PasswordChecks(
        at_once=runtime.settings.password_checks_at_once,
        waiting=runtime.settings.password_checks_waiting,
    )
    app.heap = keeper.heap
    app.state.live = Live(hub, keeper)
    # What the runtime's operations commit is announced through this app's hub.
    app.state.live.listen(runtime.events)
    install_error_handlers(app, retry_after=runtime.settings.unavailable_retry_after)
    # Routing tries the routes in this order, one after the other: the widget's, which
    # every visitor of every site calls, go first (docs/performance.md). Each router goes
    # straight into the app: every level of nesting copies each of its routes again.
    for module in (
        widget,
        accounts,
        agents,
        groups,
        hours,
        presence,
        conversations,
        notifications,
        push,
        reachability,
        alerts,
        webhooks,
        inbound,
        unsubscribe,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(mailbox.router)
    web.install(app)

    app.get("/docs", include_in_schema=False)(swagger_ui)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """The process is alive and serving (docs/deployment.md)."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Whether this process can do its work: 200, or 503 with what is wrong
        (frontdesk.health; docs/deployment.md)."""
        transport = mailer.transport
        found = await readiness(
            runtime.settings,
            runtime.database,
            smtp_last=None if transport is None else transport.last_outcome,
            sending=runtime.settings.run_worker,
        )
        return JSONResponse(found.as_json(), status_code=200 if found.ready else 503)

    metrics_token = runtime.settings.metrics_token

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        """The engine's counters in Prometheus' text format (docs/notifications.md), for
        the bearer of ``metrics_token``, or without one set, for this machine only."""
        metrics.check_reader(
            None if metrics_token is None else metrics_token.get_secret_value(),
            this_machine=from_this_machine(request.scope),
            authorization=request.headers.get("authorization", ""),
        )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        BodyLimit,
        max_bytes=runtime.settings.max_request_body_bytes,
        # A mail provider's post of a reply e-mail, attachments and all.
        larger_for={f"{API_PREFIX}/inbound/mime": runtime.settings.reply_max_bytes},
    )
    # The widget's script travels to every visitor of every page: compressed it is about a
    # third (benchmarks/web_weight.py). Answers under 1 KB are not worth the CPU.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    # Outside the body limit, so that a refused body still carries the CORS headers the
    # widget's browser needs to read the refusal.
    app.add_middleware(WidgetCors, widget_prefix=f"{API_PREFIX}/widget/")
    # The visitor message, the hottest request, ahead of all of the above and of FastAPI's
    # own layers: frontdesk.api.hot. The WebSockets too, which need none of FastAPI's
    # routing and layers: see frontdesk.api.routes.sockets.
    app.clients = ClientAddresses(runtime.settings.trusted_proxies)
    app.hot_paths = HotPaths(
        sockets.SocketRoutes(partial(FastAPI.__call__, app), prefix=API_PREFIX, owner=app),
        runtime=runtime,
        prefix=API_PREFIX,
        max_body_bytes=runtime.settings.max_request_body_bytes,
    )
    app.front = RateLimitLayer(app.hot_paths, limits=app.state.rate_limits, prefix=API_PREFIX)
    return app


async def _stopped(what: str, stopping: Coroutine[Any, Any, None], seconds: float) -> None:
    """``stopping`` awaited for at most ``seconds``; then cancelled and left behind."""
    task = asyncio.ensure_future(stopping)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("%s did not stop within %g s; shutting down without it", what, seconds)
    elif task.exception() is not None:
        log.error("%s failed to stop", what, exc_info=task.exception())


async def _hear_access_changes(runtime: Runtime) -> None:
    """On PostgreSQL: every process's change of an agent's access (``ACCESS_CHANNEL``)
    empties this process's remembered agent tokens. They are remembered only while the
    channel is listened to, so a change is never missed for a lost connection."""
    callers = runtime.agent_callers
    while True:
        try:
            async for _payload in runtime.hear_others(
                ACCESS_CHANNEL, listening=lambda: callers.forget_all(trusted=True)
            ):
                callers.forget_all()
        except Exception:
            log.warning("lost the access channel; agent tokens are looked up until it is back")
        callers.forget_all(trusted=False)
        await asyncio.sleep(ACCESS_RETRY_PAUSE)
