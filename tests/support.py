"""What the tests share, in one place; the conftest files hold the fixtures built from it.

- waiting for what happens in the background: ``eventually``;
- the PostgreSQL and Redis servers the tests use, and free loopback ports;
- the HTTP API in-process (a ``TestClient``): accounts, agents and visitors made the way a
  client makes them, and the shape of an error;
- a live server: the whole app on a real uvicorn in a thread of the test process, its
  agents, visitors and sockets, and the engine's settings and decisions on it;
- real processes: ``frontdesk`` started as a user would start it.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx
import psycopg
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from websockets.sync.client import ClientConnection, connect

from frontdesk.api.app import create_app
from frontdesk.clock import ManualClock, SystemClock
from frontdesk.realtime.hub import Hub
from frontdesk.realtime.transport import UVICORN_WEBSOCKET_OPTIONS
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database

REPO_ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count()


T = TypeVar("T")


# --- clocks ------------------------------------------------------------------------------

_CLOCK_STARTS = itertools.count()


def manual_clock() -> ManualClock:
    """A test's own manual clock, starting a day before the previous test's. Tests share a
    database, and some work is installation-wide (a sweep, the engine's due notifications):
    since every other test's rows lie later, none of them looks lapsed or due to this test.
    (A test that moves its clock more than a day ahead may reach later tests' days.)"""
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC) - timedelta(days=next(_CLOCK_STARTS)))


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 10, interval: float = 0.05, what: str = ""
) -> T:
    """The first truthy answer of ``probe``, asked every ``interval`` seconds for up to
    ``timeout``: for what the server does in the background (an e-mail that goes out after a
    delay). A probe may instead fail an assertion to say what it saw; the TimeoutError is
    raised from the last such failure. Any other error ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        failure: AssertionError | None = None
        try:
            answer = probe()
        except AssertionError as error:
            answer, failure = None, error
        if answer:
            return answer
        if time.monotonic() > deadline:
            last = "" if failure else f"; last: {answer!r}"
            raise TimeoutError(f"not within {timeout}s: {what or probe}{last}") from failure
        time.sleep(interval)


# --- the servers the tests use ---------------------------------------------------------------

REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get(
    "FRONTDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_unreachable_reason() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {exc}".strip()


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database on the server of POSTGRES_ADMIN_URL, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the HTTP API in-process -----------------------------------------------------------------


def unique_email(prefix: str = "agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}-{next(_counter)}@example.com"


@dataclass
class SignedUp:
    """An account made through the API, with its owner's credentials."""

    client: TestClient
    account_id: int
    agent_id: int
    widget_key: str
    token: str
    email: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.put(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers, **kwargs)

    def invite(self, *, role: str = "agent", **fields: Any) -> SignedUp:
        """Invite an agent, log it in, and return it as a caller of this account."""
        email = fields.pop("email", unique_email(role))
        password = fields.pop("password", "agent-password")
        body = {"name": fields.pop("name", f"{role.title()} Agent"), "email": email}
        body |= {"role": role, "password": password, **fields}
        response = self.post("/agents", body)
        assert response.status_code == 201, response.text
        login = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return SignedUp(
            client=self.client,
            account_id=self.account_id,
            agent_id=response.json()["id"],
            widget_key=self.widget_key,
            token=login.json()["token"],
            email=email,
            password=password,
        )


def sign_up(client: TestClient, *, plan: str = "free", name: str = "Shop") -> SignedUp:
    email = unique_email("owner")
    password = "owner-password"
    response = client.post(
        "/api/v1/accounts",
        json={
            "name": name,
            "plan": plan,
            "owner": {"name": "Olga Owner", "email": email, "password": password},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return SignedUp(
        client=client,
        account_id=body["account_id"],
        agent_id=body["agent_id"],
        widget_key=body["widget_key"],
        token=body["token"],
        email=email,
        password=password,
    )


def log_in(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def agents_of(caller: SignedUp) -> list[dict[str, Any]]:
    response = caller.get("/agents")
    assert response.status_code == 200, response.text
    agents: list[dict[str, Any]] = response.json()
    return agents


def agent_in(caller: SignedUp, agent_id: int) -> dict[str, Any]:
    """The agent's profile as the list shows it (its presence left out)."""
    (agent,) = [a for a in agents_of(caller) if a["id"] == agent_id]
    return {key: value for key, value in agent.items() if key not in ("online", "devices")}


@dataclass
class Visitor:
    client: TestClient
    widget_key: str
    visitor_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def say(self, text: str, **fields: Any) -> Any:
        return self.client.post(
            f"/api/v1/widget/{self.widget_key}/messages",
            json={"text": text, **fields},
            headers=self.headers,
        )


def new_visitor(client: TestClient, widget_key: str, **fields: Any) -> Visitor:
    response = client.post(f"/api/v1/widget/{widget_key}/visitors", json=fields)
    assert response.status_code == 201, response.text
    body = response.json()
    return Visitor(client, widget_key, body["visitor_id"], body["visitor_token"])


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is a JSON error with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    error: dict[str, Any] = body["error"]
    return error


# --- a live server -----------------------------------------------------------------------------
# A real uvicorn on loopback, in a thread of the test process, serving the whole app with its
# lifespan (hub, lease renewal, presence sweep, engine) on the real clock, with the help
# article's durations scaled down to fractions of a second.

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
        return httpx.Client(base_url=f"{self.base_url}/api/v1", timeout=10)


@contextmanager
def serving(
    settings: Settings, database: Database, passwords: PasswordHasher
) -> Iterator[LiveServer]:
    """The whole app, lifespan and all, on a real uvicorn on a free loopback port."""
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


# --- real processes ----------------------------------------------------------------------------


def frontdesk_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_DATABASE_URL": database_url,
        "FRONTDESK_DATA_DIR": str(data_dir),
        "FRONTDESK_PASSWORD_HASHING": "fast",
        "FRONTDESK_RATE_LIMITS": "false",
        "FRONTDESK_CONFIRM_ADDRESSES": "false",
    }
    return env


def run_frontdesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontdesk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Server:
    """``frontdesk serve`` (or another long-running command) in a process of its own."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        command: str = "serve",
        options: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("a")
        arguments = ["serve", "--port", str(self.port)] if command == "serve" else [command]
        arguments += options or []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "frontdesk", *arguments],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log

    def wait_until_up(self, timeout: float = 30) -> None:
        def answering() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"frontdesk serve exited:\n{self.log_path.read_text()}")
            try:
                answered = httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                answered = False
            assert answered, f"frontdesk serve did not answer:\n{self.log_path.read_text()}"
            return answered

        eventually(answering, timeout=timeout, interval=0.1, what=f"{self.base_url}/healthz")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine loses power."""
        self.process.kill()
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
