"""No token, password or secret reaches the log of a ``frontdesk serve`` that logged in,
opened sockets of both kinds (the token as a subprotocol, and in the URL as older clients
send it), changed a password and logged out, at the most talkative log level."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.support import Server, frontdesk_env, unique_email

pytestmark = pytest.mark.slow


def test_a_run_that_opened_sockets_logs_no_token_or_password(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = frontdesk_env(fresh_database_url, tmp_path / "data") | {
        "FRONTDESK_METRICS_TOKEN": "metrics-secret-7",
    }
    log = tmp_path / "serve.log"
    server = Server(env, log, options=["--log-level", "debug"])
    secrets: list[str] = ["metrics-secret-7", "first-password-1", "second-password-2"]
    try:
        server.wait_until_up()
        ws = server.base_url.replace("http", "ws") + "/api/v1"
        with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=10) as http:
            email = unique_email("owner")
            owner = {"name": "Olga", "email": email, "password": "first-password-1"}
            signed = http.post("/accounts", json={"name": "Shop", "owner": owner}).json()
            guess = http.post("/auth/login", json={"email": email, "password": "a-wrong-guess-3"})
            assert guess.status_code == 401
            secrets.append("a-wrong-guess-3")
            login = http.post("/auth/login", json={"email": email, "password": "first-password-1"})
            first, second = signed["token"], login.json()["token"]
            visitor = http.post(f"/widget/{signed['widget_key']}/visitors", json={}).json()
            secrets += [first, second, visitor["visitor_token"]]
            agent = {"Authorization": f"Bearer {second}"}

            with (
                connect(
                    f"{ws}/agent/ws?device_id=tab",
                    subprotocols=[
                        Subprotocol("frontdesk"),
                        Subprotocol(f"frontdesk.token.{first}"),
                    ],
                ) as by_header,
                connect(f"{ws}/agent/ws?token={second}&device_id=old-app") as by_url,
                connect(
                    f"{ws}/widget/ws?widget_key={signed['widget_key']}",
                    subprotocols=[
                        Subprotocol("frontdesk"),
                        Subprotocol(f"frontdesk.token.{visitor['visitor_token']}"),
                    ],
                ) as widget,
            ):
                assert by_header.subprotocol == "frontdesk"
                for socket in (by_header, by_url, widget):
                    assert '"type"' in str(socket.recv(timeout=5))
                posted = http.post(
                    f"/widget/{signed['widget_key']}/messages",
                    json={"text": "hello"},
                    headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
                )
                assert posted.status_code == 201
            changed = http.patch(
                "/me",
                json={"password": "second-password-2", "current_password": "first-password-1"},
                headers=agent,
            )
            assert changed.status_code == 200, changed.text
            assert http.post("/auth/logout", headers=agent).status_code == 204
        with httpx.Client(timeout=10) as plain:
            metrics = plain.get(
                f"{server.base_url}/metrics", headers={"Authorization": "Bearer metrics-secret-7"}
            )
            assert metrics.status_code == 200
    finally:
        server.stop()
    written = log.read_text()
    # The sockets were logged (by uvicorn, with their URLs), so the check means something.
    assert "WebSocket /api/v1/agent/ws?token=…redacted&device_id=old-app" in written
    assert "WebSocket /api/v1/widget/ws" in written
    for secret in secrets:
        assert secret not in written, f"{secret[:6]}… is in the log"
    assert not re.search(r"fd[av]_(?!…redacted)", written)
