"""What the benchmarks share: free ports, server processes started and stopped, the CPU and
memory a process used, percentiles. Benchmarks print figures; nothing here asserts a speed."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POSTGRES_URL = os.environ.get(
    "FRONTDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def pinned(command: list[str], core: int | None) -> list[str]:
    """``command`` run on one core (taskset), so a server and its load generator do not
    share one; unpinned where taskset is missing."""
    if core is None or not Path("/usr/bin/taskset").exists():
        return command
    return ["/usr/bin/taskset", "-c", str(core), *command]


@contextmanager
def server(
    command: list[str], env: dict[str, str], port: int, log: Path, *, stop_timeout: float = 120
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, up once ``/healthz`` answers; its errors go to ``log`` (a pipe
    nobody reads would stop the server once it filled)."""
    with log.open("wb") as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            for _ in range(600):
                if process.poll() is not None:
                    raise RuntimeError(log.read_text() or "the server exited at start")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise RuntimeError(log.read_text() or "the server did not start")
            yield process
        finally:
            stop(process, timeout=stop_timeout)


def stop(process: subprocess.Popen[Any], *, timeout: float) -> None:
    """SIGTERM, and SIGKILL if ``process`` has not ended within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tracebacks(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("Traceback"))


# One load generator on loopback is every visitor of the benchmark at once, and a few
# agents hold a thousand sockets: each limit so high that none is reached, while every
# request is still counted against them, so the figures include what counting costs.
UNREACHED_LIMITS = {
    **{
        f"FRONTDESK_RATE_LIMIT_{name}": "1000000000/second"
        for name in (
            "PER_IP",
            "LOGIN_FAILURES_PER_IP",
            "LOGIN_FAILURES_PER_EMAIL",
            "SIGNUPS_PER_IP",
            "VISITORS_PER_IP",
            "MESSAGES_PER_IP",
            "MESSAGES_PER_VISITOR",
        )
    },
    "FRONTDESK_MAX_SOCKETS_PER_AGENT": "10000",
    "FRONTDESK_MAX_DEVICES_PER_AGENT": "10000",
    # A few agents get thousands of e-mails an hour here: the hourly caps would hold all
    # but the first 20 of each, so they are off (their cost: docs/performance.md). The
    # agents never follow a confirmation link, so their addresses count as proven.
    "FRONTDESK_EMAILS_PER_AGENT_PER_HOUR": "0",
    "FRONTDESK_EMAILS_PER_ACCOUNT_PER_HOUR": "0",
    "FRONTDESK_CONFIRM_ADDRESSES": "false",
}
# The same for the benchmarks that run the product in this process.
for _name, _value in UNREACHED_LIMITS.items():
    os.environ.setdefault(_name, _value)


def frontdesk_env(data: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``frontdesk serve`` under benchmark: this environment without
    any FRONTDESK_ setting of its own, the data in ``data``, fast password hashing, rate
    limits out of reach."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_DATA_DIR": str(data),
        "FRONTDESK_DATABASE_URL": f"sqlite:///{data / 'bench.sqlite3'}",
        "FRONTDESK_PASSWORD_HASHING": "fast",
        **UNREACHED_LIMITS,
    }
    env |= {f"FRONTDESK_{name.upper()}": value for name, value in settings.items()}
    return env


@contextmanager
def bench_database(database: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database for one measurement: an SQLite file in ``folder``, or a
    PostgreSQL database created for it and dropped afterwards."""
    if database == "sqlite":
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    name = f"frontdesk_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql``, read straight from the database under benchmark."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return db.execute(sql).fetchall()
    with psycopg.connect(database_url) as db:
        return db.execute(sql).fetchall()


@contextmanager
def smtp_sink(*, ids: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """benchmarks/smtp_sink.py in a process of its own: yields its port and a dict that
    holds its counts (and, with ``ids``, how often each Message-ID came) once it stopped."""
    port = free_port()
    command = [sys.executable, str(ROOT / "benchmarks" / "smtp_sink.py"), str(port)]
    process = subprocess.Popen(
        [*command, *(["--ids"] if ids else [])], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("the SMTP sink did not start")
    stats: dict[str, Any] = {}
    try:
        yield port, stats
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
        stats.update(json.loads(out.strip().splitlines()[-1]))
