"""The Celery side of benchmarks/engine.py: the usual way to schedule "e-mail this in two
minutes unless called off": ``apply_async(countdown=…)``, and ``revoke`` to call it off, on
the local Redis broker, Celery's defaults otherwise. Installed only for the benchmark (the
``bench`` extra).

    celery -A benchmarks.celery_app worker --concurrency 1 --pool solo
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
app = Celery("frontdesk_bench", broker=BROKER)


@app.task(name="bench.notify")
def notify(conversation: int) -> int:
    """What a scheduled notification does at its due time (here: nothing to send)."""
    return conversation


@app.task(name="bench.decide")
def decide(due: float) -> None:
    """A task due at ``due`` (epoch seconds): records how late the worker ran it."""
    lateness = time.time() - due
    _results().rpush(LATENESS_KEY, f"{lateness:.6f}")


LATENESS_KEY = "bench:lateness"


def _results() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER)
    return _client


_client: redis.Redis | None = None
