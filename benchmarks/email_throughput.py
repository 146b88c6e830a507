"""Benchmark (not a test): notification e-mails per second delivered to an SMTP server, against
that server's raw capacity measured in the same run. Run:

    .venv/bin/python benchmarks/email_throughput.py                  # 3,000 e-mails a phase
    .venv/bin/python benchmarks/email_throughput.py --mails 1000 --database-url postgresql://…

Goals: the sending path (Frontdesk's transport with the e-mails Frontdesk writes) at 80 % of
the sink's capacity; the whole engine (which also claims, writes and records each e-mail) at
least 50 % (issue "Fast hot paths"), 80 % the aim. The engine runs twice: each notification
to 50 agents (the e-mails of one notification share their rendered parts) and to 1 agent
(every e-mail rendered on its own); with ``--dkim``, each of those again with every e-mail
DKIM-signed (a fresh 2048-bit key). docs/email.md and docs/performance.md say what is met.

The sink is an aiosmtpd server in another process (benchmarks/smtp_sink.py) that counts and
discards; a fresh one serves each phase and reports how many e-mails and connections it saw.
The phases:

- **raw capacity**: the simplest client that can keep the sink busy — persistent connections
  over asyncio streams sending the same pre-built bytes, one command at a time (the sink does
  not offer PIPELINING), on 1, 2, 4 and 8 connections; the best of them is the capacity.
- **naive smtplib**: what a script would do — a new ``smtplib`` connection per e-mail.
- **transport alone**: ``SmtpTransport`` (Frontdesk's pool) sending e-mails written by
  ``Mailer.write`` beforehand, over 1, ``smtp_max_connections``' default 4, and 8
  connections.
- **engine end to end**: notifications decided into deliveries in a real database (SQLite
  in a temporary directory, or ``--database-url``), then the worker's ``run_once``: claim,
  write each e-mail with ``Mailer.write``, send, record each outcome. The time spent in each
  step is summed (the steps overlap across connections, so the sums exceed the wall time).

Figures and the machine they came from: docs/email.md ("Throughput").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from unittest.mock import patch

from sqlalchemy import func, select

from frontdesk.clock import SystemClock
from frontdesk.core.model import Locale, Plan
from frontdesk.core.notifications import DeliveryState, NotificationKind
from frontdesk.engine.mailer import Mailer
from frontdesk.engine.worker import NotificationWorker
from frontdesk.mail.check.dkim_key import new_dkim_private_key
from frontdesk.mail.content import ListedMessage, NotificationEmail
from frontdesk.mail.transport import SmtpTarget, SmtpTransport
from frontdesk.security import PasswordHasher
from frontdesk.service import accounts, agents, notifications, visitor_messages, widget
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.models import Delivery

ROOT = Path(__file__).resolve().parent.parent
SENDER = "frontdesk@bench.example.com"
RAW_CONNECTIONS = (1, 2, 4, 8)
MAX_CONNECTIONS = 4  # smtp_max_connections' default
GOAL = 0.8
FLOOR = 0.5  # issue 11: the whole engine at least half the sink's capacity
WARM_UP = 300  # e-mails a new sink takes before any phase is timed
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Result:
    name: str
    mails: int
    seconds: float
    connections: int
    most_open: int

    @property
    def rate(self) -> float:
        return self.mails / self.seconds


@dataclass
class Sink:
    port: int
    stats: dict[str, int] = field(default_factory=dict)


@asynccontextmanager
async def sink() -> AsyncIterator[Sink]:
    """A fresh sink process; its counts are in ``stats`` once the block has ended."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "smtp_sink.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the sink did not start")
    running = Sink(port)
    try:
        # A new process is slow for its first few hundred e-mails; none of that is measured.
        await raw_client(port, WARM_UP, b"Subject: warm-up\r\n\r\nwarm-up\r\n")
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
        running.stats = json.loads(out.strip().splitlines()[-1])
        running.stats["mails"] -= WARM_UP
        running.stats["connections"] -= 1


