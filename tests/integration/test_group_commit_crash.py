"""An acknowledged visitor message is never lost: a real ``frontdesk serve`` killed with
SIGKILL in the middle of a burst of messages (on SQLite they are group-committed, many
requests to one transaction: docs/performance.md), then every message it answered 201 is
looked up in the database, and each stored message is found whole (its conversation, and
its place in the offline notification that nobody online made it open or join)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
import pytest

from tests.support import Server, frontdesk_env, unique_email

pytestmark = pytest.mark.slow

VISITORS = 40
CONCURRENT = 48
KILL_AFTER_ACKNOWLEDGED = 400


async def burst(base_url: str, widget_key: str, tokens: list[str], server: Server) -> list[int]:
    """Post messages from many visitors at once until the server is killed; the ids of
    the messages it acknowledged."""
    acknowledged: list[int] = []
    failed_in_flight = 0
    killed = asyncio.Event()
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as http:

        async def sender(n: int) -> None:
            nonlocal failed_in_flight
            token = tokens[n % len(tokens)]
            while not killed.is_set():
                try:
                    answer = await http.post(
                        f"/api/v1/widget/{widget_key}/messages",
                        json={"text": f"burst from sender {n}"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError:
                    failed_in_flight += 1
                    return
                assert answer.status_code == 201, answer.text
                acknowledged.append(answer.json()["message_id"])
                if len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED and not killed.is_set():
                    killed.set()
                    server.kill()

        await asyncio.gather(*(sender(n) for n in range(CONCURRENT)))
    # The kill landed while requests were in flight, not after the burst.
    assert failed_in_flight > 0
    return acknowledged


def stored(database_url: str) -> tuple[set[int], set[int], list[Any]]:
    """The visitor messages, those in an offline notification's batch, and the open
    offline notifications per conversation."""
    queries = (
        "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE m.author = 'visitor'",
        "SELECT message_id FROM notification_messages",
        "SELECT conversation_id, count(*) FROM notifications "
        "WHERE kind = 'offline_message' AND state = 'scheduled' GROUP BY conversation_id",
    )
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = [db.execute(q).fetchall() for q in queries]
    else:
        with psycopg.connect(database_url) as db:
            rows = [db.execute(q).fetchall() for q in queries]
    return {r[0] for r in rows[0]}, {r[0] for r in rows[1]}, rows[2]


def test_a_kill_during_a_burst_loses_no_acknowledged_message(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = frontdesk_env(fresh_database_url, tmp_path / "data") | {
        "FRONTDESK_OFFLINE_EMAIL_DELAY": "3600",
    }
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_until_up()
        with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=30) as http:
            owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
            signed = http.post("/accounts", json={"name": "Shop", "owner": owner}).json()
            key = signed["widget_key"]
            tokens = [
                http.post(f"/widget/{key}/visitors", json={"name": f"V{n}"}).json()["visitor_token"]
                for n in range(VISITORS)
            ]
        acknowledged = asyncio.run(burst(server.base_url, key, tokens, server))
    finally:
        server.stop()

    messages, in_notifications, open_per_conversation = stored(fresh_database_url)
    assert len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED
    assert set(acknowledged) <= messages
    # Each stored message was stored whole: nobody was online, so each joined or opened its
    # conversation's offline notification in the same operation.
    assert messages <= in_notifications
    assert all(count == 1 for _conversation, count in open_per_conversation)

    # The server starts again on what the kill left, and goes on taking messages.
    again = Server(env, tmp_path / "serve-again.log")
    try:
        again.wait_until_up()
        answer = httpx.post(
            f"{again.base_url}/api/v1/widget/{key}/messages",
            json={"text": "still there?"},
            headers={"Authorization": f"Bearer {tokens[0]}"},
            timeout=10,
        )
        assert answer.status_code == 201
    finally:
        again.stop()
