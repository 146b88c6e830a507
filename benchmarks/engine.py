"""Benchmark (not a test): the notification engine at scale, end to end, against Celery
doing the same job the usual way, measured in the same run.

    .venv/bin/python -m benchmarks.engine                       # 100,000, both databases
    .venv/bin/python -m benchmarks.engine -n 2000 --databases sqlite

Celery (the ``bench`` extra; local Redis as broker, its defaults otherwise):

- **schedule**: ``notify.apply_async((conversation,), countdown=3600)`` N times;
- **worker memory**: a worker (``--pool solo``) started on those N tasks: Celery hands
  countdown tasks to a worker at once, which holds them in memory until they are due; its
  RSS as it takes them, and its peak once it holds all of them;
- **call off**: ``revoke`` for 80 % of them;
- **at the due time**: the 20 % left, due evenly over the decision window (two minutes at
  100,000), run by that worker (``eta``); each task records how late it ran.

Frontdesk, on a fresh database (SQLite in a temporary folder, or PostgreSQL):

- **open, in-process**: N visitors, each writing its first message through the service
  call (``post_visitor_message_soon``, 256 clients at a time: group-committed, on
  PostgreSQL two batches in flight), each opening an offline notification: the
  like-for-like comparison with ``apply_async``; the seeded callers are frozen out of the
  collector's way first, as a serve freezes its start-up heap;
- **the whole engine over HTTP** (``measure_http``): a real ``frontdesk serve`` (core 0)
  with its engine and presence sweep, e-mail to an SMTP sink in another process, wrk on
  core 1. Each of the N visitors' first message once (the open rate over HTTP, the RSS as
  the pending count grows); meanwhile a staffed account's visitors leave unanswered (the
  departures, recorded by the sweep, and their missed-conversation e-mails); the agents
  of four of the five accounts come online (80 % called off); the rest fall due over the
  decision window and are decided and e-mailed. Read back from the database and the sink:
  the lateness of every decision made at a due time, counted from the event that made it
  due (the due time, the departure), how late each departure was recorded, and the wrong
  outcomes: one called off and sent all the same, one due and never sent or never
  arrived, an e-mail that arrived twice.

Goals (issue 11): the in-process open rate at least 10 times Celery's schedule rate, over HTTP
at least Celery's rate, peak RSS at most 1/10 of Celery's worker, 0 wrong outcomes, lateness
p99 at most 0.5 s, departures recorded within 1 s of the lease's end at p99.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import redis
from sqlalchemy import func, insert, select, update

from benchmarks.common import (
    ROOT,
    bench_database,
    free_port,
    frontdesk_env,
    peak_rss_mb,
    percentile,
    pinned,
    query,
    rss_mb,
    server,
    smtp_sink,
    tracebacks,
)
from benchmarks.ingest import wrk
from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.core.notifications import DeliveryState, NotificationKind, NotificationState
from frontdesk.service import accounts, presence, visitor_messages
from frontdesk.service.accounts import NewAgent
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.settings import Settings
from frontdesk.store.migrate import upgrade
from frontdesk.store.models import Delivery, Notification, Visitor, table_of

ACCOUNTS = 5
SUPPRESSED_ACCOUNTS = 4
CONCURRENT = 256
CELERY_BROKER = "redis://127.0.0.1:6379/15"


# --- Celery ---------------------------------------------------------------------------------


def measure_celery(n: int, window: float) -> dict[str, Any]:
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


# --- Frontdesk in-process -------------------------------------------------------------------


@dataclass
class Seeded:
    owners: list[AgentCaller]
    owner_tokens: list[str]
    account_ids: list[int]
    keys: list[str]
    callers: list[VisitorCaller]  # visitor i < n belongs to account i % ACCOUNTS
    tokens: list[str]  # then the staffed account's visitors, if any


def seed(rt: Runtime, n: int, *, staffed: int = 0) -> Seeded:
    """ACCOUNTS accounts, an owner each, and N visitors spread over them (inserted in bulk:
    creating visitors is not what is measured). With ``staffed``, one more account (the
    last) with that many visitors of its own after the N."""
    owners: list[AgentCaller] = []
    owner_tokens: list[str] = []
    keys: list[str] = []
    for a in range(ACCOUNTS + (1 if staffed else 0)):
        signed = accounts.sign_up(
            rt,
            name=f"Shop {a}",
            plan=Plan.STANDARD,
            owner=NewAgent(
                name="Olga", email=f"owner{a}@bench.example.com", password="steep-the-oolong-4"
            ),
        )
        owners.append(accounts.authenticate_agent(rt, signed.token))
        owner_tokens.append(signed.token)
        keys.append(signed.account.widget_key)
    tokens = [f"fdv_bench_{secrets.token_hex(8)}" for _ in range(n + staffed)]
    now = datetime.now(UTC)
    visitors = table_of(Visitor)
    with rt.database.write() as session:
        for start in range(0, n + staffed, 5000):
            session.execute(
                insert(visitors),
                [
                    {
                        "account_id": owners[i % ACCOUNTS if i < n else ACCOUNTS].account_id,
                        "token_hash": hashlib.sha256(tokens[i].encode()).hexdigest(),
                        "created_at": now,
                        "present": False,
                    }
                    for i in range(start, min(n + staffed, start + 5000))
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
    return Seeded(
        owners=owners,
        owner_tokens=owner_tokens,
        account_ids=[o.account_id for o in owners],
        keys=keys,
        callers=callers,
        tokens=tokens,
    )


async def open_all(rt: Runtime, callers: list[VisitorCaller]) -> None:
    """CONCURRENT callers at a time, each posting the next visitor's message once its own
    is stored (as many clients as a server has requests in flight)."""
    waiting = iter(callers)

    async def client() -> None:
        for caller in waiting:
            await visitor_messages.post_visitor_message_soon(
                rt, caller, text="Anyone there?", group_id=None
            )

    await asyncio.gather(*(client() for _ in range(CONCURRENT)))


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
    seeded = seed(rt, n)
    owners = seeded.owners
    # The benchmark's own N callers out of the collector's way, as a serve freezes what it
    # loaded to start (frontdesk.api.app): each full collection walked them all, 3-10 % of
    # the opening's time, a cost of the benchmark's data, not of the service call.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    asyncio.run(open_all(rt, seeded.callers))
    open_rate = n / (time.perf_counter() - started)
    opened = count_by_state(rt).get(NotificationState.SCHEDULED.value, 0)
    started = time.perf_counter()
    for owner in owners[:SUPPRESSED_ACCOUNTS]:
        presence.set_status(rt, owner, status=DeviceStatus.ONLINE, device_key="bench")
    suppress_seconds = time.perf_counter() - started
    states = count_by_state(rt)
    rt.database.dispose()
    gc.unfreeze()
    return {
        "open_per_second": open_rate,
        "opened": opened,
        "suppress_per_second": (opened - states.get("scheduled", 0)) / suppress_seconds,
        "states_after": states,
    }


# --- Frontdesk over HTTP: opening, departures, calling off, deciding, e-mailing -----------


def measure_http(n: int, database: str, *, window: float) -> dict[str, Any]:
    """The whole engine through a real ``frontdesk serve`` (core 0; its engine and presence
    sweep in-process, e-mail to a sink in another process) under wrk (core 1).

    1. **open**: each of the N visitors (5 accounts) writes its first message once; the
       serve's RSS is sampled as the pending count grows. Among them, a tenth as many
       visitors of a sixth account whose owner is online, with missed-conversation e-mails
       on: nobody answers, and each one's lease runs out (``visitor_left_after`` =
       LEFT_AFTER) while the others are still writing, a departure the sweep records as a
       missed conversation, due at the departure itself and e-mailed at once.
    2. **call off**: the owners of 4 accounts come online (``PUT /me/status``).
    3. **decide**: the remaining 20 % are made due over ``window`` seconds (their due
       times rewritten, spread evenly; the worker wakes within ``worker_max_sleep`` = 1 s
       to notice, well before the first is due), decided by the engine at their due times
       and e-mailed to the sink, which counts each Message-ID.
    """
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database(database, Path(scratch)) as database_url,
        smtp_sink(ids=True) as (sink_port, sink),
    ):
        data = Path(scratch)
        env = frontdesk_env(
            data,
            offline_email_delay="3600",
            agent_device_timeout="3600",
            visitor_left_after=str(LEFT_AFTER),
            worker_max_sleep="1",
            smtp_url=f"smtp://127.0.0.1:{sink_port}",
            smtp_max_connections="8",
        ) | {"FRONTDESK_DATABASE_URL": database_url}
        settings = Settings(database_url=database_url, data_dir=data, password_hashing="fast")
        rt = Runtime.create(settings)
        upgrade(rt.database)
        staffed = n // 10
        seeded = seed(rt, n, staffed=staffed)
        accounts.update_notification_settings(
            rt, seeded.owners[ACCOUNTS], missed_conversation_email=True
        )
        lines = []
        for i, token in enumerate(seeded.tokens[:n]):
            lines.append(f"/api/v1/widget/{seeded.keys[i % ACCOUNTS]}/messages {token}\n")
            if i % 10 == 9:
                staffer = seeded.tokens[n + i // 10]
                lines.append(f"/api/v1/widget/{seeded.keys[ACCOUNTS]}/messages {staffer}\n")
        token_file = data / "tokens.txt"
        token_file.write_text("".join(lines))
        command = [str(ROOT / ".venv" / "bin" / "frontdesk"), "serve", "--port", str(port)]
        base = f"http://127.0.0.1:{port}"
        log = data / "log"
        with server(pinned([*command, "--log-level", "warning"], 0), env, port, log) as process:
            come_online(base, seeded.owner_tokens[ACCOUNTS:])
            opening = _Opening(database_url, process.pid, expected=n)
            load = wrk(
                base,
                "/unused",
                token_file,
                duration=max(30, n / 20),
                connections=64,
                once=True,
                until=opening.done,
            )
            serve_rss = peak_rss_mb(process.pid)
            called_off = call_off(rt, base, seeded.owner_tokens[:SUPPRESSED_ACCOUNTS])
            due_from, due_until = make_due(rt, window)
            settled = wait_settled(rt, due_until + timedelta(seconds=max(60.0, window)))
            left = wait_departed(rt, deadline=time.time() + 4 * LEFT_AFTER + 30)
            tracebacks_logged = tracebacks(log)
            if tracebacks_logged:
                kept = Path(tempfile.gettempdir()) / f"frontdesk-bench-engine-{database}.log"
                shutil.copy(log, kept)
                print(f"the server logged {tracebacks_logged} tracebacks: {kept}")
        outcome = outcomes(rt, seeded, since=due_from, staffed=staffed)
        rt.database.dispose()
    wrong = wrong_outcomes(outcome, sink)  # the sink has stopped: its counts are in
    return {
        "open_per_second": opening.opened / opening.seconds,
        "opened": opening.opened,
        "non_2xx": load["non_2xx"],
        "socket_errors": load["socket_errors"],
        "open_p99_ms": load["p99_ms"],
        "serve_peak_rss_mb": serve_rss,
        "rss_by_pending": opening.rss_samples,
        "call_off": called_off,
        "settled_in_time": settled,
        "departures_unrecorded": left,
        "decision_window_seconds": window,
        "tracebacks": tracebacks_logged,
        **outcome,
        "wrong": wrong,
        "sink_mails": sink["mails"],
    }


LEFT_AFTER = 10.0


class _Opening:
    """Watches the opening: the offline notifications stored, the time of the last one, and
    the serve's RSS as they pile up; ``done`` once all are stored."""

    def __init__(self, database_url: str, pid: int, *, expected: int) -> None:
        self.database_url = database_url
        self.pid = pid
        self.expected = expected
        self.started = time.perf_counter()
        self.opened = 0
        self.seconds = 0.0
        self.rss_samples: list[tuple[int, float]] = []
        self._next_sample = 0.0

    def done(self) -> bool:
        now = time.perf_counter()
        if now >= self._next_sample:
            (count,) = query(
                self.database_url,
                "SELECT count(*) FROM notifications WHERE kind = 'offline_message'",
            )[0]
            if count > self.opened:  # the time of the last one stored counts
                self.opened, self.seconds = count, now - self.started
            self.rss_samples.append((count, round(rss_mb(self.pid), 1)))
            self._next_sample = now + 0.5
        return self.opened >= self.expected