def sample_email(number: int) -> NotificationEmail:
    now = datetime.now(UTC)
    return NotificationEmail(
        kind=NotificationKind.OFFLINE_MESSAGE,
        message_id=f"<bench.{number}@bench.example.com>",
        sender=f"Frontdesk <{SENDER}>",
        recipient_email=f"agent{number}@bench.example.com",
        recipient_name=f"Agent {number}",
        locale=Locale.EN,
        account_name="Tea Shop",
        conversation_id=number,
        conversation_url=f"https://chat.example.com/dashboard/conversations/{number}",
        visitor_name="Vera",
        visitor_email=None,
        page_url="https://shop.example.com/teas",
        messages=(ListedMessage(text="Do you ship to Brno?", created_at=now),),
        decided_at=now,
        thread_id=f"<frontdesk.conversation.{number}@bench.example.com>",
        list_id="<account-1.notifications.bench.example.com>",
        unsubscribe_url="https://chat.example.com/api/v1/unsubscribe/token",
    )


# --- (a) raw capacity ------------------------------------------------------------------------


async def raw_client(port: int, mails: int, message: bytes) -> None:
    """One persistent connection sending ``mails`` copies of pre-built bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if line[3:4] != b"-":  # the last line of a (multi-line) reply
                return line

    await reply()
    writer.write(b"EHLO bench\r\n")
    await reply()
    envelope = [
        f"MAIL FROM:<{SENDER}>\r\n".encode(),
        b"RCPT TO:<agent@bench.example.com>\r\n",
        b"DATA\r\n",
        message + b".\r\n",
    ]
    for _ in range(mails):
        for command in envelope:
            writer.write(command)
            answer = await reply()
            if answer[:1] not in (b"2", b"3"):
                raise RuntimeError(f"the sink said {answer!r}")
    writer.write(b"QUIT\r\n")
    await reply()
    writer.close()
    await writer.wait_closed()


async def measure_raw(mails: int, message: bytes) -> list[Result]:
    results = []
    for connections in RAW_CONNECTIONS:
        async with sink() as running:
            share = mails // connections
            started = time.perf_counter()
            await asyncio.gather(
                *(raw_client(running.port, share, message) for _ in range(connections))
            )
            seconds = time.perf_counter() - started
        assert running.stats["mails"] == share * connections
        results.append(
            Result(
                f"raw client, {connections} connection(s)",
                share * connections,
                seconds,
                running.stats["connections"],
                running.stats["most_open"],
            )
        )
    return results


# --- (b) naive smtplib -----------------------------------------------------------------------


def naive_smtplib(port: int, mails: int, message: bytes) -> None:
    for n in range(mails):
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail(SENDER, [f"agent{n}@bench.example.com"], message)


async def measure_naive(mails: int, message: bytes) -> Result:
    async with sink() as running:
        started = time.perf_counter()
        await asyncio.to_thread(naive_smtplib, running.port, mails, message)
        seconds = time.perf_counter() - started
    assert running.stats["mails"] == mails
    return Result(
        "naive smtplib, a connection per e-mail",
        mails,
        seconds,
        running.stats["connections"],
        running.stats["most_open"],
    )


# --- (c) the transport alone -----------------------------------------------------------------


async def measure_transport(mails: int, connections: int) -> Result:
    mailer = Mailer(Settings(smtp_url="smtp://127.0.0.1:1"))
    written = [
        (email.recipient_email, mailer.write(email))
        for email in (sample_email(n) for n in range(mails))
    ]
    async with sink() as running:
        transport = SmtpTransport(
            SmtpTarget.parse(f"smtp://127.0.0.1:{running.port}"),
            timeout=30,
            max_connections=connections,
        )
        waiting = list(reversed(written))
        accepted = 0

        async def sender() -> None:  # as the worker does: one per connection
            nonlocal accepted
            while waiting:
                recipient, message = waiting.pop()
                outcome = await transport.send(SENDER, recipient, message)
                accepted += outcome.accepted

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(connections)))
        seconds = time.perf_counter() - started
        await transport.close()
    assert accepted == mails == running.stats["mails"]
    return Result(
        f"Frontdesk transport alone, {connections} connection(s)",  # written beforehand
        mails,
        seconds,
        running.stats["connections"],
        running.stats["most_open"],
    )


# --- (c) the engine end to end ---------------------------------------------------------------


def timed(totals: dict[str, float], name: str, function: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - started

    return wrapper


def timed_async(
    totals: dict[str, float], name: str, function: Callable[..., Awaitable[T]]
) -> Callable[..., Awaitable[T]]:
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - started

    return wrapper


def seed(rt: Runtime, mails: int, per_notification: int, tag: str) -> None:
    """An account of ``per_notification`` agents, none online, and one offline message from
    each of enough visitors that their notifications make ``mails`` deliveries."""
    owner = accounts.NewAgent(
        name="Olga", email=f"olga-{tag}@bench.example.com", password="steep-the-oolong-4"
    )
    signed = accounts.sign_up(rt, name="Tea Shop", plan=Plan.STANDARD, owner=owner)
    for n in range(per_notification - 1):
        agents.create_agent(
            rt,
            signed.account.id,
            accounts.NewAgent(
                name=f"A{n}", email=f"a{n}-{tag}@bench.example.com", password="steep-the-oolong-4"
            ),
        )
    for n in range(mails // per_notification):
        visitor = widget.create_visitor(
            rt, signed.account.widget_key, name=f"Visitor {n}", email=None, page_url=None
        )
        caller = widget.authenticate_visitor(rt, signed.account.widget_key, visitor.token)
        visitor_messages.post_visitor_message(
            rt, caller, text="Do you ship to Brno?", group_id=None
        )


async def measure_engine(
    mails: int, database_url: str | None, tag: str, per_notification: int, *, dkim: bool = False
) -> tuple[Result, dict[str, float]]:
    data = Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
    signing: dict[str, Any] = {}
    if dkim:  # a key as `frontdesk mail dkim-key` writes it
        (data / "dkim.pem").write_bytes(new_dkim_private_key())
        signing = {
            "dkim_domain": "bench.example.com",
            "dkim_selector": "bench",
            "dkim_private_key_file": data / "dkim.pem",
        }
    async with sink() as running:
        settings = Settings(
            **signing,
            data_dir=data,
            database_url=database_url or f"sqlite:///{data / 'bench.sqlite3'}",
            password_hashing="fast",
            offline_email_delay=0.001,
            smtp_url=f"smtp://127.0.0.1:{running.port}",
            smtp_max_connections=MAX_CONNECTIONS,
            # Thousands of e-mails to a few agents: the hourly caps off (they would hold
            # all but 20 of each agent's); the agents' addresses count as proven.
            emails_per_agent_per_hour=0,
            emails_per_account_per_hour=0,
            confirm_addresses=False,
        )
        database = Database(settings.effective_database_url)
        upgrade(database)
        rt = Runtime(
            settings=settings,
            database=database,
            clock=SystemClock(),
            passwords=PasswordHasher("fast"),
        )
        await asyncio.to_thread(seed, rt, mails, per_notification, tag)
        await asyncio.sleep(0.01)  # the notifications fall due
        decide_started = time.perf_counter()
        while await asyncio.to_thread(notifications.decide_due, rt):
            pass
        decide_seconds = time.perf_counter() - decide_started

        totals: dict[str, float] = defaultdict(float)
        mailer = Mailer(settings)
        await mailer.start()
        engine = NotificationWorker(rt, mailer)
        sent_before = await asyncio.to_thread(count_sent, database)
        with ExitStack() as timing:
            # Each step's time is summed as the worker calls it.
            for owner, name, step in (
                (notifications, "claim_deliveries", "claim"),
                (notifications, "record_outcomes", "record"),
                (Mailer, "write", "write"),
            ):
                timing.enter_context(
                    patch.object(owner, name, timed(totals, step, getattr(owner, name)))
                )
            timing.enter_context(
                patch.object(SmtpTransport, "send", timed_async(totals, "send", SmtpTransport.send))
            )
            try:
                started = time.perf_counter()
                await engine.run_once()
                seconds = time.perf_counter() - started
            finally:
                await mailer.stop()
        sent = await asyncio.to_thread(count_sent, database) - sent_before
        database.dispose()
    assert sent == running.stats["mails"] == mails, (sent, running.stats)
    per_mail = {step: seconds * 1000 / sent for step, seconds in totals.items()}
    per_mail["decide (done before, not in the time)"] = decide_seconds * 1000 / sent
    backend = "PostgreSQL" if database_url else "SQLite"
    return (
        Result(
            f"Frontdesk engine end to end, {backend}"
            + (", 1 agent" if per_notification == 1 else f", {per_notification} agents")
            + (", DKIM-signed" if dkim else ""),
            sent,
            seconds,
            running.stats["connections"],
            running.stats["most_open"],
        ),
        per_mail,
    )


def count_sent(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).where(Delivery.state == DeliveryState.SENT)) or 0


# --- the report ------------------------------------------------------------------------------


def median_of(rounds: list[Result]) -> Result:
    """The round with the median rate (the lower middle one of an even count)."""
    return sorted(rounds, key=lambda r: r.rate)[(len(rounds) - 1) // 2]


def table(results: list[Result], capacity: float) -> str:
    lines = [
        f"{'client':<60} {'e-mails':>7} {'seconds':>7} {'e-mails/s':>9} {'of raw':>6} "
        f"{'conns':>5} {'at once':>7}",
    ]
    for r in results:
        lines.append(
            f"{r.name:<60} {r.mails:>7} {r.seconds:>7.2f} {r.rate:>9.0f} "
            f"{r.rate / capacity:>6.0%} {r.connections:>5} {r.most_open:>7}"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=3000, help="e-mails per phase")
    parser.add_argument("--naive-mails", type=int, default=1000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="every phase this many times, interleaved"
    )
    parser.add_argument(
        "--database-url", help="also run the engine on this (empty or Frontdesk) database"
    )
    parser.add_argument(
        "--agents",
        default="50,1",
        help="the engine's runs: each notification goes to this many agents (comma-separated)",
    )
    parser.add_argument(
        "--dkim", action="store_true", help="also run each engine run with every e-mail DKIM-signed"
    )
    args = parser.parse_args()
    message = Mailer(Settings(smtp_url="smtp://127.0.0.1:1")).write(sample_email(0))
    print(
        f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}; one e-mail is {len(message):,} bytes; "
        f"{args.rounds} round(s), the median shown",
        flush=True,
    )
    # The phases take turns, so that whatever else the machine does weighs on each alike.
    rounds: dict[str, list[Result]] = defaultdict(list)
    capacities: list[float] = []
    steps: dict[str, list[dict[str, float]]] = defaultdict(list)
    for number in range(args.rounds):
        raw = await measure_raw(args.mails, message)
        capacities.append(max(r.rate for r in raw))
        measured = [
            *raw,
            await measure_naive(args.naive_mails, message),
            await measure_transport(args.mails, 1),
            await measure_transport(args.mails, MAX_CONNECTIONS),
            await measure_transport(args.mails, 8),
        ]
        for url in [None, args.database_url] if args.database_url else [None]:
            for recipients in (int(a) for a in args.agents.split(",")):
                for dkim in (False, True) if args.dkim else (False,):
                    engine, breakdown = await measure_engine(
                        args.mails, url, f"r{number}a{recipients}d{dkim:d}", recipients, dkim=dkim
                    )
                    measured.append(engine)
                    steps[engine.name].append(breakdown)
        for result in measured:
            rounds[result.name].append(result)
        print(f"round {number + 1}: " + ", ".join(f"{r.rate:.0f}" for r in measured), flush=True)
    capacity = sorted(capacities)[(len(capacities) - 1) // 2]
    results = [median_of(found) for found in rounds.values()]
    print()
    print(table(results, capacity))
    print(f"\nraw capacity of the sink: {capacity:.0f} e-mails/s (the best raw client, median)")
    for name, found in steps.items():
        per_mail = {
            step: sorted(b[step] for b in found)[(len(found) - 1) // 2] for step in found[0]
        }
        print(
            f"{name}, milliseconds per e-mail summed over its steps (median): "
            + ", ".join(f"{step} {ms:.2f}" for step, ms in per_mail.items())
        )
    sending = next(r for r in results if r.name.startswith("Frontdesk transport alone, 4"))
    verdict = "met" if sending.rate >= GOAL * capacity else "NOT met"
    print(
        f"goal (the sending path, transport on 4 connections, ≥ {GOAL:.0%} of raw capacity): "
        f"{sending.rate / capacity:.0%}, {verdict}"
    )
    for engine in (r for r in results if r.name.startswith("Frontdesk engine")):
        ratio = engine.rate / capacity
        print(
            f"goal ({engine.name} ≥ {FLOOR:.0%} of raw capacity, {GOAL:.0%} the aim): "
            f"{ratio:.0%}, {'met' if ratio >= FLOOR else 'NOT met'}"
            + (f", the aim {'met' if ratio >= GOAL else 'not yet'}" if ratio >= FLOOR else "")
        )


if __name__ == "__main__":
    asyncio.run(main())
