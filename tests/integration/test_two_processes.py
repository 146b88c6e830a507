"""Two real ``frontdesk serve`` processes on one PostgreSQL database and the real Redis:
live events and presence cross from one process to the other."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support import Server, Socket, frontdesk_env, unique_email

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_events_and_presence_cross_between_processes(
    fresh_postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = frontdesk_env(fresh_postgres_url, tmp_path / "data") | {
        "FRONTDESK_REDIS_URL": redis_url,
        "FRONTDESK_REDIS_PREFIX": f"fdtest-{uuid.uuid4().hex[:8]}",
        "FRONTDESK_AGENT_DEVICE_TIMEOUT": "2",
        "FRONTDESK_VISITOR_LEFT_AFTER": "2",
    }
    a = Server(env, tmp_path / "a.log")
    a.wait_until_up()  # A migrates the database first
    b = Server(env, tmp_path / "b.log")
    try:
        b.wait_until_up()
        api_a = httpx.Client(base_url=f"{a.base_url}/api/v1", timeout=10)
        api_b = httpx.Client(base_url=f"{b.base_url}/api/v1", timeout=10)
        owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
        signed = api_a.post("/accounts", json={"name": "Shop", "owner": owner}).json()
        widget_key, token = signed["widget_key"], signed["token"]
        visitor = api_a.post(f"/widget/{widget_key}/visitors", json={"name": "Vera"}).json()
        ws_a = a.base_url.replace("http", "ws") + "/api/v1"
        ws_b = b.base_url.replace("http", "ws") + "/api/v1"

        widget_url = (
            f"{ws_a}/widget/ws?widget_key={widget_key}&visitor_token={visitor['visitor_token']}"
        )
        with Socket(widget_url) as widget_on_a:
            assert widget_on_a.wait_for("widget.status")["online"] is False
            with Socket(f"{ws_b}/agent/ws?token={token}&device_id=tab") as agent_on_b:
                agent_on_b.wait_for("hello")
                # Presence set on B is seen on A.
                assert widget_on_a.wait_for("widget.status")["online"] is True

                # A visitor message posted to A reaches the agent's socket on B.
                posted = api_a.post(
                    f"/widget/{widget_key}/messages",
                    json={"text": "Is this thing on?"},
                    headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
                ).json()
                created = agent_on_b.wait_for("conversation.created")
                assert created["conversation"]["id"] == posted["conversation_id"]
                message = agent_on_b.wait_for("message.created")
                assert message["message"]["text"] == "Is this thing on?"

                # An agent reply posted to B reaches the visitor's socket on A.
                api_b.post(
                    f"/conversations/{posted['conversation_id']}/messages",
                    json={"text": "Loud and clear."},
                    headers={"Authorization": f"Bearer {token}"},
                )
                joined = widget_on_a.wait_for("message.created")  # the reply joins first
                assert joined["message"]["author"] == "system"
                reply = widget_on_a.wait_for("message.created")
                assert reply["message"]["text"] == "Loud and clear."
            # The agent's tab on B closed: the visitor on A sees the widget go offline.
            assert widget_on_a.wait_for("widget.status")["online"] is False
    finally:
        b.stop()
        a.stop()
