"""The deployment example of docs/deployment.md started on this machine: deploy/supervise.py
running 3 serve + 2 worker processes on PostgreSQL and Redis (a Redis of the test's own),
behind nginx running deploy/nginx.conf (tests/support/proxy.py). ``kill -9`` of a serve and
of a worker: the proxy answers at once with the same folders, the dashboards' sockets
reconnect through it and hear what happens next, the dead process is started again, and
e-mail still goes out once."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from benchmarks.chaos import (
    Cluster,
    Figures,
    consecutive_free_ports,
    supervised,
    wait_until_serving,
)
from websockets.sync.client import ClientConnection, connect

from tests.mailsink import mail_sink
from tests.support import eventually, frontdesk_env, unique_email
from tests.support.private_redis import private_redis
from tests.support.processes import malloc_arenas
from tests.support.proxy import Proxy, nginx_in_front, nginx_unavailable_reason

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def running(status: Path) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(status.read_text())
    return listed


def unserved(port: int, token: str) -> list[int]:
    answer = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/conversations?folder=unserved",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return sorted(c["id"] for c in answer.json()["conversations"])


def kill_9(status: Path, role: str, index: int) -> int:
    (chosen,) = [p for p in running(status) if (p["role"], p["index"]) == (role, index)]
    os.kill(chosen["pid"], signal.SIGKILL)
    return int(chosen["starts"])


def started_again(status: Path, role: str, index: int, starts: int) -> bool:
    return any(
        (p["role"], p["index"]) == (role, index) and p["starts"] > starts for p in running(status)
    )


def what_they_say(status: Path, proxy: Proxy) -> str:
    """For a failure: where each process's threads are (py-spy), the end of its log, and
    the proxy's error log."""
    said = []
    # The `bench` extra's (installed by CI's quick benchmarks, not by ./scripts/test alone).
    py_spy = Path(sys.executable).parent / "py-spy"
    for process in running(status):
        stacks = "(no py-spy here: ./scripts/bench installs it)"
        if py_spy.exists():
            dumped = subprocess.run(
                [str(py_spy), "dump", "--pid", str(process["pid"])],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            stacks = dumped.stdout + dumped.stderr
        log = status.parent / "logs" / f"{process['role']}-{process['index']}.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        said.append(
            f"--- {process['role']} {process['index']} (pid {process['pid']})\n"
            f"{stacks}\n--- its log:\n{tail}"
        )
    errors = proxy.ca_file.parent / "error.log"
    said.append("--- nginx:\n" + (errors.read_text()[-3000:] if errors.exists() else "(none)"))
    return "\n".join(said)


def dashboard_socket(proxy: Proxy, token: str, status: Path) -> ClientConnection:
    """A dashboard's socket through the proxy (switched off: with the owner online,
    nobody would be e-mailed)."""
    tls = ssl.create_default_context(cafile=str(proxy.ca_file))
    url = f"{proxy.ws_url}/agent/ws?device_id=tab&status=offline"
    try:
        return connect(
            url,
            ssl=tls,
            open_timeout=30,
            subprotocols=["frontdesk", f"frontdesk.token.{token}"],  # type: ignore[list-item]
        )
    except TimeoutError as timed_out:
        raise AssertionError(
            f"no handshake through the proxy in 30 s:\n{what_they_say(status, proxy)}"
        ) from timed_out


def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=15))
        if frame["type"] == kind:
            return frame


