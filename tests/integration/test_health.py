"""Health and shutdown as a proxy, an orchestrator and a person see them (docs/deployment.md):
``/healthz``, ``/readyz`` and ``frontdesk doctor`` while a private PostgreSQL cluster and
a private Redis go away and come back; ``serve`` on SIGTERM closing its sockets with 1012
and exiting."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from frontdesk.store.migrate import SCHEMA_HEAD
from tests.support import Server, eventually, frontdesk_env, run_frontdesk, unique_email
from tests.support.pgcluster import PrivateCluster
from tests.support.private_redis import PrivateRedis, private_redis

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as started:
        yield started


def readyz(server: Server) -> tuple[int, dict[str, object]]:
    answer = httpx.get(f"{server.base_url}/readyz", timeout=10)
    return answer.status_code, answer.json()


def test_readyz_and_doctor_say_what_is_missing_and_when_it_is_back(
    cluster: PrivateCluster, redis_server: PrivateRedis, tmp_path: Path
) -> None:
    env = frontdesk_env(cluster.url, tmp_path / "data") | {"FRONTDESK_REDIS_URL": redis_server.url}
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_until_up()
        status, ready = readyz(server)
        assert status == 200, ready
        assert ready["status"] == "ready"
        assert ready["checks"] == {
            "database": {"ok": True, "detail": "answers"},
            "migrations": {"ok": True, "detail": f"at {SCHEMA_HEAD}"},
            "redis": {"ok": True, "detail": "answers"},
        }
        assert ready["smtp"] == "nothing sent yet"
        doctor = run_frontdesk("doctor", env=env)
        assert doctor.returncode == 0, doctor.stderr
        assert "ok   database: answers" in doctor.stdout
        assert doctor.stdout.rstrip().endswith("ready")
        asked = run_frontdesk("doctor", "--url", server.base_url, env=env)
        assert "smtp: nothing sent yet" in asked.stdout

        cluster.stop()
        status, ready = readyz(server)
        assert status == 503
        assert ready["status"] == "not_ready"
        checks = ready["checks"]
        assert isinstance(checks, dict)
        assert checks["database"]["ok"] is False
        assert checks["database"]["detail"].startswith("unreachable (")
        # Alive all the same: an orchestrator must not restart it for the database's sake.
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
        doctor = run_frontdesk("doctor", env=env)
        assert doctor.returncode == 1
        assert "FAIL database: unreachable" in doctor.stdout
        assert doctor.stdout.rstrip().endswith("NOT READY")

        cluster.start()
        eventually(lambda: readyz(server)[0] == 200, what="ready again with the database")
        redis_server.stop()
        status, ready = readyz(server)
        assert status == 503
        assert ready["checks"]["redis"]["ok"] is False  # type: ignore[index]
        redis_server.start()
        eventually(lambda: readyz(server)[0] == 200, what="ready again with Redis")
    finally:
        server.stop()
    assert "password" not in (tmp_path / "serve.log").read_text().lower()


def close_code(ws: ClientConnection) -> int | None:
    """The code of the close that ends ``ws``, whatever frames come before it."""
    try:
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code


def test_sigterm_closes_the_sockets_with_1012_and_exits(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    env = frontdesk_env(cluster.url, tmp_path / "data") | {"FRONTDESK_SHUTDOWN_TIMEOUT": "3"}
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_until_up()
        owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
        signed = httpx.post(
            f"{server.base_url}/api/v1/accounts", json={"name": "Shop", "owner": owner}
        ).json()
        url = f"ws://127.0.0.1:{server.port}/api/v1/agent/ws?device_id=tab"
        with connect(url, subprotocols=["frontdesk", f"frontdesk.token.{signed['token']}"]) as ws:  # type: ignore[list-item]
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            asked_to_stop = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # Service restart: the dashboard and the widget reconnect, spread over seconds.
            assert close_code(ws) == 1012
        # uvicorn ends by its signal once it has shut down, as systemd expects of a
        # service it stopped.
        assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)
        print(f"exited {time.monotonic() - asked_to_stop:.2f} s after SIGTERM")
    finally:
        server.stop()
