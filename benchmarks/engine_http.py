"""The engine benchmark over HTTP (benchmarks/engine.py): the whole engine of a real
``frontdesk serve`` under wrk, opening, departures, calling off, deciding and e-mailing; and
what it did, read back from the database and from the SMTP sink."""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import func, select, update

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
from benchmarks.engine_seed import ACCOUNTS, SUPPRESSED_ACCOUNTS, Seeded, count_by_state, seed
from benchmarks.ingest import wrk
from frontdesk.core.notifications import DeliveryState, NotificationKind, NotificationState
from frontdesk.service import accounts
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.migrate import upgrade
from frontdesk.store.models import Delivery, Notification, Visitor

LEFT_AFTER = 10.0
# How many due times make_due rewrites in one transaction (about 20 ms on SQLite).
DUE_CHUNK = 500
# ... and how long it leaves the database to the serve between two: a chunk's notifications
# fall due 3 s after the previous chunk's, so the rewrite stays ahead of the first due time.
DUE_PAUSE = 0.1


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
            called_off = call_off(
                rt,
                base,
                seeded.owner_tokens[:SUPPRESSED_ACCOUNTS],
                seeded.account_ids[:SUPPRESSED_ACCOUNTS],
            )
            due_from, due_until = make_due(rt, window)
            # Departures first: each one may open a missed conversation, e-mailed at once,
            # which "settled" must include (in the quick run the last visitors leave after
            # the decisions are made, and their e-mails were counted lost).
            left = wait_departed(rt, deadline=time.time() + 4 * LEFT_AFTER + 30)
            settled = wait_settled(rt, due_until + timedelta(seconds=max(60.0, window)))
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


def call_off(
    rt: Runtime, base: str, owner_tokens: list[str], account_ids: list[int]
) -> dict[str, float]:
    """The owners of the first accounts come online: their scheduled notifications are called
    off (rule 2), on SQLite the first chunk by each request and the rest by the serve's
    engine right after; timed until none of their accounts' is scheduled any more."""
    before = count_by_state(rt)
    started = time.perf_counter()
    come_online(base, owner_tokens)
    answered = time.perf_counter() - started
    while True:
        with rt.database.read() as session:
            left = session.scalar(
                select(func.count()).where(
                    Notification.account_id.in_(account_ids),
                    Notification.state == NotificationState.SCHEDULED,
                )
            )
        if not left or time.perf_counter() - started > 120:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    called_off = count_by_state(rt).get("suppressed", 0) - before.get("suppressed", 0)
    return {
        "called_off": called_off,
        "per_second": called_off / seconds,
        "requests_seconds": answered,
        "seconds": seconds,
    }


def make_due(rt: Runtime, window: float) -> tuple[datetime, datetime]:
    """The offline notifications still scheduled fall due evenly over ``window`` seconds,
    starting 3 s from now: the stand-in for an hour passing, written DUE_CHUNK rows a
    transaction, DUE_PAUSE apart. In one transaction of 20,000 rows this process held
    SQLite's write lock for 0.8 s, and the serve's sweep, waiting for it, recorded the
    departures of that moment up to 1.7 s late; chunks back to back still kept the serve's
    writers out for 0.2 s at a time, as SQLite's busy handler lets a waiting writer sleep
    up to 100 ms between tries (docs/performance.md). No process of the product rewrites
    the schedule like this: each due time is written with its notification."""
    start = datetime.now(UTC) + timedelta(seconds=3)
    with rt.database.read() as session:
        ids = session.scalars(
            select(Notification.id)
            .where(
                Notification.state == NotificationState.SCHEDULED,
                Notification.kind == NotificationKind.OFFLINE_MESSAGE,
            )
            .order_by(Notification.id)
        ).all()
    step = window / max(1, len(ids))
    for first in range(0, len(ids), DUE_CHUNK):
        if first:
            time.sleep(DUE_PAUSE)
        with rt.database.write() as session:
            session.execute(
                update(Notification),
                [
                    {"id": id_, "due_at": start + timedelta(seconds=i * step)}
                    for i, id_ in enumerate(ids[first : first + DUE_CHUNK], start=first)
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
