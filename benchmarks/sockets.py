"""Benchmark (not a test): idle sockets one Frontdesk process holds, memory per socket, the
latency of fanning one event out to 1,000 agent sockets, and a storm: every socket dropped
at once and all back at once.

Both figures are measured in the same run against a baseline: the least a WebSocket fan-out
server can be on the same stack, with the same WebSocket options as ``frontdesk serve``
(benchmarks/baseline_ws.py). Run:

    .venv/bin/python -m benchmarks.sockets            # 10,000 sockets, 20 fan-out rounds
    .venv/bin/python -m benchmarks.sockets --sockets 2000 --rounds 5

Goals (issue 3): 10,000 sockets in at most 500 MB, fan-out p99 at most 50 ms. Issue 11: the
storm with HTTP p99 at most 1 s throughout, every socket greeted again within 15 s, and
presence right afterwards.

How it measures (docs/presence.md, "Benchmark"):

- A Frontdesk socket counts as held once its greeting (``hello`` or ``widget.status``) has
  arrived, that is once its session is set up and its presence recorded; memory is read
  from ``VmRSS`` after every socket has been greeted.
- Every client socket, on both servers, is a bare WebSocket client on a raw socket
  (``StampedSocket``): the websockets library's client took about as much CPU for each
  connection as the server it measured, on the same two cores. Browsers reconnect from
  machines of their own.
- The fan-out sockets are bare WebSocket clients whose arrival times the kernel stamps
  (``SO_TIMESTAMPNS``, the moment a segment reached the socket's receive queue). One
  Python process reading 1,000 sockets needs tens of milliseconds to get round to all of
  them, which would be measured as fan-out latency; the kernel's stamp does not wait for
  the reader. On loopback a segment is queued while the server's write runs, so the
  stamps show when the server wrote each frame.
- Each round is one event: a visitor message in an open conversation (Frontdesk) or one
  POST /broadcast (baseline). A warm-up round goes first; Frontdesk's is the message that
  opens the conversation, which fans out three frames, and its latency is printed apart.

The clients (the load generator) are in sockets_clients.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx

from benchmarks.common import (
    ROOT,
    UNREACHED_LIMITS,
    cpu_seconds,
    free_port,
    percentile,
    rss_mb,
    stop,
    tracebacks,
)
from benchmarks.sockets_clients import (
    CONNECT_CONCURRENCY,
    STORM_CONCURRENCY,
    FanOut,
    PostProber,
    StampedSocket,
    greeted,
    open_sockets,
    reconnect_all,
)

FANOUT_SOCKETS = 1000
SOCKETS_PER_ACCOUNT = 100
AGENTS_PER_ACCOUNT = 5


@asynccontextmanager
async def server(command: list[str], env: dict[str, str], port: int, log: Path) -> Any:
    """The server process, its errors written to ``log`` (a pipe nobody reads would stop
    the server once it filled)."""
    with log.open("wb") as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                for _ in range(300):
                    try:
                        if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                else:
                    raise RuntimeError(log.read_text() or "the server did not start")
            yield process
        finally:
            # Closing thousands of sessions records each socket's end; give it time.
            stop(process, timeout=120)


def met(goal: bool) -> str:
    return "met" if goal else "NOT met"


async def measure_baseline(total: int, rounds: int) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, str(ROOT / "benchmarks" / "baseline_ws.py"), str(port)]
    log = Path(tempfile.mkdtemp(prefix="frontdesk-bench-")) / "baseline.log"
    async with server(command, dict(os.environ), port, log) as process:
        await asyncio.sleep(1)
        idle = rss_mb(process.pid)
        sockets = await open_sockets(port, ["/ws"] * total)
        await asyncio.sleep(2)
        loaded = rss_mb(process.pid)
        # The storm's reconnect on the bare stack: every socket dropped, then all back at
        # once; the baseline greets nobody, so its sockets count once their handshake is done.
        for client in sockets:
            client.close()
        await asyncio.sleep(2)
        started, cpu = time.perf_counter(), _cpu(process.pid)
        sockets = await reconnect_all(port, ["/ws"] * total)
        reconnected_after = time.perf_counter() - started
        server_cpu, client_cpu = _cpu_since(process.pid, cpu)
        for client in sockets[FANOUT_SOCKETS:]:
            client.close()
        await asyncio.sleep(1)
        # The baseline sends nothing on connect, so its fan-out sockets replace the first
        # 1,000 idle ones instead of waiting for a greeting.
        for client in sockets[:FANOUT_SOCKETS]:
            client.close()
        fan = FanOut()
        await fan.connect(port, ["/ws"] * FANOUT_SOCKETS)
        await asyncio.sleep(1)
        async with httpx.AsyncClient(timeout=30) as http:

            async def trigger(text: str) -> None:
                await http.post(f"http://127.0.0.1:{port}/broadcast", json={"text": text})

            await fan.rounds(trigger, 1, "baseline-first")
            latencies, spreads = await fan.rounds(trigger, rounds, "baseline")
        fan.close()
    return {
        "idle": idle,
        "loaded": loaded,
        "reconnected_after_s": reconnected_after,
        "reconnect_server_cpu_s": server_cpu,
        "reconnect_client_cpu_s": client_cpu,
        "latencies": latencies,
        "spreads": spreads,
        "errors": tracebacks(log),
    }


async def measure_frontdesk(total: int, rounds: int) -> dict[str, Any]:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")} | {
        "FRONTDESK_DATABASE_URL": f"sqlite:///{data / 'bench.sqlite3'}",
        "FRONTDESK_PASSWORD_HASHING": "fast",
        **UNREACHED_LIMITS,
    }
    command = [
        sys.executable,
        "-m",
        "frontdesk",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    api = f"http://127.0.0.1:{port}/api/v1"
    ws_base = "/api/v1"
    log = data / "frontdesk.log"
    async with server(command, env, port, log) as process, httpx.AsyncClient(timeout=60) as http:
        await asyncio.sleep(1)
        idle = rss_mb(process.pid)

        async def account(name: str, agents: int) -> tuple[str, list[str]]:
            owner = {
                "name": "O",
                "email": f"owner-{name}@bench.example.com",
                "password": "bench-password",
            }
            signed = (
                await http.post(f"{api}/accounts", json={"name": name, "owner": owner})
            ).json()
            headers = {"Authorization": f"Bearer {signed['token']}"}
            tokens = [signed["token"]]
            for n in range(agents - 1):
                email = f"agent-{name}-{n}@bench.example.com"
                await http.post(
                    f"{api}/agents",
                    headers=headers,
                    json={"name": f"A{n}", "email": email, "password": "bench-password"},
                )
                login = await http.post(
                    f"{api}/auth/login", json={"email": email, "password": "bench-password"}
                )
                tokens.append(login.json()["token"])
            return signed["widget_key"], tokens

        # Idle sockets, spread over accounts the size of a busy small shop: each account has
        # 5 agents with 10 devices each and 50 visitors on its website.
        semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def new_visitor(widget_key: str) -> str:
            async with semaphore:
                body = (await http.post(f"{api}/widget/{widget_key}/visitors", json={})).json()
                return str(body["visitor_token"])

        agent_urls: list[str] = []
        visitor_urls: list[str] = []
        for number in range(max(1, total // SOCKETS_PER_ACCOUNT)):
            key, tokens = await account(f"idle{number}", AGENTS_PER_ACCOUNT)
            agent_urls += [
                f"{ws_base}/agent/ws?token={tokens[n % len(tokens)]}&device_id=d{n}"
                for n in range(SOCKETS_PER_ACCOUNT // 2)
            ]
            visitor_tokens = await asyncio.gather(
                *(new_visitor(key) for _ in range(SOCKETS_PER_ACCOUNT // 2))
            )
            visitor_urls += [
                f"{ws_base}/widget/ws?widget_key={key}&visitor_token={t}" for t in visitor_tokens
            ]
        opened_at = time.perf_counter()
        sockets = await open_sockets(port, agent_urls + visitor_urls)
        open_seconds = time.perf_counter() - opened_at
        await greeted(sockets)
        greeted_seconds = time.perf_counter() - opened_at
        await asyncio.sleep(3)  # the frames that follow the greetings, read as they come
        loaded = rss_mb(process.pid)

        # Fan-out: 1,000 agent sockets of one account (20 agents x 50 devices).
        fan_key, fan_tokens = await account("fanout", 20)
        fan = FanOut()
        await fan.connect(
            port,
            [
                f"/api/v1/agent/ws?token={fan_tokens[n % 20]}&device_id=f{n}"
                for n in range(FANOUT_SOCKETS)
            ],
        )
        await fan.greeted()
        await asyncio.sleep(3)
        visitor = (await http.post(f"{api}/widget/{fan_key}/visitors", json={})).json()
        visitor_headers = {"Authorization": f"Bearer {visitor['visitor_token']}"}
        post_latencies: list[float] = []

        async def trigger(text: str) -> None:
            started = time.perf_counter()
            await http.post(
                f"{api}/widget/{fan_key}/messages", json={"text": text}, headers=visitor_headers
            )
            post_latencies.append(time.perf_counter() - started)

        # The visitor's first message opens the conversation, so three frames fan out: the
        # visitor's arrival, conversation.created and message.created. It is reported on its
        # own; the measured rounds are one message.created each, in the open conversation.
        first, _ = await fan.rounds(trigger, 1, "frontdesk-first")
        post_latencies.clear()
        latencies, spreads = await fan.rounds(trigger, rounds, "frontdesk")
        fan.close()
        storm_result = await storm(
            sockets,
            process.pid,
            port,
            agent_urls + visitor_urls,
            data / "bench.sqlite3",
            (f"{api}/widget/{fan_key}/messages", visitor_headers),
        )
        for client in storm_result.pop("sockets"):
            client.close()
    return {
        "storm": storm_result,
        "idle": idle,
        "loaded": loaded,
        "latencies": latencies,
        "spreads": spreads,
        "post_latencies": post_latencies,
        "open_seconds": open_seconds,
        "greeted_seconds": greeted_seconds,
        "first_message": max(first),
        "errors": tracebacks(log),
    }


def _cpu(server_pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the server and by this process (the clients): the load
    generator shares the machine's cores, so a storm's time is only the server's when the
    clients' share is small."""
    return cpu_seconds(server_pid), time.process_time()


