"""Benchmark (not a test): opening and calling off offline notifications at scale, against
Celery doing the same job the usual way, measured in the same run.

    .venv/bin/python -m benchmarks.engine                       # 100,000, SQLite
    .venv/bin/python -m benchmarks.engine -n 2000 --databases sqlite,postgresql

Celery (the ``bench`` extra; local Redis as broker, its defaults otherwise):

- **schedule**: ``notify.apply_async((conversation,), countdown=3600)`` N times;
- **worker memory**: a worker (``--pool solo``) started on those N tasks: Celery hands
  countdown tasks to a worker at once, which holds them in memory until they are due; its
  peak RSS once it holds all of them;
- **call off**: ``revoke`` for 80 % of them.

Frontdesk, on a fresh database (SQLite in a temporary folder, or PostgreSQL):

- **open, in-process**: N visitors, each writing its first message through the service
  call (``post_visitor_message_soon``, 256 awaited at a time: group-committed on SQLite),
  each opening an offline notification: the like-for-like comparison with ``apply_async``;
- **open, over HTTP**: the same through a real ``frontdesk serve`` (core 0) and wrk
  (core 1, 64 connections), each of N visitors' first message once;
- **memory**: the peak RSS of that ``serve`` process once the N notifications are pending
  (they are rows, not objects in memory);
- **call off**: five accounts of N/5 visitors each; the agents of four of them come
  online, which calls off 80 % of the notifications (rule 2), each recorded with its reason.

Goals (issue 11): the in-process open rate at least 10 times Celery's schedule rate, over HTTP
at least Celery's rate, peak RSS at most 1/10 of Celery's worker. Not measured here yet:
the decisions at the due times (their lateness and wrong outcomes), and the e-mails sent.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, insert, select

from benchmarks.common import (
    ROOT,
    bench_database,
    free_port,
    frontdesk_env,
    peak_rss_mb,
    pinned,
    query,
    server,
)
from benchmarks.ingest import wrk
from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.core.notifications import NotificationState
from frontdesk.service import accounts, presence, widget
from frontdesk.service.accounts import NewAgent
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.settings import Settings
from frontdesk.store.migrate import upgrade
from frontdesk.store.models import Notification, Visitor, table_of

ACCOUNTS = 5
SUPPRESSED_ACCOUNTS = 4
CONCURRENT = 256
CELERY_BROKER = "redis://127.0.0.1:6379/15"


# --- Celery ---------------------------------------------------------------------------------


def measure_celery(n: int) -> dict[str, Any]:
    env = os.environ | {"BENCH_CELERY_BROKER": CELERY_BROKER}
    broker = redis.Redis.from_url(CELERY_BROKER)
    broker.flushdb()
    from benchmarks.celery_app import notify

    started = time.perf_counter()
    ids = [notify.apply_async((i,), countdown=3600).id for i in range(n)]
    schedule_rate = n / (time.perf_counter() - started)

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
        while broker.llen("celery") > 0 and time.perf_counter() < deadline:
            time.sleep(0.2)
        taken_seconds = time.perf_counter() - started
        time.sleep(1.0)  # the last ones decoded into the worker's schedule
        worker_rss = peak_rss_mb(worker.pid)
        left_in_queue = broker.llen("celery")
        suppressed = ids[: n * SUPPRESSED_ACCOUNTS // ACCOUNTS]
        started = time.perf_counter()
        for chunk in range(0, len(suppressed), 1000):
            notify.app.control.revoke(suppressed[chunk : chunk + 1000])
        revoke_rate = len(suppressed) / (time.perf_counter() - started)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
        broker.flushdb()
    return {
        "schedule_per_second": schedule_rate,
        "worker_peak_rss_mb": worker_rss,
        "worker_took_all_seconds": taken_seconds,
        "left_in_queue": left_in_queue,
        "revoke_per_second": revoke_rate,
    }


# --- Frontdesk in-process -------------------------------------------------------------------


def seed(rt: Runtime, n: int) -> tuple[list[AgentCaller], list[VisitorCaller], list[str]]:
    """ACCOUNTS accounts, an owner each, and N visitors spread over them (inserted in bulk:
    creating visitors is not what is measured)."""
    owners: list[AgentCaller] = []
    keys: list[str] = []
    for a in range(ACCOUNTS):
        signed = accounts.sign_up(
            rt,
            name=f"Shop {a}",
            plan=Plan.STANDARD,
            owner=NewAgent(name="Olga", email=f"owner{a}@bench.example.com", password="x" * 12),
        )
        owners.append(accounts.authenticate_agent(rt, signed.token))
        keys.append(signed.account.widget_key)
    tokens = [f"fdv_bench_{secrets.token_hex(8)}" for _ in range(n)]
    now = datetime.now(UTC)
    visitors = table_of(Visitor)
    with rt.database.write() as session:
        for start in range(0, n, 5000):
            session.execute(
                insert(visitors),
                [
                    {
                        "account_id": owners[i % ACCOUNTS].account_id,
                        "token_hash": hashlib.sha256(tokens[i].encode()).hexdigest(),
                        "created_at": now,
                        "present": False,
                    }
                    for i in range(start, min(n, start + 5000))
                ],
            )
    with rt.database.read() as session:
        rows = session.execute(
            select(Visitor.id, Visitor.account_id, Visitor.token_hash).order_by(Visitor.id)
        ).all()
    by_hash = {
        row.token_hash: VisitorCaller(visitor_id=row.id, account_id=row.account_id) for row in rows
    }
    callers = [by_hash[hashlib.sha256(t.encode()).hexdigest()] for t in tokens]
    return owners, callers, tokens


async def open_all(rt: Runtime, callers: list[VisitorCaller]) -> None:
    semaphore = asyncio.Semaphore(CONCURRENT)

    async def one(caller: VisitorCaller) -> None:
        async with semaphore:
            await widget.post_visitor_message_soon(rt, caller, text="Anyone there?", group_id=None)

    await asyncio.gather(*(one(c) for c in callers))


def count_by_state(rt: Runtime) -> dict[str, int]:
    with rt.database.read() as session:
        return {
            state.value: count
            for state, count in session.execute(
                select(Notification.state, func.count()).group_by(Notification.state)
            )
        }


def measure_in_process(n: int, database_url: str, data: Path) -> dict[str, Any]:
    settings = Settings(
        database_url=database_url, data_dir=data, password_hashing="fast", offline_email_delay=3600
    )
    rt = Runtime.create(settings)
    upgrade(rt.database)
    owners, callers, _tokens = seed(rt, n)
    started = time.perf_counter()
    asyncio.run(open_all(rt, callers))
    open_rate = n / (time.perf_counter() - started)
    opened = count_by_state(rt).get(NotificationState.SCHEDULED.value, 0)
    started = time.perf_counter()
    for owner in owners[:SUPPRESSED_ACCOUNTS]:
        presence.set_status(rt, owner, status=DeviceStatus.ONLINE, device_key="bench")
    suppress_seconds = time.perf_counter() - started
    states = count_by_state(rt)
    rt.database.dispose()
    return {
        "open_per_second": open_rate,
        "opened": opened,
        "suppress_per_second": (opened - states.get("scheduled", 0)) / suppress_seconds,
        "states_after": states,
    }


# --- Frontdesk over HTTP --------------------------------------------------------------------


def measure_http(n: int, database: str) -> dict[str, Any]:
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database(database, Path(scratch)) as database_url,
    ):
        data = Path(scratch)
        env = frontdesk_env(data, offline_email_delay="3600") | {
            "FRONTDESK_DATABASE_URL": database_url
        }
        settings = Settings(database_url=database_url, data_dir=data, password_hashing="fast")
        rt = Runtime.create(settings)
        upgrade(rt.database)
        _owners, _callers, tokens = seed(rt, n)
        key = _widget_key(rt, _callers[0].account_id)
        rt.database.dispose()
        token_file = data / "tokens.txt"
        # One account's visitors only: the path names one widget key.
        token_file.write_text("\n".join(tokens[0::ACCOUNTS]) + "\n")
        command = [str(ROOT / ".venv" / "bin" / "frontdesk"), "serve", "--port", str(port)]
        expected = len(tokens[0::ACCOUNTS])
        log = data / "log"
        with server(pinned([*command, "--log-level", "warning"], 0), env, port, log) as process:
            # wrk stops sending after the last token but only ends at its duration, so
            # the time is taken here: until the last notification is stored.
            with ThreadPoolExecutor(1) as pool:
                started = time.perf_counter()
                load = pool.submit(
                    wrk,
                    f"http://127.0.0.1:{port}",
                    f"/api/v1/widget/{key}/messages",
                    token_file,
                    duration=max(10, expected / 100),
                    connections=64,
                    once=True,
                )
                opened, seconds = 0, 0.0
                while opened < expected and not load.done():
                    time.sleep(0.05)
                    (count,) = query(database_url, "SELECT count(*) FROM notifications")[0]
                    if count > opened:  # the time of the last one stored counts
                        opened, seconds = count, time.perf_counter() - started
                result = load.result()
            rss = peak_rss_mb(process.pid)
    return {
        "open_per_second": opened / seconds,
        "opened": opened,
        "non_2xx": result["non_2xx"],
        "serve_peak_rss_mb": rss,
    }


def _widget_key(rt: Runtime, account_id: int) -> str:
    from frontdesk.store.models import Account

    with rt.database.read() as session:
        return session.get_one(Account, account_id).widget_key


# --- the run --------------------------------------------------------------------------------


def run(*, n: int, databases: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {"notifications": n, "celery": measure_celery(n)}
    for database in databases:
        with (
            tempfile.TemporaryDirectory() as scratch,
            bench_database(database, Path(scratch)) as url,
        ):
            in_process = measure_in_process(n, url, Path(scratch))
        http = measure_http(n, database)
        celery = results["celery"]
        results[database] = {
            "in_process": in_process,
            "http": http,
            "open_vs_celery_in_process": in_process["open_per_second"]
            / celery["schedule_per_second"],
            "open_vs_celery_http": http["open_per_second"] / celery["schedule_per_second"],
            "rss_vs_celery_worker": http["serve_peak_rss_mb"] / celery["worker_peak_rss_mb"],
        }
    return results


def report(results: dict[str, Any]) -> None:
    celery = results["celery"]
    print(f"engine: {results['notifications']} offline notifications, 80 % called off")
    print(
        f"  celery: schedule {celery['schedule_per_second']:.0f}/s, "
        f"revoke {celery['revoke_per_second']:.0f}/s, "
        f"worker peak RSS {celery['worker_peak_rss_mb']:.0f} MB "
        f"(took all in {celery['worker_took_all_seconds']:.1f} s, "
        f"{celery['left_in_queue']} left in the queue)"
    )
    for database in ("sqlite", "postgresql"):
        if database not in results:
            continue
        r = results[database]
        ip, http = r["in_process"], r["http"]
        print(
            f"  frontdesk {database}: open in-process {ip['open_per_second']:.0f}/s "
            f"({r['open_vs_celery_in_process']:.2f} of celery's rate), "
            f"over HTTP {http['open_per_second']:.0f}/s ({r['open_vs_celery_http']:.2f}, "
            f"non-2xx {http['non_2xx']}), call off {ip['suppress_per_second']:.0f}/s, "
            f"serve peak RSS {http['serve_peak_rss_mb']:.0f} MB "
            f"({r['rss_vs_celery_worker']:.2f} of celery's worker); "
            f"states {ip['states_after']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--notifications", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(n=args.notifications, databases=args.databases.split(","))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
