"""The engine benchmark's baseline (benchmarks/engine.py): Celery doing the same job the usual
way, ``apply_async`` with a countdown on a local Redis, a worker that holds the tasks until
they are due, ``revoke`` for the ones called off."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import redis

from benchmarks.common import ROOT, peak_rss_mb, percentile, rss_mb, stop
from benchmarks.engine_seed import ACCOUNTS, SUPPRESSED_ACCOUNTS

CELERY_BROKER = "redis://127.0.0.1:6379/15"


def schedule(n: int) -> tuple[list[str], float]:
    """``apply_async`` with a countdown N times on an empty broker: the tasks' ids, and
    how many a second were scheduled."""
    redis.Redis.from_url(CELERY_BROKER).flushdb()
    from benchmarks.celery_app import notify

    started = time.perf_counter()
    ids = [notify.apply_async((i,), countdown=3600).id for i in range(n)]
    return ids, n / (time.perf_counter() - started)


def schedule_rate_alone(n: int) -> float:
    """Celery's schedule rate again, nothing else: measured right beside a figure of
    Frontdesk's that is compared with it (benchmarks/engine.py), then the tasks dropped."""
    _ids, rate = schedule(n)
    redis.Redis.from_url(CELERY_BROKER).flushdb()
    return rate


def measure_celery(n: int, window: float) -> dict[str, Any]:
    env = os.environ | {"BENCH_CELERY_BROKER": CELERY_BROKER}
    broker = redis.Redis.from_url(CELERY_BROKER)
    ids, schedule_rate = schedule(n)
    from benchmarks.celery_app import notify

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmarks.celery_app",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--loglevel",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.perf_counter()
        deadline = started + max(120.0, n / 200)
        rss_samples: list[tuple[int, float]] = []
        while broker.llen("celery") > 0 and time.perf_counter() < deadline:
            rss_samples.append((n - broker.llen("celery"), round(rss_mb(worker.pid), 1)))
            time.sleep(0.5)
        taken_seconds = time.perf_counter() - started
        time.sleep(1.0)  # the last ones decoded into the worker's schedule
        worker_rss = peak_rss_mb(worker.pid)
        left_in_queue = broker.llen("celery")
        suppressed = ids[: n * SUPPRESSED_ACCOUNTS // ACCOUNTS]
        started = time.perf_counter()
        for chunk in range(0, len(suppressed), 1000):
            notify.app.control.revoke(suppressed[chunk : chunk + 1000])
        revoke_rate = len(suppressed) / (time.perf_counter() - started)
        lateness = celery_lateness(broker, n - len(suppressed), window)
    finally:
        stop(worker, timeout=60)
        broker.flushdb()
    return {
        "schedule_per_second": schedule_rate,
        "worker_peak_rss_mb": worker_rss,
        "worker_took_all_seconds": taken_seconds,
        "left_in_queue": left_in_queue,
        "revoke_per_second": revoke_rate,
        "rss_by_pending": rss_samples,
        **lateness,
    }


def celery_lateness(broker: redis.Redis, count: int, window: float) -> dict[str, float]:
    """``count`` tasks due evenly over ``window`` seconds (``eta``), run by the worker that
    holds the others: how late each ran, as the task itself measured it."""
    from benchmarks.celery_app import LATENESS_KEY, decide

    broker.delete(LATENESS_KEY)
    start = time.time() + 3 + count / 500  # all scheduled before the first is due
    for i in range(count):
        due = start + window * i / count
        decide.apply_async((due,), eta=datetime.fromtimestamp(due, UTC))
    deadline = start + window + max(60.0, window)
    while broker.llen(LATENESS_KEY) < count and time.time() < deadline:
        time.sleep(0.5)
    values = [float(v) for v in broker.lrange(LATENESS_KEY, 0, -1)]
    return {
        "decided_at_due": len(values),
        "lateness_p50_s": percentile(values, 0.50),
        "lateness_p99_s": percentile(values, 0.99),
        "lateness_max_s": max(values, default=float("nan")),
    }