def _cpu_since(server_pid: int, before: tuple[float, float]) -> tuple[float, float]:
    server, client = _cpu(server_pid)
    return server - before[0], client - before[1]


async def storm(
    sockets: list[StampedSocket],
    server_pid: int,
    port: int,
    urls: list[str],
    database: Path,
    post: tuple[str, dict[str, str]],
) -> dict[str, Any]:
    """Every idle socket dropped at once (as a proxy restart drops them: no closing
    handshake), then all of them back at once; meanwhile a visitor writes every 20 ms,
    whose requests' latency is the HTTP latency during the storm. The visitor writes from
    a process of its own (``PostProber``): from this one, whose loop is busy with a
    thousand handshakes at a time, its latency was mostly this loop's own delay. Presence
    is read from the database afterwards: nobody online once all dropped, and every agent
    and device back once all are greeted again."""
    agents_expected = len(
        {url.split("token=")[1].split("&")[0] for url in urls if "/agent/" in url}
    )
    devices_expected = sum(1 for url in urls if "/agent/" in url)

    def online() -> tuple[int, int]:
        with sqlite3.connect(database) as db:
            agents = db.execute("SELECT count(*) FROM agents WHERE online").fetchone()[0]
            devices = db.execute(
                "SELECT count(*) FROM devices WHERE status = 'online' AND socket_id IS NOT NULL"
            ).fetchone()[0]
        return int(agents), int(devices)

    prober = PostProber(*post)
    await asyncio.sleep(1)
    started = time.perf_counter()
    for client in sockets:
        client.close()
    offline_after = float("nan")
    while time.perf_counter() - started < 120:
        if online() == (0, 0):
            offline_after = time.perf_counter() - started
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    close_latencies = await asyncio.to_thread(prober.stop)

    prober = PostProber(*post)
    started, cpu = time.perf_counter(), _cpu(server_pid)
    back = await reconnect_all(port, urls)
    await greeted(back)
    greeted_after = time.perf_counter() - started
    server_cpu, client_cpu = _cpu_since(server_pid, cpu)
    await asyncio.sleep(1)
    reconnect_latencies = await asyncio.to_thread(prober.stop)
    agents_online, devices_online = online()
    return {
        "sockets": back,
        "dropped": len(sockets),
        "all_offline_after_s": offline_after,
        "close_http_p50_ms": percentile(close_latencies, 0.5) * 1000,
        "close_http_p99_ms": percentile(close_latencies, 0.99) * 1000,
        "close_http_max_ms": max(close_latencies, default=float("nan")) * 1000,
        "close_http_requests": len(close_latencies),
        "all_greeted_after_s": greeted_after,
        "reconnect_server_cpu_s": server_cpu,
        "reconnect_client_cpu_s": client_cpu,
        "reconnect_http_p50_ms": percentile(reconnect_latencies, 0.5) * 1000,
        "reconnect_http_p99_ms": percentile(reconnect_latencies, 0.99) * 1000,
        "reconnect_http_max_ms": max(reconnect_latencies, default=float("nan")) * 1000,
        "reconnect_http_requests": len(reconnect_latencies),
        "agents_online_after": agents_online,
        "agents_expected": agents_expected,
        "devices_online_after": devices_online,
        "devices_expected": devices_expected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    baseline = asyncio.run(measure_baseline(args.sockets, args.rounds))
    frontdesk = asyncio.run(measure_frontdesk(args.sockets, args.rounds))

    def per_socket_kb(result: dict[str, Any]) -> float:
        return (result["loaded"] - result["idle"]) * 1024 / args.sockets

    ms = 1000.0
    b_lat, f_lat = baseline["latencies"], frontdesk["latencies"]
    b_spread, f_spread = baseline["spreads"], frontdesk["spreads"]
    print(
        f"sockets held: {args.sockets} (Frontdesk: {args.sockets // SOCKETS_PER_ACCOUNT} accounts, "
        f"each 50 agent devices and 50 visitors); fan-out: {FANOUT_SOCKETS} agent sockets, "
        f"{args.rounds} rounds, arrivals stamped by the kernel"
    )
    print(f"{'':34}{'baseline':>12}{'Frontdesk':>12}{'ratio':>8}")
    rows = [
        ("RSS idle (MB)", baseline["idle"], frontdesk["idle"]),
        (f"RSS with {args.sockets} sockets (MB)", baseline["loaded"], frontdesk["loaded"]),
        ("memory per socket (KB)", per_socket_kb(baseline), per_socket_kb(frontdesk)),
        (
            "end to end, 1000 sockets p50 (ms)",
            statistics.median(b_lat) * ms,
            statistics.median(f_lat) * ms,
        ),
        (
            "end to end, 1000 sockets p99 (ms)",
            percentile(b_lat, 0.99) * ms,
            percentile(f_lat, 0.99) * ms,
        ),
        (
            "fan-out spread p50 (ms)",
            statistics.median(b_spread) * ms,
            statistics.median(f_spread) * ms,
        ),
        (
            "fan-out spread p99 (ms)",
            percentile(b_spread, 0.99) * ms,
            percentile(f_spread, 0.99) * ms,
        ),
    ]
    for label, b, f in rows:
        print(f"{label:34}{b:12.1f}{f:12.1f}{f / b if b else float('nan'):8.2f}")
    print(
        f"Frontdesk: {args.sockets} sockets connected in {frontdesk['open_seconds']:.1f} s and "
        f"all greeted after {frontdesk['greeted_seconds']:.1f} s; the visitor POST that "
        f"triggers each fan-out took p50 {statistics.median(frontdesk['post_latencies']) * ms:.1f}"
        " ms (included in end to end); the conversation's first message (three frames: "
        "presence.changed, conversation.created, message.created) reached its last socket "
        f"after {frontdesk['first_message'] * ms:.0f} ms"
    )
    if baseline["errors"] or frontdesk["errors"]:
        print(
            f"errors logged by the servers: baseline {baseline['errors']}, "
            f"Frontdesk {frontdesk['errors']}"
        )
    st = frontdesk["storm"]
    presence_correct = (st["agents_online_after"], st["devices_online_after"]) == (
        st["agents_expected"],
        st["devices_expected"],
    )
    print(
        f"storm: {st['dropped']} sockets dropped at once: everyone offline in the database "
        f"after {st['all_offline_after_s']:.1f} s; a visitor's POST meanwhile p50 "
        f"{st['close_http_p50_ms']:.0f} ms, p99 {st['close_http_p99_ms']:.0f} ms, max "
        f"{st['close_http_max_ms']:.0f} ms ({st['close_http_requests']} requests). All back at "
        f"once ({STORM_CONCURRENCY} connecting at a time): all greeted after "
        f"{st['all_greeted_after_s']:.1f} s; POST p50 {st['reconnect_http_p50_ms']:.0f} ms, "
        f"p99 {st['reconnect_http_p99_ms']:.0f} ms, max {st['reconnect_http_max_ms']:.0f} ms "
        f"({st['reconnect_http_requests']} requests); the baseline, which greets nobody, had "
        f"all its {args.sockets} sockets back after {baseline['reconnected_after_s']:.1f} s "
        f"(ratio {st['all_greeted_after_s'] / baseline['reconnected_after_s']:.2f}); online "
        "afterwards: "
        f"{st['agents_online_after']} of {st['agents_expected']} agents, "
        f"{st['devices_online_after']} of {st['devices_expected']} devices; CPU while all "
        f"came back: the server {st['reconnect_server_cpu_s']:.1f} s, the clients "
        f"{st['reconnect_client_cpu_s']:.1f} s (the baseline's server "
        f"{baseline['reconnect_server_cpu_s']:.1f} s, its clients "
        f"{baseline['reconnect_client_cpu_s']:.1f} s)"
    )
    print(
        f"goals: {args.sockets} sockets <= 500 MB: {met(frontdesk['loaded'] <= 500)}; "
        f"fan-out p99 <= 50 ms from just before the POST: "
        f"{met(percentile(f_lat, 0.99) * ms <= 50)} (the spread alone: "
        f"{percentile(f_spread, 0.99) * ms:.0f} ms); storm HTTP p99 <= 1 s: "
        f"{met(max(st['close_http_p99_ms'], st['reconnect_http_p99_ms']) <= 1000)}; "
        f"all greeted within 15 s: {met(st['all_greeted_after_s'] <= 15)}; presence correct: "
        f"{met(presence_correct)}"
    )


if __name__ == "__main__":
    main()
