"""A live server: the whole app on a real uvicorn in a thread of the test process, its
agents, visitors and sockets, and the engine's settings and decisions on it."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn
from fastapi import FastAPI
from websockets.sync.client import ClientConnection, connect

from frontdesk.api.app import create_app
from frontdesk.clock import SystemClock
from frontdesk.realtime.hub import Hub
from frontdesk.realtime.transport import UVICORN_WEBSOCKET_OPTIONS
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.support.in_process import unique_email
from tests.support.servers import REDIS_URL, free_port
from tests.support.waiting import eventually

LEASE = 0.6  # agent_device_timeout and visitor_left_after, in seconds


DELAY = 0.8  # offline_email_delay: the help article's two minutes


RETRY_BASE = 0.3  # smtp_retry_base


@dataclass
class LiveServer:
    base_url: str
    ws_url: str
    runtime: Runtime
    hub: Hub
    app: FastAPI

    def http(self) -> httpx.Client:
        # One TLS context for every client (plain http never uses it): httpx otherwise
        # loads the system's trust store for each, 20-40 ms, half the test thread's time
        # in tests/live (py-spy, 2026-12-08).
        return httpx.Client(base_url=f"{self.base_url}/api/v1", timeout=10, verify=_TLS)


_TLS = ssl.create_default_context()


@contextmanager
def serving(
    settings: Settings, database: Database, passwords: PasswordHasher
) -> Iterator[LiveServer]:
    """The whole app, lifespan and all, on a real uvicorn on a free loopback port. On
    PostgreSQL in the scale-out shape: its live frames go through Redis (REDIS_URL, under a
    prefix of its own), as several processes' do, unless the test chose a Redis itself; on
    SQLite in the embedded one, in-process."""
    if database.is_postgresql and settings.redis_url is None:
        settings = settings.model_copy(
            update={"redis_url": REDIS_URL, "redis_prefix": f"frontdesk-test-{uuid.uuid4().hex}"}
        )
    runtime = Runtime(
        settings=settings, database=database, clock=SystemClock(), passwords=passwords
    )
    port = free_port()
    app = create_app(runtime)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            proxy_headers=False,
            ws_ping_interval=settings.ws_ping_interval,
            ws_ping_timeout=settings.ws_ping_timeout,
            **UVICORN_WEBSOCKET_OPTIONS,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped before it started")
        return server.started

    eventually(started, timeout=10, interval=0.01, what="uvicorn started")
    try:
        yield LiveServer(
            f"http://127.0.0.1:{port}",
            f"ws://127.0.0.1:{port}/api/v1",
            runtime,
            app.state.hub,
            app,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def live_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """A live server's settings: leases of LEASE seconds, fast hashing, and ``overrides``."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "password_hashing": "fast",
        "agent_device_timeout": LEASE,
        "visitor_left_after": LEASE,
    }
    return Settings(**(values | overrides))


def engine_settings(database_url: str, data_dir: Path, smtp_url: str, **overrides: Any) -> Settings:
    """A live server's settings with the engine sending to ``smtp_url``: the offline e-mail
    is due DELAY after the message."""
    values: dict[str, Any] = {
        "offline_email_delay": DELAY,
        "smtp_url": smtp_url,
        "smtp_retry_base": RETRY_BASE,
        "smtp_retry_for": 60,
        "smtp_timeout": 2,
        "delivery_lease": 5,
        # As in production: the doorbell, not a short nap, must wake the worker in time.
        "worker_max_sleep": 60,
    }
    return live_settings(database_url, data_dir, **(values | overrides))


@dataclass
class Agent:
    server: LiveServer
    token: str
    agent_id: int
    account_id: int
    widget_key: str
    email: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def socket(self, device_id: str = "tab", **query: str) -> Socket:
        params = "&".join(
            f"{k}={v}" for k, v in ({"kind": "web", "status": "online"} | query).items()
        )
        return Socket(
            f"{self.server.ws_url}/agent/ws?token={self.token}&device_id={device_id}&{params}"
        )

    def call(self, method: str, path: str, json_body: Any = None) -> httpx.Response:
        with self.server.http() as http:
            return http.request(method, path, json=json_body, headers=self.headers)

    def invite(self, **fields: Any) -> Agent:
        email, password = unique_email(), "agent-password"
        body = {"name": "Colleague", "email": email, "password": password} | fields
        created = self.call("POST", "/agents", body)
        assert created.status_code == 201, created.text
        with self.server.http() as http:
            token = http.post("/auth/login", json={"email": email, "password": password}).json()[
                "token"
            ]
        return Agent(
            self.server, token, created.json()["id"], self.account_id, self.widget_key, email
        )


def live_sign_up(server: LiveServer, plan: str = "standard") -> Agent:
    owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
    with server.http() as http:
        body = http.post("/accounts", json={"name": "Shop", "plan": plan, "owner": owner}).json()
    return Agent(
        server,
        body["token"],
        body["agent_id"],
        body["account_id"],
        body["widget_key"],
        owner["email"],
    )


@dataclass
class LiveVisitor:
    server: LiveServer
    widget_key: str
    visitor_id: int
    token: str

    def socket(self, **query: Any) -> Socket:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return Socket(
            f"{self.server.ws_url}/widget/ws?widget_key={self.widget_key}&visitor_token={self.token}{extra}"
        )

    def say(self, text: str, **fields: Any) -> dict[str, Any]:
        with self.server.http() as http:
            response = http.post(
                f"/widget/{self.widget_key}/messages",
                json={"text": text, **fields},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def new_live_visitor(server: LiveServer, widget_key: str, **fields: Any) -> LiveVisitor:
    with server.http() as http:
        body = http.post(f"/widget/{widget_key}/visitors", json=fields).json()
    return LiveVisitor(server, widget_key, body["visitor_id"], body["visitor_token"])


class Socket:
    """A WebSocket client that reads JSON frames and can wait for one of a kind."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[dict[str, Any]] = []

    def __enter__(self) -> Socket:
        self.connection: ClientConnection = connect(self.url).__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.connection.__exit__(*exc)

    def send(self, frame: Any) -> None:
        self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    def next(self, timeout: float = 5) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.connection.recv(timeout=timeout))
        self.seen.append(frame)
        return frame

    def wait_for(self, frame_type: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """The first frame of this type (and with these keys) to arrive within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {frame_type} {match} within {timeout}s; saw {self.seen}")
            frame = self.next(timeout=left)
            if frame.get("type") == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Every frame that arrives within ``seconds``."""
        frames = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frames.append(self.next(timeout=left))
            except TimeoutError:
                break
        return frames


def decisions(agent: Agent, conversation_id: int, **params: Any) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in ({"conversation_id": conversation_id} | params).items())
    response = agent.call("GET", f"/notifications?{query}")
    assert response.status_code == 200, response.text
    notifications: list[dict[str, Any]] = response.json()["notifications"]
    return notifications


def settled(
    agent: Agent, conversation_id: int, *, count: int = 1, timeout: float = 10, **params: Any
) -> list[dict[str, Any]]:
    """The conversation's decisions once ``count`` of them exist and none is scheduled and
    no delivery is pending or deferred: nothing more will happen to them."""

    def quiet() -> list[dict[str, Any]]:
        found = decisions(agent, conversation_id, **params)
        busy = [
            n
            for n in found
            if n["state"] == "scheduled"
            or any(r["state"] in ("pending", "deferred") for r in n["recipients"])
        ]
        assert len(found) >= count, f"not settled: {found}"
        assert not busy, f"not settled: {found}"
        return found

    return eventually(quiet, timeout=timeout, what=f"conversation {conversation_id} settled")