def test_the_example_deployment_survives_kill_9_of_any_one_process(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    reason = nginx_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the proxy's test (.ci/run installs nginx). {reason}")
        pytest.skip(reason)
    with private_redis() as redis_server, mail_sink() as sink:
        env = frontdesk_env(fresh_postgres_url, tmp_path / "data") | {
            "FRONTDESK_REDIS_URL": redis_server.url,
            "FRONTDESK_SMTP_URL": sink.url,
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "1",
            "FRONTDESK_TRUSTED_PROXIES": "127.0.0.1",
            # What a killed worker had claimed is another's after this (120 s by default).
            "FRONTDESK_SMTP_TIMEOUT": "1",
            "FRONTDESK_DELIVERY_LEASE": "3",
        }
        ports = consecutive_free_ports(3)
        with (
            supervised(env, tmp_path, serve=3, worker=2, port=ports[0]) as status,
            nginx_in_front(ports) as proxy,
            ExitStack() as stack,
        ):
            wait_until_serving(ports)
            # Everything through the documented proxy, as browsers would.
            api = f"{proxy.base_url}/api/v1"
            tls = ssl.create_default_context(cafile=str(proxy.ca_file))
            cluster = Cluster([api], Figures(visitors=0, kills=0), verify=tls)
            stack.callback(cluster.close)
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-pw-1"}
            signed = cluster.call("POST", "/accounts", {"name": "Shop", "owner": owner})
            token, key = signed["token"], signed["widget_key"]

            def visitor_writes(text: str) -> int:
                made = cluster.call("POST", f"/widget/{key}/visitors", {})
                headers = {"Authorization": f"Bearer {made['visitor_token']}"}
                posted = cluster.call("POST", f"/widget/{key}/messages", {"text": text}, headers)
                return int(posted["conversation_id"])

            def folder() -> list[int]:
                listed = cluster.call("GET", "/conversations?folder=unserved", None, auth)
                return sorted(c["id"] for c in listed["conversations"])

            auth = {"Authorization": f"Bearer {token}"}
            before = sorted(visitor_writes(f"Question {n}") for n in range(3))
            assert folder() == before
            assert [unserved(port, token) for port in ports] == [before] * 3
            sink.wait_for(3, timeout=30)

            # Three dashboards through the proxy, one per serve (least_conn); the first
            # serve is killed, and with it the sockets it held.
            dashboards = [
                stack.enter_context(dashboard_socket(proxy, token, status)) for _ in ports
            ]
            for ws in dashboards:
                next_frame(ws, "hello")
            starts = kill_9(status, "serve", 0)
            # The proxy's answers come from the others at once, with the same folders.
            assert folder() == before
            assert unserved(ports[1], token) == unserved(ports[2], token) == before
            for ws in dashboards:
                ws.close()
            # Reconnected through the proxy (as the dashboard does, after a jittered pause):
            # each is greeted by a live serve and hears the next conversation.
            dashboards = [
                stack.enter_context(dashboard_socket(proxy, token, status)) for _ in ports
            ]
            for ws in dashboards:
                next_frame(ws, "hello")
            during = visitor_writes("Question during")
            for ws in dashboards:
                assert next_frame(ws, "conversation.created")["conversation"]["id"] == during
                ws.close()
            eventually(
                lambda: started_again(status, "serve", 0, starts),
                timeout=15,
                what="the killed serve started again",
            )
            wait_until_serving(ports)
            assert unserved(ports[0], token) == sorted([*before, during])

            starts = kill_9(status, "worker", 1)
            after = visitor_writes("Question after")
            # The other worker sends: each question's e-mail arrives once.
            caught = sink.wait_for(5, timeout=30)
            eventually(
                lambda: started_again(status, "worker", 1, starts),
                timeout=15,
                what="the killed worker started again",
            )
            time.sleep(1)  # nothing more is due: a repeat would have arrived by now
            questions = sorted(
                line.strip()
                for c in sink.caught
                for line in c.text.splitlines()
                if line.strip().startswith("Question")
            )
            assert len(caught) == len(sink.caught) == 5
            assert questions == sorted(
                ["Question 0", "Question 1", "Question 2", "Question during", "Question after"]
            )
            assert folder() == sorted([*before, during, after])
            # The workers' threads share one malloc arena (frontdesk/memory.py); the serves'
            # threads each have their own.
            assert [malloc_arenas(p["pid"]) for p in running(status) if p["role"] == "worker"] == [
                0,
                0,
            ]
            assert all(malloc_arenas(p["pid"]) > 0 for p in running(status) if p["role"] == "serve")
