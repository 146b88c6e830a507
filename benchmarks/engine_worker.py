"""The engine benchmark's memory of the process that keeps the schedule, worker against
worker (benchmarks/engine.py).

Celery's worker holds every countdown task in its memory until it is due. Frontdesk keeps
its schedule in the database, and the process that decides and e-mails is the engine: a
``frontdesk worker`` beside the serves (issue 15's scale-out), or the engine inside a
single ``frontdesk serve`` (measured over HTTP, with the whole product around it).

Here a ``frontdesk worker`` (core 0) runs while N visitors write their first messages
in-process (its RSS sampled as the pending count grows), 80 % are called off, and it
decides the rest at their due times and e-mails them to an SMTP sink in another process.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    bench_database,
    frontdesk_env,
    peak_rss_mb,
    pinned,
    query,
    rss_mb,
    smtp_sink,
    stop,
)
from benchmarks.engine_http import make_due, wait_settled
from benchmarks.engine_seed import SUPPRESSED_ACCOUNTS, call_off_in_process, open_all, seed
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.migrate import upgrade


def measure_worker(n: int, database: str) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database(database, Path(scratch)) as database_url,
        smtp_sink(ids=True) as (sink_port, sink),
    ):
        data = Path(scratch)
        settings = Settings(
            database_url=database_url,
            data_dir=data,
            password_hashing="fast",
            offline_email_delay=3600,
        )
        rt = Runtime.create(settings)
        upgrade(rt.database)
        seeded = seed(rt, n)
        env = frontdesk_env(
            data,
            # As deployed: a worker checks no password, so the standard hashing costs it
            # nothing (it once hashed a decoy at start, 64 MiB for a moment).
            password_hashing="standard",
            worker_max_sleep="1",
            smtp_url=f"smtp://127.0.0.1:{sink_port}",
            smtp_max_connections="8",
        ) | {"FRONTDESK_DATABASE_URL": database_url}
        # A worker counts no requests: the serves' rate limits (out of the load's reach in
        # a benchmark) are no setting of its own, and it starts on the defaults.
        env = {k: v for k, v in env.items() if not k.startswith("FRONTDESK_RATE_LIMIT_")}
        with _worker(env, data / "worker.log") as pid:
            samples: list[tuple[int, float]] = []
            stop = threading.Event()
            sampler = threading.Thread(
                target=_sample, args=(database_url, pid, samples, stop), daemon=True
            )
            sampler.start()
            asyncio.run(open_all(rt, seeded.callers))
            stop.set()
            sampler.join()
            peak_with_all_pending = peak_rss_mb(pid)
            # What a serve does when its owners come online, its engine's chunks included
            # (the worker beside it is not told of them: on SQLite one process serves).
            call_off_in_process(rt, seeded.owners[:SUPPRESSED_ACCOUNTS])
            window = max(5.0, n / 10_000)
            _, due_until = make_due(rt, window)
            settled = wait_settled(rt, due_until + timedelta(seconds=max(60.0, window)))
            peak = peak_rss_mb(pid)
        rt.database.dispose()
    return {
        "peak_rss_mb": peak,
        "peak_rss_with_all_pending_mb": peak_with_all_pending,
        "rss_by_pending": samples,
        "settled_in_time": settled,
        "sink_mails": sink["mails"],
    }


@contextmanager
def _worker(env: dict[str, str], log: Path) -> Iterator[int]:
    """A ``frontdesk worker`` on core 0, up once it has said so; yields its pid."""
    command = [str(ROOT / ".venv" / "bin" / "frontdesk"), "worker", "--log-level", "warning"]
    with log.open("wb") as errors:
        process = subprocess.Popen(
            pinned(command, 0), env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        try:
            assert process.stdout is not None
            if not process.stdout.readline().startswith("Frontdesk notification worker"):
                raise RuntimeError(log.read_text() or "the worker did not start")
            yield process.pid
        finally:
            stop(process, timeout=60)


def _sample(
    database_url: str, pid: int, samples: list[tuple[int, float]], stop: threading.Event
) -> None:
    """The worker's RSS beside the count of offline notifications stored, every 0.5 s."""
    while not stop.wait(0.5):
        (count,) = query(
            database_url, "SELECT count(*) FROM notifications WHERE kind = 'offline_message'"
        )[0]
        samples.append((count, round(rss_mb(pid), 1)))
