"""Prometheus metrics of the notification engine, served at ``/metrics``.

Counters are per process (each ``frontdesk serve`` or ``frontdesk worker`` serves its own,
and Prometheus adds them up). They are counted after the transaction that made the decision
or recorded the delivery has committed, so a rolled-back decision is never counted.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

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
