"""The soak (docs/reliability.md): simulated visitors and agents chatting for minutes on
loopback against the deployment example (deploy/supervise.py: 2 serve + 1 worker on
PostgreSQL and a Redis of its own), bounded and self-stopping.

Every visitor holds the widget's socket and writes now and then (with an Idempotency-Key);
every agent holds the dashboard's socket and answers a conversation of its account now and
then. Counted: requests that failed, sockets that dropped, visitor messages acknowledged but
not stored, agent replies that never reached their visitor's socket; and, sampled every
10 s, each server process's memory (RSS) and open file descriptors, which must stay flat.

    python -m benchmarks.soak                      # 1,000 visitors, 50 agents, 5 minutes
    python -m benchmarks.soak --visitors 100 --agents 10 --minutes 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
from tests.support import frontdesk_env, postgres_database, unique_email
from tests.support.private_redis import private_redis
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.chaos import consecutive_free_ports, supervised, wait_until_serving
from benchmarks.common import rss_mb

ACCOUNTS = 10
SAMPLE_EVERY = 10.0


@dataclass
class Soak:
    visitors: int
    agents: int
    seconds: float
    messages_acknowledged: int = 0
    messages_stored: int = 0
    replies_posted: int = 0
    replies_heard: int = 0
    failed_requests: int = 0
    dropped_sockets: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)


def fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def sample(status: Path, soak: Soak, stop: asyncio.Event, started: float) -> None:
    while not stop.is_set():
        row: dict[str, Any] = {"at": round(time.monotonic() - started)}
        for process in json.loads(status.read_text()):
            name = f"{process['role']}-{process['index']}"
            try:
                row[name] = {"rss_mb": round(rss_mb(process["pid"]), 1), "fds": fds(process["pid"])}
            except OSError:
                row[name] = None
        soak.samples.append(row)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)


async def hold(
    url: str, token: str, soak: Soak, stop: asyncio.Event, heard: list[int] | None = None
) -> None:
    """A socket held until ``stop``; ``heard`` collects the ids of agents' messages."""
    async with connect(url, subprotocols=["frontdesk", f"frontdesk.token.{token}"]) as ws:  # type: ignore[list-item]
        await serve_socket(ws, soak, stop, heard)


async def serve_socket(
    ws: ClientConnection, soak: Soak, stop: asyncio.Event, heard: list[int] | None
) -> None:
    pinging = time.monotonic()
    while not stop.is_set():
        try:
            text = await asyncio.wait_for(ws.recv(), 1.0)
        except TimeoutError:
            if time.monotonic() - pinging > 20:
                await ws.send('{"type":"ping"}')
                pinging = time.monotonic()
            continue
        except Exception:
            soak.dropped_sockets += 1
            return
        frame = json.loads(text)
        if heard is not None and frame.get("type") == "message.created":
            message = frame["message"]
            if message.get("author") == "agent":
                heard.append(message["id"])


async def run(visitors: int, agents: int, minutes: float) -> Soak:
    soak = Soak(visitors=visitors, agents=agents, seconds=minutes * 60)
    folder = Path(tempfile.mkdtemp(prefix="frontdesk-soak-"))
    with private_redis() as redis_server, postgres_database("frontdesk_soak") as url:
        env = frontdesk_env(url, folder / "data") | {
            "FRONTDESK_REDIS_URL": redis_server.url,
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "30",
        }
        ports = consecutive_free_ports(2)
        with supervised(env, folder, serve=2, worker=1, port=ports[0]) as status:
            wait_until_serving(ports)
            await chat(soak, ports, status, url)
    return soak


