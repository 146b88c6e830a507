"""The database goes away while ``frontdesk serve`` is working, and comes back: a private
PostgreSQL cluster (tests/support/pgcluster.py) stopped at once (``pg_ctl -m immediate``,
every connection cut) and started again, never the machine's own server.

- An e-mail the mail server took while the database was away is recorded once it is back,
  not sent a second time when its lease runs out.
- Requests while it is away are answered 503 with ``Retry-After`` on a connection that goes
  on serving, logged without a traceback each, and served again once it is back.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest

from tests.mailsink import mail_sink
from tests.support import Server, eventually, frontdesk_env, unique_email
from tests.support.pgcluster import PrivateCluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# The sink holds each DATA this long before its 250; the database is stopped meanwhile.
HOLD = 1.5
OUTAGE = 3.0


def shop_with_one_offline_message(base_url: str) -> str:
    """An account whose owner is offline, and a visitor's message: one e-mail falls due.
    The owner's address."""
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as http:
        owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
        signed = http.post("/accounts", json={"name": "Shop", "owner": owner}).json()
        visitor = http.post(f"/widget/{signed['widget_key']}/visitors", json={}).json()
        posted = http.post(
            f"/widget/{signed['widget_key']}/messages",
            json={"text": "Is the teapot in stock?"},
            headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
        )
        assert posted.status_code == 201, posted.text
        return str(owner["email"])


def deliveries(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT state, attempts FROM deliveries ORDER BY id").fetchall()
    return [(str(state), int(attempts)) for state, attempts in rows]


def test_an_e_mail_sent_while_the_database_is_away_is_recorded_not_sent_again(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    with mail_sink(data_delay=HOLD) as sink:
        env = frontdesk_env(cluster.url, tmp_path / "data") | {
            "FRONTDESK_SMTP_URL": sink.url,
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "0.5",
            "FRONTDESK_SMTP_TIMEOUT": "3",
            # Longer than the send and the outage together: the worker that sent the e-mail
            # still holds it when the database is back. Before, its outcome was dropped, and
            # the e-mail went again once the lease ran out.
            "FRONTDESK_DELIVERY_LEASE": "8",
        }
        server = Server(env, tmp_path / "serve.log")
        try:
            server.wait_until_up()
            owner = shop_with_one_offline_message(server.base_url)
            assert sink.handler.in_data.wait(timeout=15), "the e-mail's DATA never came"
            cluster.stop()
            (sent,) = sink.wait_for(1, timeout=10)
            time.sleep(OUTAGE - HOLD)  # the database stays away after the 250
            cluster.start()

            def recorded() -> list[tuple[str, int]]:
                found = deliveries(cluster.url)
                assert found == [("sent", 1)], found
                return found

            eventually(recorded, timeout=15, what="the delivery recorded as sent")
            # Recorded as sent, it is never claimed again: only the one e-mail, ever.
            assert [c.rcpt_to for c in sink.caught] == [owner]
            assert sink.attempts(owner) == 1
            assert sent.message["Message-ID"]
        finally:
            server.stop()
        assert "could not record an e-mail's outcome" in (tmp_path / "serve.log").read_text()


def exchange(port: int, requests: list[bytes]) -> list[tuple[int, dict[str, str], bytes]]:
    """Each request sent on one connection once the answer to the one before has come
    (HTTP/1.1 keep-alive), read raw: what a client library would hide, such as a connection
    the server closed after an answer without saying so."""
    answers: list[tuple[int, dict[str, str], bytes]] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        stream = connection.makefile("rb")
        for request in requests:
            connection.sendall(request)
            status_line = stream.readline()
            assert status_line, f"the connection was closed after {len(answers)} answer(s)"
            headers: dict[str, str] = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers.get("content-length", "0")))
            answers.append((int(status_line.split()[1]), headers, body))
    return answers


def request(method: str, path: str, *, token: str | None = None, body: object = None) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(data)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines.append("Origin: https://shop.example")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def test_requests_while_the_database_is_away_are_answered_503_with_retry_after(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    env = frontdesk_env(cluster.url, tmp_path / "data") | {"FRONTDESK_RUN_WORKER": "false"}
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_until_up()
        with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=30) as http:
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-pass"}
            signed = http.post("/accounts", json={"name": "Shop", "owner": owner}).json()
            key = signed["widget_key"]
            visitor = http.post(f"/widget/{key}/visitors", json={}).json()
            said = http.post(
                f"/widget/{key}/messages",
                json={"text": "Hello?"},
                headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
            )
            assert said.status_code == 201, said.text
        asked = [
            # The visitor's message, answered in front of FastAPI (frontdesk.api.hot).
            request(
                "POST",
                f"/api/v1/widget/{key}/messages",
                token=visitor["visitor_token"],
                body={"text": "Anyone there?"},
            ),
            request("GET", "/api/v1/conversations", token=signed["token"]),
            request("POST", "/api/v1/accounts", body={"name": "Other", "owner": owner}),
            request("GET", "/api/v1/conversations", token=signed["token"]),
        ]
        cluster.stop()
        answers = exchange(server.port, asked)
        for status, headers, body in answers:
            assert status == 503, body
            assert headers["retry-after"] == "1"
            assert "connection" not in headers  # the connection stays open: it served them all
            error = json.loads(body)["error"]
            assert (error["code"], error["retry_after"]) == ("database_unavailable", 1)
        # The widget's browser may read its refusal, and so retry.
        assert answers[0][1]["access-control-allow-origin"] == "*"

        cluster.start()
        came_back = time.monotonic()

        def served() -> bool:
            statuses = [status for status, _, _ in exchange(server.port, asked[:2])]
            assert statuses == [201, 200], statuses
            return True

        eventually(served, timeout=15, interval=0.05, what="answers once the database is back")
        print(f"served again {time.monotonic() - came_back:.2f} s after the database came back")
    finally:
        server.stop()
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log, log
    assert "the database is unavailable (OperationalError" in log
