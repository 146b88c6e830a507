"""The deployment example of docs/deployment.md started on this machine: deploy/supervise.py
running 3 serve + 2 worker processes on PostgreSQL and Redis (a Redis of the test's own),
answering directly on their ports. ``kill -9`` of a serve and of a worker: the others answer
at once with the same folders, a dashboard's socket on the killed serve reconnects to
another and hears what happens next, the dead process is started again, and e-mail still
goes out."""

from __future__ import annotations

import json
import os
import signal
import time
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
from websockets.exceptions import ConnectionClosed

from tests.mailsink import mail_sink
from tests.support import Socket, eventually, frontdesk_env, unique_email
from tests.support.private_redis import private_redis

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


def test_the_example_deployment_survives_kill_9_of_any_one_process(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    with private_redis() as redis_server, mail_sink() as sink:
        env = frontdesk_env(fresh_postgres_url, tmp_path / "data") | {
            "FRONTDESK_REDIS_URL": redis_server.url,
            "FRONTDESK_SMTP_URL": sink.url,
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "1",
            # What a killed worker had claimed is another's after this (120 s by default).
            "FRONTDESK_SMTP_TIMEOUT": "1",
            "FRONTDESK_DELIVERY_LEASE": "3",
        }
        ports = consecutive_free_ports(3)
        with supervised(env, tmp_path, serve=3, worker=2, port=ports[0]) as status:
            wait_until_serving(ports)
            cluster = Cluster(ports, Figures(visitors=0, kills=0))
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-pw-1"}
            signed = cluster.call("POST", "/accounts", {"name": "Shop", "owner": owner})
            token, key = signed["token"], signed["widget_key"]

            def visitor_writes(text: str) -> int:
                made = cluster.call("POST", f"/widget/{key}/visitors", {})
                headers = {"Authorization": f"Bearer {made['visitor_token']}"}
                posted = cluster.call("POST", f"/widget/{key}/messages", {"text": text}, headers)
                return int(posted["conversation_id"])

            before = sorted(visitor_writes(f"Question {n}") for n in range(3))
            assert [unserved(port, token) for port in ports] == [before] * 3
            sink.wait_for(3, timeout=30)

            # The dashboard's socket is on the first serve, which is killed.
            # Switched off: with the owner online, nobody would be e-mailed.
            url = f"ws://127.0.0.1:{{port}}/api/v1/agent/ws?token={token}&device_id=tab&status=offline"
            with Socket(url.format(port=ports[0])) as dashboard:
                dashboard.wait_for("hello")
                starts = kill_9(status, "serve", 0)
                # The others answer at once, with the same folders.
                assert unserved(ports[1], token) == unserved(ports[2], token) == before
                with pytest.raises(ConnectionClosed):
                    dashboard.wait_for("never", timeout=10)
            # Reconnected elsewhere (as the dashboard does, after its jittered pause).
            with Socket(url.format(port=ports[1])) as dashboard:
                dashboard.wait_for("hello")
                during = visitor_writes("Question during")
                created = dashboard.wait_for("conversation.created")
                assert created["conversation"]["id"] == during
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
            assert [unserved(port, token) for port in ports] == [
                sorted([*before, during, after])
            ] * 3