def come_online(base: str, owner_tokens: list[str]) -> None:
    with httpx.Client(base_url=base, timeout=120) as http:
        for token in owner_tokens:
            answer = http.put(
                "/api/v1/me/status",
                json={"status": "online", "device_id": "bench"},
                headers={"Authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()


def call_off(rt: Runtime, base: str, owner_tokens: list[str]) -> dict[str, float]:
    """The owners of the first accounts come online: their scheduled notifications are called
    off by the same request (rule 2)."""
    before = count_by_state(rt)
    started = time.perf_counter()
    come_online(base, owner_tokens)
    seconds = time.perf_counter() - started
    called_off = count_by_state(rt).get("suppressed", 0) - before.get("suppressed", 0)
    return {"called_off": called_off, "per_second": called_off / seconds}


def make_due(rt: Runtime, window: float) -> tuple[datetime, datetime]:
    """The offline notifications still scheduled fall due evenly over ``window`` seconds,
    starting 3 s from now."""
    start = datetime.now(UTC) + timedelta(seconds=3)
    with rt.database.write() as session:
        ids = session.scalars(
            select(Notification.id)
            .where(
                Notification.state == NotificationState.SCHEDULED,
                Notification.kind == NotificationKind.OFFLINE_MESSAGE,
            )
            .order_by(Notification.id)
        ).all()
        step = window / max(1, len(ids))
        session.execute(
            update(Notification),
            [
                {"id": id_, "due_at": start + timedelta(seconds=i * step)}
                for i, id_ in enumerate(ids)
            ],
        )
    return start, start + timedelta(seconds=window)


def wait_settled(rt: Runtime, until: datetime) -> bool:
    """Until nothing is scheduled and every e-mail has been sent (or ``until`` passed)."""
    while datetime.now(UTC) < until:
        with rt.database.read() as session:
            scheduled = session.scalar(
                select(func.count()).where(Notification.state == NotificationState.SCHEDULED)
            )
            unsent = session.scalar(
                select(func.count()).where(
                    Delivery.state.in_([DeliveryState.PENDING, DeliveryState.DEFERRED])
                )
            )
        if not scheduled and not unsent:
            return True
        time.sleep(0.5)
    return False


def wait_departed(rt: Runtime, *, deadline: float) -> int:
    """Until every visitor's departure is recorded; returns how many were still not."""
    while True:
        with rt.database.read() as session:
            present = session.scalar(select(func.count()).where(Visitor.present.is_(True))) or 0
        if not present or time.time() > deadline:
            return present
        time.sleep(0.5)


def outcomes(rt: Runtime, seeded: Seeded, *, since: datetime, staffed: int) -> dict[str, Any]:
    """What the engine did with every notification, from the database."""
    called_off_accounts = set(seeded.account_ids[:SUPPRESSED_ACCOUNTS])
    staffed_account = seeded.account_ids[ACCOUNTS]
    with rt.database.read() as session:
        rows = session.execute(
            select(
                Notification.id,
                Notification.account_id,
                Notification.kind,
                Notification.state,
                Notification.reason,
                Notification.opened_at,
                Notification.due_at,
                Notification.decided_at,
                Notification.visitor_left_at,
            )
        ).all()
        deliveries = session.execute(
            select(Delivery.notification_id, Delivery.message_id_header, Delivery.state)
        ).all()
    offline = [r for r in rows if r.kind is NotificationKind.OFFLINE_MESSAGE]
    missed = [r for r in rows if r.kind is NotificationKind.MISSED_CONVERSATION]
    to_send = [r for r in offline if r.account_id not in called_off_accounts]
    # The decisions the worker made at due times: the offline ones made due, and every missed
    # conversation (due at the visitor's departure).
    at_due = [r for r in to_send if r.decided_at is not None] + [
        r for r in missed if r.decided_at is not None
    ]
    lateness = [(r.decided_at - r.due_at).total_seconds() for r in at_due]
    offline_lateness = [
        (r.decided_at - r.due_at).total_seconds() for r in to_send if r.decided_at is not None
    ]
    departure = [(r.opened_at - r.visitor_left_at).total_seconds() for r in missed]
    decided_times = sorted(r.decided_at for r in to_send if r.decided_at is not None)
    span = (decided_times[-1] - since).total_seconds() if decided_times else 0.0
    return {
        "offline_by_state": _count(r.state.value for r in offline),
        "missed_by_reason": _count(str(r.reason or r.state.value) for r in missed),
        "missed": len(missed),
        "decided_at_due": len(at_due),
        "offline_decided_per_second": len(decided_times) / span if span else 0.0,
        "lateness_p50_s": percentile(lateness, 0.50),
        "lateness_p99_s": percentile(lateness, 0.99),
        "lateness_max_s": max(lateness, default=float("nan")),
        "offline_lateness_p99_s": percentile(offline_lateness, 0.99),
        "departure_recorded_p50_s": percentile(departure, 0.50),
        "departure_recorded_p99_s": percentile(departure, 0.99),
        "departure_recorded_max_s": max(departure, default=float("nan")),
        "_rows": rows,
        "_deliveries": deliveries,
        "_called_off_accounts": called_off_accounts,
        # every visit of the staffed account is missed, and e-mailed
        "_missed_unsent": staffed
        - sum(
            1
            for r in missed
            if r.account_id == staffed_account and r.state is NotificationState.SENT
        ),
    }


def wrong_outcomes(outcome: dict[str, Any], sink: dict[str, Any]) -> dict[str, int]:
    """Suppressed ones sent, due ones lost, doubles: from the database and what the sink got."""
    rows = outcome.pop("_rows")
    deliveries = outcome.pop("_deliveries")
    called_off_accounts = outcome.pop("_called_off_accounts")
    missed_unsent = outcome.pop("_missed_unsent")
    state_of = {r.id: r.state for r in rows}
    header_of = {d.message_id_header: d.notification_id for d in deliveries}
    received: dict[str, int] = sink.pop("message_ids", {})
    sent_ids = {header_of.get(h) for h in received}
    offline = [r for r in rows if r.kind is NotificationKind.OFFLINE_MESSAGE]
    return {
        # called off (or meant to be) and e-mailed all the same
        "suppressed_sent": sum(
            1
            for r in offline
            if r.account_id in called_off_accounts
            and (r.state is not NotificationState.SUPPRESSED or r.id in sent_ids)
        )
        + sum(1 for h in received if header_of.get(h) is None)
        + sum(
            1
            for h in received
            if (nid := header_of.get(h)) is not None and state_of[nid] is not NotificationState.SENT
        ),
        # due, and never decided to send, or decided and the e-mail never arrived
        "due_lost": missed_unsent
        + sum(
            1
            for r in offline
            if r.account_id not in called_off_accounts and r.state is not NotificationState.SENT
        )
        + sum(
            1
            for d in deliveries
            if state_of[d.notification_id] is NotificationState.SENT
            and d.message_id_header not in received
        ),
        "doubles": sum(count - 1 for count in received.values() if count > 1),
    }


def _count(values: Any) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return counted


# --- the run --------------------------------------------------------------------------------


def decision_window(n: int) -> float:
    """The due times of the 20 % left are spread over this: two minutes (the default delay)
    at 100,000."""
    return max(5.0, 120.0 * n / 100_000)


def run(*, n: int, databases: list[str]) -> dict[str, Any]:
    window = decision_window(n)
    results: dict[str, Any] = {"notifications": n, "celery": measure_celery(n, window)}
    for database in databases:
        with (
            tempfile.TemporaryDirectory() as scratch,
            bench_database(database, Path(scratch)) as url,
        ):
            in_process = measure_in_process(n, url, Path(scratch))
        http = measure_http(n, database, window=window)
        celery = results["celery"]
        results[database] = {
            "in_process": in_process,
            "http": http,
            "open_vs_celery_in_process": in_process["open_per_second"]
            / celery["schedule_per_second"],
            "open_vs_celery_http": http["open_per_second"] / celery["schedule_per_second"],
            "rss_vs_celery_worker": http["serve_peak_rss_mb"] / celery["worker_peak_rss_mb"],
            "rss_per_pending_kb": rss_per_pending_kb(http["rss_by_pending"], n),
        }
    celery = results["celery"]
    celery["rss_per_pending_kb"] = rss_per_pending_kb(celery["rss_by_pending"], n)
    return results


def rss_per_pending_kb(samples: list[list[float]] | list[tuple[int, float]], n: int) -> float:
    """What the process's RSS grew by for each notification pending, from the first sample
    at a tenth of ``n`` pending (after the process's start-up) to the last one: the memory
    that grows with the schedule, apart from what any process of its kind holds anyway."""
    counted = [(count, rss) for count, rss in samples if count >= n / 10]
    if len(counted) < 2 or counted[-1][0] == counted[0][0]:
        return float("nan")
    (first_count, first_rss), (last_count, last_rss) = counted[0], counted[-1]
    return (last_rss - first_rss) * 1024 / (last_count - first_count)


def report(results: dict[str, Any]) -> None:
    celery = results["celery"]
    print(f"engine: {results['notifications']} offline notifications, 80 % called off")
    print(
        f"  celery: schedule {celery['schedule_per_second']:.0f}/s, "
        f"revoke {celery['revoke_per_second']:.0f}/s, "
        f"worker peak RSS {celery['worker_peak_rss_mb']:.0f} MB "
        f"({celery['rss_per_pending_kb']:.2f} kB for each pending) "
        f"(took all in {celery['worker_took_all_seconds']:.1f} s, "
        f"{celery['left_in_queue']} left in the queue); "
        f"{celery['decided_at_due']} run at due times, lateness p50 "
        f"{celery['lateness_p50_s']:.3f} s, p99 {celery['lateness_p99_s']:.3f} s"
    )
    for database in ("sqlite", "postgresql"):
        if database not in results:
            continue
        r = results[database]
        ip, http = r["in_process"], r["http"]
        print(
            f"  frontdesk {database}: open in-process {ip['open_per_second']:.0f}/s "
            f"({r['open_vs_celery_in_process']:.2f}x celery's rate), "
            f"over HTTP {http['open_per_second']:.0f}/s ({r['open_vs_celery_http']:.2f}x, "
            f"non-2xx {http['non_2xx']}, p99 {http['open_p99_ms']:.0f} ms), "
            f"call off {ip['suppress_per_second']:.0f}/s in-process, "
            f"{http['call_off']['per_second']:.0f}/s over HTTP; "
            f"serve peak RSS {http['serve_peak_rss_mb']:.0f} MB "
            f"({r['rss_vs_celery_worker']:.2f} of celery's worker; "
            f"{r['rss_per_pending_kb']:.2f} kB for each pending, "
            f"{r['rss_per_pending_kb'] / celery['rss_per_pending_kb']:.3f} of celery's)"
        )
        print(
            f"    at due times: {http['decided_at_due']} decided "
            f"({http['offline_decided_per_second']:.0f} offline/s over "
            f"{http['decision_window_seconds']:.0f} s), lateness p50 "
            f"{http['lateness_p50_s']:.3f} s, p99 {http['lateness_p99_s']:.3f} s, max "
            f"{http['lateness_max_s']:.3f} s (offline ones p99 "
            f"{http['offline_lateness_p99_s']:.3f} s); e-mails at the sink {http['sink_mails']}; "
            f"wrong {http['wrong']}; offline {http['offline_by_state']}"
        )
        print(
            f"    departures: {http['missed']} recorded, p50 "
            f"{http['departure_recorded_p50_s']:.3f} s, p99 "
            f"{http['departure_recorded_p99_s']:.3f} s, max "
            f"{http['departure_recorded_max_s']:.3f} s after the lease ended "
            f"({http['departures_unrecorded']} not recorded); missed {http['missed_by_reason']}"
            + (f"; {http['tracebacks']} tracebacks in the log" if http["tracebacks"] else "")
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