async def chat(soak: Soak, ports: list[int], status: Path, database_url: str) -> None:
    bases = [f"http://127.0.0.1:{port}/api/v1" for port in ports]
    sockets = [f"ws://127.0.0.1:{port}/api/v1" for port in ports]
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def call(n: int, method: str, path: str, body: Any = None, **headers: str) -> Any:
            answer = await http.request(method, bases[n % 2] + path, json=body, headers=headers)
            if not answer.is_success:
                soak.failed_requests += 1
                return None
            return answer.json()

        accounts = []
        for a in range(ACCOUNTS):
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-pw-12"}
            signed = await call(a, "POST", "/accounts", {"name": f"Shop {a}", "owner": owner})
            tokens = [signed["token"]]
            for _ in range(soak.agents // ACCOUNTS - 1):
                email = unique_email()
                body = {"name": "Adam", "email": email, "password": "agent-pw-123"}
                auth = {"Authorization": f"Bearer {signed['token']}"}
                await call(a, "POST", "/agents", body, **auth)
                logged = await call(
                    a, "POST", "/auth/login", {"email": email, "password": "agent-pw-123"}
                )
                tokens.append(logged["token"])
            accounts.append((signed["widget_key"], tokens))

        visitors: list[tuple[int, str, str]] = []  # (account, widget key, token)
        for v in range(soak.visitors):
            a = v % ACCOUNTS
            key = accounts[a][0]
            made = await call(v, "POST", f"/widget/{key}/visitors", {"name": f"V{v}"})
            visitors.append((a, key, made["visitor_token"]))

        stop = asyncio.Event()
        started = time.monotonic()
        heard: dict[int, list[int]] = {v: [] for v in range(soak.visitors)}
        conversations: dict[int, list[int]] = {a: [] for a in range(ACCOUNTS)}
        acknowledged: list[int] = []
        replies: list[int] = []
        tasks = [asyncio.create_task(sample(status, soak, stop, started))]
        for v, (_a, key, token) in enumerate(visitors):
            url = f"{sockets[v % 2]}/widget/ws?widget_key={key}"
            tasks.append(asyncio.create_task(hold(url, token, soak, stop, heard[v])))
        for _key, tokens in accounts:
            for n, token in enumerate(tokens):
                url = f"{sockets[n % 2]}/agent/ws?device_id=soak-{n}&status=online"
                tasks.append(asyncio.create_task(hold(url, token, soak, stop)))
        deadline = started + soak.seconds

        async def pause(seconds: float) -> None:
            await asyncio.sleep(max(0.0, min(seconds, deadline - time.monotonic())))

        async def visitor(v: int) -> None:
            a, key, token = visitors[v]
            await asyncio.sleep(random.uniform(0, 30))
            while time.monotonic() < deadline:
                answer = await call(
                    v,
                    "POST",
                    f"/widget/{key}/messages",
                    {"text": f"Message from visitor {v}"},
                    Authorization=f"Bearer {token}",
                    **{"Idempotency-Key": str(uuid.uuid4())},
                )
                if answer is not None:
                    acknowledged.append(answer["message_id"])
                    if answer["conversation_id"] not in conversations[a]:
                        conversations[a].append(answer["conversation_id"])
                await asyncio.sleep(random.uniform(15, 45))

        async def agent(a: int, token: str, n: int) -> None:
            await asyncio.sleep(random.uniform(5, 10))
            while time.monotonic() < deadline:
                if conversations[a]:
                    cid = random.choice(conversations[a])
                    answer = await call(
                        n,
                        "POST",
                        f"/conversations/{cid}/messages",
                        {"text": "An answer"},
                        Authorization=f"Bearer {token}",
                    )
                    if answer is not None:
                        replies.append(answer["id"])
                await asyncio.sleep(random.uniform(3, 7))

        talkers = [asyncio.create_task(visitor(v)) for v in range(soak.visitors)]
        talkers += [
            asyncio.create_task(agent(a, token, n))
            for a, (_key, tokens) in enumerate(accounts)
            for n, token in enumerate(tokens)
        ]
        await asyncio.gather(*talkers)
        await asyncio.sleep(3)  # the last frames arrive
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    soak.messages_acknowledged = len(acknowledged)
    soak.replies_posted = len(replies)
    soak.replies_heard = len({m for got in heard.values() for m in got} & set(replies))
    with psycopg.connect(database_url) as connection:
        stored = connection.execute(
            "SELECT count(*) FROM messages WHERE id = ANY(%s)", (acknowledged,)
        ).fetchone()
    soak.messages_stored = int(stored[0]) if stored else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="The soak (docs/reliability.md).")
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0)
    options = parser.parse_args()
    soak = asyncio.run(run(options.visitors, options.agents, options.minutes))
    print(json.dumps(asdict(soak), indent=1))


if __name__ == "__main__":
    main()
