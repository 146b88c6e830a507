"""Prometheus metrics of the notification engine, served at ``/metrics``.

Counters are per process (each ``frontdesk serve`` or ``frontdesk worker`` serves its own,
and Prometheus adds them up). They are counted after the transaction that made the decision
or recorded the delivery has committed, so a rolled-back decision is never counted.

A ``serve`` answers ``/metrics`` on its HTTP port; a ``frontdesk worker`` has none, so it
answers on ``worker_metrics_port`` when that is set (``serve_metrics``): a WSGI server of the
standard library on a thread of its own, with the serve's rule for who may read them.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from frontdesk.errors import FrontdeskError, NotAuthenticated, NotFound
from frontdesk.peers import is_loopback, proxied

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

REGISTRY = CollectorRegistry(auto_describe=True)

NOTIFICATIONS = Counter(
    "frontdesk_notifications",
    "Notification decisions, by kind, outcome and reason (empty when sent).",
    ["kind", "state", "reason"],
    registry=REGISTRY,
)
DELIVERY_ATTEMPTS = Counter(
    "frontdesk_delivery_attempts",
    "Attempts to hand a notification e-mail to the mail server, by result.",
    ["result"],
    registry=REGISTRY,
)
BOUNCES = Counter(
    "frontdesk_bounces",
    "Delivery-status notifications that reported a failure, by what they did: bounced, "
    "duplicate, not_sent (the delivery was not accepted), unknown (no such delivery), "
    "forged (a return path this installation did not make).",
    ["result"],
    registry=REGISTRY,
)
DECISION_LATENESS = Histogram(
    "frontdesk_decision_lateness_seconds",
    "How long after its due time a scheduled notification was decided.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)


def decided(
    kind: str, state: str, reason: str | None, lateness: float | None = None, *, count: int = 1
) -> None:
    NOTIFICATIONS.labels(kind=kind, state=state, reason=reason or "").inc(count)
    if lateness is not None:
        DECISION_LATENESS.observe(max(lateness, 0.0))


def delivery_attempted(result: str) -> None:
    DELIVERY_ATTEMPTS.labels(result=result).inc()


def bounce_received(result: str) -> None:
    BOUNCES.labels(result=result).inc()


def exposition() -> bytes:
    return generate_latest(REGISTRY)


class MetricsServer:
    """``/metrics`` of a process without an HTTP side, on a thread: ``stop()`` ends it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(host: str, port: int, token: str | None) -> MetricsServer:
    """Answer ``GET /metrics`` on ``host:port`` (port 0: any free one) as a serve does: for
    the bearer of ``token``, or without one, for this machine only (docs/security.md)."""
    server = make_server(host, port, _metrics_app(token), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)


def check_reader(token: str | None, *, this_machine: bool, authorization: str) -> None:
    """Who may read the metrics, a serve's and a worker's alike: the bearer of ``token``,
    or without one, a request from this machine only. Raises NotFound or NotAuthenticated."""
    if token is None:
        if not this_machine:
            raise NotFound(
                "The metrics answer only this machine unless FRONTDESK_METRICS_TOKEN is set.",
                code="metrics_unavailable",
            )
    elif not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        raise NotAuthenticated(
            "Send FRONTDESK_METRICS_TOKEN as 'Authorization: Bearer <token>'.",
            code="invalid_token",
        )


def _metrics_app(token: str | None) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in (
            "GET",
            "HEAD",
        ):
            return _error(start_response, NotFound("Only GET /metrics."))
        headers = (
            key[5:].lower().replace("_", "-").encode() for key in environ if key.startswith("HTTP_")
        )
        try:
            check_reader(
                token,
                this_machine=not proxied(headers) and is_loopback(environ.get("REMOTE_ADDR", "")),
                authorization=environ.get("HTTP_AUTHORIZATION", ""),
            )
        except FrontdeskError as refused:
            return _error(start_response, refused)
        body = exposition()
        start_response(
            "200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def _error(start_response: StartResponse, error: FrontdeskError) -> list[bytes]:
    """The HTTP side's error body (frontdesk.api.errors) for a request to a worker."""
    body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
    status = HTTPStatus(error.http_status)
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


class _QuietHandler(WSGIRequestHandler):
    """Each scrape is not worth a line of the log; errors still are."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return
