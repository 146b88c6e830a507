"""Benchmark (not a test): idle sockets one Frontdesk process holds, memory per socket, and
the latency of fanning one event out to 1,000 agent sockets.

Both figures are measured in the same run against a baseline: the least a WebSocket fan-out
server can be on the same stack (benchmarks/baseline_ws.py). Run:

    .venv/bin/python benchmarks/sockets.py            # 10,000 sockets, 20 fan-out rounds
    .venv/bin/python benchmarks/sockets.py --sockets 2000 --rounds 5

Goals (issue 3): 10,000 sockets in at most 500 MB, fan-out p99 at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
CONNECT_CONCURRENCY = 50
FANOUT_SOCKETS = 1000
SOCKETS_PER_ACCOUNT = 100
AGENTS_PER_ACCOUNT = 5


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@asynccontextmanager
async def server(command: list[str], env: dict[str, str], port: int) -> Any:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError(process.stderr.read().decode() if process.stderr else "no start")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def open_sockets(urls: list[str]) -> list[ClientConnection]:
    semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(url: str) -> ClientConnection:
        async with semaphore:
            return await connect(url, max_queue=None, ping_interval=None, open_timeout=60)

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def drain(sockets: list[ClientConnection], seconds: float) -> None:
    """Read and drop whatever frames arrive for a while (hello, presence, status)."""

    async def one(ws: ClientConnection) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(ws.recv(), timeout=left)
            except TimeoutError:
                return

    await asyncio.gather(*(one(ws) for ws in sockets))


async def fan_out_latencies(
    sockets: list[ClientConnection], trigger: Any, rounds: int, marker: str
) -> tuple[list[float], list[float]]:
    """Per socket and round: seconds from sending the trigger request to the frame's arrival
    (end to end), and from the first socket's arrival to this one's (the fan-out itself)."""
    latencies: list[float] = []
    spreads: list[float] = []
    for round_number in range(rounds):
        text = f"{marker}-{round_number}"

        async def wait(ws: ClientConnection, text: str = text) -> float:
            while True:
                frame = await ws.recv()
                if text in frame and "message.created" in frame:
                    return time.perf_counter()

        waiters = [asyncio.create_task(wait(ws)) for ws in sockets]
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        await trigger(text)
        arrivals = await asyncio.wait_for(asyncio.gather(*waiters), timeout=60)
        latencies.extend(arrival - started for arrival in arrivals)
        spreads.extend(arrival - min(arrivals) for arrival in arrivals)
        await asyncio.sleep(0.1)
    return latencies, spreads


def met(goal: bool) -> str:
    return "met" if goal else "NOT met"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure_baseline(total: int, rounds: int) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, str(ROOT / "benchmarks" / "baseline_ws.py"), str(port)]
    async with server(command, dict(os.environ), port) as process:
        await asyncio.sleep(1)
        idle = rss_mb(process.pid)
        sockets = await open_sockets([f"ws://127.0.0.1:{port}/ws"] * total)
        await asyncio.sleep(2)
        loaded = rss_mb(process.pid)
        async with httpx.AsyncClient(timeout=30) as http:
            fan = sockets[:FANOUT_SOCKETS]
            for ws in sockets[FANOUT_SOCKETS:]:
                await ws.close()
            await asyncio.sleep(1)

            async def trigger(text: str) -> None:
                await http.post(f"http://127.0.0.1:{port}/broadcast", json={"text": text})

            latencies, spreads = await fan_out_latencies(fan, trigger, rounds, "baseline")
        for ws in fan:
            await ws.close()
    return {"idle": idle, "loaded": loaded, "latencies": latencies, "spreads": spreads}


async def measure_frontdesk(total: int, rounds: int) -> dict[str, Any]:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")} | {
        "FRONTDESK_DATABASE_URL": f"sqlite:///{data / 'bench.sqlite3'}",
        "FRONTDESK_PASSWORD_HASHING": "fast",
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
    ws_base = f"ws://127.0.0.1:{port}/api/v1"
    async with server(command, env, port) as process, httpx.AsyncClient(timeout=60) as http:
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
        sockets = await open_sockets(agent_urls + visitor_urls)
        open_seconds = time.perf_counter() - opened_at
        await drain(sockets, 3)
        loaded = rss_mb(process.pid)

        # Fan-out: 1,000 agent sockets of one account (20 agents x 50 devices).
        fan_key, fan_tokens = await account("fanout", 20)
        fan = await open_sockets(
            [
                f"{ws_base}/agent/ws?token={fan_tokens[n % 20]}&device_id=f{n}"
                for n in range(FANOUT_SOCKETS)
            ]
        )
        await drain(fan + sockets, 3)
        visitor = (await http.post(f"{api}/widget/{fan_key}/visitors", json={})).json()
        visitor_headers = {"Authorization": f"Bearer {visitor['visitor_token']}"}
        post_latencies: list[float] = []

        async def trigger(text: str) -> None:
            started = time.perf_counter()
            await http.post(
                f"{api}/widget/{fan_key}/messages", json={"text": text}, headers=visitor_headers
            )
            post_latencies.append(time.perf_counter() - started)

        latencies, spreads = await fan_out_latencies(fan, trigger, rounds, "frontdesk")
        for ws in fan + sockets:
            await ws.close()
    return {
        "idle": idle,
        "loaded": loaded,
        "latencies": latencies,
        "spreads": spreads,
        "post_latencies": post_latencies,
        "open_seconds": open_seconds,
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
        "each 50 agent devices and 50 visitors)"
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
        f"Frontdesk: opening {args.sockets} sockets took {frontdesk['open_seconds']:.1f} s; "
        f"the visitor POST that triggers each fan-out took p50 "
        f"{statistics.median(frontdesk['post_latencies']) * ms:.1f} ms (included above)"
    )
    print(
        f"goals: {args.sockets} sockets <= 500 MB: {met(frontdesk['loaded'] <= 500)}; "
        f"fan-out p99 <= 50 ms: {met(percentile(f_spread, 0.99) * ms <= 50)} "
        f"(spread); end to end, including the triggering request's commit: "
        f"{percentile(f_lat, 0.99) * ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
