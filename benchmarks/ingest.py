"""Benchmark (not a test): visitor messages per second (``POST /widget/{key}/messages``)
against a bare uvicorn endpoint that parses the same JSON, measured in the same run.

    .venv/bin/python -m benchmarks.ingest                 # SQLite and PostgreSQL, 3 rounds
    .venv/bin/python -m benchmarks.ingest --duration 5 --rounds 1 --databases sqlite

The server runs on core 0 (taskset) and the load generator, wrk from Debian's packages, on
core 1: 64 keep-alive connections, one account, 1,000 visitors taking turns (each has its
own token and conversation), nobody online. Each visitor writes once before the
measurement, which opens its conversation and offline notification; the measured messages
join them. After the run every message id that wrk saw acknowledged (201) is looked up in
the database: an acknowledged message that is not stored is counted as lost. The CPU time
the server used is read from /proc, per request.

The machine is shared and its speed moves by a third from minute to minute, so each round
measures the baseline and then Frontdesk, and the ratio of each round is taken against the
baseline of the same round; the figures reported are the medians over the rounds.

Goal (issue 11): Frontdesk at >= 0.15 of the baseline on SQLite with p99 <= 50 ms, 0
non-2xx, none lost; >= 0.10 on PostgreSQL.

``--webhook`` measures each database a second time with the account's webhook endpoint
wanting ``message.created`` (docs/webhooks.md): every message then writes its event in its
transaction, and the server's engine posts them to a receiver on the load generator's core
(benchmarks/webhook_sink.py) while the load runs. Reported beside: the events written and
the ones delivered by the end of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx

from benchmarks.common import (
    ROOT,
    bench_database,
    cpu_seconds,
    free_port,
    frontdesk_env,
    pinned,
    query,
    server,
    tracebacks,
)

SERVER_CORE = 0
LOAD_CORE = 1
LUA = Path(__file__).with_name("ingest.lua")


def wrk(
    url: str,
    path: str,
    tokens: Path,
    *,
    duration: float,
    connections: int,
    once: bool = False,
    until: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """wrk against ``url``; ``once``: each token's message once, then stop. A line of the
    token file may be ``PATH TOKEN`` to post to its own path. ``until`` is asked every
    50 ms while wrk runs; when it answers true, wrk is stopped (SIGINT: it still reports)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (./scripts/bench installs it)")
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "wrk.json"
        env = (
            os.environ
            | {
                "BENCH_PATH": path,
                "BENCH_TOKENS": str(tokens),
                "BENCH_RESULT": str(result),
            }
            | ({"BENCH_ONCE": "1"} if once else {})
        )
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ]
        process = subprocess.Popen(
            pinned(command, LOAD_CORE),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        while process.poll() is None:
            if until is not None and until():
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
        _, stderr = process.communicate()
        if process.returncode not in (0, -signal.SIGINT):
            raise RuntimeError(f"wrk failed ({process.returncode}): {stderr.decode()[-2000:]}")
        measured: dict[str, Any] = json.loads(result.read_text())
    seconds = measured["duration_us"] / 1e6
    statuses = {int(k): v for k, v in measured["statuses"].items()}
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    errors = measured["errors"]
    return {
        "requests": measured["requests"],
        "per_second": ok / seconds,
        "p50_ms": measured["p50_us"] / 1000,
        "p90_ms": measured["p90_us"] / 1000,
        "p99_ms": measured["p99_us"] / 1000,
        "max_ms": measured["max_us"] / 1000,
        "ok": ok,
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "statuses": statuses,
        "acknowledged_ids": [int(i) for i in measured["ids"]],
    }


def measure_baseline(duration: float, connections: int, tokens: Path) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "baseline.log"
        command = pinned(
            [sys.executable, str(ROOT / "benchmarks" / "baseline_http.py"), str(port)], SERVER_CORE
        )
        with server(command, dict(os.environ), port, log) as process:
            before = cpu_seconds(process.pid)
            result = wrk(
                f"http://127.0.0.1:{port}",
                "/messages",
                tokens,
                duration=duration,
                connections=connections,
            )
            result["cpu_ms_per_request"] = (
                (cpu_seconds(process.pid) - before) * 1000 / max(1, result["requests"])
            )
    result.pop("acknowledged_ids")
    return result


async def seed(
    base: str, visitors: int, webhook_url: str | None = None
) -> tuple[str, list[str], float]:
    """One account and its visitors; returns the widget key, the visitor tokens and the
    visitors created per second (64 at a time). With ``webhook_url``, the account's
    endpoint there wants every message."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        created = await http.post(
            "/api/v1/accounts",
            json={
                "name": "Bench Tea",
                "plan": "pro",
                "owner": {
                    "name": "Olga",
                    "email": "olga@bench.example.com",
                    "password": "a-long-password",
                },
            },
        )
        created.raise_for_status()
        key = created.json()["widget_key"]
        if webhook_url is not None:
            endpoint = await http.post(
                "/api/v1/webhooks",
                json={"url": webhook_url, "events": ["message.created"]},
                headers={"Authorization": f"Bearer {created.json()['token']}"},
            )
            endpoint.raise_for_status()
        semaphore = asyncio.Semaphore(64)

        async def one(n: int) -> str:
            async with semaphore:
                answer = await http.post(
                    f"/api/v1/widget/{key}/visitors", json={"name": f"Visitor {n}"}
                )
                answer.raise_for_status()
                token: str = answer.json()["visitor_token"]
                return token

        started = time.perf_counter()
        tokens = await asyncio.gather(*(one(n) for n in range(visitors)))
        rate = visitors / (time.perf_counter() - started)

        async def first_message(token: str) -> None:
            async with semaphore:
                answer = await http.post(
                    f"/api/v1/widget/{key}/messages",
                    json={"text": "Hello?"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                answer.raise_for_status()

        # Each visitor's first message opens its conversation and its offline notification
        # before the measurement, which then sees the steady state: messages that join them.
        await asyncio.gather(*(first_message(token) for token in tokens))
    return key, list(tokens), rate


def measure_frontdesk(
    database: str,
    duration: float,
    connections: int,
    visitors: int,
    *,
    profile: Path | None = None,
    webhook: bool = False,
) -> dict[str, Any]:
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database(database, Path(scratch)) as database_url,
        webhook_sink(webhook) as hook_url,
    ):
        data = Path(scratch)
        env = frontdesk_env(data, offline_email_delay="3600", webhook_local_hosts="127.0.0.1") | {
            "FRONTDESK_DATABASE_URL": database_url
        }
        log = data / "serve.log"
        command = [
            str(ROOT / ".venv" / "bin" / "frontdesk"),
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        with server(pinned(command, SERVER_CORE), env, port, log) as process:
            base = f"http://127.0.0.1:{port}"
            key, tokens, visitor_rate = asyncio.run(seed(base, visitors, hook_url))
            token_file = data / "tokens.txt"
            token_file.write_text("\n".join(tokens) + "\n")
            spy = None
            if profile is not None:
                spy = subprocess.Popen(
                    [
                        str(ROOT / ".venv" / "bin" / "py-spy"),
                        "record",
                        "-o",
                        str(profile),
                        "-f",
                        {".json": "speedscope", ".txt": "raw"}.get(profile.suffix, "flamegraph"),
                        "-d",
                        str(round(duration)),
                        "-p",
                        str(process.pid),
                        "-r",
                        "100",
                        *os.environ.get("BENCH_SPY_OPTIONS", "--gil --nonblocking").split(),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            before = cpu_seconds(process.pid)
            result = wrk(
                base,
                f"/api/v1/widget/{key}/messages",
                token_file,
                duration=duration,
                connections=connections,
            )
            result["cpu_ms_per_request"] = (
                (cpu_seconds(process.pid) - before) * 1000 / max(1, result["requests"])
            )
            if spy is not None:
                spy.wait()
            if webhook:
                written = query(
                    database_url, "SELECT state, count(*) FROM webhook_messages GROUP BY state"
                )
                result["webhooks_written"] = sum(int(n) for _, n in written)
                result["webhooks_delivered"] = sum(
                    int(n) for state, n in written if state == "delivered"
                )
                # Then, the load gone, how fast the engine delivers the rest (for 60 s at most).
                started = time.monotonic()
                left = result["webhooks_written"] - result["webhooks_delivered"]
                pending = left
                while pending and time.monotonic() - started < 60:
                    time.sleep(0.5)
                    pending = int(
                        query(
                            database_url,
                            "SELECT count(*) FROM webhook_messages WHERE state = 'pending'",
                        )[0][0]
                    )
                result["webhooks_drained_per_second"] = (left - pending) / (
                    time.monotonic() - started
                )
        stored = {row[0] for row in query(database_url, "SELECT id FROM messages")}
        acknowledged = result.pop("acknowledged_ids")
        result["lost"] = len(set(acknowledged) - stored)
        result["acknowledged"] = len(acknowledged)
        result["visitors_per_second"] = visitor_rate
        result["server_tracebacks"] = tracebacks(log)
    return result


@contextmanager
def webhook_sink(wanted: bool) -> Iterator[str | None]:
    """benchmarks/webhook_sink.py on the load generator's core, when ``wanted``: its URL."""
    if not wanted:
        yield None
        return
    port = free_port()
    command = [sys.executable, str(ROOT / "benchmarks" / "webhook_sink.py"), str(port)]
    process = subprocess.Popen(pinned(command, LOAD_CORE), stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("the webhook sink did not start")
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def run(
    *,
    duration: float,
    connections: int,
    visitors: int,
    databases: list[str],
    rounds: int = 1,
    profile: Path | None = None,
    webhook: bool = False,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "connections": connections,
        "visitors": visitors,
        "duration_s": duration,
        "rounds": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        tokens = Path(scratch) / "tokens.txt"
        tokens.write_text("\n".join(f"token-{n}" for n in range(visitors)) + "\n")
        for _ in range(rounds):
            measured: dict[str, Any] = {"baseline": measure_baseline(duration, connections, tokens)}
            for database in databases:
                figures = measure_frontdesk(
                    database, duration, connections, visitors, profile=profile
                )
                figures["ratio"] = figures["per_second"] / measured["baseline"]["per_second"]
                measured[database] = figures
                if webhook:
                    figures = measure_frontdesk(
                        database, duration, connections, visitors, webhook=True
                    )
                    figures["ratio"] = figures["per_second"] / measured["baseline"]["per_second"]
                    measured[f"{database} webhook"] = figures
            results["rounds"].append(measured)
    names = [*databases, *(f"{d} webhook" for d in databases if webhook)]
    for name in ["baseline", *names]:
        results[name] = _median_round([r[name] for r in results["rounds"]])
    return results


def _median_round(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds; counts of failures are summed."""
    summed = {
        "non_2xx",
        "socket_errors",
        "lost",
        "acknowledged",
        "requests",
        "ok",
        "webhooks_written",
        "webhooks_delivered",
    }
    combined: dict[str, Any] = {}
    for key, value in measured[0].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        values = [m[key] for m in measured]
        combined[key] = sum(values) if key in summed else statistics.median(values)
    return combined


def report(results: dict[str, Any]) -> None:
    print(
        f"ingest: {results['connections']} connections, {results['visitors']} visitors, "
        f"{results['duration_s']:g} s each"
    )
    for name in ("baseline", "sqlite", "postgresql", "sqlite webhook", "postgresql webhook"):
        if name not in results:
            continue
        r = results[name]
        line = (
            f"  {'bare endpoint' if name == 'baseline' else 'frontdesk ' + name:22}"
            f"{r['per_second']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
            f"cpu {r['cpu_ms_per_request']:.3f} ms/req"
        )
        if name != "baseline":
            line += (
                f"  ratio {r['ratio']:.3f}  non-2xx {r['non_2xx']}  "
                f"socket errors {r['socket_errors']}  lost {r['lost']} of {r['acknowledged']}  "
                f"visitors created {r['visitors_per_second']:.0f}/s"
            )
        if "webhooks_written" in r:
            line += (
                f"  webhooks written {r['webhooks_written']}, delivered by the end "
                f"{r['webhooks_delivered']}, the rest then at "
                f"{r['webhooks_drained_per_second']:.0f}/s"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy of the server: flame graph (.svg), speedscope (.json), stacks (.txt)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument(
        "--webhook", action="store_true", help="each database again with a webhook endpoint"
    )
    args = parser.parse_args()
    results = run(
        duration=args.duration,
        connections=args.connections,
        visitors=args.visitors,
        databases=args.databases.split(","),
        rounds=args.rounds,
        profile=args.profile,
        webhook=args.webhook,
    )
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
